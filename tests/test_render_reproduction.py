"""Reproduction report: the verdict rules, and every claim evaluated on synthetic results."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pandas as pd
import pytest
from docutils.core import publish_parts
from scipy import stats

from atomprobe.analyses.layers import layer_profile
from atomprobe.errors import ConfigError, DataError
from atomprobe.io import read_parquet, write_parquet
from atomprobe.render.figures import FIGURES
from atomprobe.render.inputs import load_results
from atomprobe.render.measures import MEASURES, Outcome
from atomprobe.render.reproduction import (
    CSV_COLUMNS,
    claim_measures,
    landing_rst,
    load_claims,
    reproduction_tables,
)
from atomprobe.render.steps import reproduction_report
from atomprobe.render.tables import TABLES
from atomprobe.render.verdicts import (
    VERDICTS,
    claim_verdict,
    too_wide,
    verdict_contrast,
    verdict_difference,
    verdict_range,
    verdict_ranking,
    verdict_trend,
    verdict_value,
)
from test_render_tables import MODELS, RENDER_CFG, _render, write_synthetic_results

TOL, CLEAR, F = 0.05, 0.25, 2.0


@pytest.mark.parametrize(
    ("mean", "low", "high", "paper", "reference", "expected"),
    [
        (0.50, 0.45, 0.55, 0.53, 0.0, "reproduced"),  # inside the interval
        (0.50, 0.45, 0.55, 0.59, 0.0, "reproduced"),  # inside interval + tolerance
        (0.50, 0.45, 0.55, 0.61, 0.0, "same direction"),  # beyond it, both above 0
        (-0.20, -0.25, -0.15, 0.40, 0.0, "differs"),  # opposite side of 0
        (0.05, -0.05, 0.15, 0.40, 0.0, "differs"),  # our interval straddles 0
        (0.50, float("nan"), float("nan"), 0.54, 0.0, "reproduced"),  # no CI: mean ± tol
        (0.50, float("nan"), float("nan"), 0.80, 0.0, "differs"),  # no CI: no direction
        (0.80, 0.75, 0.85, 0.946, 0.5, "same direction"),  # accuracy vs chance 0.5
        (0.50, 0.45, 0.55, 0.90, None, "differs"),  # no reference given
    ],
)
def test_value_rule(mean, low, high, paper, reference, expected):
    assert verdict_value(mean, low, high, paper, reference, TOL)[0] == expected


def test_an_over_wide_interval_confirms_nothing():
    # ANI-2x AEV, Ridge R²_geom on the default run: the paper's −0.792 sits inside, uninformatively
    wide = (-0.632, -3.287, 2.022, -0.792, 0.0, TOL)
    assert verdict_value(*wide)[0] == "reproduced"  # without the width rule
    verdict, reason = verdict_value(*wide, clear=CLEAR)
    assert verdict == "differs" and "too wide" in reason
    assert verdict_value(-0.78, -0.84, -0.74, -0.792, 0.0, TOL, CLEAR)[0] == "reproduced"
    # a wide interval wholly on the paper's side shows the direction when the size is close
    assert verdict_value(-0.9, -1.3, -0.5, -0.792, 0.0, TOL, CLEAR, F)[0] == "same direction"
    # ... and not when it is 50 times the paper's
    assert verdict_value(-40.0, -80.0, -2.0, -0.792, 0.0, TOL, CLEAR, F)[0] == "differs"


def test_a_wide_interval_reproduces_no_value_at_all():
    # mean 0.45, interval [0, 0.9]: holds 0.081, 0.36, 0.44, 0.533 and 0.756 at once
    for paper in (0.081, 0.36, 0.44, 0.533, 0.756):
        assert verdict_value(0.45, 0.0, 0.9, paper, 0.0, TOL)[0] == "reproduced"  # no width rule
        verdict, reason = verdict_value(0.45, 0.0, 0.9, paper, 0.0, TOL, CLEAR, F)
        assert verdict != "reproduced" and "too wide" in reason
    assert too_wide(0.0, 0.9, TOL, CLEAR)
    assert not too_wide(0.40, 0.54, TOL, CLEAR)  # 0.14 + 2 × 0.05 < 0.25
    assert too_wide(0.40, 0.55, TOL, CLEAR)  # 0.15 + 0.10 = D: could hold two clear values


def test_same_direction_needs_the_magnitude_too():
    # R² > 0 alone no longer counts: the effect must be within a factor F of the paper's
    assert verdict_value(0.05, 0.03, 0.07, 0.533, 0.0, TOL, CLEAR, F)[0] == "differs"
    assert verdict_value(0.30, 0.28, 0.32, 0.533, 0.0, TOL, CLEAR, F)[0] == "same direction"
    assert verdict_value(0.60, 0.58, 0.62, 0.20, 0.0, TOL, CLEAR, F)[0] == "differs"  # ×3
    # accuracy: effect measured from chance 0.5
    assert verdict_value(0.55, 0.54, 0.56, 0.946, 0.5, TOL, CLEAR, F)[0] == "differs"


def test_difference_rule():
    assert verdict_difference(0.2, 0.1, 0.3, +1)[0] is True
    assert verdict_difference(0.2, 0.1, 0.3, -1)[1] == "difference has the opposite sign"
    assert verdict_difference(0.2, -0.1, 0.5, +1)[1] == "difference not distinguishable from 0"
    assert verdict_difference(0.2, float("nan"), float("nan"), +1)[0] is False


B6 = {"a": 0.586, "b": 0.38}


def test_an_opposite_sign_is_never_reproduced():
    # B6 (L=1 0.586 vs L=0 0.38): a − b = −0.05 on every fold (paired), a and b wide enough
    # to hold the paper's values: the old rules (width limit 1.0) called this reproduced
    a, b, diff = (0.45, 0.25, 0.65), (0.50, 0.30, 0.70), (-0.05, -0.06, -0.04)
    assert verdict_value(*a, B6["a"], 0.0, TOL, 1.0)[0] == "reproduced"
    assert verdict_value(*b, B6["b"], 0.0, TOL, 1.0)[0] == "reproduced"
    for clear in (float("inf"), 1.0, CLEAR):  # whatever the width rule
        verdict, reason = verdict_contrast(diff, a, b, B6, TOL, clear, F)
        assert verdict == "differs" and "opposite sign" in reason
    # a difference indistinguishable from 0 is not reproduced either
    assert verdict_contrast((0.1, -0.02, 0.22), a, b, B6, TOL, CLEAR, F)[0] == "differs"
    # the paper's sign with an interval excluding 0, and the values within tolerance
    good = verdict_contrast((0.2, 0.17, 0.23), (0.57, 0.55, 0.6), (0.37, 0.35, 0.4), B6, TOL)
    assert good[0] == "reproduced"


def test_contrast_magnitude_rules():
    # the sign agrees, values off but the difference within ×2 of the paper's 0.206
    assert (
        verdict_contrast(
            (0.15, 0.12, 0.18), (0.7, 0.68, 0.72), (0.55, 0.53, 0.57), B6, TOL, CLEAR, F
        )[0]
        == "same direction"
    )
    # the sign agrees but the difference is a tenth of the paper's
    assert (
        verdict_contrast(
            (0.02, 0.01, 0.03), (0.6, 0.58, 0.62), (0.58, 0.56, 0.6), B6, TOL, CLEAR, F
        )[0]
        == "differs"
    )
    # an interval of a that holds both of the paper's values (0.38 and 0.586) confirms neither
    wide_a = (0.5, 0.36, 0.62)
    assert (
        verdict_contrast((0.15, 0.1, 0.2), wide_a, (0.36, 0.34, 0.38), B6, TOL, CLEAR)[0]
        != "reproduced"
    )
    # direction-only claims: the sign test alone
    assert verdict_contrast((0.1, 0.05, 0.15), (), (), {"direction": ">"}, TOL)[0] == "reproduced"
    assert verdict_contrast((-0.1, -0.15, -0.05), (), (), {"direction": ">"}, TOL)[0] == "differs"


def test_range_and_ranking_rules():
    assert verdict_range([0.70, 0.90], [0.68, 0.95], 0.0, TOL)[0] == "reproduced"
    assert verdict_range([0.40, 0.90], [0.68, 0.95], 0.0, TOL, F)[0] == "same direction"
    assert verdict_range([0.30, 0.90], [0.68, 0.95], 0.0, TOL, F)[0] == "differs"  # < 0.68/2
    assert verdict_range([-0.10, 0.90], [0.68, 0.95], 0.0, TOL)[0] == "differs"
    assert verdict_ranking(1.0)[0] == "reproduced"
    assert verdict_ranking(0.85)[0] == "same direction"
    assert verdict_ranking(0.5)[0] == "differs"


def test_a_tight_cluster_inside_a_wide_range_does_not_pass():
    b1, ratio = [0.081, 0.533], {"ratio": 6.6}
    cluster = [0.30, 0.31, 0.32, 0.33]
    assert verdict_range(cluster, b1, 0.0, TOL)[0] == "reproduced"  # containment only
    verdict, reason = verdict_range(cluster, b1, 0.0, TOL, F, ratio)
    assert verdict == "differs" and "tight cluster" in reason
    # the spread and the 6.6× ratio reproduced
    assert verdict_range([0.09, 0.2, 0.35, 0.52], b1, 0.0, TOL, F, ratio)[0] == "reproduced"
    # min and max right but the ratio far off (min 0.035 → ratio 15)
    assert verdict_range([0.035, 0.3, 0.53], b1, 0.0, TOL, F, ratio)[0] != "reproduced"
    # B2 (0.44–0.53): two models at 0.47 and 0.48 sit inside but do not span it
    assert verdict_range([0.47, 0.48], [0.44, 0.53], 0.0, TOL, F, {})[0] == "differs"
    assert verdict_range([0.45, 0.52], [0.44, 0.53], 0.0, TOL, F, {})[0] == "reproduced"
    # one model cannot show a spread
    assert verdict_range([0.5], [0.44, 0.53], 0.0, TOL, F, {})[0] == "not comparable"


def test_a_ranking_at_sixty_percent_differs():
    verdict, reason = verdict_ranking(0.6, 0.8)
    assert verdict == "differs" and "chance" in reason
    assert verdict_ranking(0.8, 0.8)[0] == "same direction"


def test_trend_rule():
    assert verdict_trend({"m1": -1.0, "m2": -0.5}, "<")[0] == "reproduced"
    verdict, reason = verdict_trend({"m1": -1.0, "m2": 0.4}, "<")
    assert verdict == "differs" and "m2" in reason
    assert verdict_trend({"m1": 0.0}, "<")[0] == "differs"


def _outcome(verdict: str, decides: bool = True) -> Outcome:
    return Outcome("x", verdict, "why", "sel", decides=decides)


def test_not_comparable_never_hides_differs():
    verdict, missing = claim_verdict([_outcome("not comparable"), _outcome("differs")])
    assert verdict == "differs" and missing == [0]
    verdict, _ = claim_verdict([_outcome("reproduced"), _outcome("same direction")])
    assert verdict == "same direction"
    # a stand-in never decides
    verdict, _ = claim_verdict([_outcome("not comparable"), _outcome("reproduced", False)])
    assert verdict == "not comparable"
    assert claim_verdict([_outcome("reproduced"), _outcome("differs", False)])[0] == "reproduced"


def test_claims_file_covers_the_papers():
    ids = [c["id"] for c in load_claims()]
    expected = [f"A{i}" for i in range(1, 7)] + [f"B{i}" for i in range(1, 14)]
    expected += ["PB1", "PB2", "PB3", "PB4"]
    assert ids[: len(expected)] == expected
    assert len(set(ids)) == len(ids)


# the synthetic registry plus the models the claims name that it lacks: DimeNet++ (A3's third
# tier), SevenNet-0 (the offline stand-in for MACE-MP-0) and the universal models of PB1/PB4
CLAIM_MODELS = [
    *MODELS,
    ("dimenetpp_gap", "dimenetpp", "train", "gap", False, 0.25),
    ("sevennet0", "sevennet", "builtin", "energy", True, 0.38),
    ("sevennet0_may", "sevennet", "builtin", "energy", True, 0.37),
    ("chgnet", "chgnet", "builtin", "energy", True, 0.30),
    ("chgnet_020", "chgnet", "builtin", "energy", True, 0.28),
    ("chgnet_r2scan", "chgnet", "builtin", "energy", True, 0.31),
]


def _evaluate(inputs: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    claims, measures = reproduction_tables(load_results(inputs), copy.deepcopy(RENDER_CFG))
    return claims.set_index("id"), measures


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict:
    return write_synthetic_results(tmp_path_factory.mktemp("results"), models=CLAIM_MODELS)


@pytest.fixture(scope="module")
def report(synthetic) -> pd.DataFrame:
    frame = _evaluate(synthetic)[0]
    frame.attrs["inputs"] = synthetic
    return frame


@pytest.fixture(scope="module")
def measures(synthetic) -> pd.DataFrame:
    return _evaluate(synthetic)[1]


def test_every_claim_gets_a_verdict(report):
    assert set(report["verdict"]) <= set(VERDICTS)
    assert report["reason"].str.len().min() > 0


def test_verdicts_on_synthetic_results(report):
    verdicts = report["verdict"]
    assert verdicts["B3"] == "reproduced"  # PaiNN 0.55 → 0.30 vs paper 0.53 → 0.31
    # ANI Ridge −0.41 vs MLP +1.0 on geom_v1: the sign and a − b within ×2 of −1.576
    assert verdicts["A2"] == "same direction"
    assert verdicts["A5"] == "reproduced"  # control Ridge ≈ 0
    assert verdicts["B5"] == "reproduced"  # MACE pretrained 0.40 vs 0.36
    # tiers from registry entries: MACE-MP-0 (not the QM9 MACEs) on top; 8 of 9 pairs in order
    assert verdicts["A3"] == "same direction"
    assert "89% of cross-tier model pairs" in report.loc["A3", "reason"]
    tiers = report.loc["A3", "selection"].split("||")[0].split("; tiers ")[1]
    assert tiers.startswith("[family=mace, source=checkpoint: mace_mp]")  # no QM9-trained MACE
    # synthetic L1 sits 0.05 below L0: the opposite of the paper's direction for B6
    assert verdicts["B6"] == "differs" and "opposite sign" in report.loc["B6", "reason"]
    # B1: ANI at −0.5 is outside 0.081–0.533 and the models do not show the 6.6× gradient
    assert verdicts["B1"] == "differs"
    assert verdicts["PB3"] == "reproduced"  # GFRE 0.5/(1 + epoch) falls before the final epoch
    for claim in ("A6", "B10", "B13", "PB1", "PB2"):
        assert verdicts[claim] == "not comparable"


def test_stand_ins_and_readings_are_shown_but_do_not_decide(report, measures):
    a1 = measures.loc[measures["id"] == "A1"].set_index("measure")
    assert not a1.loc[2, "decides"] and "stand-in" in a1.loc[2, "measure_name"]
    assert a1.loc[2, "verdict"] != "not comparable"  # SevenNet-0 is scored
    assert report.loc["A1", "verdict"] == a1.loc[1, "verdict"]
    b7 = measures.loc[measures["id"] == "B7"]
    readings = ["full", "geom_v1", "geom_v2"]
    assert list(b7["measure_name"].str.extract(r"\[(\w+)\]")[0]) == readings * 2
    assert list(b7["decides"]) == [True] + [False] * 5  # the L1_pooled reading never decides
    assert b7["measure_name"].str.contains("L1_pooled").tolist() == [False] * 3 + [True] * 3
    assert "does not decide" in report.loc["B7", "measures"]
    assert report.loc["B9", "assumption"] and report.loc["B6", "assumption"]


def test_a4_judges_each_probe_separately(measures, synthetic):
    a4 = measures.loc[measures["id"] == "A4"].set_index("measure_name")
    assert list(a4.index) == ["GBT", "MLP"]
    control = pd.read_parquet(synthetic["control"])
    for probe, name in (("gbt", "GBT"), ("mlp", "MLP")):
        part = control[(control.probe == probe) & (control.representation == "geom_v2")]
        per_model = part.groupby("model")["r2"].mean()
        assert a4.loc[name, "ci_low"] == pytest.approx(per_model.min())
        assert a4.loc[name, "ci_high"] == pytest.approx(per_model.max())
        assert a4.loc[name, "median"] == pytest.approx(part["r2"].median())


def test_csv_has_one_row_per_claim_and_measure(measures, synthetic):
    assert list(measures.columns) == list(CSV_COLUMNS)
    assert len(measures) == sum(len(claim_measures(c)) for c in load_claims())
    # A2 (1): median of Ridge − MLP per fold; folds below −1 counted on Ridge's and MLP's own R²
    cpd = pd.concat([pd.read_parquet(p) for p in synthetic["cpd"]])
    ani = cpd[
        (cpd.model == "ani2x")
        & (cpd.target == "gap")
        & (cpd.layer == 2)
        & (cpd.group == "all")
        & (cpd.representation == "geom_v1")
    ]
    ridge = ani[ani.probe == "ridge"].set_index(["repeat", "fold"])["r2"]
    mlp = ani[ani.probe == "mlp"].set_index(["repeat", "fold"])["r2"]
    row = measures.loc[(measures["id"] == "A2") & (measures["measure"] == 1)].iloc[0]
    assert row["median"] == pytest.approx((ridge - mlp).median())
    assert row["n_below_minus_one"] == (ridge < -1).sum() + (mlp < -1).sum()
    assert row["ours"] == pytest.approx((ridge - mlp).mean())


def _rewrite(path: str, change) -> None:
    frame, _ = read_parquet(path)
    write_parquet(change(frame), path)


def test_a2_without_v1_mlp_scores_says_not_run(tmp_path):
    inputs = write_synthetic_results(tmp_path, models=CLAIM_MODELS)
    path = next(p for p in inputs["cpd"] if "/ani2x/" in p)
    _rewrite(path, lambda f: f[~((f.probe == "mlp") & (f.representation == "geom_v1"))])
    report, measures = _evaluate(inputs)
    a2 = measures.loc[measures["id"] == "A2"].set_index("measure")
    assert a2.loc[1, "verdict"] == "not comparable" and "b not run" in a2.loc[1, "reason"]
    assert a2.loc[2, "verdict"] == "same direction"  # geom_v2 shown, not used
    assert report.loc["A2", "verdict"] == "not comparable"


def test_pb3_fails_when_gfre_rises_before_the_final_epoch(tmp_path):
    inputs = write_synthetic_results(tmp_path, models=CLAIM_MODELS)

    def rising(frame: pd.DataFrame) -> pd.DataFrame:
        gfre = frame["metric"] == "gfre_checkpoint_to_final"
        last = frame.groupby("model")["epoch"].transform("max")
        value = frame["epoch"] / 10.0  # rises over epochs 1, 2, 4 ...
        frame.loc[gfre, "value"] = value.where(frame["epoch"] < last, 0.0)[gfre]  # final: 0
        return frame

    _rewrite(inputs["convergence"], rising)
    report, _ = _evaluate(inputs)
    assert report.loc["PB3", "verdict"] == "differs"
    assert "does not fall" in report.loc["PB3", "reason"]


def test_pb3_leaves_out_the_best_epoch_not_the_last(tmp_path):
    """Planted: GFRE 0.30, 0.35, 0.00, 0.40 at epochs 1, 2, 4, 8 with the best epoch 4.

    Dropping the last epoch would keep epoch 4's zero (the final model against itself) and
    read a fall; leaving out the final model shows GFRE rising over 1, 2, 8.
    """
    inputs = write_synthetic_results(tmp_path, models=CLAIM_MODELS)
    planted = {1: 0.30, 2: 0.35, 4: 0.0, 8: 0.40}

    def best_at_four(frame: pd.DataFrame) -> pd.DataFrame:
        gfre = frame["metric"] == "gfre_checkpoint_to_final"
        frame.loc[gfre, "value"] = frame.loc[gfre, "epoch"].map(planted)
        return frame

    _rewrite(inputs["convergence"], best_at_four)
    _rewrite(
        inputs["registry"],
        lambda r: r.assign(best_epoch=r["best_epoch"].where(r["best_epoch"].isna(), 4)),
    )
    report, measures = _evaluate(inputs)
    assert report.loc["PB3", "verdict"] == "differs"
    pb3 = measures.loc[measures["id"] == "PB3"].set_index("measure")
    assert pb3.loc[1, "ours"] == pytest.approx(1.0)  # ρ over epochs 1, 2, 8
    assert pb3.loc[2, "ours"] == pytest.approx(0.30 - 0.40)  # first − last non-final checkpoint


def test_pb3_without_best_epoch_names_the_fix(tmp_path):
    inputs = write_synthetic_results(tmp_path, models=CLAIM_MODELS)
    _rewrite(inputs["registry"], lambda r: r.drop(columns="best_epoch"))
    with pytest.raises(DataError, match=r"no best_epoch for .*forcerun model_table"):
        _evaluate(inputs)


@pytest.mark.parametrize(
    ("ceiling", "ridge", "expected"),
    [
        (0.1, 0.0, "not comparable"),  # no room: ≈ 0 by construction, whatever the residual
        (0.1, 0.4, "not comparable"),
        (0.6, 0.0, "reproduced"),
        (0.6, 0.4, "differs"),  # room, and the linear probe does read the control
    ],
)
def test_a5_is_judged_against_the_controls_linear_ceiling(tmp_path, ceiling, ridge, expected):
    inputs = write_synthetic_results(tmp_path, models=CLAIM_MODELS)

    def planted(frame: pd.DataFrame) -> pd.DataFrame:
        ridge_rows = frame["probe"] == "ridge"
        frame.loc[ridge_rows, "r2"] = ridge + 0.01 * frame.loc[ridge_rows, "fold"]
        return frame.assign(ceiling=ceiling)

    _rewrite(str(tmp_path / "analyses" / "control.parquet"), planted)
    report, _ = _evaluate(inputs)
    assert report.loc["A5", "verdict"] == expected
    if ceiling < CLEAR:
        assert "holds by construction" in report.loc["A5", "reason"]


def test_pb4_fine_tuning_on_planted_gfre(measures):
    """Planted: fine-tuned pair 0.05, separately trained 0.16 (both directions, 3 test splits)."""
    pb4 = measures.loc[measures["id"] == "PB4"].set_index("measure_name")
    contrast = pb4.loc["separately trained − fine-tuned, MP crystals"]
    assert contrast["verdict"] == "reproduced"
    # an interval over the 3 test splits around the planted 0.16 − 0.05
    assert 0.09 < contrast["ci_low"] < 0.11 < contrast["ci_high"] < 0.13
    fine_tuned = pb4.loc[
        "fine-tuned (CHGNet 0.3.0 ↔ r2SCAN), MP crystals (absolute level, other models and data)"
    ]
    assert fine_tuned["verdict"] == "reproduced"
    assert "chgnet→chgnet_r2scan" in fine_tuned["selection"]
    assert "chgnet_020" not in fine_tuned["selection"]


def test_pb4_differs_when_the_fine_tuned_pair_is_further_apart(tmp_path):
    inputs = write_synthetic_results(tmp_path, models=CLAIM_MODELS)

    def swapped(frame: pd.DataFrame) -> pd.DataFrame:
        pair = frame["source"].str.cat(frame["target"], sep=" ")
        fine_tuned = pair.isin(["chgnet chgnet_r2scan", "chgnet_r2scan chgnet"])
        frame.loc[fine_tuned, "value"] = 0.3  # further apart than the 0.16 of 0.2.0 ↔ 0.3.0
        return frame

    _rewrite(inputs["gfre"], swapped)
    report, _ = _evaluate(inputs)
    assert report.loc["PB4", "verdict"] == "differs"


@pytest.mark.parametrize(
    ("fine_tuned", "separate", "expected"),
    [
        (0.20, 0.66, "reproduced"),  # both levels far off the paper's ranges, ratio 3.3 in range
        (0.15, 0.18, "differs"),  # the right direction, but a ratio of 1.2
    ],
)
def test_pb4_is_decided_by_direction_and_ratio_not_absolute_levels(
    tmp_path, fine_tuned, separate, expected
):
    inputs = write_synthetic_results(tmp_path, models=CLAIM_MODELS)

    def planted(frame: pd.DataFrame) -> pd.DataFrame:
        pair = frame["source"].str.cat(frame["target"], sep=" ")
        noise = 0.002 * frame["repeat"]
        ft = pair.isin(["chgnet chgnet_r2scan", "chgnet_r2scan chgnet"])
        sep = pair.isin(["chgnet_020 chgnet", "chgnet chgnet_020"])
        frame.loc[ft, "value"] = (fine_tuned + noise)[ft]
        frame.loc[sep, "value"] = (separate + noise)[sep]
        return frame

    _rewrite(inputs["gfre"], planted)
    report, measures = _evaluate(inputs)
    assert report.loc["PB4", "verdict"] == expected
    pb4 = measures.loc[measures["id"] == "PB4"].set_index("measure_name")
    ratio = pb4.loc["separately trained / fine-tuned, MP crystals"]
    assert ratio["ours"] == pytest.approx(separate / fine_tuned, rel=0.05)
    absolute = pb4.loc[
        "fine-tuned (CHGNet 0.3.0 ↔ r2SCAN), MP crystals (absolute level, other models and data)"
    ]
    assert not absolute["decides"] and absolute["verdict"] == "differs"


def test_one_dominant_pair_shows_the_median_over_pairs(tmp_path):
    inputs = write_synthetic_results(tmp_path, models=CLAIM_MODELS)

    def one_outlier(frame: pd.DataFrame) -> pd.DataFrame:
        outlier = (frame["source"] == "chgnet") & (frame["target"] == "sevennet0_may")
        frame.loc[outlier & (frame["level"] == "atom"), "value"] = 66.8
        return frame

    _rewrite(inputs["lfre"], one_outlier)
    _, measures = _evaluate(inputs)
    row = measures.loc[measures["measure_name"] == "every model, QM9 molecules, LFRE"].iloc[0]
    assert row["ours"] > 0.7  # the mean follows the one outlier among 182 pairs
    assert row["median"] == pytest.approx(0.35)  # the other pairs' value


def test_one_differs_among_not_comparable_measures_decides(synthetic):
    # a claim whose first measure is not run and whose second differs
    claim = {
        "id": "X1",
        "claim": "two measures",
        "paper_value": "-",
        "source": "-",
        "measure": {
            "kind": "value",
            "paper": 0.5,
            "select": {
                "scores": "cpd",
                "models": {"family": "nosuchfamily"},
                "target": "gap",
                "representation": "geom_v2",
            },
        },
        "also": [
            {
                "kind": "value",
                "paper": 0.9,
                "reference": 0.0,
                "select": {
                    "scores": "cpd",
                    "models": {"family": "ani2x_aev"},
                    "target": "gap",
                    "representation": "geom_v2",
                },
            }
        ],
    }
    claims, measures = reproduction_tables(
        load_results(synthetic), copy.deepcopy(RENDER_CFG), [claim]
    )
    row = claims.iloc[0]
    assert row["verdict"] == "differs"
    assert "not comparable: (1)" in row["reason"]
    assert list(measures["verdict"]) == ["not comparable", "differs"]


def test_value_equals_independent_aggregate(report):
    inputs = report.attrs["inputs"]
    cpd = pd.concat([pd.read_parquet(p) for p in inputs["cpd"]])
    sel = cpd[
        (cpd.model == "mace_mp")
        & (cpd.dataset == "qm9")
        & (cpd.target == "gap")
        & (cpd.layer == 2)
        & (cpd.probe == "ridge")
        & (cpd.group == "all")
        & (cpd.representation == "geom_v2")
    ]["r2"]
    low, high = stats.t.interval(0.95, len(sel) - 1, loc=sel.mean(), scale=stats.sem(sel))
    # measure (1) is MACE-MP-0; (2) is the SevenNet-0 stand-in
    assert report.loc["B5", "ours"].startswith(
        f"(1) {sel.mean():.3f} [{low:.3f}, {high:.3f}]; (2) "
    )


def test_missing_inputs_are_not_comparable(tmp_path):
    inputs = write_synthetic_results(tmp_path, analyses=False, skip_cpd=("painn_u0",))
    md, csv = tmp_path / "reproduction.md", tmp_path / "reproduction.csv"
    landing = tmp_path / "reproduction_summary.rst"
    reproduction_report(
        inputs,
        {"md": str(md), "csv": str(csv), "landing": str(landing)},
        {**copy.deepcopy(RENDER_CFG), "run": {"configfiles": ["c.yaml"]}},
        1,
    )
    frame = pd.read_csv(csv)  # one row per claim and measure
    # the landing page opens on the same verdicts, counted per claim
    per_claim = frame.drop_duplicates("id")["claim_verdict"].value_counts()
    shown = dict(re.findall(r'data-verdict="([^"]+)" data-count="(\d+)"', landing.read_text()))
    assert {v: int(n) for v, n in shown.items() if int(n)} == per_claim.to_dict()
    assert md.read_text().index("## Claims") < md.read_text().index("## How to read it")
    for claim in ("B3", "B9", "B11", "PB3", "A4"):
        rows = frame.loc[frame["id"] == claim]
        assert (rows["claim_verdict"] == "not comparable").all()
        assert rows["reason"].str.contains("not run").any()
    text = md.read_text()
    assert "**Summary:**" in text and "| B3 |" in text and "c.yaml" in text
    assert "**Width**" in text and "**Trend**" in text  # the rules are printed


def _add_controls(inputs: dict, controls: dict[str, str]) -> None:
    """Add untrained controls (name -> the model they mirror) to synthetic results, as a run
    with ``source: random_init`` entries has them: a registry row, CPD scores and per-model
    analysis rows far below their twin's, and GFRE/LFRE pairs with every model at 0.99."""
    root = Path(inputs["registry"]).parents[1]
    registry, _ = read_parquet(inputs["registry"])
    twins = registry.set_index("name").loc[list(controls.values())].reset_index()
    rows = twins.assign(
        name=list(controls),
        label=[f"{twin} (random init)" for twin in controls.values()],
        source="random_init",
        train_target="",
        test_mae=1.2,
    )
    write_parquet(pd.concat([registry, rows], ignore_index=True), inputs["registry"])
    for name, twin in controls.items():
        frame, _ = read_parquet(next(p for p in inputs["cpd"] if f"/{twin}/" in p))
        path = root / "cpd" / name / "qm9.parquet"
        write_parquet(frame.assign(model=name, r2=frame["r2"] - 0.7), path)
        inputs["cpd"].append(str(path))
    scores = pd.concat([read_parquet(p)[0] for p in inputs["cpd"]], ignore_index=True)
    write_parquet(layer_profile(scores), inputs["layer_profile"])
    for analysis, value in (("control", "r2"), ("isomers", "accuracy"), ("convergence", "value")):
        frame, _ = read_parquet(inputs[analysis])
        copies = [
            frame.loc[frame["model"] == twin].assign(model=name, **{value: 0.123})
            for name, twin in controls.items()
        ]
        write_parquet(pd.concat([frame, *copies], ignore_index=True), inputs[analysis])
    for analysis in ("gfre", "lfre"):
        frame, _ = read_parquet(inputs[analysis])
        names = set(frame["source"]) | set(controls)
        pairs = [
            frame.iloc[[0]].assign(source=a, target=b, level=level, value=0.99)
            for a in names
            for b in names
            if {a, b} & set(controls)
            for level in ("structure", "atom")
        ]
        write_parquet(pd.concat([frame, *pairs], ignore_index=True), inputs[analysis])


def test_untrained_controls_change_no_claim(report, tmp_path):
    """Claims are about trained and pretrained models: a random-init twin of every family the
    claims name (and pairs with it) is never selected, so every verdict and value stays."""
    inputs = write_synthetic_results(tmp_path, models=CLAIM_MODELS)
    controls = {f"{m}_init": m for m in ("mace_gap", "painn_gap", "schnet_gap", "visnet_gap")}
    _add_controls(inputs, {**controls, "dimenetpp_gap_init": "dimenetpp_gap"})
    with_controls, _ = _evaluate(inputs)
    columns = ["verdict", "ours", "reason"]
    pd.testing.assert_frame_equal(with_controls[columns], report[columns])
    assert "_init" not in " ".join(with_controls["selection"])


def test_tables_give_untrained_controls_rows_of_their_own(tmp_path):
    """Every table renders with a control; the gradient and the routing table (by family) show
    it, task alignment (trained models only) does not."""
    inputs = write_synthetic_results(tmp_path, models=CLAIM_MODELS)
    _add_controls(inputs, {"mace_gap_init": "mace_gap"})
    tables = {name: _render(tmp_path, inputs, name) for name in TABLES}
    assert "mace_gap_init" in set(tables["table1_gradient"]["model"])
    assert "mace_gap_init" in set(tables["table6_routing"]["model"])
    assert "mace_gap_init" not in tables["table2_task_alignment"].to_string()


def test_the_landing_page_marks_each_verdict_and_links_where_it_is_shown():
    frame = pd.DataFrame(
        [
            {
                "id": "A1",
                "claim": "a *claim* with R²_geom | bars",
                "paper_value": "0.782",
                "ours": "0.41 [0.3, 0.5]",
                "headline": "(1) 0.41 [0.3, 0.5]",
                "verdict": "differs",
                "shown_in": ["table1_gradient", "gradient"],
            },
            {
                "id": "B10",
                "claim": "c",
                "paper_value": "—",
                "ours": "—",
                "headline": "—",
                "verdict": "not comparable",
                "shown_in": [],
            },
        ]
    )
    rst = landing_rst(frame, list(TABLES), list(FIGURES))
    targets = ["table1_gradient.md", "gradient.png", "reproduction.md"]
    links = "\n\n" + "\n".join(f".. _{t}: javascript:app.showResultInfo('{t}')" for t in targets)
    page = publish_parts(rst + links, writer_name="html")["html_body"]
    assert "system-message" not in page  # valid reStructuredText, every link resolved
    assert '<span class="verdict-differs">\u2718 differs</span>' in page  # symbol and colour
    assert "showResultInfo('table1_gradient.md')" in page and "a *claim* with R²_geom" in page
    assert "(1) 0.41 [0.3, 0.5]" in page and "<ol" not in page  # a leading "(1)" is no list
    with pytest.raises(ConfigError, match=r"claim A1: shown_in 'table99' is neither"):
        landing_rst(frame.assign(shown_in=[["table99"], []]), list(TABLES), list(FIGURES))


def test_every_claim_names_where_it_is_shown():
    names = set(TABLES) | set(FIGURES)
    for claim in load_claims():
        assert "shown_in" in claim, claim["id"]
        assert set(claim["shown_in"]) <= names, claim["id"]


def _replica_results(tmp_path, levels_a, levels_b):
    """MACE trained on the gap (a) and on U0 (b), three seeds each, R² levels per seed."""
    models = [
        (f"mace_gap_seed{s}", "mace", "train", "gap", False, v) for s, v in enumerate(levels_a)
    ]
    models += [
        (f"mace_u0_seed{s}", "mace", "train", "u0", False, v) for s, v in enumerate(levels_b)
    ]
    inputs = write_synthetic_results(tmp_path, models=models, analyses=False)
    registry, _ = read_parquet(inputs["registry"])
    registry["replica_of"] = registry["name"].str.replace(r"_seed\d$", "", regex=True)
    registry["seed"] = registry["name"].str[-1].astype(int)
    write_parquet(registry, inputs["registry"])
    return load_results(inputs)


CONTRAST = {
    "kind": "contrast",
    "paper": {"direction": ">"},
    "a": {
        "scores": "cpd",
        "models": {"family": "mace", "train_target": "gap"},
        "target": "gap",
        "representation": "geom_v2",
    },
    "b": {
        "scores": "cpd",
        "models": {"family": "mace", "train_target": "u0"},
        "target": "gap",
        "representation": "geom_v2",
    },
}


def test_a_contrast_that_flips_across_seeds_is_not_reproduced(tmp_path):
    """Seed 0 alone: a − b = +0.3 on every fold; seeds 1 and 2: −0.2 and +0.15. Pooled per fold
    the sign looks settled (+0.08, tight); over seeds it is not: the seed-level rule decides."""
    results = _replica_results(tmp_path, [0.6, 0.3, 0.45], [0.3, 0.5, 0.3])
    outcome = MEASURES["contrast"](results, CONTRAST, RENDER_CFG)
    assert outcome.low < 0 < outcome.high and outcome.n == 3  # an interval over 3 seeds
    assert outcome.verdict == "differs"
    one_seed = {
        k: {**v, "models": {**v["models"], "seed": 0}}
        if isinstance(v, dict) and "models" in v
        else v
        for k, v in CONTRAST.items()
    }
    single = MEASURES["contrast"](results, one_seed, RENDER_CFG)
    assert single.low > 0.2  # every fold of seed 0 holds the contrast


def test_a_contrast_that_holds_on_every_seed_is_settled(tmp_path):
    results = _replica_results(tmp_path, [0.6, 0.62, 0.58], [0.3, 0.31, 0.29])
    outcome = MEASURES["contrast"](results, CONTRAST, RENDER_CFG)
    assert outcome.low > 0.15 and outcome.n == 3
    assert outcome.verdict in ("reproduced", "same direction")
