"""Composition encoding that matches the pooling, and the ceiling of R²_geom (issue 22)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_val_predict
from threadpoolctl import threadpool_limits

from atomprobe.config import load_yaml
from atomprobe.cpd import CompositionProjector, ProbeSettings, join_composition, make_splits
from atomprobe.cpd.ceiling import composition_ceiling
from atomprobe.cpd.scores import ridge_scores
from atomprobe.data.composition import (
    ENCODING_OF_POOLING,
    ENCODINGS,
    composition_matrix,
    encode_counts,
    resolve_encoding,
)
from atomprobe.data.structures import ragged_column
from atomprobe.errors import ConfigError
from atomprobe.features.extract import POOLINGS
from atomprobe.features.io import write_features
from atomprobe.io import read_parquet, write_parquet
from atomprobe.runner import run_step

SETTINGS = ProbeSettings(n_folds=5, seed=2)
ELEMENTS = np.array([1, 6, 7, 8, 9])


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS on one thread: the CI machine has two shared cores."""
    with threadpool_limits(1):
        yield


def molecules(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` random molecules of 4-20 atoms of H, C, N, O and (rarely) F."""
    rng = np.random.default_rng(seed)
    return [
        rng.choice(ELEMENTS, size=rng.integers(4, 21), p=[0.5, 0.3, 0.09, 0.1, 0.01])
        for _ in range(n)
    ]


def mean_pooled(numbers: list[np.ndarray], d: int = 24, seed: int = 0):
    """Mean-pooled toy features: a per-element embedding w(Z) plus a geometric part.

    Returns ``(H (n, d), Z (n, 3) geometric latents, counts (n, 5))``; H = mean_i w(Z_i) + Z M,
    so its composition part is exactly linear in the fractions.
    """
    rng = np.random.default_rng(seed)
    embedding = rng.normal(size=(ELEMENTS.size, d)) * 3
    Z = rng.normal(size=(len(numbers), 3))
    counts, _ = composition_matrix(numbers, ELEMENTS.tolist())
    H = encode_counts(counts, "fraction") @ embedding + Z @ rng.normal(size=(3, d))
    return H, Z, counts


def test_auto_follows_the_pooling_and_explicit_values_pass():
    assert set(ENCODING_OF_POOLING) == set(POOLINGS)  # a rule for every pooling there is
    assert set(ENCODING_OF_POOLING.values()) <= set(ENCODINGS)
    assert resolve_encoding("auto", "mean") == "fraction"
    assert resolve_encoding("auto", "sum") == "counts"
    assert resolve_encoding("auto", None) == "fraction"  # unrecorded: the extraction default
    for encoding in ENCODINGS:
        assert resolve_encoding(encoding, "sum") == encoding
    with pytest.raises(ConfigError, match="'onehot' is unknown"):
        resolve_encoding("onehot", "mean")
    schema = load_yaml("src/atomprobe/schemas/cpd.schema.yaml")
    allowed = schema["properties"]["composition"]["properties"]["encoding"]["enum"]
    assert set(allowed) == {"auto", *ENCODINGS}
    assert load_yaml("config/config.yaml")["cpd"]["composition"]["encoding"] == "auto"


def test_encode_counts_is_composition_matrix_bit_for_bit():
    numbers = molecules(50)
    counts, elements = composition_matrix(numbers)
    for encoding in ENCODINGS:
        expected, _ = composition_matrix(numbers, elements, encoding)
        assert np.array_equal(encode_counts(counts, encoding), expected)
    assert encode_counts(counts, "counts") is counts


def test_residual_is_orthogonal_to_fractions_despite_the_dependent_intercept():
    """[1 | fractions] has rank k: the residual is still ⟂ every column, in both modes, also
    when a fit fold lacks an element (F) that test rows have, and the composition part of
    mean-pooled element embeddings is removed exactly (nothing left of it)."""
    numbers = molecules(300, seed=1)
    H, _, counts = mean_pooled(numbers)
    fractions = encode_counts(counts, "fraction")
    embedding = np.random.default_rng(0).normal(size=(ELEMENTS.size, H.shape[1])) * 3
    C_hat = np.c_[np.ones(len(H)), fractions]
    assert np.linalg.matrix_rank(C_hat) == fractions.shape[1]  # one column too many
    XC = join_composition(fractions, H)
    for mode in ("ols", "qr_insample"):
        residual = CompositionProjector(5, mode).fit_transform(XC)
        assert np.abs(C_hat.T @ residual).max() < 1e-9 * np.abs(C_hat.T @ H).max()
        # the embedding part is linear in the fractions: what is left is that of Z M alone
        geometric = H - fractions @ embedding
        alone = CompositionProjector(5, mode).fit_transform(join_composition(fractions, geometric))
        assert np.allclose(residual, alone, rtol=0, atol=1e-9 * np.abs(H).max())
    fit_rows = np.flatnonzero(counts[:, 4] == 0)  # no fluorine while fitting
    assert fit_rows.size < len(H)
    projector = CompositionProjector(5, "ols").fit(XC[fit_rows])
    residual = projector.transform(XC[fit_rows])
    assert np.abs(C_hat[fit_rows].T @ residual).max() < 1e-9 * np.abs(H).sum()
    assert np.isfinite(projector.transform(XC)).all()


@pytest.mark.parametrize("encoding", ["counts", "fraction"])
def test_ceiling_equals_cross_val_predict_on_the_same_folds(encoding):
    numbers = molecules(400, seed=3)
    counts, _ = composition_matrix(numbers, ELEMENTS.tolist())
    C = encode_counts(counts, encoding)
    rng = np.random.default_rng(4)
    Y = np.c_[counts @ [0.3, -0.2, 0.5, 0.1, 1.0], np.log(counts.sum(axis=1))]
    Y += rng.normal(size=Y.shape)
    ceiling = composition_ceiling(C, Y, ["a", "b"], SETTINGS)
    splits = make_splits(len(C), SETTINGS)
    predicted = cross_val_predict(LinearRegression(), C, Y, cv=[(tr, te) for *_, tr, te in splits])
    assert len(ceiling) == 2 * len(splits)
    for repeat, fold, _, test in splits:
        r2 = r2_score(Y[test], predicted[test], multioutput="raw_values")
        mine = ceiling[(ceiling.repeat == repeat) & (ceiling.fold == fold)].set_index("target")
        np.testing.assert_allclose(mine.loc[["a", "b"], "ceiling"], 1.0 - r2, rtol=0, atol=1e-10)


@pytest.mark.parametrize("encoding", ["counts", "fraction"])
def test_planted_geom_r2_stays_below_the_ceiling(encoding):
    """y = composition-linear part + geometric part + noise. R²_geom (v1 and v2) reaches the
    ceiling 1 − R²(y | C) within sampling tolerance (the mean over folds by 0.02, a fold by
    0.05: out of fold both are estimates) and never passes it by more; R²_full
    does pass it (the ceiling bounds the residual, not H)."""
    numbers = molecules(1500, seed=5)
    H, Z, counts = mean_pooled(numbers, seed=5)
    C = encode_counts(counts, encoding)
    rng = np.random.default_rng(6)
    y = C @ rng.normal(size=5) * (4.0 if encoding == "fraction" else 0.3)
    y = y + Z @ [1.0, 0.5, -0.5] + 0.3 * rng.normal(size=len(H))
    ceiling = composition_ceiling(C, y, ["y"], SETTINGS)["ceiling"].to_numpy()
    scores = ridge_scores(H, C, y, ["y"], ["full", "geom_v1", "geom_v2"], SETTINGS)
    r2 = scores.groupby("representation", sort=False)["r2"].apply(np.asarray)
    assert 0.2 < ceiling.mean() < 0.95  # both parts carry variance
    for representation in ("geom_v1", "geom_v2"):
        assert r2[representation].mean() <= ceiling.mean() + 0.02, (r2[representation], ceiling)
        assert (r2[representation] <= ceiling + 0.05).all(), (r2[representation], ceiling)
        assert r2[representation].mean() > ceiling.mean() - 0.05  # the geometry is all there
    assert r2["full"].mean() > ceiling.mean() + 0.05


def _toy_files(root, pooling: str | None) -> dict[str, str]:
    """A structure table and one model's mean-pooled features recording ``pooling``."""
    numbers = molecules(120, seed=7)
    H, Z, counts = mean_pooled(numbers, d=8, seed=7)
    ids = [f"toy:{i}" for i in range(len(numbers))]
    structures = pd.DataFrame(
        {
            "id": ids,
            "formula": [f"F{i}" for i in range(len(numbers))],
            "numbers": ragged_column([z.astype(np.int8) for z in numbers], pa.int8()),
            "positions": ragged_column(
                [np.arange(3 * z.size, dtype=float).reshape(-1, 3) for z in numbers], pa.float64()
            ),
            "cell": None,
            "pbc": False,
            "gap": Z[:, 0] + counts @ [0.1, 0.2, 0.0, -0.1, 0.3],
        }
    )
    paths = {"structures": str(root / "toy.parquet"), "features": str(root / "a.parquet")}
    write_parquet(structures, paths["structures"], {"dataset": "toy"})
    columns = [
        {"layer": 0, "layer_name": "b0", "stream": "node", "L": 0, "channel": c} for c in range(8)
    ]
    meta = {"model": "a"} if pooling is None else {"model": "a", "pooling": pooling}
    write_features(paths["features"], ids, H, columns, meta)
    return paths


@pytest.fixture(scope="module")
def step_params() -> dict:
    cpd = load_yaml("config/config.yaml")["cpd"]
    cpd["cv"]["n_folds"] = 3
    cpd["nonlinear"]["targets"] = {}
    cpd["groups"]["definitions"] = {}  # group all only: the encoding is what is tested here
    return {**cpd, "seed": 0, "model": "a", "dataset": "toy"}


@pytest.mark.parametrize(
    ("pooling", "configured", "used"),
    [("sum", "auto", "counts"), ("mean", "auto", "fraction"), ("mean", "counts", "counts")],
)
def test_steps_record_the_encoding_used_and_the_ceiling(
    tmp_path, step_params, pooling, configured, used
):
    files = _toy_files(tmp_path, pooling)
    params = {**step_params, "composition": {"encoding": configured, "intercept": True}}
    out = {"scores": str(tmp_path / "cpd.parquet")}
    run_step("atomprobe.cpd.steps:cpd", files, out, {**params, "targets": ["gap"]})
    scores, meta = read_parquet(out["scores"])
    assert meta["composition_encoding"] == used and meta["pooling"] == pooling
    assert list(scores.columns) == list(meta["columns"]) and scores["ceiling"].notna().all()
    # the ceiling of a fold is that of the composition alone, on every row of that fold
    structures = read_parquet(files["structures"])[0]
    counts, _ = composition_matrix(structures["numbers"], None)
    settings = ProbeSettings(n_folds=3, seed=0)
    expected = composition_ceiling(
        encode_counts(counts, used), structures["gap"], ["gap"], settings
    )
    merged = scores.merge(expected, on=["target", "repeat", "fold"], suffixes=("", "_expected"))
    assert len(merged) == len(scores)
    np.testing.assert_array_equal(merged["ceiling"], merged["ceiling_expected"])

    sensitivity = {"scores": str(tmp_path / "sensitivity.parquet")}
    run_step("atomprobe.cpd.steps:cpd_sensitivity", files, sensitivity, {**params, "target": "gap"})
    rows, meta = read_parquet(sensitivity["scores"])
    assert meta["composition_encoding"] == used
    assert set(rows.loc[rows["main"], "encoding"]) == {used}
    other = rows.loc[~rows["main"]]
    assert set(other["encoding"]) == {"counts", "fraction"} - {used}
    assert set(other["representation"]) == {"geom_v1", "geom_v2"}
    assert set(other["scaling"]) == {"guarded", "standard", "none"}
    # the main encoding's rows are the cpd step's own Ridge numbers (config scaling: guarded)
    key = ["representation", "repeat", "fold"]
    main = rows[rows["main"] & (rows["scaling"] == "guarded")].set_index(key)
    own = scores[scores.representation.isin(["full", "geom_v1", "geom_v2"])].set_index(key)
    assert main["r2"].sort_index().equals(own["r2"].sort_index())


def test_unrecorded_pooling_counts_as_mean(tmp_path, step_params):
    files = _toy_files(tmp_path, None)
    out = {"scores": str(tmp_path / "cpd.parquet")}
    run_step("atomprobe.cpd.steps:cpd", files, out, {**step_params, "targets": ["gap"]})
    meta = read_parquet(out["scores"])[1]
    assert meta["composition_encoding"] == "fraction" and meta["pooling"] is None
