"""Intrinsic dimension of every model's pooled features, layer by layer.

The TwoNN estimator (Facco et al., Sci. Rep. 2017) of scikit-dimension (``skdim.id.TwoNN``):
from the ratio of each point's second- to first-nearest-neighbour distance. Its interval is
the estimate ± z · the bootstrap standard deviation over structures: each draw resamples the
rows with replacement and keeps each drawn row once (a repeated row would be its own nearest
neighbour at distance 0, which TwoNN cannot use); a draw so holds about 63 % of the rows, and
TwoNN depends a little on the number of points, so percentiles of the draws would be shifted
from the estimate while their spread is the sampling noise. Rows with identical features (e.g.
two identical molecules) are kept once for the same reason.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from atomprobe.errors import DataError

ID_COLUMNS = {
    "model": "model whose pooled features are measured",
    "dataset": "dataset of the structures",
    "layer": "layer index (pooled features, every atom_norm column of that layer)",
    "estimator": "twonn (Facco et al. 2017, skdim.id.TwoNN)",
    "value": "intrinsic dimension (dimensionless) on all distinct rows",
    "ci_low": "value − z · bootstrap standard deviation over structures (95 %)",
    "ci_high": "high end",
    "n_samples": "distinct rows measured",
    "n_bootstrap": "bootstrap draws",
}


def two_nn_dimension(
    X: np.ndarray, n_bootstrap: int = 20, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float, int]:
    """TwoNN intrinsic dimension of X (n, d) with a bootstrap interval.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Points (any units: the estimate is scale-free).
    n_bootstrap : int, default=20
        Bootstrap draws over rows (each drawn row kept once).
    seed : int, default=0
        Seed of the draws.
    level : float, default=0.95
        Interval coverage.

    Returns
    -------
    tuple of (float, float, float, int)
        Estimate on every distinct row, the interval's low and high ends, and the number of
        distinct rows.

    Raises
    ------
    DataError
        Fewer than 10 distinct rows, or non-finite values.
    """
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        raise DataError("intrinsic dimension: the features hold NaN or inf")
    X = np.unique(X, axis=0)
    if len(X) < 10:
        raise DataError(f"intrinsic dimension: {len(X)} distinct rows; need at least 10")
    import skdim  # here, not at the top: it imports matplotlib.pyplot (0.7 s of every job's start)

    estimate = float(skdim.id.TwoNN().fit(X).dimension_)
    rng = np.random.default_rng(seed)
    draws = [
        float(skdim.id.TwoNN().fit(X[np.unique(rng.integers(0, len(X), len(X)))]).dimension_)
        for _ in range(n_bootstrap)
    ]
    if len(draws) < 2:
        return estimate, np.nan, np.nan, len(X)
    half = float(stats.norm.ppf(0.5 + level / 2)) * float(np.std(draws, ddof=1))
    return estimate, estimate - half, estimate + half, len(X)


def shared_sample(ids: np.ndarray, n_samples: int, seed: int) -> np.ndarray:
    """Row positions of at most ``n_samples`` structures, the same structures for every model.

    Parameters
    ----------
    ids : ndarray of shape (n_rows,)
        Structure ids of one model's feature table, in file order.
    n_samples : int
        Most structures to keep.
    seed : int
        Seed of the draw (made over the sorted ids, so every model draws the same ones).

    Returns
    -------
    ndarray of shape (min(n_rows, n_samples),)
        Row positions in file order.
    """
    if len(ids) <= n_samples:
        return np.arange(len(ids))
    chosen = set(np.random.default_rng(seed).choice(np.sort(ids), n_samples, replace=False))
    return np.flatnonzero([i in chosen for i in ids])
