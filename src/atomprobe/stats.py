"""Confidence intervals shared by every stage (CPD summaries, tables, figures, verdicts)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from atomprobe.errors import DataError


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and two-sided Student-t confidence interval of ``values`` (1-D, NaN dropped).

    Returns ``(mean, ci_low, ci_high, n)``; the bounds are NaN when fewer than two values remain.
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
