"""Reproduction report: the verdict rules, and every claim evaluated on synthetic results."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from scipy import stats

from atomprobe.render.inputs import load_results
from atomprobe.render.reproduction import (
    VERDICTS,
    load_claims,
    reproduction_frame,
    verdict_difference,
    verdict_range,
    verdict_ranking,
    verdict_value,
)
from atomprobe.render.steps import reproduction_report
from test_render_tables import RENDER_CFG, write_synthetic_results

TOL = 0.05


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
    verdict, reason = verdict_value(*wide, max_width=1.0)
    assert verdict == "differs" and "too wide" in reason
    assert verdict_value(-0.7, -0.9, -0.5, -0.792, 0.0, TOL, max_width=1.0)[0] == "reproduced"
    # a wide interval wholly on the paper's side still shows the direction
    assert verdict_value(-40.0, -80.0, -2.0, -0.792, 0.0, TOL, 1.0)[0] == "same direction"


def test_difference_rule():
    assert verdict_difference(0.2, 0.1, 0.3, +1)[0] is True
    assert verdict_difference(0.2, 0.1, 0.3, -1)[1] == "difference has the opposite sign"
    assert verdict_difference(0.2, -0.1, 0.5, +1)[1] == "difference not distinguishable from 0"
    assert verdict_difference(0.2, float("nan"), float("nan"), +1)[0] is False


def test_range_and_ranking_rules():
    assert verdict_range([0.70, 0.90], [0.68, 0.95], 0.0, TOL)[0] == "reproduced"
    assert verdict_range([0.30, 0.90], [0.68, 0.95], 0.0, TOL)[0] == "same direction"
    assert verdict_range([-0.10, 0.90], [0.68, 0.95], 0.0, TOL)[0] == "differs"
    assert verdict_ranking(1.0)[0] == "reproduced"
    assert verdict_ranking(0.6)[0] == "same direction"
    assert verdict_ranking(0.5)[0] == "differs"


def test_claims_file_covers_the_papers():
    ids = [c["id"] for c in load_claims()]
    expected = [f"A{i}" for i in range(1, 7)] + [f"B{i}" for i in range(1, 14)] + ["PB1"]
    assert ids[: len(expected)] == expected
    assert len(set(ids)) == len(ids)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> pd.DataFrame:
    inputs = write_synthetic_results(tmp_path_factory.mktemp("results"))
    frame = reproduction_frame(load_results(inputs), copy.deepcopy(RENDER_CFG))
    frame.attrs["inputs"] = inputs
    return frame.set_index("id")


def test_every_claim_gets_a_verdict(report):
    assert set(report["verdict"]) <= set(VERDICTS)
    assert report["reason"].str.len().min() > 0


def test_verdicts_on_synthetic_results(report):
    verdicts = report["verdict"]
    assert verdicts["B3"] == "reproduced"  # PaiNN 0.55 → 0.30 vs paper 0.53 → 0.31
    assert verdicts["A2"] == "same direction"  # ANI Ridge −0.5 vs MLP +0.9: sign, not size
    assert verdicts["A5"] == "reproduced"  # control Ridge ≈ 0
    assert verdicts["B5"] == "reproduced"  # MACE pretrained 0.40 vs 0.36
    assert verdicts["A3"] == "same direction"
    assert "73% of cross-tier model pairs" in report.loc["A3", "reason"]  # 8 of 11 pairs
    for claim in ("A6", "B10", "B13", "PB1", "PB2"):
        assert verdicts[claim] == "not comparable"


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
    assert report.loc["B5", "ours"] == f"{sel.mean():.3f} [{low:.3f}, {high:.3f}]"


def test_missing_inputs_are_not_comparable(tmp_path):
    inputs = write_synthetic_results(tmp_path, analyses=False, skip_cpd=("painn_u0",))
    md, csv = tmp_path / "reproduction.md", tmp_path / "reproduction.csv"
    reproduction_report(
        inputs,
        {"md": str(md), "csv": str(csv)},
        {**copy.deepcopy(RENDER_CFG), "run": {"configfiles": ["c.yaml"]}},
        1,
    )
    frame = pd.read_csv(csv).set_index("id")
    for claim in ("B3", "B9", "B11", "PB3", "A4"):
        assert frame.loc[claim, "verdict"] == "not comparable"
        assert "not run" in frame.loc[claim, "reason"]
    text = md.read_text()
    assert "**Summary:**" in text and "| B3 |" in text and "c.yaml" in text
