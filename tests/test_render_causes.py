"""The cause column: from numbers only. Planted checkpoint trajectories get the right budget
cause (converging toward the paper, flat), and the other rules (availability, not run, a
reading that reaches the paper) fire on their own cases."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atomprobe.io import read_parquet, write_parquet
from atomprobe.render.causes import budget_trend, claim_cause, ladder_trend
from atomprobe.render.figures import figure_ladder, figure_ladder_checkpoints
from atomprobe.render.inputs import load_results
from atomprobe.render.measures import MEASURES, Outcome
from atomprobe.render.reproduction import (
    ladder_checkpoint_table,
    ladder_markdown,
    ladder_table,
    reproduction_tables,
)
from atomprobe.render.steps import reproduction_report
from test_render_reproduction import CONTRAST
from test_render_tables import RENDER_CFG, write_synthetic_results

MODELS = [
    ("mace_gap", "mace", "train", "gap", False, 0.45),
    ("mace_u0", "mace", "train", "u0", False, 0.30),
]
B4 = {**CONTRAST, "name": "MACE gap − U0", "paper": {"a": 0.44, "b": 0.08}}


def evaluate(results, measure, cfg):
    return MEASURES[measure["kind"]](results, measure, cfg)


def _checkpoint_scores(level: dict[str, list[float]]) -> pd.DataFrame:
    """Checkpoint scores: R² of the gap (geom_v2) of each model per epoch (5 folds each)."""
    rng = np.random.default_rng(0)
    rows = [
        {
            "model": model,
            "dataset": "qm9",
            "epoch": epoch + 1,
            "layer": "last",
            "group": "all",
            "target": "gap",
            "representation": "geom_v2",
            "probe": "ridge",
            "repeat": 0,
            "fold": fold,
            "r2": value + rng.normal(0, 0.01),
        }
        for model, values in level.items()
        for epoch, value in enumerate(values)
        for fold in range(5)
    ]
    return pd.DataFrame(rows)


def _with_checkpoints(tmp_path, level: dict[str, list[float]]):
    """Synthetic results plus checkpoint scores (:func:`_checkpoint_scores`)."""
    inputs = write_synthetic_results(tmp_path, models=MODELS, analyses=False)
    path = tmp_path / "analyses" / "checkpoint_cpd.parquet"
    write_parquet(_checkpoint_scores(level), path)
    return load_results({**inputs, "checkpoint_cpd": str(path)})


def test_a_contrast_that_opens_up_with_training_is_a_budget_cause(tmp_path):
    results = _with_checkpoints(
        tmp_path, {"mace_gap": [0.30, 0.35, 0.40, 0.45, 0.50], "mace_u0": [0.28] * 5}
    )
    cause = budget_trend(B4, results, RENDER_CFG, evaluate)
    assert cause.startswith("budget: MACE gap − U0 0.02")
    assert "over epochs 1–5" in cause
    assert "rising, toward the paper's 0.36; still moving at the last point" in cause


def test_a_flat_trajectory_says_so(tmp_path):
    results = _with_checkpoints(tmp_path, {"mace_gap": [0.35] * 5, "mace_u0": [0.30] * 5})
    assert budget_trend(B4, results, RENDER_CFG, evaluate).endswith("flat within intervals")


def test_models_that_stop_early_are_compared_on_the_epochs_both_reached(tmp_path):
    results = _with_checkpoints(
        tmp_path, {"mace_gap": [0.30, 0.35, 0.40, 0.45, 0.9], "mace_u0": [0.28] * 4}
    )
    assert "over epochs 1–4" in budget_trend(B4, results, RENDER_CFG, evaluate)


def test_no_checkpoints_no_budget_cause(tmp_path):
    results = load_results(write_synthetic_results(tmp_path, models=MODELS, analyses=False))
    assert budget_trend(B4, results, RENDER_CFG, evaluate) is None
    gfre = {"kind": "value", "paper": 0.5, "select": {"scores": "gfre", "level": "atom"}}
    assert budget_trend(gfre, results, RENDER_CFG, evaluate) is None


def _outcome(verdict, decides=True, ours="0.3 [0.2, 0.4]", name="m"):
    return Outcome(ours, verdict, "", "", name=name, decides=decides, mean=0.3)


@pytest.mark.parametrize(
    ("claim", "outcomes", "verdict", "expected"),
    [
        ({}, [_outcome("reproduced")], "reproduced", ""),
        ({"comparable": False}, [_outcome("differs")], "not comparable", "availability:"),
        ({}, [_outcome("not comparable", ours="not run")], "not comparable", "not run:"),
        (
            {},
            [_outcome("differs"), _outcome("reproduced", decides=False, name="toolkit")],
            "differs",
            "reading: toolkit gives 0.3 [0.2, 0.4] (reproduced)",
        ),
        ({}, [_outcome("differs")], "differs", "unexplained by the measurements at hand"),
    ],
)
def test_the_other_causes(tmp_path, claim, outcomes, verdict, expected):
    results = load_results(write_synthetic_results(tmp_path, models=MODELS, analyses=False))
    measures = [
        copy.deepcopy({"kind": "value", "paper": 0.5, "select": {"scores": "gfre"}})
        for _ in outcomes
    ]
    cause = claim_cause(claim, measures, outcomes, verdict, results, RENDER_CFG, evaluate)
    assert cause.startswith(expected) if expected else cause == ""


def _ladder_inputs(tmp_path, gap_levels, u0_levels, checkpoints=None):
    """MACE on the gap and on U0 at rungs 0, 1, 2 (registry column rung), R² levels per rung,
    and optionally checkpoint scores (:func:`_checkpoint_scores` of ``checkpoints``)."""
    models = [
        (f"mace_gap_r{r}", "mace", "train", "gap", False, v) for r, v in enumerate(gap_levels)
    ]
    models += [(f"mace_u0_r{r}", "mace", "train", "u0", False, v) for r, v in enumerate(u0_levels)]
    models.append(("ani2x", "ani2x_aev", "builtin", "none", False, -0.5))
    inputs = write_synthetic_results(tmp_path, models=models, analyses=False)
    registry, _ = read_parquet(inputs["registry"])
    registry["rung"] = registry["name"].str.extract(r"_r(\d)$")[0].astype(float)
    registry["train_passes"] = 5000.0 * 10 ** registry["rung"]
    write_parquet(registry, inputs["registry"])
    if checkpoints is not None:
        inputs["checkpoint_cpd"] = str(tmp_path / "analyses" / "checkpoint_cpd.parquet")
        write_parquet(_checkpoint_scores(checkpoints), inputs["checkpoint_cpd"])
    return inputs


def _ladder(tmp_path, gap_levels, u0_levels, checkpoints=None):
    """The results of :func:`_ladder_inputs`."""
    return load_results(_ladder_inputs(tmp_path, gap_levels, u0_levels, checkpoints))


def test_each_rung_sees_its_own_models_and_every_pretrained_one(tmp_path):
    results = _ladder(tmp_path, [0.35, 0.45, 0.55], [0.30, 0.25, 0.15])
    assert results.rungs() == [0, 1, 2]
    rung1 = results.at_rung(1)
    assert set(rung1.registry["name"]) == {"mace_gap_r1", "mace_u0_r1", "ani2x"}
    assert set(rung1.cpd["model"]) == {"mace_gap_r1", "mace_u0_r1", "ani2x"}


def test_a_contrast_that_grows_along_the_ladder_is_a_budget_cause(tmp_path):
    results = _ladder(tmp_path, [0.35, 0.45, 0.55], [0.30, 0.25, 0.15])
    ladder = [(r, results.at_rung(r)) for r in results.rungs()]
    cause = ladder_trend(B4, ladder, RENDER_CFG, evaluate)
    assert cause.startswith("budget: MACE gap − U0 0.04") and "over rungs 0–2 (ladder)" in cause
    assert "rising, toward the paper's 0.36; still moving at the last point" in cause
    flat = _ladder(tmp_path / "flat", [0.35] * 3, [0.30] * 3)
    ladder = [(r, flat.at_rung(r)) for r in flat.rungs()]
    assert ladder_trend(B4, ladder, RENDER_CFG, evaluate).endswith("flat within intervals")


def test_the_ladder_table_judges_every_claim_on_every_rung(tmp_path):
    results = _ladder(tmp_path, [0.35, 0.45, 0.55], [0.30, 0.25, 0.15])
    claim = {
        "id": "B4",
        "claim": "c",
        "paper_value": "0.44 → 0.08",
        "source": "s",
        "measure": {**B4},
    }
    frame = ladder_table(results, {**RENDER_CFG}, [claim])
    assert list(frame["rung"]) == [0, 1, 2]
    assert list(frame["train_passes"]) == [5000, 50000, 500000]
    assert frame["ours"].is_monotonic_increasing  # a − b: 0.05, 0.2, 0.4
    assert frame["paper_number"].tolist() == pytest.approx([0.36] * 3)  # 0.44 − 0.08
    assert "| B4 |" in ladder_markdown(frame)


def test_each_rung_s_checkpoints_give_the_measure_per_epoch(tmp_path):
    checkpoints = {
        "mace_gap_r0": [0.30, 0.32],
        "mace_u0_r0": [0.30, 0.30],
        "mace_gap_r1": [0.30, 0.35, 0.40],
        "mace_u0_r1": [0.25, 0.25, 0.25],
        "mace_gap_r2": [0.30, 0.40, 0.50, 0.55, 0.60],
        "mace_u0_r2": [0.20, 0.15, 0.15, 0.15, 0.15],
    }
    results = _ladder(tmp_path, [0.35, 0.45, 0.55], [0.30, 0.25, 0.15], checkpoints)
    claim = {"id": "B4", "claim": "c", "paper_value": "p", "source": "s", "measure": {**B4}}
    frame = ladder_checkpoint_table(results, {**RENDER_CFG}, [claim])
    assert frame.groupby("rung")["epoch"].apply(list).to_dict() == {
        0: [1, 2],
        1: [1, 2, 3],
        2: [1, 2, 3, 4, 5],
    }
    # each rung reads its own models: gap − U0 of that rung, epoch by epoch
    expected = [0.0, 0.02, 0.05, 0.10, 0.15, 0.10, 0.25, 0.35, 0.40, 0.45]
    assert frame["ours"].tolist() == pytest.approx(expected, abs=0.03)
    assert (frame["ci_low"] < frame["ours"]).all() and (frame["ours"] < frame["ci_high"]).all()
    assert frame["paper_number"].tolist() == pytest.approx([0.36] * len(frame))
    fig = figure_ladder_checkpoints(frame)
    (panel,) = [ax for ax in fig.axes if ax.axison]
    assert [line.get_label() for line in panel.lines] == ["rung 0", "rung 1", "rung 2", "paper"]
    assert list(panel.lines[2].get_ydata()) == pytest.approx(expected[5:], abs=0.03)
    no_checkpoints = ladder_checkpoint_table(
        _ladder(tmp_path / "none", [0.35] * 3, [0.3] * 3), {**RENDER_CFG}, [claim]
    )
    assert no_checkpoints.empty
    empty = figure_ladder_checkpoints(no_checkpoints)
    assert "no claim's measure reads" in empty.axes[0].texts[0].get_text()


def test_the_ladder_figure_shows_the_claims_that_move_with_the_budget():
    def rows(claim, values, paper):
        return [
            {
                "id": claim,
                "rung": rung,
                "train_passes": 5000.0 * 10**rung,
                "relative_test_error": 0.5 / (rung + 1),
                "verdict": "differs",
                "measure_name": f"{claim} measure",
                "ours": value,
                "ci_low": value - 0.05,
                "ci_high": value + 0.05,
                "paper_number": paper,
            }
            for rung, value in enumerate(values)
        ]

    ladder = pd.DataFrame(
        rows("B4", [0.05, 0.2, 0.4], 0.36)
        + rows("pretrained only", [0.7] * 3, 0.8)  # models not trained here: the same each rung
        + rows("not run", [np.nan] * 3, np.nan)
    )
    fig = figure_ladder(ladder)
    drawn = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in drawn] == ["B4: B4 measure"]
    (panel,) = drawn
    assert panel.xaxis_inverted()  # the most trained rung (least error) to the right
    paper_lines = [line for line in panel.lines if line.get_label() == "paper"]
    assert paper_lines and paper_lines[0].get_ydata()[0] == pytest.approx(0.36)
    assert [t.get_text() for t in panel.texts] == [f"rung {r}: differs" for r in range(3)]
    nothing = figure_ladder(ladder.loc[ladder["id"] != "B4"])
    assert "no claim's measure changes" in nothing.axes[0].texts[0].get_text()


def test_unmeasurable_claims_and_bounds_are_not_readings(tmp_path):
    results = load_results(write_synthetic_results(tmp_path, models=MODELS, analyses=False))
    none = [{"kind": "none", "reason": "no protocol"}]
    cause = claim_cause(
        {},
        none,
        [_outcome("not comparable", ours="—")],
        "not comparable",
        results,
        RENDER_CFG,
        evaluate,
    )
    assert cause.startswith("not measurable:")
    measures = [
        {"kind": "value", "paper": 0.5, "select": {"scores": "gfre"}},
        {"kind": "value", "paper": 0.5, "select": {"scores": "gfre"}, "bound": True},
    ]
    outcomes = [_outcome("differs"), _outcome("reproduced", decides=False, name="ceiling")]
    cause = claim_cause({}, measures, outcomes, "differs", results, RENDER_CFG, evaluate)
    assert cause == "unexplained by the measurements at hand"  # a ceiling explains nothing


def test_a_change_within_fold_noise_is_flat_even_when_the_means_move(tmp_path):
    """The means move 0.02 per epoch but fold noise is large: paired over the same folds, the
    change's interval still holds 0."""
    results = _with_checkpoints(
        tmp_path, {"mace_gap": [0.35, 0.36, 0.37, 0.38, 0.39], "mace_u0": [0.35] * 5}
    )
    frame = results.analysis("checkpoint_cpd")
    rng = np.random.default_rng(5)
    frame["r2"] = frame["r2"] + rng.normal(0, 0.2, len(frame))  # fold noise ≫ the trend
    cause = budget_trend(B4, results, RENDER_CFG, evaluate)
    assert cause.endswith("flat within intervals")


def test_the_reproduction_step_writes_the_ladder_outputs(tmp_path):
    """The step as the rule calls it on a ladder: every ladder output written, the report
    judged on rung 0, and the ladder table and checkpoint table with a row per rung."""
    checkpoints = {f"mace_{t}_r{r}": [0.3, 0.3 + 0.05 * r] for t in ("gap", "u0") for r in range(3)}
    inputs = _ladder_inputs(tmp_path, [0.35, 0.45, 0.55], [0.30, 0.25, 0.15], checkpoints)
    names = ("md", "csv", "landing", "ladder", "ladder_md", "ladder_checkpoints")
    outputs = {n: str(tmp_path / "out" / f"{n}.txt") for n in names}
    for figure in ("ladder", "ladder_checkpoints"):
        for fmt in ("pdf", "png"):
            outputs[f"{figure}_{fmt}"] = str(tmp_path / "out" / f"{figure}.{fmt}")
    (tmp_path / "out").mkdir()
    reproduction_report(inputs, outputs, {**copy.deepcopy(RENDER_CFG), "run": {}}, 1)
    assert all(Path(p).stat().st_size > 0 for p in outputs.values())
    ladder = pd.read_csv(outputs["ladder"])
    assert set(ladder["rung"]) == {0, 1, 2} and "paper_number" in ladder.columns
    per_epoch = pd.read_csv(outputs["ladder_checkpoints"])
    assert set(per_epoch["rung"]) == {0, 1, 2} and set(per_epoch["epoch"]) == {1, 2}
    report = Path(outputs["md"]).read_text()
    section = report.split("\n## Claims along the training-budget ladder\n")[1]
    assert section.strip() == Path(outputs["ladder_md"]).read_text().split("\n", 1)[1].strip()
    assert "| B4 | differs: " in section


def test_a_verdict_that_changes_along_the_ladder_is_named_in_the_cause(tmp_path):
    """Rung 0's contrast (0.05) differs from the paper's 0.36, rungs 1 and 2 (0.2, 0.4) reach
    it: the report, which judges rung 0, names each rung's verdict; a flat ladder names none."""
    claim = {"id": "B4", "claim": "c", "paper_value": "0.44 → 0.08", "source": "s", "measure": B4}
    results = _ladder(tmp_path, [0.35, 0.45, 0.55], [0.30, 0.25, 0.15])
    rows, _ = reproduction_tables(results, {**RENDER_CFG}, [claim])
    ladder = ladder_table(results, {**RENDER_CFG}, [claim])
    path = " → ".join(ladder["verdict"])
    assert rows.loc[0, "verdict"] == "differs" and len(set(ladder["verdict"])) > 1
    assert f"budget: verdict {path} over rungs 0–2 (ladder)" in rows.loc[0, "cause"]
    flat = _ladder(tmp_path / "flat", [0.35] * 3, [0.30] * 3)
    rows, _ = reproduction_tables(flat, {**RENDER_CFG}, [claim])
    assert rows.loc[0, "verdict"] == "differs" and "verdict" not in rows.loc[0, "cause"]
