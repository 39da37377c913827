"""Confidence intervals shared by every stage (CPD summaries, tables, figures, verdicts)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from atomprobe.errors import DataError

#: A per-fold R² below this counts as a blown-up fold: worse than predicting the test mean by
#: more than the target's whole variance.
BLOW_UP_R2 = -1.0


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and two-sided Student-t confidence interval of ``values`` (1-D, NaN dropped).

    Parameters
    ----------
    values : ndarray of shape (n_values,)
        Values (any unit); NaN and inf are dropped.
    level : float, default=0.95
        Confidence level, strictly between 0 and 1 (dimensionless).

    Returns
    -------
    mean : float
        Mean of the finite values (NaN when none remain), in the unit of ``values``.
    ci_low : float
        Lower bound; NaN when fewer than two values remain.
    ci_high : float
        Upper bound; NaN when fewer than two values remain.
    n : int
        Number of finite values.

    Raises
    ------
    DataError
        ``level`` not strictly between 0 and 1.
    """
    if not 0.0 < level < 1.0:
        raise DataError(f"confidence level {level!r} must lie strictly between 0 and 1")
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    n = int(finite.size)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(finite.mean())
    if n == 1:
        return mean, float("nan"), float("nan"), 1
    half_width = stats.t.ppf(0.5 + level / 2.0, df=n - 1) * finite.std(ddof=1) / np.sqrt(n)
    return mean, mean - float(half_width), mean + float(half_width), n


def median_and_blow_ups(values: np.ndarray) -> tuple[float, int]:
    """Median of the per-fold scores and how many of them blew up (below :data:`BLOW_UP_R2`).

    Shown beside every mean R² (tables, CPD summaries, the reproduction report): one blown-up
    fold can drag a mean to −500 while the median stays at 0.8.

    Parameters
    ----------
    values : ndarray of shape (n_values,)
        Per-fold scores (R², dimensionless).

    Returns
    -------
    median : float
        Median of the finite values (NaN when there are none).
    n_below : int
        Number of values below :data:`BLOW_UP_R2` (−inf included, NaN not).
    """
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    median = float(np.median(finite)) if finite.size else np.nan
    return median, int(np.count_nonzero(values < BLOW_UP_R2))
