"""Pool per-atom features into one vector per structure: mean, sum, max and cumulants.

Every function takes the atom features ``F`` (n_atoms, d) and ``segment`` (n_atoms,), the
0-based index of each atom's structure in ``0..n_structures-1`` (atoms need not be grouped or
sorted), and returns one row per structure. All work is vectorised over structures: atoms are
sorted once by structure and every per-structure sum is a segment sum (``np.add.reduceat``).

Cumulant pooling (paper B, arXiv 2512.05717): per structure and feature column, the population
central moments μ_k of the atom features give the cumulants κ_1..κ_K (formulas in
:data:`CUMULANT_FORMULAS`); block m is ``sign(κ_m) |κ_m|^(1/m)`` (same units as the features) and
``φ^(K) = concat(block 1, …, block K)``, so ``φ^(1)`` is mean pooling and the first ``K'·d``
columns of ``φ^(K)`` are ``φ^(K')``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atomprobe.errors import ConfigError, DataError

POOLING_METHODS = ("mean", "sum", "max")
#: Poolings that commute with a rotation of the m-components of an L>=1 channel (the same
#: D(R) acts on every atom): the ones vector-aware pooling (pool the components, then the
#: norm; :func:`atomprobe.features.extract.pooled_norm`) is defined for.
LINEAR_POOLINGS = ("mean", "sum")
MAX_CUMULANT_ORDER = 8

# kappa_m as a function of the population central moments mu[2..8] (mu[1] = 0 by definition).
# kappa_8 uses the textbook coefficients 560 mu2 mu3^2 + 420 mu2^2 mu4 (they make every
# cumulant of order >= 3 of a Gaussian vanish). Paper B's authors' public cumulant script has
# the two swapped (420 mu2 mu3^2 + 560 mu2^2 mu4), which would give a Gaussian
# kappa_8 = 420 sigma^8 instead of 0; ours is the textbook formula.
CUMULANT_FORMULAS: dict[int, Callable[[dict[int, np.ndarray]], np.ndarray]] = {
    2: lambda mu: mu[2],
    3: lambda mu: mu[3],
    4: lambda mu: mu[4] - 3 * mu[2] ** 2,
    5: lambda mu: mu[5] - 10 * mu[2] * mu[3],
    6: lambda mu: mu[6] - 15 * mu[2] * mu[4] - 10 * mu[3] ** 2 + 30 * mu[2] ** 3,
    7: lambda mu: mu[7] - 21 * mu[2] * mu[5] - 35 * mu[3] * mu[4] + 210 * mu[2] ** 2 * mu[3],
    8: lambda mu: (
        mu[8]
        - 28 * mu[2] * mu[6]
        - 56 * mu[3] * mu[5]
        - 35 * mu[4] ** 2
        + 560 * mu[2] * mu[3] ** 2
        + 420 * mu[2] ** 2 * mu[4]
        - 630 * mu[2] ** 4
    ),
}


class _Segments:
    """Atoms sorted by structure, ready for segment sums.

    ``order`` (n_atoms,) sorts the atoms by structure; ``starts`` (n_structures,) is the first
    sorted row of each structure; ``counts`` (n_structures,) its number of atoms.
    """

    def __init__(self, segment: np.ndarray, n_atoms: int, n_structures: int | None) -> None:
        segment = np.asarray(segment)
        if segment.shape != (n_atoms,) or not np.issubdtype(segment.dtype, np.integer):
            raise DataError(
                f"segment: expected {n_atoms} integer structure indices (one per atom), "
                f"got shape {segment.shape} dtype {segment.dtype}"
            )
        if n_atoms == 0:
            raise DataError("pooling: no atoms given; pass at least one atom per structure")
        if segment.min() < 0:
            raise DataError("segment: structure indices must be >= 0")
        if n_structures is None:
            n_structures = int(segment.max()) + 1
        if segment.max() >= n_structures:
            raise DataError(f"segment: index {int(segment.max())} >= n_structures={n_structures}")
        self.counts = np.bincount(segment, minlength=n_structures)
        if (self.counts == 0).any():
            empty = int(np.flatnonzero(self.counts == 0)[0])
            raise DataError(
                f"segment: structure {empty} has no atoms; renumber structures 0..n-1 "
                "without gaps (e.g. with np.unique(..., return_inverse=True))"
            )
        self.order = np.argsort(segment, kind="stable")
        self.sorted_segment = segment[self.order]
        self.starts = np.concatenate(([0], np.cumsum(self.counts)[:-1]))

    def sum(self, sorted_values: np.ndarray) -> np.ndarray:
        """Per-structure sums of rows already in sorted order: (n_structures, d)."""
        return np.add.reduceat(sorted_values, self.starts, axis=0)


def _check_features(F: np.ndarray) -> np.ndarray:
    F = np.asarray(F)
    if F.ndim != 2:
        raise DataError(f"atom features: expected a 2-D array (n_atoms, d), got shape {F.shape}")
    if not np.isfinite(F).all():
        raise DataError("atom features: contain NaN or inf; check the model outputs")
    return F.astype(np.float64, copy=False)


def pool(
    F: np.ndarray, segment: np.ndarray, n_structures: int | None = None, method: str = "mean"
) -> np.ndarray:
    """Mean, sum or max of the atom features of each structure: (n_structures, d) float64.

    Parameters
    ----------
    F : ndarray of shape (n_atoms, n_features)
        Per-atom features (finite; units of the model's features).
    segment : ndarray of shape (n_atoms,)
        Integer index of each atom's structure, 0 … n_structures − 1; every structure has at
        least one atom (atoms need not be grouped or sorted).
    n_structures : int or None, default=None
        Number of structures; None for ``segment.max() + 1``.
    method : {"mean", "sum", "max"}, default="mean"
        Pooling method.

    Returns
    -------
    ndarray of shape (n_structures, n_features)
        Pooled features, float64, in the units of the features.

    Raises
    ------
    DataError
        Non-finite or non-2-D features, a bad ``segment`` (wrong shape or dtype, negative,
        out of range, or a structure without atoms) or an unknown method.
    """
    if method not in POOLING_METHODS:
        raise DataError(f"pooling method {method!r}: expected one of {POOLING_METHODS}")
    F = _check_features(F)
    seg = _Segments(segment, F.shape[0], n_structures)
    sorted_F = F[seg.order]
    if method == "max":
        return np.maximum.reduceat(sorted_F, seg.starts, axis=0)
    sums = seg.sum(sorted_F)
    return sums if method == "sum" else sums / seg.counts[:, None]


def central_moments(
    F: np.ndarray, segment: np.ndarray, n_structures: int | None = None, max_order: int = 8
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Per-structure mean and population central moments of the atom features.

    ``μ_k = (1/n) Σ_atoms (f − mean)^k`` (two-pass: deviations from the structure mean first).

    Parameters
    ----------
    F : ndarray of shape (n_atoms, n_features)
        Per-atom features (finite; units of the model's features).
    segment : ndarray of shape (n_atoms,)
        Integer index of each atom's structure, 0 … n_structures − 1; every structure has at
        least one atom (atoms need not be grouped or sorted).
    n_structures : int or None, default=None
        Number of structures; None for ``segment.max() + 1``.
    max_order : int, default=8
        Highest moment order.

    Returns
    -------
    mean : ndarray of shape (n_structures, n_features)
        Per-structure mean, float64, in the units of the features.
    moments : dict of int to ndarray of shape (n_structures, n_features)
        ``{k: μ_k for k = 2 … max_order}``, float64, in units of the features to the power k.

    Raises
    ------
    DataError
        Non-finite or non-2-D features, a bad ``segment`` (wrong shape or dtype, negative,
        out of range, or a structure without atoms).
    """
    F = _check_features(F)
    seg = _Segments(segment, F.shape[0], n_structures)
    sorted_F = F[seg.order]
    n = seg.counts[:, None].astype(np.float64)
    mean = seg.sum(sorted_F) / n
    deviation = sorted_F - mean[seg.sorted_segment]
    power = deviation.copy()
    moments = {}
    for k in range(2, max_order + 1):
        power *= deviation
        moments[k] = seg.sum(power) / n
    return mean, moments


def cumulants(
    F: np.ndarray, segment: np.ndarray, n_structures: int | None = None, order: int = 8
) -> np.ndarray:
    """Cumulants κ_1..κ_order of each structure's atom features: (order, n_structures, d).

    κ_1 is the mean; κ_m (m ≥ 2) follow :data:`CUMULANT_FORMULAS` from the population central
    moments. A structure with one atom has κ_m = 0 for every m ≥ 2.

    Parameters
    ----------
    F : ndarray of shape (n_atoms, n_features)
        Per-atom features (finite; units of the model's features).
    segment : ndarray of shape (n_atoms,)
        Integer index of each atom's structure, 0 … n_structures − 1; every structure has at
        least one atom (atoms need not be grouped or sorted).
    n_structures : int or None, default=None
        Number of structures; None for ``segment.max() + 1``.
    order : int, default=8
        Highest cumulant order, 1 … ``MAX_CUMULANT_ORDER``.

    Returns
    -------
    ndarray of shape (order, n_structures, n_features)
        κ_m in row m − 1, float64, in units of the features to the power m.

    Raises
    ------
    DataError
        Non-finite or non-2-D features, a bad ``segment`` (wrong shape or dtype, negative,
        out of range, or a structure without atoms), or an order outside 1 … MAX_CUMULANT_ORDER.
    """
    if not 1 <= order <= MAX_CUMULANT_ORDER:
        raise DataError(f"cumulant order {order}: expected 1..{MAX_CUMULANT_ORDER}")
    mean, mu = central_moments(F, segment, n_structures, max_order=order)
    return np.stack([mean, *(CUMULANT_FORMULAS[m](mu) for m in range(2, order + 1))])


def cumulant_pool(
    F: np.ndarray, segment: np.ndarray, n_structures: int | None = None, order: int = 8
) -> np.ndarray:
    """Cumulant pooling φ^(order): (n_structures, order·d) float64.

    Columns ``[(m−1)·d, m·d)`` hold block m = ``sign(κ_m) |κ_m|^(1/m)`` for m = 1..order.
    Paper B drops single-atom structures (their blocks m ≥ 2 are 0); do that with
    ``np.bincount(segment) > 1`` before or after pooling.

    Parameters
    ----------
    F : ndarray of shape (n_atoms, n_features)
        Per-atom features (finite; units of the model's features).
    segment : ndarray of shape (n_atoms,)
        Integer index of each atom's structure, 0 … n_structures − 1; every structure has at
        least one atom (atoms need not be grouped or sorted).
    n_structures : int or None, default=None
        Number of structures; None for ``segment.max() + 1``.
    order : int, default=8
        Highest cumulant order K, 1 … ``MAX_CUMULANT_ORDER``.

    Returns
    -------
    ndarray of shape (n_structures, order * n_features)
        φ^(K), float64, in the units of the features (every block is rescaled by its m-th root).

    Raises
    ------
    DataError
        Non-finite or non-2-D features, a bad ``segment`` (wrong shape or dtype, negative,
        out of range, or a structure without atoms), or an order outside 1 … MAX_CUMULANT_ORDER.
    """
    kappa = cumulants(F, segment, n_structures, order)
    blocks = [np.sign(k) * np.abs(k) ** (1.0 / m) for m, k in enumerate(kappa, start=1)]
    return np.concatenate(blocks, axis=1)


def check_vector_pooling(method: str) -> None:
    """Check that vector-aware pooling is defined for a pooling method.

    Parameters
    ----------
    method : str
        ``features.pooling``; mean and sum (:data:`LINEAR_POOLINGS`) pass.

    Raises
    ------
    ConfigError
        Max or cumulant pooling, in one line naming both keys and the fix.
    """
    if method not in LINEAR_POOLINGS:
        raise ConfigError(
            f"features.pooling: {method!r} with features.pooled_norm: true; vector-aware pooling "
            f"needs {LINEAR_POOLINGS} (others do not commute with rotations), or set "
            "features.pooled_norm: false"
        )
