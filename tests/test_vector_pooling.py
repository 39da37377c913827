"""Vector-aware pooling (issue 22, routing B6–B8): L>=1 channels pooled over atoms, then normed.

The ``pooled_norm`` columns are rotation invariant (tiny MACE, PaiNN and ViSNet on rotated
molecules; MACE on rotated, rattled crystals), recover the norm of a sum of vectors that the
mean of per-atom norms cannot, are refused for max and cumulant pooling, and sit after
today's ``atom_norm`` columns without changing one of them: group ``all`` and every selector
that does not name ``invariant`` score bitwise what they scored without them.
"""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch
from ase.build import bulk
from scipy.spatial.transform import Rotation
from threadpoolctl import threadpool_limits

from atomprobe.config import load_yaml
from atomprobe.cpd.groups import group_columns
from atomprobe.data.structures import ragged_column
from atomprobe.errors import ConfigError, DataError
from atomprobe.features.extract import invariant, iter_feature_batches, pool, pooled_norm
from atomprobe.features.io import feature_columns, read_features, write_features
from atomprobe.features.pooling import check_vector_pooling
from atomprobe.io import read_metadata, read_parquet, write_parquet
from atomprobe.models.base import FeatureBlock, TrainingStats
from atomprobe.models.families import get_family
from atomprobe.models.structures import Structures
from atomprobe.render.figures import FIGURES
from atomprobe.render.inputs import load_results
from atomprobe.render.tables import TABLES
from atomprobe.runner import run_step
from fixtures.models.batches import batch_of, molecules, moved

torch.set_num_threads(1)

ROTATION = Rotation.random(random_state=11).as_matrix()
SHIFT = np.array([0.3, -1.2, 2.1])
MOLECULE_STATS = TrainingStats(
    target="gap", unit="eV", mean=6.8, std=1.3, elements=(1, 6, 7, 8), avg_num_neighbors=9.0
)
CRYSTAL_STATS = TrainingStats(
    target="energy", unit="eV", mean=0.0, std=1.0, elements=(3, 8, 14), avg_num_neighbors=12.0
)
TINY = {
    "mace": {"hidden_irreps": "8x0e+8x1o", "num_interactions": 2, "radial_mlp": [16]},
    "painn": {"channels": 8, "layers": 2, "radial_features": 8},
    "visnet": {"hidden_channels": 8, "num_layers": 2, "num_heads": 2, "num_rbf": 8},
}
N = 150


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def _block(values: np.ndarray) -> FeatureBlock:
    """An L=1 block (n_atoms, C, 3) of layer 0, vector stream."""
    return FeatureBlock(0, "b0", "vector", 1, torch.tensor(values, dtype=torch.float64))


def test_opposite_vectors_cancel_in_the_pooled_norm_but_not_in_the_atom_norm_mean():
    v = np.array([0.6, -0.8, 0.0])  # |v| = 1
    block = _block(np.stack([v, -v])[:, None, :])  # two atoms, one channel
    index = torch.tensor([0, 0])
    atom_norm_mean = pool(invariant(block), index, 1, "mean")
    assert atom_norm_mean.item() == pytest.approx(1.0)
    assert pooled_norm(block, index, 1, "mean").item() == pytest.approx(0.0, abs=1e-15)
    assert pooled_norm(block, index, 1, "sum").item() == pytest.approx(0.0, abs=1e-15)
    parallel = _block(np.stack([v, v])[:, None, :])
    assert pooled_norm(parallel, index, 1, "sum").item() == pytest.approx(2.0)
    assert pooled_norm(parallel, index, 1, "mean").item() == pytest.approx(1.0)


def test_a_linear_probe_reads_a_dipole_norm_from_pooled_norms_only():
    """Per-atom features q_i r_i (one L=1 channel): |Σ_i q_i r_i| is exactly the sum-pooled
    norm, and only weakly a linear function of the per-atom norms' sum."""
    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 10, size=200)
    index = np.repeat(np.arange(sizes.size), sizes)
    dipoles = rng.normal(size=(index.size, 1, 3)) * rng.choice([-1.0, 1.0], (index.size, 1, 1))
    target = np.linalg.norm(
        np.stack([dipoles[index == s, 0].sum(axis=0) for s in range(sizes.size)]), axis=1
    )
    block, segment = _block(dipoles), torch.tensor(index)

    def r2(feature: torch.Tensor) -> float:
        X = np.column_stack([np.ones(sizes.size), feature.numpy()])
        residual = target - X @ np.linalg.lstsq(X, target, rcond=None)[0]
        return 1.0 - residual.var() / target.var()

    pooled = pooled_norm(block, segment, sizes.size, "sum")
    np.testing.assert_allclose(pooled[:, 0].numpy(), target, rtol=1e-12)
    assert r2(pooled) == pytest.approx(1.0)
    assert r2(pool(invariant(block), segment, sizes.size, "sum")) < 0.6


def _tiny(family: str, stats: TrainingStats):
    torch.manual_seed(0)
    adapter = get_family(family).build(TINY[family], stats)
    with torch.no_grad():  # a non-trivial model: random weights away from initialisation
        for p in adapter.module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    adapter.module.double().eval()
    return adapter


def _assert_pooled_norm_invariant(adapter, structures: list, atol: float) -> None:
    """pooled_norm of every L>=1 block is unchanged by a rotation (+ translation) of the
    structures, while the pooled m-components themselves turn (the test can fail)."""
    with torch.no_grad():
        batch = batch_of(structures, torch.float64)
        moved_batch = batch_of([moved(a, ROTATION, SHIFT) for a in structures], torch.float64)
        before, after = adapter.atom_features(batch), adapter.atom_features(moved_batch)
    vectors = [(b, a) for b, a in zip(before, after, strict=True) if b.L >= 1]
    assert vectors
    n = batch.n_structures
    for b, a in vectors:
        for method in ("mean", "sum"):
            expected = pooled_norm(b, batch.batch, n, method)
            assert expected.abs().max() > 1e-3
            torch.testing.assert_close(
                pooled_norm(a, moved_batch.batch, n, method), expected, atol=atol, rtol=1e-6
            )
        components = [
            pool(x.values.flatten(1), index, n, "sum")
            for x, index in ((b, batch.batch), (a, moved_batch.batch))
        ]
        assert (components[0] - components[1]).abs().max() > 1e-3


@pytest.mark.parametrize("family", sorted(TINY))
def test_pooled_norm_is_rotation_invariant_on_molecules(family):
    _assert_pooled_norm_invariant(_tiny(family, MOLECULE_STATS), molecules(), atol=1e-9)


def test_pooled_norm_is_rotation_invariant_on_crystals():
    crystals = [bulk("Si", "diamond", a=5.43).repeat((2, 1, 1)), bulk("Li2O", "fluorite", a=4.6)]
    for seed, crystal in enumerate(crystals):  # rattled: no symmetry that zeroes the sums
        crystal.rattle(0.15, seed=seed)
    _assert_pooled_norm_invariant(_tiny("mace", CRYSTAL_STATS), crystals, atol=1e-9)


def test_max_and_cumulant_pooling_are_refused_in_one_line():
    block, index = _block(np.ones((2, 1, 3))), torch.tensor([0, 0])
    for method in ("max", "cumulants"):
        with pytest.raises(
            ConfigError, match=rf"features\.pooling: '{method}' with features\.pooled_norm"
        ):
            check_vector_pooling(method)
        with pytest.raises(ConfigError, match=r"or set features\.pooled_norm: false"):
            pooled_norm(block, index, 1, method)
    structures = Structures.from_frame(read_parquet("tests/fixtures/models/qm9_sample.parquet")[0])
    batches = iter_feature_batches(
        _tiny("painn", MOLECULE_STATS), structures, pooling="max", vector_pooling=True
    )
    with pytest.raises(ConfigError, match="vector-aware pooling needs"):
        next(batches)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> dict:
    """A tiny PaiNN's pooled features of the QM9 sample, without and with pooled_norm,
    written as feature tables."""
    root = tmp_path_factory.mktemp("vector_pooling")
    frame = read_parquet("tests/fixtures/models/qm9_sample.parquet")[0].head(24)
    structures = Structures.from_frame(frame)
    adapter = _tiny("painn", MOLECULE_STATS)
    adapter.module.float()
    out = {}
    for vector_pooling in (False, True):
        batches = list(
            iter_feature_batches(
                adapter,
                structures,
                batch_size=10,
                show_progress=False,
                vector_pooling=vector_pooling,
            )
        )
        path = root / f"pooled_norm_{vector_pooling}.parquet"
        H = np.concatenate([b.pooled for b in batches])
        write_features(path, structures.ids, H, batches[0].columns, {"model": "painn"})
        out[vector_pooling] = (path, H, batches[0].columns)
    return out


def test_pooled_norm_columns_follow_the_unchanged_atom_norm_columns(extracted):
    _, H, columns = extracted[False]
    path, H_both, both = extracted[True]
    assert both[: len(columns)] == columns and {c["invariant"] for c in columns} == {"atom_norm"}
    extra = both[len(columns) :]
    vectors = [c for c in columns if c["L"] >= 1]
    assert [(c["layer"], c["stream"], c["L"], c["channel"]) for c in extra] == [
        (c["layer"], c["stream"], c["L"], c["channel"]) for c in vectors
    ]
    assert {c["invariant"] for c in extra} == {"pooled_norm"}
    assert extra[0]["name"] == "l0.vector.L1.pooled_norm.c0000"
    np.testing.assert_array_equal(H_both[:, : H.shape[1]], H)
    # mean of norms >= norm of the mean (triangle inequality), strictly for molecules
    atom_norm = H[:, [i for i, c in enumerate(columns) if c["L"] >= 1]]
    assert (H_both[:, H.shape[1] :] <= atom_norm + 1e-6).all()
    assert (H_both[:, H.shape[1] :] < atom_norm - 1e-4).mean() > 0.5
    # readers see today's columns unless they ask for the others
    _, H_read, read_columns = read_features(path)
    np.testing.assert_array_equal(H_read, H)
    assert list(read_columns["name"]) == [c["name"] for c in columns]
    _, H_pooled, _ = read_features(path, L=1, invariant="pooled_norm")
    np.testing.assert_array_equal(H_pooled, H_both[:, H.shape[1] :])
    assert read_features(path, invariant=None)[1].shape == H_both.shape
    assert read_metadata(path)["columns"][-1]["invariant"] == "pooled_norm"
    with pytest.raises(DataError, match="invariant=pooled_norm; available"):
        read_features(extracted[False][0], invariant="pooled_norm")


def test_tables_without_the_invariant_field_read_as_atom_norm(tmp_path):
    legacy = [{"name": "l0.s.L1.c0000", "layer": 0, "layer_name": "b", "stream": "s", "L": 1}]
    legacy[0]["channel"] = 0
    frame = pd.DataFrame({"id": ["a", "b"], "l0.s.L1.c0000": np.float32([1.0, 2.0])})
    write_parquet(frame, tmp_path / "old.parquet", {"columns": legacy})
    assert list(feature_columns(tmp_path / "old.parquet")["invariant"]) == ["atom_norm"]
    np.testing.assert_array_equal(read_features(tmp_path / "old.parquet")[1][:, 0], [1.0, 2.0])
    with pytest.raises(DataError, match="invariant 'pooled_norm' needs L >= 1"):
        write_features(
            tmp_path / "bad.parquet",
            ["a"],
            np.ones((1, 1)),
            [
                {
                    **legacy[0],
                    "L": 0,
                    "invariant": "pooled_norm",
                    "name": "l0.s.L0.pooled_norm.c0000",
                }
            ],
            {},
        )


def test_group_all_and_selectors_without_invariant_keep_to_atom_norm_columns():
    columns = pd.DataFrame(
        {
            "layer": [0, 0, 0, 0, 0],
            "stream": ["scalar", "vector", "vector", "vector", "vector"],
            "L": [0, 1, 1, 1, 1],
            "invariant": ["atom_norm"] * 3 + ["pooled_norm"] * 2,
        }
    )
    definitions = load_yaml("config/config.yaml")["cpd"]["groups"]["definitions"]
    groups = {name: list(p) for name, p in group_columns(columns, definitions).items()}
    assert groups == {
        "all": [0, 1, 2],
        "L0": [0],
        "L1": [1, 2],
        "scalar": [0],
        "vector": [1, 2],
        "L1_pooled": [3, 4],
        "vector_pooled": [3, 4],
    }
    # a table without the field, and without pooled_norm columns: as before
    legacy = columns.drop(columns="invariant").iloc[:3]
    assert {n: list(p) for n, p in group_columns(legacy, definitions).items()} == {
        "all": [0, 1, 2],
        "L0": [0],
        "L1": [1, 2],
        "scalar": [0],
        "vector": [1, 2],
    }


def _structures(rng: np.random.Generator) -> pd.DataFrame:
    numbers = [np.sort(rng.choice([1, 6, 7, 8], size=rng.integers(3, 9))) for _ in range(N)]
    frame = pd.DataFrame(
        {
            "id": [f"qm9:{i}" for i in range(N)],
            "formula": [f"F{i}" for i in range(N)],
            "numbers": ragged_column([z.astype(np.int8) for z in numbers], pa.int8()),
            "positions": ragged_column(
                [rng.normal(size=(z.size, 3)) for z in numbers], pa.float64()
            ),
            "cell": None,
            "pbc": False,
        }
    )
    frame["gap"], frame["mu"] = rng.normal(size=N), rng.normal(size=N)
    return frame


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> dict:
    """MACE-like pooled features (layer 0: L0 carries the gap, its pooled_norm L1 columns the
    dipole, its atom_norm L1 columns noise; layer 1: L0 only), scored by the real CPD step
    without and with the pooled_norm columns."""
    root = tmp_path_factory.mktemp("vector_routing")
    rng = np.random.default_rng(5)
    structures = _structures(rng)
    write_parquet(structures, root / "qm9.parquet", {"dataset": "qm9", "targets": {}})
    gap, mu = structures["gap"].to_numpy(), structures["mu"].to_numpy()
    blocks = {
        (0, 0): np.outer(gap, rng.normal(size=6)) + 0.3 * rng.normal(size=(N, 6)),
        (0, 1): rng.normal(size=(N, 4)),
        (1, 0): rng.normal(size=(N, 6)),
    }
    columns = [
        {"layer": layer, "layer_name": f"b{layer}", "stream": "vector" if L else "scalar", "L": L}
        | {"channel": c}
        for (layer, L), values in blocks.items()
        for c in range(values.shape[1])
    ]
    pooled = np.outer(mu, rng.normal(size=4)) + 0.3 * rng.normal(size=(N, 4))
    extra = [{**c, "invariant": "pooled_norm"} for c in columns if c["L"] == 1]
    cfg = load_yaml("config/config.yaml")["cpd"]
    cfg["cv"]["n_folds"] = 3
    cfg["representations"] = ["geom_v2", "full"]
    cfg["nonlinear"] = {**cfg["nonlinear"], "probes": ["gbt"], "targets": {"qm9": ["gap"]}}
    cfg["nonlinear"]["representations"] = ["full"]
    cfg["gbt"] = {"max_iter": 10}
    tables = {}
    for name, H, described in (
        ("atom_norm", np.hstack(list(blocks.values())), columns),
        ("both", np.hstack([*blocks.values(), pooled]), columns + extra),
    ):
        features = root / name / "qm9.parquet"
        write_features(
            features, structures["id"], H, described, {"model": "mace_gap", "family": "mace"}
        )
        out = root / "cpd" / name / "qm9.parquet"
        params = {**cfg, "seed": 0, "model": "mace_gap", "dataset": "qm9"}
        run_step(
            "atomprobe.cpd.steps:cpd",
            {"features": str(features), "structures": str(root / "qm9.parquet")},
            {"scores": str(out)},
            {**params, "targets": ["gap", "mu"]},
        )
        tables[name] = str(out)
    registry = pd.DataFrame(
        [{"name": "mace_gap", "label": "MACE (gap)", "family": "mace", "source": "train"}]
    ).assign(train_target="gap", supports_periodic=True)
    write_parquet(registry, root / "registry.parquet")
    return {"tables": tables, "registry": str(root / "registry.parquet")}


def test_every_score_of_today_is_bitwise_unchanged_by_pooled_norm_columns(scored):
    before = read_parquet(scored["tables"]["atom_norm"])[0]
    after = read_parquet(scored["tables"]["both"])[0]
    assert set(before["group"]) == {"all", "L0", "L1", "scalar", "vector"}
    assert set(after["group"]) == set(before["group"]) | {"L1_pooled", "vector_pooled"}
    kept = after[after["group"].isin(set(before["group"]))].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, before, check_exact=True)
    assert set(before.loc[before["probe"] == "gbt", "group"]) == {"all"}
    pooled = after[after["group"] == "L1_pooled"]
    assert set(pooled["layer"]) == {0} and set(pooled["n_columns"]) == {4}


def test_routing_table_shows_both_constructions_side_by_side(scored):
    cfg = {**copy.deepcopy(load_yaml("config/config.yaml")["render"]), "item": "table6_routing"}
    inputs = {"cpd": [scored["tables"]["both"]], "registry": scored["registry"]}
    numbers = TABLES["table6_routing"](load_results(inputs), cfg).numbers
    mace = numbers[(numbers["model"] == "mace_gap") & (numbers["dataset"] == "qm9")]
    mace = mace.set_index("group")
    assert list(mace.index) == ["L0", "L1", "L1_pooled"] and set(mace["layer"]) == {"0"}
    assert mace.loc["L1_pooled", "mu_mean"] > 0.8 > 0.2 > mace.loc["L1", "mu_mean"]
    assert mace.loc["L0", "gap_mean"] > 0.8 > 0.2 > mace.loc["L1_pooled", "gap_mean"]
    figure = FIGURES["routing"](load_results(inputs), {**cfg, "item": "routing"})
    labels = [t.get_text() for t in figure.legends[0].get_texts()] if figure.legends else []
    labels += [
        t.get_text() for ax in figure.axes if ax.get_legend() for t in ax.get_legend().get_texts()
    ]
    plt.close(figure)
    assert "L1_pooled / vector_pooled" in labels
