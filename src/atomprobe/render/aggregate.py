"""The one place where per-fold scores become a mean with a confidence interval.

Every table, figure and reproduction verdict goes through :func:`summarise` (one score column)
or :func:`paired_difference` (a difference of two conditions evaluated on the same folds), so the
numbers a reader sees anywhere in the outputs are computed the same way.

Confidence interval: Student-t over the ``n`` per-fold (× repeat) scores,
``mean ± t_{(1+level)/2, n-1} · s / sqrt(n)`` with the sample standard deviation ``s``.
Folds of one cross-validation share training rows, so this interval is somewhat too narrow
(Nadeau & Bengio 2003); it is the usual convention and it is the same for every model.
With ``n = 1`` the interval is undefined (NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from atomprobe.errors import DataError

SUMMARY_COLUMNS = ("mean", "ci_low", "ci_high", "n")


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


def summarise(
    scores: pd.DataFrame, by: Sequence[str], value: str = "r2", level: float = 0.95
) -> pd.DataFrame:
    """Collapse per-fold rows to one row per group of ``by``.

    Parameters
    ----------
    scores : tidy frame with the columns ``by`` and ``value`` (one row per repeat × fold).
    by : grouping columns (e.g. ``["model", "target", "representation"]``).
    value : the score column to summarise.
    level : confidence level of the interval.

    Returns
    -------
    Frame with the ``by`` columns plus ``mean, ci_low, ci_high, n`` (n = number of scores).
    """
    missing = [c for c in (*by, value) if c not in scores.columns]
    if missing:
        raise DataError(f"cannot summarise scores: missing column(s) {missing}")
    by = list(by)
    if scores.empty:
        return pd.DataFrame(columns=[*by, *SUMMARY_COLUMNS])
    if not by:
        return pd.DataFrame(
            [t_interval(scores[value].to_numpy(), level)], columns=list(SUMMARY_COLUMNS)
        )
    rows = [
        (*(key if isinstance(key, tuple) else (key,)), *t_interval(group[value].to_numpy(), level))
        for key, group in scores.groupby(by, sort=False, dropna=False)
    ]
    out = pd.DataFrame(rows, columns=[*by, *SUMMARY_COLUMNS])
    out["n"] = out["n"].astype(int)
    return out


def paired_difference(
    scores: pd.DataFrame,
    by: Sequence[str],
    condition: str,
    minuend: object,
    subtrahend: object,
    pair_on: Sequence[str] = ("repeat", "fold"),
    value: str = "r2",
    level: float = 0.95,
) -> pd.DataFrame:
    """Summarise ``value[minuend] - value[subtrahend]`` paired on the same folds.

    Rows whose ``condition`` column equals ``minuend`` are matched to rows equal to
    ``subtrahend`` on ``by`` + ``pair_on`` (inner join: folds present in only one condition are
    dropped); the per-fold differences are then summarised like :func:`summarise`.
    """
    keys = [*by, *pair_on]
    missing = [c for c in (*keys, condition, value) if c not in scores.columns]
    if missing:
        raise DataError(f"cannot pair scores: missing column(s) {missing}")
    left = scores.loc[scores[condition] == minuend, [*keys, value]]
    right = scores.loc[scores[condition] == subtrahend, [*keys, value]]
    for side, label in ((left, minuend), (right, subtrahend)):
        if side.duplicated(keys).any():
            raise DataError(
                f"cannot pair scores: several rows for one fold of {condition}={label!r}; "
                f"add the distinguishing column to 'by'"
            )
    merged = left.merge(right, on=keys, suffixes=("_a", "_b"))
    merged["difference"] = merged[f"{value}_a"] - merged[f"{value}_b"]
    return summarise(merged, by, value="difference", level=level)
