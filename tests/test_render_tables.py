"""Render tables from synthetic parquet results; numbers must equal an independent computation.

``write_synthetic_results`` (also used by the other render tests) writes a small, fully synthetic
set of cached results in the file formats of docs/formats.md: a registry of eight models, CPD
scores (3 layers, 4 representations, 3 probes, channel groups, 2 repeats × 5 folds) and every
cross-model analysis.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from atomprobe.analyses.layers import layer_profile
from atomprobe.analyses.sample_efficiency import ranking_agreement
from atomprobe.io import read_parquet, write_parquet
from atomprobe.render.inputs import load_results
from atomprobe.render.steps import render_table
from atomprobe.render.tables import (
    TABLES,
    latex_escape,
    leakage_finding,
    reported_layer_scores,
    to_latex,
    to_markdown,
)

ROOT = Path(__file__).resolve().parents[1]
RENDER_CFG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["render"]

# name, family, source, train_target, supports_periodic, geometric R² level
MODELS = [
    ("mace_gap", "mace", "train", "gap", False, 0.60),
    ("mace_u0", "mace", "train", "u0", False, 0.20),
    ("painn_gap", "painn", "train", "gap", False, 0.55),
    ("painn_u0", "painn", "train", "u0", False, 0.30),
    ("schnet_gap", "schnet", "train", "gap", False, 0.35),
    ("visnet_gap", "visnet", "train", "gap", False, 0.45),
    ("ani2x", "ani2x_aev", "builtin", "none", False, -0.50),
    ("mace_mp", "mace", "checkpoint", "energy", True, 0.40),
]
# the shipped weights of builtin entries (registry column `weights`), by registry name
WEIGHTS = {
    "sevennet0": "SevenNet-0_11Jul2024",
    "sevennet0_may": "SevenNet-0_22May2024",
    "chgnet": "0.3.0",
    "chgnet_020": "0.2.0",
    "chgnet_r2scan": "r2scan",
}
# planted GFRE of model pairs in either direction: fine-tuned close, separately trained further
PLANTED_GFRE = {
    frozenset({"chgnet", "chgnet_r2scan"}): 0.05,
    frozenset({"chgnet", "chgnet_020"}): 0.16,
    frozenset({"sevennet0", "sevennet0_may"}): 0.15,
}
# PaiNN has both kinds of groups: the routing outputs must show only the configured ones
GROUPS = {"mace": ["L0", "L1"], "visnet": ["scalar", "vector"], "painn": ["L0", "L1", "scalar"]}
REPRESENTATION_OFFSET = {"full": 0.25, "comp": -0.1, "geom_v2": 0.0, "geom_v1": 0.08}


def _with_splits(frame: pd.DataFrame) -> pd.DataFrame:
    """GFRE/LFRE rows as the reconstruction step writes them: split ``structures`` at structure
    level; at atom level split ``atoms`` plus a copy split by ``structures`` whose off-diagonal
    values are 0.1 higher (a claim that pooled both splits would show it); ``median`` = value."""
    atom = frame["level"] == "atom"
    by_structure = frame.loc[atom].assign(
        split="structures",
        value=frame.loc[atom, "value"].where(
            frame["source"] == frame["target"], frame["value"] + 0.1
        ),
    )
    frame = frame.assign(split=np.where(atom, "atoms", "structures"))
    frame = pd.concat([frame, by_structure], ignore_index=True)
    return frame.assign(median=frame["value"])


def _ceiling(target: str, repeat: int, fold: int) -> float:
    """Synthetic ceiling of a fold: one value per (target, repeat, fold), as the step writes."""
    return 0.7 - 0.1 * (target not in ("gap", "band_gap")) + 0.01 * fold + 0.002 * repeat


def _cpd_rows(
    rng: np.random.Generator,
    name: str,
    family: str,
    level: float,
    dataset: str,
    targets: list[str],
    groups: dict[str, list[str]] = GROUPS,
) -> pd.DataFrame:
    rows = []
    for target in targets:
        target_shift = 0.0 if target in ("gap", "band_gap") else -0.1
        for layer in range(3):
            scored = ["all", *groups.get(family, [])] if dataset == "qm9" else ["all"]
            for group in scored:
                for rep, offset in REPRESENTATION_OFFSET.items():
                    probes = ("ridge", "mlp", "gbt") if group == "all" else ("ridge",)
                    for probe in probes:
                        nonlinear = 0.9 - level if probe != "ridge" and level < 0 else 0.05
                        base = level + offset + target_shift + 0.05 * (layer - 2)
                        base += 0.0 if probe == "ridge" else nonlinear
                        base -= 0.05 * (group in ("L1", "vector"))
                        for repeat in range(2):
                            for fold in range(5):
                                rows.append(
                                    {
                                        "model": name,
                                        "dataset": dataset,
                                        "target": target,
                                        "layer": layer,
                                        "group": group,
                                        "representation": rep,
                                        "probe": probe,
                                        "repeat": repeat,
                                        "fold": fold,
                                        "r2": base + rng.normal(0, 0.03),
                                        "alpha": 1.0,
                                        "ceiling": _ceiling(target, repeat, fold),
                                    }
                                )
    return pd.DataFrame(rows)


def write_synthetic_results(
    root: Path,
    models: list[tuple] = MODELS,
    analyses: bool = True,
    skip_cpd: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
    groups: dict[str, list[str]] = GROUPS,
) -> dict[str, object]:
    """Write synthetic cached results under ``root``; return the render step's inputs.

    ``labels``: registry labels by name (default: the name in capitals); ``groups``: the CPD
    column groups scored per family on qm9."""
    labels = labels or {}
    rng = np.random.default_rng(0)
    registry = pd.DataFrame(
        [
            {
                "name": n,
                "label": labels.get(n, n.replace("_", " ").upper()),
                "family": f,
                "source": s,
                "weights": WEIGHTS.get(n, ""),
                "train_target": t,
                "n_params": 1000,
                "test_mae": round(1.0 - 0.8 * level, 3),  # better models err less
                "baseline_mae": 1.0,
                "best_epoch": 8 if s == "train" else None,  # convergence below: epochs 1-8
                "supports_periodic": p,
                "note": "",
            }
            for n, f, s, t, p, level in models
        ]
    )
    inputs: dict[str, object] = {"registry": str(root / "models" / "registry.parquet"), "cpd": []}
    write_parquet(registry, inputs["registry"])
    for name, family, _, _, periodic, level in models:
        if name in skip_cpd:
            continue
        path = root / "cpd" / name / "qm9.parquet"
        write_parquet(_cpd_rows(rng, name, family, level, "qm9", ["gap", "mu"], groups), path)
        inputs["cpd"].append(str(path))
        if periodic:
            path = root / "cpd" / name / "mp.parquet"
            write_parquet(_cpd_rows(rng, name, family, level, "mp", ["band_gap", "density"]), path)
            inputs["cpd"].append(str(path))
    if inputs["cpd"]:  # as the cpd_layer_profile rule writes it
        scores = pd.concat([read_parquet(p)[0] for p in inputs["cpd"]], ignore_index=True)
        inputs["layer_profile"] = str(root / "analyses" / "layer_profile.parquet")
        write_parquet(layer_profile(scores), inputs["layer_profile"])
    if not analyses:
        return inputs
    names = [m[0] for m in models]
    pairs = [(a, b) for a in names for b in names]
    periodic = [m[0] for m in models if m[4]]
    on_dataset = [("qm9", a, b) for a, b in pairs] + [
        ("mp", a, b) for a in periodic for b in periodic
    ]
    frames = {
        "control": pd.DataFrame(
            [
                {
                    "model": m,
                    "target": "composition_entropy",
                    "representation": rep,
                    "probe": probe,
                    "repeat": 0,
                    "fold": fold,
                    "r2": (0.0 if probe == "ridge" else 0.8) + rng.normal(0, 0.02),
                    "alpha": 1.0,
                    "ceiling": 0.6 + 0.01 * fold,  # room for a linear probe to read > 0
                }
                for m in names
                for rep in ("full", "geom_v2")
                for probe in ("ridge", "mlp", "gbt")
                for fold in range(5)
            ]
        ),
        "isomers": pd.DataFrame(
            [
                {
                    "model": m,
                    "target": "gap",
                    "representation": rep,
                    "n_groups": 40,
                    "n_pairs": 500,
                    "accuracy": acc,
                    "ci_low": acc - 0.02,
                    "ci_high": acc + 0.02,
                }
                for m in names
                for rep, acc in (("geom_v2", 0.9), ("comp", 0.5))
            ]
        ),
        "sample_efficiency": pd.DataFrame(
            [
                {
                    "model": m,
                    "target": "gap",
                    "representation": "geom_v2",
                    "n_train": n,
                    "is_full": n == 4000,
                    "repeat": r,
                    "r2": level * (1 - 50 / (n + 50)) + rng.normal(0, 0.01),
                }
                for m, *_, level in models
                for n in (50, 100, 500, 2000, 4000)
                for r in range(1 if n == 4000 else 3)
            ]
        ),
        "gfre": _with_splits(
            pd.DataFrame(
                [
                    {
                        "source": a,
                        "target": b,
                        "level": level,
                        "dataset": dataset,
                        "repeat": repeat,
                        "value": 0.0
                        if a == b
                        else PLANTED_GFRE.get(frozenset({a, b}), 0.6) + rng.normal(0, 0.005),
                        "n_train": 100,
                        "n_test": 50,
                    }
                    for dataset, a, b in on_dataset
                    for level in ("structure", "atom")
                    for repeat in range(3)
                ]
            )
        ),
        "lfre": _with_splits(
            pd.DataFrame(
                [
                    {
                        "source": a,
                        "target": b,
                        "level": level,
                        "dataset": "qm9",
                        "value": 0.0 if a == b else 0.35,
                        "n_train": 100,
                        "n_test": 50,
                        "n_neighbors": 8,
                    }
                    for a, b in pairs
                    for level in ("structure", "atom")
                ]
            )
        ),
        "similarity": pd.DataFrame(
            [
                {
                    "model_a": a,
                    "model_b": b,
                    "dataset": "qm9",
                    "metric": metric,
                    "value": 1.0 if a == b else 0.5,
                    "n_samples": 100,
                    "k": 10,
                }
                for a, b in pairs
                for metric in ("cka", "mutual_knn", "cknna", "information_imbalance")
            ]
        ),
        "cumulants": pd.DataFrame(
            [
                {
                    "model": "mace_gap",
                    "dataset": "qm9",
                    "source_order": k,
                    "target_order": q,
                    "value": 0.0 if k >= q else 0.1 * (q - k),
                    "n_train": 100,
                    "n_test": 50,
                }
                for k in range(1, 9)
                for q in range(1, 9)
            ]
        ),
        "pcovr": pd.DataFrame(
            [
                {
                    "model": m,
                    "dataset": "qm9",
                    "target": "gap",
                    "id": f"qm9:{i}",
                    "pcovr_1": rng.normal(),
                    "pcovr_2": rng.normal(),
                    "y": rng.normal(6, 1),
                }
                for m in names
                for i in range(60)
            ]
        ),
        "convergence": pd.DataFrame(
            [
                {
                    "model": m,
                    "dataset": "qm9",
                    "epoch": e,
                    "metric": metric,
                    "value": 0.5 / (1 + e) if "gfre" in metric else 1 - 0.5 / e,
                    "n_train": 100,
                    "n_test": 50,
                }
                for m in names[:4]
                for e in (1, 2, 4, 8)
                for metric in ("gfre_checkpoint_to_final", "cka")
            ]
        ),
    }
    frames["intrinsic_dimension"] = pd.DataFrame(
        [
            {
                "model": m,
                "dataset": "qm9",
                "layer": layer,
                "estimator": "twonn",
                "value": 5.0 + layer + 2 * level,
                "ci_low": 4.5 + layer + 2 * level,
                "ci_high": 5.5 + layer + 2 * level,
                "n_samples": 60,
                "n_bootstrap": 20,
            }
            for m, *_, level in models
            for layer in range(3)
        ]
    )
    frames["layer_reconstruction"] = pd.DataFrame(
        [
            {
                "model": m,
                "dataset": "qm9",
                "layer": layer,
                "last_layer": 2,
                "direction": direction,
                "value": 0.1 * (3 - layer) + 0.05 * (direction == "last_to_layer"),
                "n_train": 40,
                "n_test": 20,
            }
            for m, *_ in models
            for layer in range(2)
            for direction in ("layer_to_last", "last_to_layer")
        ]
    )
    frames["sample_efficiency_ranking"] = ranking_agreement(frames["sample_efficiency"])
    for name, frame in frames.items():
        path = root / "analyses" / f"{name}.parquet"
        write_parquet(frame, path)
        inputs[name] = str(path)
    return inputs


def _render(tmp_path: Path, inputs: dict, name: str, cfg: dict | None = None) -> pd.DataFrame:
    params = {**copy.deepcopy(cfg or RENDER_CFG), "item": name}
    outputs = {fmt: str(tmp_path / "out" / f"{name}.{fmt}") for fmt in ("csv", "md", "tex")}
    render_table(inputs, outputs, params, 1)
    for path in outputs.values():
        assert Path(path).stat().st_size > 0
    return pd.read_csv(outputs["csv"])


def _t_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Independent reference: scipy's t interval around the mean."""
    mean = float(np.mean(values))
    low, high = stats.t.interval(level, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, low, high


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict:
    return write_synthetic_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def raw_cpd(synthetic) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in synthetic["cpd"]], ignore_index=True)


def test_gradient_table_equals_independent_aggregate(tmp_path, synthetic, raw_cpd):
    table = _render(tmp_path, synthetic, "table1_gradient")
    qm9 = raw_cpd[
        (raw_cpd.dataset == "qm9")
        & (raw_cpd.probe == "ridge")
        & (raw_cpd.group == "all")
        & (raw_cpd.layer == 2)
    ]
    assert len(table) == 2 * len(MODELS)
    assert list(table["target"][: len(MODELS)]) == ["gap"] * len(MODELS)  # main target first
    for _, row in table.iterrows():
        for rep in ("full", "comp", "geom_v2", "geom_v1"):
            values = qm9[
                (qm9.model == row.model) & (qm9.target == row.target) & (qm9.representation == rep)
            ]["r2"].to_numpy()
            mean, low, high = _t_ci(values)
            assert row[f"{rep}_mean"] == pytest.approx(mean, abs=1e-9)
            assert row[f"{rep}_ci_low"] == pytest.approx(low, abs=1e-9)
            assert row[f"{rep}_ci_high"] == pytest.approx(high, abs=1e-9)
        assert row["n"] == 10 and row["layer"] == 2
        ceilings = [_ceiling(row.target, r, f) for r in range(2) for f in range(5)]
        mean, low, high = _t_ci(np.array(ceilings))
        assert row["ceiling_mean"] == pytest.approx(mean, abs=1e-9)
        assert row["ceiling_ci_low"] == pytest.approx(low, abs=1e-9)
        assert row["ceiling_ci_high"] == pytest.approx(high, abs=1e-9)
    md = (tmp_path / "out" / "table1_gradient.md").read_text()
    assert "| ceiling 1 − R²(y from C) |" in md and f"{_t_ci(np.array(ceilings))[0]:.3f} [" in md


def test_best_layer_picks_highest_geom_v2(tmp_path, synthetic):
    table = _render(tmp_path, synthetic, "table1_gradient", {**RENDER_CFG, "layer": "best"})
    assert set(table["layer"]) == {2}  # synthetic scores rise with depth


def test_best_layer_is_the_layer_profile_choice_and_ranks_by_geom_v2():
    """Ties go to the lower layer in both places; the full-feature R² does not rank layers."""
    rows = []
    for layer, (full, geom) in enumerate([(0.9, 0.4), (0.5, 0.6), (0.8, 0.6)]):
        for fold in range(2):
            for rep, r2 in (("full", full), ("geom_v2", geom)):
                rows.append(
                    {
                        "model": "m",
                        "dataset": "qm9",
                        "target": "gap",
                        "group": "all",
                        "representation": rep,
                        "probe": "ridge",
                        "layer": layer,
                        "fold": fold,
                        "r2": r2,
                    }
                )
    cpd = pd.DataFrame(rows)
    profile = layer_profile(cpd)
    reported = reported_layer_scores(cpd, "best", profile)
    marked = profile[profile.is_best & (profile.representation == "geom_v2")]
    assert set(reported["layer"]) == set(marked["layer"]) == {1}
    assert len(reported) == 4  # both representations of layer 1, both folds


def test_leakage_is_paired_difference(tmp_path, synthetic, raw_cpd):
    table = _render(tmp_path, synthetic, "table8_leakage")
    last = raw_cpd[(raw_cpd.probe == "ridge") & (raw_cpd.group == "all") & (raw_cpd.layer == 2)]
    wide = last.pivot_table(
        index=["dataset", "target", "model", "repeat", "fold"],
        columns="representation",
        values="r2",
    )
    diff = (
        (wide["geom_v1"] - wide["geom_v2"])
        .groupby(level=[0, 1, 2])
        .apply(lambda s: _t_ci(s.to_numpy()))
    )
    assert len(table) == len(diff)
    for _, row in table.iterrows():
        mean, low, high = diff[(row.dataset, row.target, row.model)]
        assert row["leakage_mean"] == pytest.approx(mean, abs=1e-9)
        assert row["leakage_ci_low"] == pytest.approx(low, abs=1e-9)
        assert row["leakage_ci_high"] == pytest.approx(high, abs=1e-9)
        assert row["leakage_mean"] > 0  # synthetic v1 sits 0.08 above v2


def test_task_alignment_pairs_families(tmp_path, synthetic, raw_cpd):
    table = _render(tmp_path, synthetic, "table2_task_alignment")
    assert list(table["family"]) == ["mace", "painn"]
    sel = raw_cpd[
        (raw_cpd.dataset == "qm9")
        & (raw_cpd.target == "gap")
        & (raw_cpd.layer == 2)
        & (raw_cpd.probe == "ridge")
        & (raw_cpd.group == "all")
        & (raw_cpd.representation == "geom_v2")
    ].set_index(["repeat", "fold"])
    painn = table.set_index("family").loc["painn"]
    ceilings = [_ceiling("gap", r, f) for r in range(2) for f in range(5)]
    assert painn["ceiling_mean"] == pytest.approx(np.mean(ceilings), abs=1e-9)
    diff = (sel[sel.model == "painn_gap"]["r2"] - sel[sel.model == "painn_u0"]["r2"]).to_numpy()
    assert painn["difference_mean"] == pytest.approx(_t_ci(diff)[0], abs=1e-9)
    assert painn["difference_ci_low"] == pytest.approx(_t_ci(diff)[1], abs=1e-9)


def test_probe_and_routing_tables(tmp_path, synthetic, raw_cpd):
    probes = _render(tmp_path, synthetic, "table3_probes").set_index("model")
    ani = probes.loc["ani2x"]
    assert ani["ridge_mean"] < 0 < ani["mlp_mean"]  # the ANI-2x contrast survives rendering
    routing = _render(tmp_path, synthetic, "table6_routing")
    # qm9: three MACE models, ViSNet, the SevenNet family without a model; mp: the periodic MACE
    # (the pooled-norm groups L1_pooled / vector_pooled: rows of their own, beside L1 / vector)
    mace = ["L0", "L1", "L1_pooled"]
    qm9 = mace * 3 + ["scalar", "vector", "vector_pooled", "L0", "L1", "L1_pooled", "L2", "L3"]
    assert list(routing["group"]) == [*qm9, *mace]
    assert list(routing["dataset"]) == ["qm9"] * len(qm9) + ["mp"] * len(mace)
    assert routing[routing.dataset == "mp"]["band_gap_mean"].isna().all()  # mp: group all only
    sel = raw_cpd[
        (raw_cpd.model == "visnet_gap")
        & (raw_cpd.group == "vector")
        & (raw_cpd.target == "mu")
        & (raw_cpd.layer == 2)
        & (raw_cpd.representation == "geom_v2")
    ]
    row = routing[(routing.model == "visnet_gap") & (routing.group == "vector")].iloc[0]
    assert row["mu_mean"] == pytest.approx(sel["r2"].mean(), abs=1e-9)
    assert float(row["layer"]) == 2  # read back from the CSV


def test_last_layer_is_chosen_per_group():
    """MACE-like scores: L1 exists up to layer 0 only, so its reported layer is 0."""
    rows = [
        {
            "model": "m",
            "dataset": "qm9",
            "target": "mu",
            "group": group,
            "layer": layer,
            "representation": "geom_v2",
            "probe": "ridge",
            "fold": 0,
            "r2": 0.1 * layer,
        }
        for layer, groups in ((0, ("all", "L0", "L1")), (1, ("all",)))
        for group in groups
    ]
    reported = reported_layer_scores(pd.DataFrame(rows), "last")
    assert dict(zip(reported["group"], reported["layer"], strict=True)) == {
        "all": 1,
        "L0": 0,
        "L1": 0,
    }


def test_crystals_only_periodic_models(tmp_path, synthetic):
    table = _render(tmp_path, synthetic, "table7_crystals")
    assert set(table["model"]) == {"mace_mp"}
    assert list(table["target"]) == ["band_gap", "density"]


def test_analysis_tables(tmp_path, synthetic):
    control = _render(tmp_path, synthetic, "table4_control").set_index("model")
    raw = pd.read_parquet(synthetic["control"])
    ref = raw[(raw.model == "ani2x") & (raw.representation == "geom_v2") & (raw.probe == "gbt")]
    assert control.loc["ani2x", "geom_v2:gbt_mean"] == pytest.approx(ref["r2"].mean())
    isomers = _render(tmp_path, synthetic, "table5_isomers")
    raw = pd.read_parquet(synthetic["isomers"])
    ref = raw[(raw.model == "schnet_gap") & (raw.representation == "comp")].iloc[0]
    row = isomers[isomers.model == "schnet_gap"].iloc[0]
    assert row["comp_mean"] == pytest.approx(ref["accuracy"])
    assert row["comp_ci_low"] == pytest.approx(ref["ci_low"])  # the analysis' own bootstrap
    assert row["n_pairs"] == 500


def test_missing_model_and_analyses_say_not_run(tmp_path):
    inputs = write_synthetic_results(tmp_path / "r", analyses=False, skip_cpd=("visnet_gap",))
    gradient = _render(tmp_path, inputs, "table1_gradient")
    visnet = gradient[gradient.model == "visnet_gap"]
    assert len(visnet) == 2 and visnet["geom_v2_mean"].isna().all()
    md = (tmp_path / "out" / "table1_gradient.md").read_text()
    assert "| gap | VISNET GAP | not run | not run | not run | not run |" in md
    routing = _render(tmp_path, inputs, "table6_routing")
    assert routing[routing.model == "visnet_gap"]["gap_mean"].isna().all()
    for name in ("table4_control", "table5_isomers"):
        _render(tmp_path, inputs, name)
        assert "not run" in (tmp_path / "out" / f"{name}.md").read_text()


def test_no_visnet_in_registry_routing_row_not_run(tmp_path):
    models = [m for m in MODELS if m[1] != "visnet"]
    inputs = write_synthetic_results(tmp_path / "r", models=models, analyses=False)
    _render(tmp_path, inputs, "table6_routing")
    md = (tmp_path / "out" / "table6_routing.md").read_text()
    assert "| visnet (no model) | scalar | — | not run | not run |" in md


def test_routing_on_datasets_without_group_scores(tmp_path):
    """Your own dataset as render.dataset, the default routing targets of QM9 and MP: no
    column-group score on either, nothing to show but why (the own-data DAG once crashed here)."""
    inputs = write_synthetic_results(tmp_path / "r", models=MODELS[:2], analyses=False)
    for path in inputs["cpd"]:
        frame, meta = read_parquet(path)
        write_parquet(frame.loc[frame["group"] == "all"], path, meta)
    cfg = {**RENDER_CFG, "dataset": "mine", "crystal_dataset": "mine"}
    _render(tmp_path, inputs, "table6_routing", cfg)
    md = (tmp_path / "out" / "table6_routing.md").read_text()
    assert "not run" in md


def test_every_table_renders_with_nothing(tmp_path):
    for name in TABLES:
        table = TABLES[name](load_results({}), {**RENDER_CFG, "item": name})
        markdown = to_markdown(table)
        assert markdown.startswith("### ") and "not run" in markdown
        assert r"\begin{tabular}" in to_latex(table) and "not run" in to_latex(table)


def test_latex_escaping():
    assert latex_escape("R²_geom 50% & a#b") == r"R\textsuperscript{2}\_geom 50\% \& a\#b"


def test_blown_up_fold_shows_median_and_count(tmp_path):
    """One fold at R² −531 (the ANI-2x failure): the mean shows it, the CSV and the cell say so."""
    inputs = write_synthetic_results(tmp_path / "r", analyses=False)
    path = next(p for p in inputs["cpd"] if "/ani2x/" in p)
    cpd = pd.read_parquet(path)
    blown = (
        (cpd.layer == 2)
        & (cpd.target == "gap")
        & (cpd.group == "all")
        & (cpd.representation.isin(["full", "geom_v2"]))
        & (cpd.probe == "ridge")
        & (cpd.repeat == 0)
        & (cpd.fold == 1)
    )
    cpd.loc[blown, "r2"] = -531.0
    write_parquet(cpd, path)
    # table 1: the full and geom_v2 cells; table 3: the Ridge cell, not the MLP − Ridge difference
    for name, column, n_notes in (("table1_gradient", "full", 2), ("table3_probes", "ridge", 1)):
        table = _render(tmp_path, inputs, name)
        row = table[(table.model == "ani2x") & (table.target == "gap")].iloc[0]
        rep = "full" if name == "table1_gradient" else "geom_v2"
        values = cpd.loc[
            (cpd.layer == 2)
            & (cpd.target == "gap")
            & (cpd.group == "all")
            & (cpd.representation == rep)
            & (cpd.probe == "ridge"),
            "r2",
        ].to_numpy()
        assert row[f"{column}_mean"] == pytest.approx(values.mean(), abs=1e-9)
        assert row[f"{column}_median"] == pytest.approx(np.median(values), abs=1e-9)
        assert row[f"{column}_n_below_minus_one"] == 1
        md = (tmp_path / "out" / f"{name}.md").read_text()
        assert f"; median {np.median(values):.3f}; 1 fold < −1" in md
        # a model without a blown-up fold gets no note, but the numeric columns
        other = table[(table.model == "mace_gap") & (table.target == "gap")].iloc[0]
        assert other[f"{column}_n_below_minus_one"] == 0
        assert md.count("fold < −1") == n_notes


SENSITIVITY_CEILING = {"fraction": 0.5, "counts": 0.6}


def _sensitivity_rows(model: str, blow_up: bool, rng: np.random.Generator) -> pd.DataFrame:
    """Synthetic results/cpd_sensitivity rows; ``blow_up``: standard/full has a fold at −531.

    Encoding fraction (the CPD scores'): every representation; counts: the residuals only.
    """
    rows = []
    for encoding, main in (("fraction", True), ("counts", False)):
        for scaling in ("guarded", "standard", "none"):
            for rep, level in (("full", 0.8), ("geom_v1", 0.5), ("geom_v2", 0.4)):
                if rep == "full" and not main:
                    continue
                for fold in range(5):
                    r2 = level + rng.normal(0, 0.02) - 0.1 * (scaling == "none") + 0.1 * main
                    if blow_up and scaling == "standard" and rep == "full" and fold == 2:
                        r2 = -531.0
                    rows.append(
                        {
                            "model": model,
                            "dataset": "qm9",
                            "layer": 2,
                            "encoding": encoding,
                            "main": main,
                            "scaling": scaling,
                            "target": "gap",
                            "representation": rep,
                            "probe": "ridge",
                            "repeat": 0,
                            "fold": fold,
                            "r2": r2,
                            "alpha": 1.0,
                            "n_clipped": 3 * int(blow_up and fold == 2),
                            "ceiling": SENSITIVITY_CEILING[encoding] + 0.01 * fold,
                        }
                    )
    return pd.DataFrame(rows)


def test_sensitivity_table(tmp_path):
    inputs = write_synthetic_results(tmp_path / "r", analyses=False)
    rng = np.random.default_rng(1)
    paths = []
    for model, blow_up in (("mace_gap", False), ("ani2x", True)):
        paths.append(str(tmp_path / "r" / "cpd_sensitivity" / model / "qm9.parquet"))
        write_parquet(_sensitivity_rows(model, blow_up, rng), paths[-1])
    raw = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    table = _render(
        tmp_path, {"registry": inputs["registry"], "cpd_sensitivity": paths}, "table9_sensitivity"
    )
    # every model, those not run in one empty row; run ones: the CPD scores' encoding first
    assert list(dict.fromkeys(table["model"])) == [m[0] for m in MODELS]
    not_run = table[table.model == "schnet_gap"]  # no sensitivity file
    assert len(not_run) == 1 and not_run[["encoding", "guarded:full_mean"]].isna().all(axis=None)
    run = table[table.model.isin(["mace_gap", "ani2x"])]
    assert list(zip(run["model"], run["encoding"], strict=True)) == [
        ("mace_gap", "fraction"),
        ("mace_gap", "counts"),
        ("ani2x", "fraction"),
        ("ani2x", "counts"),
    ]
    table = run.set_index(["model", "encoding"])
    for model in ("mace_gap", "ani2x"):
        for encoding in ("fraction", "counts"):
            row = table.loc[(model, encoding)]
            values = raw[(raw.model == model) & (raw.encoding == encoding)]
            ceiling = values.drop_duplicates("fold")["ceiling"].to_numpy()
            assert row["ceiling_mean"] == pytest.approx(np.mean(ceiling), abs=1e-9)
            for scaling in ("guarded", "standard", "none"):
                for rep in ("full", "geom_v1", "geom_v2"):
                    r2 = values[(values.scaling == scaling) & (values.representation == rep)]
                    r2 = r2["r2"].to_numpy()
                    if encoding == "counts" and rep == "full":
                        assert r2.size == 0 and pd.isna(row[f"{scaling}:{rep}_mean"])
                        continue
                    mean, low, high = _t_ci(r2)
                    assert row[f"{scaling}:{rep}_mean"] == pytest.approx(mean, abs=1e-9)
                    assert row[f"{scaling}:{rep}_ci_low"] == pytest.approx(low, abs=1e-9)
                    assert row[f"{scaling}:{rep}_ci_high"] == pytest.approx(high, abs=1e-9)
                    assert row[f"{scaling}:{rep}_median"] == pytest.approx(np.median(r2))
                    assert row[f"{scaling}:{rep}_n_below_minus_one"] == np.sum(r2 < -1)
    assert table.loc[("ani2x", "fraction"), "full_n_clipped"] == 3
    assert table.loc[("mace_gap", "fraction"), "full_n_clipped"] == 0
    md = (tmp_path / "out" / "table9_sensitivity.md").read_text()
    assert md.count("1 fold < −1") == 1  # only ANI-2x, standard scaling, full features
    assert "| 3 / 3 / 3 |" in md and "| 0 / 0 / 0 |" in md
    assert "| — / 3 / 3 |" in md and "| — / 0 / 0 |" in md  # counts: H is not rescored
    assert "| fraction (CPD scores) |" in md and "| counts |" in md
    empty = TABLES["table9_sensitivity"](load_results({}), {**RENDER_CFG, "item": "x"})
    assert "not run" in to_markdown(empty)


@pytest.mark.parametrize(
    ("means", "expected"),
    [
        ([-0.07, -0.02, 0.01], "does not inflate R²_geom in this run"),
        ([-0.07, 0.12, 0.01], "inflates R²_geom for 1 of 3 models (by up to 0.120)"),
    ],
)
def test_leakage_finding_reads_table_8s_numbers(means, expected):
    numbers = pd.DataFrame(
        {
            "dataset": "qm9",
            "target": "gap",
            "model": ["a", "b", "c"],
            "leakage_mean": means,
            "leakage_ci_low": [m - 0.02 for m in means],
            "leakage_ci_high": [m + 0.02 for m in means],
        }
    )
    text = leakage_finding(numbers, RENDER_CFG)
    assert expected in text
    assert f"ranges {min(means):.3f} to {max(means):.3f} over 3 models" in text


def test_table11_gathers_the_alignment_measures_per_model(tmp_path):
    results = load_results(write_synthetic_results(tmp_path))
    table = TABLES["table11_alignment"](results, RENDER_CFG)
    numbers = table.numbers.set_index("model")
    assert list(numbers.index) == [m[0] for m in MODELS]
    np.testing.assert_allclose(numbers["cknna"], 0.5)  # every off-diagonal pair is 0.5
    level = {m[0]: m[5] for m in MODELS}
    np.testing.assert_allclose(  # the last of layers 0-2: 5 + 2 + 2 * level
        numbers["intrinsic_dimension"], [7 + 2 * level[m] for m in numbers.index]
    )
    np.testing.assert_allclose(numbers["gfre_first_to_last"], 0.3)  # layer 0 → last
    np.testing.assert_allclose(
        numbers["relative_test_error"], [round(1 - 0.8 * level[m], 3) for m in numbers.index]
    )
