"""Representation similarity between two feature matrices of the same samples.

* Linear CKA (Kornblith et al., ICML 2019): ``HSIC(X, Y) / sqrt(HSIC(X, X) HSIC(Y, Y))`` with
  linear kernels on column-centred features; 1 for feature spaces equal up to an orthogonal
  transform and an isotropic scaling. The biased estimator is ``‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)``;
  the debiased one replaces each HSIC by the unbiased estimator of Song et al. (JMLR 2012), so
  that independent features give ≈ 0 instead of a positive, sample-size-dependent value.
* Mutual k-nearest-neighbour alignment (Huh et al., ICML 2024): for each sample, the fraction
  of its k nearest neighbours in X (Euclidean, itself excluded) that are also among its k
  nearest neighbours in Y, averaged over samples. 1 = same neighbourhoods; random ≈ k/(n−1).
* CKNNA (Huh et al., ICML 2024): CKA restricted to the pairs that are nearest neighbours in
  both spaces (:func:`cknna`).
* Information imbalance Δ(X → Y) (Glielmo et al., PNAS Nexus 2022): directional and
  nonlinear, from distance ranks (:func:`information_imbalance`). Its reference library,
  dadapy, pins numpy < 2 and cannot share this environment; the definition is a few lines
  over scikit-learn's distances and is tested against a brute-force computation.

CKA is computed in feature space (cost O(n·d²)); CKNNA and the information imbalance need
n × n kernels or distance ranks (n = ``reconstruction.similarity.n_samples``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

from atomprobe.analyses.reconstruction import check_features
from atomprobe.errors import DataError


def _unbiased_hsic(X: np.ndarray, Y: np.ndarray) -> float:
    """Unbiased HSIC (Song et al. 2012, eq. 5) of linear kernels, without forming n×n Grams.

    With K̃ = XXᵀ and L̃ = YYᵀ with zeroed diagonals:
    ``[tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3))``.
    """
    n = X.shape[0]
    k_diag = np.einsum("ij,ij->i", X, X)
    l_diag = np.einsum("ij,ij->i", Y, Y)
    trace_kl = np.linalg.norm(X.T @ Y) ** 2 - k_diag @ l_diag
    k_rowsum = X @ X.sum(axis=0) - k_diag  # K̃ 1
    l_rowsum = Y @ Y.sum(axis=0) - l_diag  # L̃ 1
    total = (
        trace_kl
        + k_rowsum.sum() * l_rowsum.sum() / ((n - 1) * (n - 2))
        - 2 / (n - 2) * (k_rowsum @ l_rowsum)
    )
    return float(total / (n * (n - 3)))


def linear_cka(X: np.ndarray, Y: np.ndarray, debiased: bool = False) -> float:
    """Linear CKA between X (n, d_x) and Y (n, d_y), rows = the same samples.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
        First feature matrix.
    Y : ndarray of shape (n_samples, n_features_y)
        Second feature matrix, same samples in the same order.
    debiased : bool, default=False
        Use the unbiased HSIC estimator (Song et al. 2012) instead of the biased one; needs at
        least 4 samples.

    Returns
    -------
    float
        CKA, dimensionless: 1 for feature spaces equal up to an orthogonal transform and an
        isotropic scaling; the debiased value is ≈ 0 for independent features.

    Raises
    ------
    DataError
        Invalid or mismatched features, fewer than 4 samples for the debiased estimator, or a
        feature matrix constant over the samples.
    """
    X = check_features(X, "CKA X")
    Y = check_features(Y, "CKA Y", X.shape[0])
    if debiased and X.shape[0] < 4:
        raise DataError(f"debiased CKA needs at least 4 samples, got {X.shape[0]}")
    X = X - X.mean(axis=0)
    Y = Y - Y.mean(axis=0)
    if debiased:
        cross = _unbiased_hsic(X, Y)
        self_x, self_y = _unbiased_hsic(X, X), _unbiased_hsic(Y, Y)
        denominator = np.sqrt(self_x * self_y) if min(self_x, self_y) > 0 else 0.0
    else:
        cross = np.linalg.norm(Y.T @ X) ** 2
        denominator = np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)
    if denominator <= 0:
        raise DataError("CKA: a feature matrix is constant over the samples; CKA is undefined")
    return float(cross / denominator)


def _check_neighbours(k: int, n_samples: int, what: str) -> None:
    """DataError naming ``what`` unless 0 < k < n_samples (neighbours other than the row)."""
    if not 0 < k < n_samples:
        raise DataError(f"{what}: k={k} must be in 1..{n_samples - 1} (n_samples - 1)")


def nearest_neighbors(X: np.ndarray, k: int) -> np.ndarray:
    """Indices (n, k) of the k nearest other rows of X (Euclidean), nearest first.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Feature matrix.
    k : int
        Neighbours per row, 1 … n_samples − 1.

    Returns
    -------
    ndarray of shape (n_samples, k)
        Row indices of each row's neighbours (the row itself excluded).

    Raises
    ------
    DataError
        ``k`` outside 1 … n_samples − 1.
    """
    _check_neighbours(k, X.shape[0], "mutual kNN")
    return NearestNeighbors(n_neighbors=k).fit(X).kneighbors(return_distance=False)


def neighbor_overlap(neighbors_x: np.ndarray, neighbors_y: np.ndarray) -> float:
    """Mean fraction of shared neighbours between two (n, k) neighbour-index arrays.

    Parameters
    ----------
    neighbors_x : ndarray of shape (n_samples, k)
        Neighbour indices in the first space (distinct per row).
    neighbors_y : ndarray of shape (n_samples, k)
        Neighbour indices in the second space.

    Returns
    -------
    float
        Mean over rows of |A ∩ B| / k, dimensionless in [0, 1].
    """
    # a row's k neighbours are distinct, so |A ∩ B| = number of entries of A found in B
    shared = (neighbors_x[:, :, None] == neighbors_y[:, None, :]).any(axis=2).sum(axis=1)
    return float(shared.mean() / neighbors_x.shape[1])


def mutual_knn(X: np.ndarray, Y: np.ndarray, k: int = 10) -> float:
    """Mutual k-nearest-neighbour alignment between X (n, d_x) and Y (n, d_y), in [0, 1].

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
        First feature matrix.
    Y : ndarray of shape (n_samples, n_features_y)
        Second feature matrix, same samples in the same order.
    k : int, default=10
        Neighbours per sample (itself excluded).

    Returns
    -------
    float
        Alignment, dimensionless: 1 = same neighbourhoods; random ≈ k/(n−1).

    Raises
    ------
    DataError
        Invalid or mismatched features, or ``k`` outside 1 … n_samples − 1.
    """
    X = check_features(X, "mutual kNN X")
    Y = check_features(Y, "mutual kNN Y", X.shape[0])
    return neighbor_overlap(nearest_neighbors(X, k), nearest_neighbors(Y, k))


def distance_ranks(X: np.ndarray) -> np.ndarray:
    """Ranks (n, n) of every row's Euclidean distances to the others.

    ``ranks[i, j]`` is 1 for i's nearest other row in X, n − 1 for the farthest and 0 for i
    itself (ties in input order).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Feature matrix.

    Returns
    -------
    ndarray of shape (n_samples, n_samples)
        Integer ranks, int32.
    """
    distances = pairwise_distances(X)
    np.fill_diagonal(distances, -np.inf)  # a row is its own 0th neighbour
    order = np.argsort(distances, axis=1, kind="stable")
    ranks = np.empty_like(order, dtype=np.int32)
    np.put_along_axis(ranks, order, np.arange(X.shape[0], dtype=np.int32)[None, :], axis=1)
    return ranks


def information_imbalance(ranks_x: np.ndarray, ranks_y: np.ndarray) -> float:
    """Information imbalance Δ(X → Y) (Glielmo et al., PNAS Nexus 2022) from distance ranks.

    Δ(X → Y) = 2/N · mean over i of r^Y_i(j_i), where j_i is i's nearest neighbour in X and
    r^Y_i(j) the rank of j among i's neighbours in Y (1 = nearest): 0 when X's nearest
    neighbours are Y's, about 1 when X says nothing about Y. Directional: a space that holds
    Y's information (Y plus more) has Δ(X → Y) small and Δ(Y → X) large.

    Parameters
    ----------
    ranks_x, ranks_y : ndarray of shape (n_samples, n_samples)
        :func:`distance_ranks` of X and of Y (the same samples in the same order).

    Returns
    -------
    float
        Δ(X → Y), dimensionless, in (0, 2).
    """
    n = ranks_x.shape[0]
    nearest_in_x = np.argmax(ranks_x == 1, axis=1)
    return float(2.0 / n * ranks_y[np.arange(n), nearest_in_x].mean())


def _unbiased_hsic_gram(K: np.ndarray, L: np.ndarray) -> float:
    """Unbiased HSIC (Song et al. 2012) of two n×n kernel matrices (diagonals ignored)."""
    n = K.shape[0]
    K, L = K.astype(np.float64), L.astype(np.float64)  # copies: the diagonals are zeroed
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    total = (
        (K * L.T).sum()
        + K.sum() * L.sum() / ((n - 1) * (n - 2))
        - 2 / (n - 2) * (K.sum(axis=0) @ L.sum(axis=1))
    )
    return float(total / (n * (n - 3)))


def _knn_mask(K: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask (n, n): j is among the k other rows with the largest kernel value K[i, j]."""
    scores = K.astype(np.float64, copy=True)
    np.fill_diagonal(scores, -np.inf)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    mask = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    return mask


@dataclass(frozen=True)
class KernelNeighbours:
    """What CKNNA needs of one feature space, computed once per space.

    Parameters
    ----------
    kernel : ndarray of shape (n_samples, n_samples)
        Linear kernel XXᵀ.
    mask : ndarray of shape (n_samples, n_samples)
        True where column j is among row i's k nearest neighbours (largest kernel values).
    self_hsic : float
        Unbiased HSIC of the masked kernel with itself.
    """

    kernel: np.ndarray
    mask: np.ndarray
    self_hsic: float

    @classmethod
    def of(cls, X: np.ndarray, k: int) -> KernelNeighbours:
        """The kernel neighbourhood of a feature space.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Feature matrix.
        k : int
            Neighbours per sample, 1 … n_samples − 1.

        Returns
        -------
        KernelNeighbours
            Its kernel, neighbour mask and self-HSIC.
        """
        _check_neighbours(k, X.shape[0], "CKNNA")
        kernel = X @ X.T
        mask = _knn_mask(kernel, k)
        # n = 2,000: 32 MB of kernel and 4 MB of mask a model
        return cls(kernel, mask, _unbiased_hsic_gram(mask * kernel, mask * kernel))


def cknna_of(x: KernelNeighbours, y: KernelNeighbours) -> float:
    """CKNNA of two spaces' kernel neighbourhoods (definition: :func:`cknna`).

    Parameters
    ----------
    x, y : KernelNeighbours
        The two spaces, the same samples in the same order.

    Returns
    -------
    float
        CKNNA, dimensionless (NaN when a space's masked kernel has zero HSIC).
    """
    shared = x.mask & y.mask
    cross = _unbiased_hsic_gram(np.where(shared, x.kernel, 0.0), np.where(shared, y.kernel, 0.0))
    own = x.self_hsic * y.self_hsic
    return float(cross / math.sqrt(own)) if own > 0 else float("nan")


def cknna(X: np.ndarray, Y: np.ndarray, k: int = 10) -> float:
    """Centred kernel nearest-neighbour alignment (CKNNA; Huh et al., ICML 2024).

    Linear kernels K = XXᵀ and L = YYᵀ; the mask keeps the pairs (i, j) where j is among i's
    k nearest neighbours in *both* spaces (neighbours by kernel value, as in the authors'
    code); CKNNA = HSIC(M∘K, M∘L) / sqrt(HSIC(M_K∘K, M_K∘K) · HSIC(M_L∘L, M_L∘L)) with
    unbiased HSIC, M = M_K ∘ M_L and M_K, M_L each space's own neighbour mask. It is CKA
    restricted to shared local neighbourhoods: 1 for identical (or rotated) representations.

    Parameters
    ----------
    X, Y : ndarray of shape (n_samples, n_features_*)
        Feature matrices of the same samples in the same order (n_samples > 3).
    k : int, default=10
        Neighbours per sample.

    Returns
    -------
    float
        CKNNA, dimensionless.
    """
    X = check_features(X, "CKNNA X")
    Y = check_features(Y, "CKNNA Y", X.shape[0])
    return cknna_of(KernelNeighbours.of(X, k), KernelNeighbours.of(Y, k))


SIMILARITY_COLUMNS = {
    "model_a": "first model",
    "model_b": "second model (both orders are listed; information_imbalance is directional)",
    "dataset": "dataset of the structures",
    "metric": (
        "cka (linear), cka_debiased (linear, unbiased HSIC), mutual_knn, cknna, or "
        "information_imbalance (Δ(model_a → model_b))"
    ),
    "value": (
        "dimensionless; CKA, CKNNA, mutual kNN: 1 = same up to rotation and scale / same "
        "neighbours; information imbalance: 0 = model_a's nearest neighbours are model_b's, "
        "about 1 = unrelated"
    ),
    "n_samples": "structures compared (CKNNA and information imbalance: at most rank_samples)",
    "k": "neighbours per structure for mutual_knn (empty for CKA)",
}


def rank_rows(n_samples: int, rank_samples: int | None, seed: int) -> np.ndarray:
    """Rows CKNNA and the information imbalance use.

    Each keeps 13 bytes × n² per model (distance ranks in int32, the kernel in float64, the
    neighbour mask) and the step keeps every model's, so they use at most ``rank_samples`` rows.

    Parameters
    ----------
    n_samples : int
        Rows compared by CKA and mutual kNN.
    rank_samples : int or None
        Most rows for the rank measures; None: all.
    seed : int
        Seed of the subset.

    Returns
    -------
    ndarray of shape (min(n_samples, rank_samples),)
        Row positions, sorted: all rows, or a seeded random subset.
    """
    if rank_samples is None or n_samples <= rank_samples:
        return np.arange(n_samples)
    return np.sort(np.random.default_rng(seed).choice(n_samples, rank_samples, replace=False))


def pairwise_similarity(
    names: Sequence[str],
    matrices: Sequence[np.ndarray],
    k: int,
    rank_samples: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """CKA, mutual kNN, CKNNA and the information imbalance of every ordered model pair.

    CKA comes biased and debiased; the diagonal is included. CKNNA and the information
    imbalance use at most ``rank_samples`` of the rows (:func:`rank_rows`).

    Parameters
    ----------
    names : sequence of str
        Model name of each matrix.
    matrices : sequence of ndarray of shape (n_samples, n_features_model)
        Feature matrices of the same samples in the same order (see
        :func:`atomprobe.analyses.feature_sets.align_rows`).
    k : int
        Neighbours per sample for mutual kNN and CKNNA.
    rank_samples : int or None, default=None
        Most rows for CKNNA and the information imbalance (a seeded random subset); None: all.
    seed : int, default=0
        Seed of that subset.

    Returns
    -------
    DataFrame
        One row per ordered model pair and metric, with the columns ``model_a``, ``model_b``,
        ``metric``, ``value`` (dimensionless), ``n_samples`` and ``k`` (None for CKA) of
        ``SIMILARITY_COLUMNS`` (all but ``dataset``).

    Raises
    ------
    DataError
        Invalid features or ``k`` (see :func:`linear_cka` and :func:`nearest_neighbors`).
    """
    neighbors = [
        nearest_neighbors(check_features(M, f"{name} features"), k)
        for name, M in zip(names, matrices, strict=True)
    ]
    ranked = rank_rows(len(matrices[0]), rank_samples, seed)
    ranks = [distance_ranks(M[ranked]) for M in matrices]
    kernels = [KernelNeighbours.of(np.asarray(M[ranked], dtype=np.float64), k) for M in matrices]
    rows = []
    for i, j in itertools.combinations_with_replacement(range(len(names)), 2):
        X, Y = matrices[i], matrices[j]
        values = {
            "cka": (linear_cka(X, Y), None, len(X)),
            "cka_debiased": (linear_cka(X, Y, debiased=True), None, len(X)),
            "mutual_knn": (neighbor_overlap(neighbors[i], neighbors[j]), k, len(X)),
            "cknna": (cknna_of(kernels[i], kernels[j]), k, len(ranked)),
        }
        for a, b in {(i, j), (j, i)}:
            imbalance = information_imbalance(ranks[a], ranks[b])
            directed = {"information_imbalance": (imbalance, 1, len(ranked))}
            rows += [
                {
                    "model_a": names[a],
                    "model_b": names[b],
                    "metric": metric,
                    "value": value,
                    "n_samples": n_used,
                    "k": k_used,
                }
                for metric, (value, k_used, n_used) in {**values, **directed}.items()
            ]
    return pd.DataFrame(rows)
