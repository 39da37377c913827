"""Irrep routing at every layer (issue #12): per-model ``cpd.groups.layers``, the CPD step on
features laid out like SevenNet-l3i5's, and table 6 / the routing figure on a planted signal.

The planted signal: every inner layer's L=0 columns carry the gap, its L=1 columns the dipole,
L=2 and L=3 are noise, except layer 3's L=3 columns, which carry the dipole too; the last layer
holds L=0 scalars only. The rendered table must show that routing layer by layer.
"""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from threadpoolctl import threadpool_limits

from atomprobe.config import load_yaml
from atomprobe.cpd.groups import check_group_layers, group_layers, model_group_layers
from atomprobe.data.structures import ragged_column
from atomprobe.errors import ConfigError
from atomprobe.features.io import write_features
from atomprobe.io import read_parquet, write_parquet
from atomprobe.render.figures import FIGURES
from atomprobe.render.inputs import load_results
from atomprobe.render.tables import TABLES, to_markdown
from atomprobe.runner import run_step

N = 150
WIDTHS = {0: 8, 1: 4, 2: 3, 3: 3}  # channels per L on the inner layers (l3i5: 128, 64, 32, 32)
RENDER = load_yaml("config/config.yaml")["render"]


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def test_a_model_name_wins_over_its_family_and_the_family_over_default():
    setting = {"default": "all", "sevennet": "all", "sevennet0": "last", "mace": "last"}
    assert model_group_layers(setting, "sevennet0", "sevennet") == "last"
    assert model_group_layers(setting, "sevennet_l3i5", "sevennet") == "all"
    assert model_group_layers(setting, "mace_gap", "mace") == "last"
    assert model_group_layers(setting, "my_features", None) == "all"
    assert model_group_layers({"sevennet": "all"}, "schnet_gap", "schnet") == "last"
    assert model_group_layers("all", "schnet_gap", "schnet") == "all"


def test_group_layer_keys_must_name_a_family_or_a_model():
    check_group_layers("last", [], [])
    check_group_layers({"default": "last", "sevennet": "all", "m": "all"}, ["sevennet"], ["m"])
    with pytest.raises(ConfigError, match=r"\['sevenet'\] name neither a family"):
        check_group_layers({"sevenet": "all"}, ["sevennet"], ["m"])
    columns = pd.DataFrame({"layer": [0, 0], "L": [0, 1]})
    with pytest.raises(ConfigError, match="resolve a per-model mapping"):
        group_layers(columns, {"layers": {"default": "all"}, "definitions": {}}, [0])


def _structures(rng: np.random.Generator, dataset: str) -> pd.DataFrame:
    numbers = [np.sort(rng.choice([1, 6, 7, 8], size=rng.integers(3, 9))) for _ in range(N)]
    frame = pd.DataFrame(
        {
            "id": [f"{dataset}:{i}" for i in range(N)],
            "formula": [f"F{i}" for i in range(N)],
            "numbers": ragged_column([z.astype(np.int8) for z in numbers], pa.int8()),
            "positions": ragged_column(
                [rng.normal(size=(z.size, 3)) for z in numbers], pa.float64()
            ),
            "cell": None,
            "pbc": False,
        }
    )
    # targets independent of composition, so the composition residual keeps them
    first, second = rng.normal(size=N), rng.normal(size=N)
    names = ("gap", "mu") if dataset == "qm9" else ("band_gap", "formation_energy_per_atom")
    frame[names[0]], frame[names[1]] = first, second
    return frame


def _l3i5_like_features(rng: np.random.Generator, first: np.ndarray, second: np.ndarray):
    """SevenNet-l3i5's layout: layers 0..3 with L = 0..3, layer 4 with L = 0 only; L0 carries
    ``first``, L1 ``second``, L3 of layer 3 ``second`` too, all else noise."""
    blocks, columns = [], []
    for layer in range(5):
        for L, width in WIDTHS.items():
            if layer == 4 and L > 0:
                continue
            noise = 0.3 * rng.normal(size=(N, width))
            carried = {0: first, 1: second, 3: second if layer == 3 else None}.get(L)
            signal = 0.0 if carried is None else np.outer(carried, rng.normal(size=width))
            blocks.append(signal + noise if carried is not None else rng.normal(size=(N, width)))
            stream = "scalar" if L == 0 else "vector"
            name = f"{layer}_equivariant_gate"
            columns += [
                {"layer": layer, "layer_name": name, "stream": stream, "L": L, "channel": c}
                for c in range(width)
            ]
    return np.hstack(blocks), columns


def _mace_like_features(rng: np.random.Generator, first: np.ndarray, second: np.ndarray):
    """MACE's layout: layer 0 with L0 and L1, the last layer with L0 only."""
    L0 = np.outer(first, rng.normal(size=6)) + 0.3 * rng.normal(size=(N, 6))
    L1 = np.outer(second, rng.normal(size=4)) + 0.3 * rng.normal(size=(N, 4))
    last = rng.normal(size=(N, 6))
    columns = [
        {"layer": layer, "layer_name": f"b{layer}", "stream": "node", "L": L, "channel": c}
        for layer, L, width in ((0, 0, 6), (0, 1, 4), (1, 0, 6))
        for c in range(width)
    ]
    return np.hstack([L0, L1, last]), columns


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> dict:
    """Features, CPD scores (the real step, per-model group layers) and a registry."""
    root = tmp_path_factory.mktemp("routing")
    rng = np.random.default_rng(3)
    cfg = load_yaml("config/config.yaml")["cpd"]
    cfg["cv"]["n_folds"] = 3
    cfg["representations"] = ["geom_v2", "full"]
    cfg["nonlinear"]["targets"] = {}
    inputs: dict = {"cpd": []}
    for dataset, targets in (
        ("qm9", ["gap", "mu"]),
        ("mp", ["band_gap", "formation_energy_per_atom"]),
    ):
        structures = _structures(rng, dataset)
        path = root / f"{dataset}.parquet"
        write_parquet(structures, path, {"dataset": dataset, "targets": {}})
        signals = structures[targets[0]].to_numpy(), structures[targets[1]].to_numpy()
        models = [("sevennet_l3i5", "sevennet", _l3i5_like_features)]
        if dataset == "qm9":
            models.append(("mace_gap", "mace", _mace_like_features))
        for model, family, make in models:
            H, columns = make(rng, *signals)
            features = root / model / f"{dataset}.parquet"
            write_features(
                features, structures["id"], H, columns, {"model": model, "family": family}
            )
            out = root / "cpd" / model / f"{dataset}.parquet"
            params = {**cfg, "seed": 0, "model": model, "dataset": dataset, "targets": targets}
            run_step(
                "atomprobe.cpd.steps:cpd",
                {"features": str(features), "structures": str(path)},
                {"scores": str(out)},
                params,
            )
            inputs["cpd"].append(str(out))
    registry = pd.DataFrame(
        [
            {"name": n, "label": label, "family": f, "source": "builtin", "train_target": ""}
            | {"supports_periodic": periodic}
            for n, label, f, periodic in (
                ("mace_gap", "MACE (gap)", "mace", False),
                ("sevennet_l3i5", "SevenNet-l3i5", "sevennet", True),
            )
        ]
    )
    inputs["registry"] = str(root / "registry.parquet")
    write_parquet(registry, inputs["registry"])
    return inputs


def test_groups_are_scored_at_every_layer_for_sevennet_only(scored):
    cpd = pd.concat([read_parquet(path)[0] for path in scored["cpd"]])
    groups = cpd[(cpd.group != "all") & (cpd.dataset == "qm9")]
    layers = groups.groupby("model")["layer"].unique().map(sorted).to_dict()
    assert layers == {"mace_gap": [0], "sevennet_l3i5": [0, 1, 2, 3]}
    sevennet = groups[groups.model == "sevennet_l3i5"]
    assert set(sevennet["group"]) == {"L0", "L1", "L2", "L3", "scalar", "vector"}
    # the last layer holds L=0 only: group L0 would be every column, so only `all` is scored
    last = cpd[(cpd.model == "sevennet_l3i5") & (cpd.layer == 4)]
    assert set(last["group"]) == {"all"}


def test_routing_table_shows_the_planted_signal_layer_by_layer(scored, tmp_path):
    cfg = {**copy.deepcopy(RENDER), "item": "table6_routing"}
    table = TABLES["table6_routing"](load_results(scored), cfg)
    numbers = table.numbers
    sevennet = numbers[(numbers.model == "sevennet_l3i5") & (numbers.dataset == "qm9")]
    assert list(zip(sevennet["layer"], sevennet["group"], strict=True)) == [
        (str(layer), f"L{L}") for layer in range(4) for L in range(4)
    ]
    by = sevennet.set_index(["layer", "group"])
    for layer in map(str, range(4)):
        assert by.loc[(layer, "L1"), "mu_mean"] > 0.8 > 0.2 > by.loc[(layer, "L0"), "mu_mean"]
        assert by.loc[(layer, "L0"), "gap_mean"] > 0.8 > 0.2 > by.loc[(layer, "L1"), "gap_mean"]
        assert by.loc[(layer, "L2"), "mu_mean"] < 0.2 and by.loc[(layer, "L2"), "gap_mean"] < 0.2
        l3_mu = by.loc[(layer, "L3"), "mu_mean"]
        assert l3_mu > 0.8 if layer == "3" else l3_mu < 0.2
    # the cell is the mean over folds of the per-fold scores in the parquet
    raw = read_parquet(scored["cpd"][0])[0]
    folds = raw[
        (raw.layer == 2)
        & (raw.group == "L1")
        & (raw.target == "mu")
        & (raw.representation == "geom_v2")
    ]
    assert by.loc[("2", "L1"), "mu_mean"] == pytest.approx(folds["r2"].mean(), abs=1e-12)
    # MACE: one row per group on its reported layer, as before
    # (these features have no pooled_norm columns: L1_pooled is a "not run" row)
    mace = numbers[numbers.model == "mace_gap"].set_index("group")
    assert list(mace.index) == ["L0", "L1", "L1_pooled"]
    assert set(mace.loc[["L0", "L1"], "layer"]) == {"0"} and mace.loc["L1", "mu_mean"] > 0.8
    assert mace.loc[["L1_pooled"], ["gap_mean", "mu_mean"]].isna().all(axis=None)
    # mp: SevenNet's per-layer rows with the mp targets only; MACE and ViSNet were not scored
    mp = numbers[numbers.dataset == "mp"]
    assert set(mp["model"]) == {"sevennet_l3i5"} and len(mp) == 16
    assert mp["band_gap_mean"].notna().all() and mp["gap_mean"].isna().all()
    mp = mp.set_index(["layer", "group"])
    assert mp.loc[("1", "L0"), "band_gap_mean"] > 0.8
    assert mp.loc[("1", "L1"), "formation_energy_per_atom_mean"] > 0.8
    markdown = to_markdown(table)
    assert "| qm9 | visnet (no model) | scalar | — | not run | not run |  |  |" in markdown
    assert "No model scored: mace on mp, visnet on mp." in markdown


def test_routing_figure_has_a_row_per_dataset(scored):
    figure = FIGURES["routing"](load_results(scored), {**copy.deepcopy(RENDER), "item": "routing"})
    titles = [ax.get_title() for ax in figure.axes]
    ticks = [t.get_text() for t in figure.axes[0].get_yticklabels()]  # horizontal bars
    plt.close(figure)
    assert [t.split("\n")[0] for t in titles[:4]] == [
        "qm9: gap",
        "qm9: mu",
        "mp: band_gap",
        "mp: formation_energy_per_atom",
    ]
    assert ticks == ["MACE (gap)", *(f"SevenNet-l3i5 (layer {k})" for k in range(4))]
