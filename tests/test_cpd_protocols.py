"""The toolkit, unshuffled and formula-grouped readings of R²_geom (atomprobe.cpd.protocols)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from atomprobe.config import load_yaml
from atomprobe.cpd.protocols import (
    PROTOCOLS,
    formula_splits,
    protocol_scores,
    unshuffled_splits,
)
from atomprobe.cpd.scores import ProbeSettings, ridge_scores
from atomprobe.data.structures import ragged_column
from atomprobe.features.io import write_features
from atomprobe.io import read_parquet, write_parquet
from atomprobe.runner import run_step

ELEMENTS = (1, 6, 7, 8)


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS on one thread: the CI machine has two shared cores."""
    with threadpool_limits(1):
        yield


def planted(n_formulas: int, per_formula: int, d: int, seed: int = 0):
    """Molecules of ``n_formulas`` distinct compositions; H = a random embedding of the formula
    (plus noise), target = a random constant per formula: R² can come from formula identity only.

    Returns ``H (n, d), counts (n, 4), y (n,), formulas (n,)``, rows shuffled.
    """
    rng = np.random.default_rng(seed)
    compositions: set[tuple[int, ...]] = set()
    while len(compositions) < n_formulas:
        compositions.add(tuple(int(c) for c in rng.integers([1, 1, 0, 0], [12, 8, 3, 3])))
    table = np.array(sorted(compositions), dtype=float)
    which = rng.permutation(np.repeat(np.arange(n_formulas), per_formula))
    embedding, constant = rng.normal(size=(n_formulas, d)), rng.normal(size=n_formulas)
    H = embedding[which] + 0.05 * rng.normal(size=(which.size, d))
    formulas = np.array(
        ["".join(f"{e}{c:g}" for e, c in zip("HCNO", row, strict=True)) for row in table]
    )
    return H, table[which], constant[which], formulas[which]


def test_toolkit_protocol_equals_a_straightforward_sklearn_computation():
    """matscope 0.2.0's decompose (linear probe), written out with scikit-learn: fractions
    standardised on all rows, Ridge(1) to H on all rows, residual, StandardScaler + Ridge(1) in
    cross_validate(cv=5) on the rows in dataset order."""
    rng = np.random.default_rng(1)
    n, d = 200, 12
    counts = rng.integers(0, 6, size=(n, 4)).astype(float)
    counts[:, 1] += 1
    H = counts @ rng.normal(size=(4, d)) + rng.normal(size=(n, d))
    y = H[:, :3].sum(axis=1) + 0.3 * rng.normal(size=n)
    position = rng.permutation(n)  # the rows arrive shuffled; dataset order is `position`
    scores = protocol_scores(
        H,
        counts,
        counts / counts.sum(axis=1, keepdims=True),
        y,
        np.array([f"F{i}" for i in range(n)]),
        position,
        ProbeSettings(n_folds=5),
    )
    order = np.argsort(position)
    fractions = counts[order] / counts[order].sum(axis=1, keepdims=True)
    scaled = StandardScaler().fit_transform(fractions)
    residual = H[order] - Ridge(alpha=1.0).fit(scaled, H[order]).predict(scaled)
    expected = cross_validate(
        make_pipeline(StandardScaler(), Ridge(alpha=1.0)), residual, y[order], cv=5, scoring="r2"
    )["test_score"]
    toolkit = scores[scores["protocol"] == "toolkit"].sort_values("fold")
    np.testing.assert_allclose(toolkit["r2"], expected, rtol=0, atol=1e-10)
    assert (toolkit["alpha"] == 1.0).all() and (toolkit["representation"] == "geom_toolkit").all()
    assert set(scores["protocol"]) == set(PROTOCOLS)
    # the same folds, shuffled: the toolkit reading on our splits differs only in the folds
    shuffled = scores[scores["protocol"] == "toolkit_shuffled"]
    assert len(shuffled) == 5 and not np.allclose(shuffled["r2"].sort_values(), np.sort(expected))


def test_unshuffled_folds_are_blocks_of_dataset_order():
    position = np.array([5, 0, 3, 1, 4, 2, 7, 6, 9, 8])
    splits = unshuffled_splits(position, 5)
    for fold, (_, k, train, test) in enumerate(splits):
        assert k == fold
        assert sorted(position[test]) == [2 * fold, 2 * fold + 1]
        assert np.intersect1d(train, test).size == 0 and train.size + test.size == 10


def test_formula_grouped_folds_never_share_a_formula():
    formulas = np.random.default_rng(0).choice([f"F{i}" for i in range(23)], size=300)
    splits = formula_splits(formulas, n_folds=5, n_repeats=2, seed=3)
    assert [(r, k) for r, k, _, _ in splits] == [(r, k) for r in range(2) for k in range(5)]
    for _, _, train, test in splits:
        assert not set(formulas[train]) & set(formulas[test])
        assert train.size + test.size == formulas.size
    tested = np.concatenate([test for r, _, _, test in splits if r == 0])
    assert np.array_equal(np.sort(tested), np.arange(formulas.size))


def test_formula_identity_alone_is_high_shuffled_and_gone_grouped():
    """Target = a random constant per formula, features = a formula embedding: seen formulas
    make shuffled folds score high; formula-grouped folds leave nothing (R² ≲ 0)."""
    H, counts, y, formulas = planted(n_formulas=60, per_formula=10, d=80)
    scores = protocol_scores(
        H,
        counts,
        counts / counts.sum(axis=1, keepdims=True),
        y,
        formulas,
        np.arange(y.size),
        ProbeSettings(n_folds=5),
    )
    r2 = scores.groupby("protocol")["r2"].mean()
    seen = scores.groupby("protocol")["test_formula_seen"].mean()
    assert r2["ours"] > 0.8 and r2["toolkit_shuffled"] > 0.8
    assert r2["formula_grouped"] < 0.1
    assert seen["formula_grouped"] == 0.0 and seen["ours"] > 0.9


def test_cpd_protocols_step(tmp_path):
    """The step writes every protocol in the file's columns; ``ours`` is the cpd step's own
    geom_v2 Ridge score (group all, last layer), fold for fold."""
    H, counts, y, formulas = planted(n_formulas=30, per_formula=6, d=10, seed=2)
    n = y.size
    numbers = [np.repeat(ELEMENTS, row.astype(int)).astype(np.int8) for row in counts]
    ids = [f"toy:{i}" for i in range(n)]
    structures = pd.DataFrame(
        {
            "id": ids,
            "formula": formulas,
            "numbers": ragged_column(numbers, pa.int8()),
            "positions": ragged_column([np.zeros((z.size, 3)) for z in numbers], pa.float64()),
            "cell": None,
            "pbc": False,
            "gap": y + H[:, 0],
        }
    )
    paths = {"structures": str(tmp_path / "toy.parquet"), "features": str(tmp_path / "a.parquet")}
    write_parquet(structures, paths["structures"], {"dataset": "toy", "targets": {"gap": "eV"}})
    columns = [
        {"layer": layer, "layer_name": f"b{layer}", "stream": "node", "L": 0, "channel": c}
        for layer in (0, 1)
        for c in range(10)
    ]
    write_features(paths["features"], ids[::-1], np.hstack([H, 2 * H])[::-1], columns, {})
    cpd = load_yaml("config/config.yaml")["cpd"]
    cpd["cv"]["n_folds"] = 3
    cpd["composition"]["encoding"] = "counts"
    params = {**cpd, "seed": 0, "model": "a", "dataset": "toy", "target": "gap"}
    out = tmp_path / "protocols.parquet"
    run_step("atomprobe.cpd.steps:cpd_protocols", paths, {"scores": str(out)}, params)
    scores, meta = read_parquet(out)
    assert list(scores.columns) == list(meta["columns"])
    assert set(scores["protocol"]) == set(PROTOCOLS) and set(scores["layer"]) == {1}
    assert meta["toolkit"]["package"] == "matscope 0.2.0"
    # the cpd step's Ridge geom_v2 scores of group all, on the rows in the features file's order
    features = np.hstack([H, 2 * H])[::-1].astype(np.float32)  # as stored
    reference = ridge_scores(
        features[:, 10:],
        counts[::-1],
        structures["gap"].to_numpy()[::-1],
        ["gap"],
        ["geom_v2"],
        ProbeSettings.from_config(cpd, seed=0),
    )
    ours = scores[scores["protocol"] == "ours"]
    np.testing.assert_allclose(ours["r2"].to_numpy(), reference["r2"].to_numpy(), atol=1e-12)
    np.testing.assert_array_equal(ours["alpha"].to_numpy(), reference["alpha"].to_numpy())
