"""Linear CKA and mutual kNN alignment: invariances, independent formulas, identities."""

import numpy as np
import pytest
from scipy.stats import ortho_group

from atomprobe.analyses.similarity import (
    cknna,
    distance_ranks,
    information_imbalance,
    linear_cka,
    mutual_knn,
    pairwise_similarity,
    rank_rows,
)
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


def imbalance_brute_force(X: np.ndarray, Y: np.ndarray) -> float:
    """Δ(X → Y) by the definition, one sample at a time with explicit sorting."""
    n = len(X)
    ranks = []
    for i in range(n):
        dx = np.linalg.norm(X - X[i], axis=1)
        dx[i] = np.inf
        j = int(np.argmin(dx))
        dy = np.linalg.norm(Y - Y[i], axis=1)
        dy[i] = -np.inf
        order = list(np.argsort(dy, kind="stable"))
        ranks.append(order.index(j))  # position 0 is i itself: the nearest other is rank 1
    return 2 / n * float(np.mean(ranks))


def test_information_imbalance_equals_the_definition(features):
    X, rng = features
    Y = np.tanh(X[:, :3]) + 0.1 * rng.normal(size=(300, 3))
    fast = information_imbalance(distance_ranks(X), distance_ranks(Y))
    assert fast == pytest.approx(imbalance_brute_force(X, Y), rel=1e-12)


def test_information_imbalance_known_values(features):
    X, rng = features
    ranks = distance_ranks(X)
    assert information_imbalance(ranks, ranks) == pytest.approx(2 / 300)  # Δ(X → X): rank 1
    independent = distance_ranks(rng.normal(size=(300, 8)))
    assert 0.85 < information_imbalance(ranks, independent) < 1.15  # ≈ 1 for unrelated data
    # a projection keeps less than the full space: Δ(full → part) small, Δ(part → full) large
    part = distance_ranks(X[:, :2])
    assert information_imbalance(ranks, part) < 0.3 < information_imbalance(part, ranks)


def cknna_brute_force(X: np.ndarray, Y: np.ndarray, k: int) -> float:
    """CKNNA by explicit loops over pairs: masks from each row's k largest kernel values."""
    n = len(X)
    K, L = X @ X.T, Y @ Y.T

    def mask(G):
        M = np.zeros((n, n))
        for i in range(n):
            others = [j for j in range(n) if j != i]
            top = sorted(others, key=lambda j: -G[i, j])[:k]
            M[i, top] = 1.0
        return M

    def hsic(A, B):
        A, B = A - np.diag(np.diag(A)), B - np.diag(np.diag(B))
        one = np.ones(n)
        return (
            np.trace(A @ B)  # Song et al.'s tr(K̃L̃); the masked kernels are not symmetric
            + (one @ A @ one) * (one @ B @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * (one @ A @ B @ one)
        ) / (n * (n - 3))

    MK, ML = mask(K), mask(L)
    M = MK * ML
    return hsic(M * K, M * L) / np.sqrt(hsic(MK * K, MK * K) * hsic(ML * L, ML * L))


def test_cknna_equals_a_brute_force_computation(features):
    X, rng = features
    X, Y = X[:40], X[:40, :4] + 0.5 * rng.normal(size=(40, 4))
    assert cknna(X, Y, 5) == pytest.approx(cknna_brute_force(X, Y, 5), rel=1e-10)


def test_cknna_identities(features):
    X, rng = features
    rotation = ortho_group.rvs(8, random_state=1)
    assert cknna(X, X, 10) == pytest.approx(1.0)
    assert cknna(X, 2.5 * X @ rotation, 10) == pytest.approx(1.0)  # rotation and scale
    assert abs(cknna(X, rng.normal(size=X.shape), 10)) < 0.2  # unrelated: about 0


def test_pairwise_table_caps_the_rank_measures_at_rank_samples(features):
    """CKNNA and the imbalance use a seeded subset of ``rank_samples`` rows (n × n arrays per
    model); CKA and mutual kNN every row. Their values are those of the measures on that subset,
    and with rank_samples ≥ n nothing changes."""
    X, _ = features
    Y = np.tanh(X @ np.random.default_rng(1).normal(size=(8, 8)))
    names = ["x", "y"]
    full = pairwise_similarity(names, [X, Y], 5)
    assert pairwise_similarity(names, [X, Y], 5, rank_samples=len(X), seed=3).equals(full)
    capped = pairwise_similarity(names, [X, Y], 5, rank_samples=40, seed=3)
    rows = rank_rows(len(X), 40, 3)
    assert len(rows) == 40 and len(set(rows)) == 40 and list(rows) == sorted(rows)

    def value(frame, metric, a="x", b="y"):
        pick = frame[(frame.metric == metric) & (frame.model_a == a) & (frame.model_b == b)]
        return pick.iloc[0]

    assert value(capped, "cknna")["value"] == pytest.approx(cknna(X[rows], Y[rows], 5))
    assert value(capped, "information_imbalance")["value"] == pytest.approx(
        imbalance_brute_force(X[rows], Y[rows])
    )
    assert value(capped, "cknna")["n_samples"] == 40
    for metric in ("cka", "mutual_knn"):
        assert value(capped, metric)["value"] == value(full, metric)["value"]
        assert value(capped, metric)["n_samples"] == len(X)
