"""The paper-B steps end to end on tiny feature files written with atomprobe.features.io."""

import numpy as np
import pandas as pd
import pytest

from atomprobe.analyses.feature_sets import align_rows, load_feature_sets
from atomprobe.analyses.reconstruction import gfre, train_test_indices
from atomprobe.analyses.steps import (
    convergence,
    cumulants,
    pcovr,
    reconstruction,
    reconstruction_source,
    similarity,
)
from atomprobe.config import SCHEMA_DIR, load_yaml, validate_against
from atomprobe.features.io import column_name, write_atom_features, write_features
from atomprobe.io import read_parquet, write_parquet

MODELS = ("alpha", "beta", "gamma")
N_STRUCTURES, D = 150, 5


def columns(d: int) -> list[dict]:
    return [
        {"layer": 1, "layer_name": "last", "stream": "scalar", "L": 0, "channel": c}
        for c in range(d)
    ]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Pooled + per-atom features of three models (beta = a linear map of alpha), structures
    with a target, and checkpoint features of gamma."""
    root = tmp_path_factory.mktemp("features")
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 6, size=N_STRUCTURES)
    ids = np.array([f"qm9:{i}" for i in range(N_STRUCTURES)])
    atom_ids, atom_index = np.repeat(ids, sizes), np.concatenate([np.arange(s) for s in sizes])
    latent = rng.normal(size=(len(atom_ids), 4))
    per_atom = {
        "alpha": np.tanh(latent @ rng.normal(size=(4, D))),
        "gamma": np.sin(latent @ rng.normal(size=(4, D))),
    }
    per_atom["beta"] = per_atom["alpha"] @ rng.normal(size=(D, D))
    segment = np.repeat(np.arange(N_STRUCTURES), sizes)
    paths = {"structure": [], "atoms": []}
    pooled = {}
    for model in MODELS:
        meta = {"model": model, "family": "test", "dataset": "qm9", "pooling": "mean"}
        pooled[model] = np.stack([per_atom[model][segment == s].mean(0) for s in range(150)])
        paths["structure"].append(str(root / model / "qm9.parquet"))
        write_features(paths["structure"][-1], ids, pooled[model], columns(D), meta)
        paths["atoms"].append(str(root / model / "qm9_atoms.parquet"))
        write_atom_features(
            paths["atoms"][-1],
            atom_ids,
            atom_index,
            np.ones(len(atom_ids)),
            per_atom[model],
            columns(D),
            meta,
        )
    # a family without periodic support writes empty tables on crystals: the steps skip them
    empty = {"model": "gamma", "family": "test", "dataset": "mp", "note": "no periodic support"}
    paths["structure"].append(str(root / "gamma" / "mp.parquet"))
    write_features(paths["structure"][-1], [], np.zeros((0, 0)), [], empty)
    paths["atoms"].append(str(root / "gamma" / "mp_atoms.parquet"))
    write_atom_features(paths["atoms"][-1], [], [], [], np.zeros((0, 0)), [], empty)
    structures = pd.DataFrame({"id": ids, "gap": pooled["alpha"][:, 0] + 0.1 * sizes})
    paths["structures"] = str(root / "qm9.parquet")
    write_parquet(structures, paths["structures"], {"dataset": "qm9", "targets": {"gap": "eV"}})
    noise = rng.normal(size=pooled["gamma"].shape)
    checkpoints = pd.concat(
        [
            pd.DataFrame({"epoch": epoch, "id": ids}).join(
                pd.DataFrame(
                    pooled["gamma"] + scale * noise,
                    columns=[column_name(1, "scalar", 0, c) for c in range(D)],
                )
            )
            for epoch, scale in ((1, 1.0), (5, 0.1), (10, 0.0))
        ],
        ignore_index=True,
    )
    paths["checkpoints"] = str(root / "gamma" / "qm9_checkpoints.parquet")
    write_parquet(checkpoints, paths["checkpoints"], {"model": "gamma", "dataset": "qm9"})
    return paths, int((sizes == 1).sum())


@pytest.fixture(scope="module")
def params():
    """The default config section, validated, with sizes for 150 structures."""
    cfg = load_yaml("config/config.yaml")["reconstruction"]
    validate_against(cfg, SCHEMA_DIR / "reconstruction.schema.yaml", "reconstruction")
    cfg["structure"] = {"test_size": 40, "train_size": None}
    cfg["atom"] = {"test_size": 50, "train_size": 200}
    cfg["lfre"] = {"n_neighbors": None, "test_size": 20}
    cfg["cumulants"].update(test_size=30, max_order=3)
    cfg["similarity"] = {"n_samples": 100, "rank_samples": 100, "k": 5}
    cfg["convergence"] = {"test_size": 40}
    return cfg


def run_reconstruction(paths, params, tmp_path) -> dict[str, str]:
    """The per-source jobs (every level, dataset and model, as the rules run them), gathered."""
    parts: dict[str, list[str]] = {"gfre": [], "lfre": []}
    for level, key in (("structure", "structure"), ("atom", "atoms")):
        for dataset in ("qm9", "mp"):
            for source in MODELS:
                out = {name: str(tmp_path / f"{level}_{dataset}_{source}.{name}") for name in parts}
                cfg = {**params, "level": level, "dataset": dataset, "source": source}
                reconstruction_source({"features": paths[key]}, out, cfg, threads=1)
                for name in parts:
                    parts[name].append(out[name])
    out = {"gfre": str(tmp_path / "gfre.parquet"), "lfre": str(tmp_path / "lfre.parquet")}
    reconstruction(parts, out, params, threads=1)
    return out


def test_reconstruction_step_writes_all_ordered_pairs(files, params, tmp_path):
    paths, _ = files
    out = run_reconstruction(paths, params, tmp_path)
    gfre, meta = read_parquet(out["gfre"])
    lfre, _ = read_parquet(out["lfre"])
    assert set(meta["columns"]) == set(gfre.columns)
    n_splits = params["test_splits"]
    assert n_splits > 1
    for frame, splits in ((gfre, n_splits), (lfre, 1)):
        # ordered pairs with diagonal, GFRE on every test split, LFRE on the first; structure
        # level: one split of structures; atom level: random atoms and whole structures
        assert len(frame) == 3 * len(MODELS) ** 2 * splits
        assert set(frame["repeat"]) == set(range(splits))
        assert frame.groupby("level")["split"].agg(set).to_dict() == {
            "structure": {"structures"},
            "atom": {"atoms", "structures"},
        }
        assert set(frame["dataset"]) == {"qm9"}  # gamma's empty mp table: no rows, no error
        assert (frame["median"] >= 0).all() and frame["median"].notna().all()
    gfre = gfre.loc[
        gfre["split"] == gfre["level"].map({"structure": "structures", "atom": "atoms"})
    ]
    value = gfre.loc[gfre["repeat"] == 0].set_index(["level", "source", "target"])["value"]
    assert value[("structure", "alpha", "alpha")] < 1e-8
    assert value[("atom", "alpha", "beta")] < 1e-6  # beta is linear in alpha, atom by atom
    assert value[("atom", "alpha", "gamma")] > 0.05
    assert set(lfre["n_test"]) == {20} and set(gfre["n_test"]) == {40, 50}


def test_atom_rows_split_by_structure_keep_each_structure_on_one_side(files, params, tmp_path):
    """The structure split of the atom-level job: its GFRE equals gfre() on the split that
    structure_test_indices draws, and that split never has a structure on both sides."""
    from atomprobe.analyses.feature_sets import align_atom_rows
    from atomprobe.analyses.reconstruction import structure_test_indices

    paths, _ = files
    out = run_reconstruction(paths, params, tmp_path)
    table = read_parquet(out["gfre"])[0]
    table = table.loc[(table["level"] == "atom") & (table["split"] == "structures")]
    max_rows = params["atom"]["train_size"] + params["atom"]["test_size"]
    _, matrices, structures = align_atom_rows(paths["atoms"], "qm9", max_rows, params["seed"])
    value = table.set_index(["source", "target", "repeat"])["value"]
    for repeat in range(params["test_splits"]):
        train_idx, test_idx = structure_test_indices(structures, 50, params["seed"] + repeat)
        assert not set(structures[train_idx]) & set(structures[test_idx])
        expected = gfre(matrices[0], matrices[2], train_idx, test_idx)  # alpha -> gamma
        assert value[("alpha", "gamma", repeat)] == pytest.approx(expected, rel=1e-12)


def test_reconstruction_source_matches_the_metric_on_the_shared_split(files, params, tmp_path):
    """One source's job gives what gfre() gives on the same aligned rows and split."""
    paths, _ = files
    out = run_reconstruction(paths, params, tmp_path)
    gfre_table = read_parquet(out["gfre"])[0]
    value = gfre_table.set_index(["level", "source", "target", "repeat"])["value"]
    sets = load_feature_sets(paths["structure"], params["layer"])
    _, matrices = align_rows([fs for fs in sets if fs.dataset == "qm9"], None, params["seed"])
    by_split = []
    for repeat in range(params["test_splits"]):
        train_idx, test_idx = train_test_indices(N_STRUCTURES, 40, params["seed"] + repeat)
        expected = gfre(matrices[2], matrices[0], train_idx, test_idx)  # gamma -> alpha
        assert value[("structure", "gamma", "alpha", repeat)] == pytest.approx(expected, rel=1e-12)
        by_split.append(expected)
    assert np.std(by_split) > 0  # the splits differ, so their spread is an interval


def test_cumulants_step_records_dropped_single_atom_structures(files, params, tmp_path):
    paths, n_single = files
    out = {"cumulants": str(tmp_path / "cumulants.parquet")}
    cumulants({"atoms": paths["atoms"][0]}, out, params, threads=1)
    frame, meta = read_parquet(out["cumulants"])
    assert meta["n_single_atom_dropped"] == n_single > 0
    assert len(frame) == 9 and set(frame["model"]) == {"alpha"}
    table = frame.set_index(["source_order", "target_order"])["value"]
    assert table[(3, 1)] < 1e-8 < table[(1, 3)]


def test_similarity_pcovr_and_convergence_steps(files, params, tmp_path):
    paths, _ = files
    out = {name: str(tmp_path / f"{name}.parquet") for name in ("similarity", "pcovr", "conv")}
    similarity({"structure": paths["structure"]}, {"similarity": out["similarity"]}, params, 1)
    frame, _ = read_parquet(out["similarity"])
    assert len(frame) == 5 * len(MODELS) ** 2  # cka, cka_debiased, mutual_knn, cknna, Δ
    diagonal = frame[frame["model_a"] == frame["model_b"]]
    similar = diagonal["metric"] != "information_imbalance"
    np.testing.assert_allclose(diagonal.loc[similar, "value"], 1.0)
    # Δ(X → X): each sample's nearest neighbour has rank 1, so 2/n
    np.testing.assert_allclose(diagonal.loc[~similar, "value"], 2 / diagonal["n_samples"].iloc[0])

    pcovr(
        {"structure": paths["structure"], "structures": paths["structures"]},
        {"pcovr": out["pcovr"]},
        params,
        1,
    )
    maps, _ = read_parquet(out["pcovr"])
    assert len(maps) == len(MODELS) * N_STRUCTURES
    assert maps[["pcovr_1", "pcovr_2", "y"]].notna().all().all()

    convergence(
        {"checkpoints": paths["checkpoints"], "final": paths["structure"]},
        {"convergence": out["conv"]},
        params,
        1,
    )
    conv, _ = read_parquet(out["conv"])
    gfre = conv[conv["metric"] == "gfre_checkpoint_to_final"].set_index("epoch")["value"]
    assert gfre[1] > gfre[5] > gfre[10] and gfre[10] < 1e-8
    cka = conv[conv["metric"] == "cka"].set_index("epoch")["value"]
    assert cka[10] == pytest.approx(1.0)


def test_atom_rows_read_alone_equal_the_aligned_whole_tables(files, monkeypatch, tmp_path):
    """align_atom_rows reads only the kept rows, a column group at a time, and returns the
    models and matrices align_rows gives on the whole tables (read here with pyarrow alone):
    the same rows, bitwise, also for a model whose table holds the atoms shuffled and a tenth of
    them missing."""
    import pyarrow.parquet as pq

    from atomprobe.analyses.feature_sets import FeatureSet, align_atom_rows
    from atomprobe.features import io as features_io
    from atomprobe.features.io import read_atom_features
    from atomprobe.io import read_metadata

    def whole_table(path: str) -> FeatureSet:
        frame = pq.read_table(path).to_pandas()
        keys = (frame["id"] + "#" + frame["atom"].astype(str)).to_numpy()
        meta = read_metadata(path)
        values = frame.drop(columns=["id", "atom", "Z"]).to_numpy(np.float32)
        return FeatureSet(meta["model"], meta["dataset"], keys, values)

    paths, _ = files
    index, F, cols = read_atom_features(paths["atoms"][0])
    rng = np.random.default_rng(1)
    kept = rng.permutation(len(F))[: len(F) * 9 // 10]
    delta = str(tmp_path / "delta_atoms.parquet")
    meta = {"model": "delta", "family": "test", "dataset": "qm9", "pooling": "mean"}
    write_atom_features(
        delta,
        index["id"].to_numpy()[kept],
        index["atom"].to_numpy()[kept],
        index["Z"].to_numpy()[kept],
        F[kept] * 2.0,
        cols.to_dict("records"),
        meta,
    )
    atoms = [*paths["atoms"], delta]
    monkeypatch.setattr(features_io, "ATOM_READ_BUDGET_BYTES", 1)  # one column a read
    for max_rows in (None, 100):
        group = [whole_table(path) for path in atoms if read_metadata(path)["dataset"] == "qm9"]
        keys, expected = align_rows(group, max_rows, seed=4)
        models, matrices, structures = align_atom_rows(atoms, "qm9", max_rows, seed=4)
        assert models == ["alpha", "beta", "gamma", "delta"]
        np.testing.assert_array_equal(structures, [key.split("#")[0] for key in keys])
        assert len(matrices[0]) == (len(kept) if max_rows is None else max_rows)
        for got, want in zip(matrices, expected, strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(matrices[3], matrices[0] * 2.0)
    models, matrices, structures = align_atom_rows(atoms, "no_such_dataset")
    assert (models, matrices, structures.size) == ([], [], 0)
