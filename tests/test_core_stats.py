"""The shared confidence interval against an independent scipy computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from atomprobe.errors import DataError
from atomprobe.stats import t_interval


def test_t_interval_matches_scipy():
    values = np.random.default_rng(0).normal(0.4, 0.1, size=7)
    mean, low, high, n = t_interval(values, level=0.9)
    expected = stats.t.interval(0.9, df=6, loc=values.mean(), scale=stats.sem(values))
    assert n == 7 and mean == pytest.approx(values.mean())
    assert (low, high) == pytest.approx(expected)


def test_t_interval_drops_nan_and_is_undefined_for_one_value():
    _, low, high, n = t_interval(np.array([0.5, np.nan]))
    assert n == 1 and np.isnan(low) and np.isnan(high)
    with pytest.raises(DataError, match="level"):
        t_interval(np.array([1.0, 2.0]), level=1.5)
