"""GFRE / LFRE: equality with scikit-matter, known answers and identities.

Equality tolerance: 1e-10 absolute on the pointwise errors (the errors are O(1)). The
implementation reproduces skmatter's arithmetic (same scaling, fold split, SVD truncation and
alpha choice); only the order of floating-point sums differs, giving ~1e-15 differences. Alpha
choices could in principle differ when two CV losses tie to ~1e-15, which random data never does.
skmatter's estimator takes its own default alphas (``SKMATTER_ALPHAS``, it refuses alphas >= 1);
ours default to paper B's, so the equality tests pass skmatter's grid to ours.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import check_scoring
from sklearn.model_selection import KFold
from skmatter.linear_model import Ridge2FoldCV
from skmatter.metrics import (
    global_reconstruction_error,
    pointwise_global_reconstruction_error,
    pointwise_local_reconstruction_error,
)

from atomprobe.analyses.cumulants import cumulant_features, cumulant_order_gfre
from atomprobe.analyses.reconstruction import (
    RELATIVE_ALPHAS,
    BatchedCutoffRidgeSolver,
    alpha_grid,
    gfre,
    lfre,
    pointwise_gfre,
    pointwise_lfre,
    structure_test_indices,
    train_test_indices,
)
from atomprobe.errors import DataError

TOLERANCE = 1e-10
SKMATTER_ALPHAS = np.geomspace(1e-9, 0.9, 20)  # skmatter's default grid


@pytest.fixture(scope="module")
def pair():
    """Source X (240, 9) and a partly nonlinear target Y (240, 6), plus a split."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 9)) * rng.uniform(0.1, 3, size=9)
    Y = np.tanh(X[:, :6] @ rng.normal(size=(6, 6))) + 0.2 * rng.normal(size=(240, 6))
    train_idx, test_idx = train_test_indices(240, 60, seed=0)
    return X, Y, train_idx, test_idx


def test_gfre_equals_skmatter(pair):
    X, Y, train_idx, test_idx = pair
    ours = pointwise_gfre(X, [Y, X], train_idx, test_idx, SKMATTER_ALPHAS)
    for got, target in zip(ours, (Y, X), strict=True):
        expected = pointwise_global_reconstruction_error(
            X, target, train_idx=train_idx, test_idx=test_idx
        )
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    assert gfre(X, Y, train_idx, test_idx, SKMATTER_ALPHAS) == pytest.approx(
        global_reconstruction_error(X, Y, train_idx=train_idx, test_idx=test_idx), abs=TOLERANCE
    )


@pytest.mark.parametrize("n_neighbors", [None, 20])
def test_lfre_equals_skmatter(pair, n_neighbors):
    X, Y, train_idx, test_idx = pair
    test_idx = test_idx[:30]  # skmatter's per-point loop is the slow part of this test
    k = n_neighbors or min(X.shape[1], Y.shape[1])
    expected = pointwise_local_reconstruction_error(X, Y, k, train_idx=train_idx, test_idx=test_idx)
    got = pointwise_lfre(
        X, [Y], train_idx, test_idx, n_neighbors, batch_size=7, alphas=SKMATTER_ALPHAS
    )[0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


def test_stacked_ridge_equals_skmatter_ridge_per_problem():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 30, 5))
    Y = X @ rng.normal(size=(5, 2)) + 0.3 * rng.normal(size=(3, 30, 2))
    query = rng.normal(size=(3, 4, 5))
    got = BatchedCutoffRidgeSolver(X, SKMATTER_ALPHAS).predict(Y, query)
    for b in range(3):
        reference = Ridge2FoldCV(
            alphas=SKMATTER_ALPHAS,
            alpha_type="relative",
            regularization_method="cutoff",
            random_state=0x5F3759DF,
            scoring="neg_root_mean_squared_error",
        ).fit(X[b], Y[b])
        np.testing.assert_allclose(got[b], reference.predict(query[b]), atol=TOLERANCE)


def test_self_reconstruction_is_zero_and_noise_is_one(pair):
    X, _, train_idx, test_idx = pair
    noise = np.random.default_rng(2).normal(size=(len(X), 5))
    assert gfre(X, X, train_idx, test_idx) < 1e-8
    # with the paper's k = min(d_x, d_y) = 9 the 9 centred neighbours span only 8 dimensions,
    # so even X → X is not exact locally; with enough neighbours it is
    assert lfre(X, X, train_idx, test_idx, n_neighbors=40) < 1e-8
    assert lfre(X, X, train_idx, test_idx) > 0.05
    assert 0.9 < gfre(X, noise, train_idx, test_idx) < 1.2
    assert 0.9 < lfre(X, noise, train_idx, test_idx) < 1.5


def test_higher_cumulant_orders_reconstruct_lower_ones_exactly():
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 9, size=260)
    ids = np.repeat([f"s{i}" for i in range(len(sizes))], sizes)
    F = rng.normal(size=(len(ids), 3)) + rng.normal(size=(len(sizes), 3)).repeat(sizes, axis=0)
    kept_ids, phi, n_dropped = cumulant_features(pd.DataFrame({"id": ids}), F, max_order=4)
    assert n_dropped == int((sizes == 1).sum()) and len(kept_ids) == int((sizes > 1).sum())
    table = cumulant_order_gfre(phi, 4, n_test=50, seed=0).set_index(
        ["source_order", "target_order"]
    )["value"]
    for K in range(1, 5):
        for K_target in range(1, K + 1):
            assert table[(K, K_target)] < 1e-8
    assert table[(1, 4)] > 0.2 and table[(2, 3)] > 0.1


@pytest.mark.parametrize(
    ("X", "Y", "message"),
    [
        (np.full((20, 3), np.nan), np.ones((20, 2)), "NaN"),
        (np.ones((20, 3)), np.ones((19, 2)), "has 19 rows but the source has 20"),
        (np.ones(20), np.ones((20, 2)), "2-D"),
    ],
)
def test_bad_input_raises_one_line_data_error(X, Y, message):
    with pytest.raises(DataError, match=message) as error:
        gfre(X, Y, np.arange(10), np.arange(10, 20))
    assert "\n" not in str(error.value)


def test_constant_features_and_too_small_test_sets_are_data_errors():
    with pytest.raises(DataError, match="constant"):
        gfre(
            np.ones((20, 3)),
            np.random.default_rng(0).normal(size=(20, 2)),
            np.arange(10),
            np.arange(10, 20),
        )
    with pytest.raises(DataError, match="test size 50"):
        train_test_indices(40, 50, seed=0)


def test_default_k_is_capped_at_the_training_points_explicit_k_is_not():
    """A descriptor wider than the training set (the 1,008-value AEV on 240 molecules)."""
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(50, 80)), rng.normal(size=(50, 90))
    train_idx, test_idx = train_test_indices(50, 10, seed=0)
    capped = lfre(X, Y, train_idx, test_idx)
    assert capped == pytest.approx(lfre(X, Y, train_idx, test_idx, n_neighbors=len(train_idx)))
    with pytest.raises(DataError, match="neighbours > 40 training points"):
        lfre(X, Y, train_idx, test_idx, n_neighbors=41)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda X, Y, tr, te: gfre(X, Y, tr, te[:0]), "0 test rows: both must be non-empty"),
        (lambda X, Y, tr, te: lfre(X, Y, tr, te, n_neighbors=0), "n_neighbors must be at least 1"),
        (lambda X, Y, tr, te: lfre(X, Y, tr, te, n_neighbors=-2), "n_neighbors must be at least 1"),
        (lambda X, Y, tr, te: gfre(X, Y[:-1], tr, te), "rows must be the same samples"),
    ],
)
def test_bad_metric_inputs_are_one_line_errors(pair, call, message):
    """Before: an empty test set gave NaN with a warning, a negative k a number."""
    X, Y, train, test = pair
    with pytest.raises(DataError, match=message) as error:
        call(X, Y, train, test)
    assert "\n" not in str(error.value)


def test_authors_alphas_follow_skmatter_arithmetic_up_to_alpha_one():
    """Paper B's grid ends at relative alpha 1, which skmatter's estimator refuses ([0, 1));
    its 2-fold arithmetic, called past that check, gives what ours gives on that grid, and on
    a target unrelated to X the CV picks alpha 1 (no singular value kept: predict the mean)."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(2, 40, 6))
    Y = np.stack([X[0] @ rng.normal(size=(6, 3)), rng.normal(size=(40, 3))])
    query = rng.normal(size=(2, 5, 6))
    got = BatchedCutoffRidgeSolver(X, RELATIVE_ALPHAS).predict(Y, query)
    chosen = []
    for b in range(2):
        reference = Ridge2FoldCV(
            alphas=RELATIVE_ALPHAS,
            alpha_type="relative",
            regularization_method="cutoff",
            scoring="neg_root_mean_squared_error",
        )
        folds = next(KFold(2, shuffle=True, random_state=0x5F3759DF).split(X[b]))
        scorer = check_scoring(reference, scoring="neg_root_mean_squared_error")
        coef = reference._2fold_cv(X[b], Y[b], *folds, scorer)  # fit() would refuse alpha 1
        np.testing.assert_allclose(got[b], query[b] @ coef.T, atol=TOLERANCE)
        chosen.append(reference.alpha_)
    assert chosen[0] < 1e-6 and chosen[1] == 1.0


def test_alpha_grid_is_the_configured_geomspace():
    np.testing.assert_array_equal(alpha_grid(1e-9, 1.0, 20), RELATIVE_ALPHAS)
    with pytest.raises(DataError, match="need 0 < low <= high <= 1") as error:
        alpha_grid(1e-9, 2.0, 20)
    assert "\n" not in str(error.value)


def test_lfre_ignores_float32_rounding_noise_between_duplicated_points():
    """Reduced reproduction of the LFRE outlier CHGNet → SevenNet-0 (22May2024) on MP crystals
    (66.8 against a median of 0.26): symmetry-equivalent atoms are one point of X up to float32
    rounding, but Y separates them by ~1e-3. skmatter keeps the rounding direction between two
    such points (singular value ~1e-7 · s_max) and fits a slope of ~1e4 along it, so a test
    point off that direction gets an error of thousands. Ours, on the float32 features, must
    give what skmatter gives when the duplicates are exact (no rounding direction at all)."""
    rng = np.random.default_rng(0)
    d, n_base = 12, 60
    base = rng.normal(size=(n_base, d))
    weights = rng.normal(size=(d, d)) / 3
    twins = base * (1 + 1e-7 * rng.normal(size=base.shape))  # equal after rounding to float32
    query = rng.normal(size=(20, d))
    X = np.vstack([base, twins, query]).astype(np.float32)
    Y_base = np.tanh(base @ weights)
    Y = np.vstack(
        [Y_base, Y_base + 1e-3 * rng.normal(size=Y_base.shape), np.tanh(query @ weights)]
    ).astype(np.float32)
    train_idx, test_idx = np.arange(2 * n_base), np.arange(2 * n_base, len(X))
    X_exact = np.vstack([base, base, query]).astype(np.float32).astype(np.float64)

    def skmatter(source: np.ndarray) -> np.ndarray:
        return pointwise_local_reconstruction_error(
            source, Y.astype(np.float64), d, train_idx=train_idx, test_idx=test_idx
        )

    with_rounding, exact = skmatter(X.astype(np.float64)), skmatter(X_exact)
    assert with_rounding.max() > 1000 * np.median(with_rounding)  # the pathology is present
    assert exact.max() < 2.0
    ours = pointwise_lfre(X, [Y], train_idx, test_idx, alphas=SKMATTER_ALPHAS)[0]
    np.testing.assert_allclose(ours, exact, rtol=0, atol=1e-6)


def test_structure_split_never_puts_a_structure_on_both_sides():
    rng = np.random.default_rng(5)
    structures = np.repeat([f"mp-{i}" for i in range(300)], rng.integers(1, 20, size=300))
    for seed in range(5):
        train_idx, test_idx = structure_test_indices(structures, 400, seed)
        assert not set(structures[train_idx]) & set(structures[test_idx])
        assert len(train_idx) + len(test_idx) == len(structures)
        assert 400 <= len(test_idx) < 400 + 19  # stops at the structure that reaches 400
    assert not np.array_equal(structure_test_indices(structures, 400, 1)[1], test_idx)
    with pytest.raises(DataError, match="lower the test size") as error:
        structure_test_indices(structures, len(structures) - 1, 0)
    assert "\n" not in str(error.value)
