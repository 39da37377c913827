"""Linear CKA and mutual kNN alignment: invariances, independent formulas, identities."""

import numpy as np
import pytest
from scipy.stats import ortho_group

from atomprobe.analyses.similarity import linear_cka, mutual_knn
from atomprobe.errors import DataError


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)) @ rng.normal(size=(8, 8))
    return X, rng


def cka_with_gram_matrices(X: np.ndarray, Y: np.ndarray, debiased: bool) -> float:
    """Reference CKA from n×n Gram matrices (HSIC of Gretton 2005 / Song 2012, eq. 5)."""
    n = len(X)
    K, L = X @ X.T, Y @ Y.T
    if not debiased:
        H = np.eye(n) - 1 / n
        hsic = lambda A, B: np.trace(A @ H @ B @ H)  # noqa: E731
    else:

        def hsic(A, B):
            A, B = A - np.diag(np.diag(A)), B - np.diag(np.diag(B))
            one = np.ones(n)
            return (
                np.trace(A @ B)
                + (one @ A @ one) * (one @ B @ one) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * (one @ A @ B @ one)
            ) / (n * (n - 3))

    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_matches_gram_matrix_formula(features, debiased):
    X, rng = features
    Y = np.tanh(X[:, :5]) + 0.5 * rng.normal(size=(300, 5))
    assert linear_cka(X, Y, debiased) == pytest.approx(
        cka_with_gram_matrices(X, Y, debiased), rel=1e-10
    )


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_is_one_under_orthogonal_transform_scaling_and_shift(features, debiased):
    X, _ = features
    Q = ortho_group.rvs(8, random_state=1)
    assert linear_cka(X, 3.7 * X @ Q + 5.0, debiased) == pytest.approx(1.0, abs=1e-12)


def test_cka_of_independent_features_is_near_zero_when_debiased(features):
    X, rng = features
    Y = rng.normal(size=(300, 6))
    assert abs(linear_cka(X, Y, debiased=True)) < 0.02
    assert linear_cka(X, Y) > linear_cka(X, Y, debiased=True)  # the biased one is inflated


def test_mutual_knn_identities(features):
    X, rng = features
    Q = ortho_group.rvs(8, random_state=2)
    assert mutual_knn(X, X, k=10) == 1.0
    assert mutual_knn(X, 2.0 * X @ Q - 1.0, k=10) == 1.0
    random = mutual_knn(X, rng.normal(size=(300, 8)), k=10)
    assert random == pytest.approx(10 / 299, abs=0.02)
    shuffled_half = X.copy()
    shuffled_half[:, 4:] = rng.permutation(shuffled_half[:, 4:])
    assert random < mutual_knn(X, shuffled_half, k=10) < 1.0


def test_bad_input_is_a_one_line_data_error(features):
    X, _ = features
    with pytest.raises(DataError, match="rows"):
        linear_cka(X, X[:-1])
    with pytest.raises(DataError, match="k=300"):
        mutual_knn(X, X, k=300)
    with pytest.raises(DataError, match="constant"):
        linear_cka(X, np.ones_like(X))
