"""Table 10: R²_geom under our protocol and the author's toolkit's (results/cpd_protocols)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from atomprobe.io import write_parquet
from atomprobe.render.inputs import load_results
from atomprobe.render.reproduction import reproduction_tables
from atomprobe.render.steps import NEEDS, render_table
from atomprobe.render.tables import TABLES, to_markdown
from test_render_tables import MODELS, write_synthetic_results

ROOT = Path(__file__).resolve().parents[1]
RENDER_CFG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["render"]
LEVELS = {
    "ours": 0.45,
    "ours_unshuffled": 0.35,
    "formula_grouped": 0.30,
    "toolkit": 0.40,
    "toolkit_shuffled": 0.55,
}


def _rows(model: str, rng: np.random.Generator) -> pd.DataFrame:
    rows = [
        {
            "model": model,
            "dataset": "qm9",
            "layer": 3,
            "protocol": protocol,
            "target": "gap",
            "representation": "geom_toolkit" if protocol.startswith("toolkit") else "geom_v2",
            "probe": "ridge",
            "repeat": 0,
            "fold": fold,
            "r2": level + rng.normal(0, 0.02),
            "alpha": 1.0,
            "n_train": 80,
            "n_test": 20,
            "test_formula_seen": 0.0 if protocol == "formula_grouped" else 0.75,
        }
        for protocol, level in LEVELS.items()
        for fold in range(5)
    ]
    return pd.DataFrame(rows)


def test_protocols_table(tmp_path):
    registry = pd.DataFrame(
        {
            "name": ["a", "b", "c"],
            "label": ["Model A", "Model B", "Model C"],
            "family": ["mace", "schnet", "painn"],
            "source": ["train"] * 3,
            "train_target": ["gap"] * 3,
            "supports_periodic": [False] * 3,
        }
    )
    paths = {"registry": str(tmp_path / "registry.parquet"), "cpd_protocols": []}
    write_parquet(registry, paths["registry"])
    rng = np.random.default_rng(0)
    meta = {
        "toolkit": {
            "package": "matscope 0.2.0",
            "composition_alpha": 1.0,
            "probe_alpha": 1.0,
            "n_folds": 5,
        },
        "row_order": "dataset order (structure-table rows; QM9 by index)",
    }
    params = {
        "cv": {"n_folds": 5, "n_repeats": 1},
        "composition": {"encoding": "fraction", "intercept": True},
        "scaling": "guarded",
        "seed": 0,
        "ridge": {"log10_alpha_range": [-3, 5], "n_alphas": 17},
    }
    for model in ("a", "b"):
        path = tmp_path / "cpd_protocols" / model / "qm9.parquet"
        write_parquet(_rows(model, rng), path, meta, params)
        paths["cpd_protocols"].append(str(path))
    assert set(NEEDS["table10_protocols"]) == {"registry", "cpd_protocols"}
    outputs = {fmt: str(tmp_path / "out" / f"t.{fmt}") for fmt in ("csv", "md", "tex")}
    render_table(paths, outputs, {**copy.deepcopy(RENDER_CFG), "item": "table10_protocols"}, 1)
    table = pd.read_csv(outputs["csv"]).set_index("model")
    assert list(table.index) == ["a", "b", "c"]  # every model; c has no protocols file
    assert pd.isna(table.loc["c", "toolkit_mean"])
    raw = pd.concat([pd.read_parquet(p) for p in paths["cpd_protocols"]])
    for model in ("a", "b"):
        for protocol in LEVELS:
            values = raw[(raw.model == model) & (raw.protocol == protocol)]["r2"].to_numpy()
            low, high = stats.t.interval(
                0.95, values.size - 1, loc=values.mean(), scale=stats.sem(values)
            )
            assert table.loc[model, f"{protocol}_mean"] == pytest.approx(values.mean())
            assert table.loc[model, f"{protocol}_ci_low"] == pytest.approx(low)
            assert table.loc[model, f"{protocol}_ci_high"] == pytest.approx(high)
        row = table.loc[model]
        assert row["fold_order_shift"] == pytest.approx(
            row["toolkit_mean"] - row["toolkit_shuffled_mean"]
        )
        assert row["formula_share"] == pytest.approx(row["ours_mean"] - row["formula_grouped_mean"])
        assert row["ours_test_formula_seen"] == pytest.approx(0.75)
    md = Path(outputs["md"]).read_text()
    for text in (
        "matscope 0.2.0",
        "Ridge(α = 1.0)",
        "unshuffled 5-fold",
        "encoding fraction",
        "GroupKFold by formula",
        "never deciding",
        "QM9 by index",
        "Fold order",
    ):
        assert text in md, text
    empty = TABLES["table10_protocols"](load_results({}), {**RENDER_CFG, "item": "x"})
    assert "not run" in to_markdown(empty)


def test_toolkit_measures_are_shown_and_never_decide(tmp_path):
    """A1, A2 and B1–B4 carry the toolkit reading from results/cpd_protocols, never deciding:
    the verdicts are those without the protocols files."""
    inputs = write_synthetic_results(tmp_path / "r", analyses=False)
    rng = np.random.default_rng(2)
    inputs["cpd_protocols"] = []
    for model, *_ in MODELS:
        rows = _rows(model, rng)
        path = tmp_path / "r" / "cpd_protocols" / model / "qm9.parquet"
        # the toolkit puts the u0-trained PaiNN above the gap-trained one: B3 reversed
        rows.loc[rows["protocol"] == "toolkit", "r2"] += 0.3 * (model == "painn_u0")
        write_parquet(rows, path)
        inputs["cpd_protocols"].append(str(path))
    cfg = copy.deepcopy(RENDER_CFG)
    with_toolkit = reproduction_tables(load_results(inputs), cfg)
    without = reproduction_tables(
        load_results({k: v for k, v in inputs.items() if k != "cpd_protocols"}), cfg
    )
    assert with_toolkit[0]["verdict"].equals(without[0]["verdict"])
    measures = with_toolkit[1]
    toolkit = measures[measures["measure_name"].str.startswith("toolkit protocol (matscope 0.2.0)")]
    assert set(toolkit["id"]) == {"A1", "A2", "B1", "B2", "B3", "B4"}
    assert not toolkit["decides"].any()
    b3 = toolkit.set_index("id").loc["B3"]
    assert b3["verdict"] == "differs"  # the toolkit reading of B3 is reversed, and shown
    assert "protocol=toolkit" in b3["selection"]
