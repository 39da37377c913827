"""The one place where per-fold scores become a mean with a confidence interval.

Every table, figure and reproduction verdict goes through :func:`summarise` (one score column)
or :func:`paired_difference` (a difference of two conditions evaluated on the same folds), so the
numbers a reader sees anywhere in the outputs are computed the same way.

Confidence interval: Student-t over the ``n`` per-fold (× repeat) scores,
``mean ± t_{(1+level)/2, n-1} · s / sqrt(n)`` with the sample standard deviation ``s``.
Folds of one cross-validation share training rows, so this interval is somewhat too narrow
(Nadeau & Bengio 2003); it is the usual convention and it is the same for every model.
With ``n = 1`` the interval is undefined (NaN).

Beside the mean, every summary carries the median of the per-fold scores and the number of
folds (× repeats) below −1 (:func:`atomprobe.stats.median_and_blow_ups`): one fold where a probe
extrapolated far outside its training rows can drag a mean R² to −500 while the median stays
at 0.8, and a reader must see that, not just the mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from atomprobe.errors import DataError
from atomprobe.stats import median_and_blow_ups, t_interval

SUMMARY_COLUMNS = ("mean", "ci_low", "ci_high", "n", "median", "n_below_minus_one")


def _stats(values: np.ndarray, level: float) -> tuple:
    """``mean, ci_low, ci_high, n, median, n_below_minus_one`` of one group's scores (the
    median over the finite ones; −inf counts as below −1)."""
    values = np.asarray(values, dtype=float)
    return (*t_interval(values, level), *median_and_blow_ups(values))


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
    Frame with the ``by`` columns plus ``mean, ci_low, ci_high, n, median, n_below_minus_one``
    (n = number of scores; median over them; n_below_minus_one = how many are below −1).
    """
    missing = [c for c in (*by, value) if c not in scores.columns]
    if missing:
        raise DataError(f"cannot summarise scores: missing column(s) {missing}")
    by = list(by)
    if scores.empty:
        return pd.DataFrame(columns=[*by, *SUMMARY_COLUMNS])
    if not by:
        out = pd.DataFrame([_stats(scores[value].to_numpy(), level)], columns=list(SUMMARY_COLUMNS))
    else:
        rows = [
            (*(key if isinstance(key, tuple) else (key,)), *_stats(group[value].to_numpy(), level))
            for key, group in scores.groupby(by, sort=False, dropna=False)
        ]
        out = pd.DataFrame(rows, columns=[*by, *SUMMARY_COLUMNS])
    out[["n", "n_below_minus_one"]] = out[["n", "n_below_minus_one"]].astype(int)
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
