"""Pooling of per-atom features: segment sums, cumulants against scipy and known answers."""

from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from atomprobe.errors import DataError
from atomprobe.features.pooling import (
    central_moments,
    cumulant_pool,
    cumulants,
    pool,
)


def ragged(rng: np.random.Generator, sizes: list[int], d: int = 3):
    """Atom features (n_atoms, d) and a shuffled segment index for structures of ``sizes``."""
    segment = np.repeat(np.arange(len(sizes)), sizes)
    order = rng.permutation(len(segment))
    return rng.normal(size=(len(segment), d)), segment[order]


def cumulants_by_recursion(x: np.ndarray, order: int) -> np.ndarray:
    """κ_1..κ_order of a 1-D sample from its raw moments, κ_n = m_n − Σ C(n−1, m−1) κ_m m_{n−m}
    (an independent route to the closed formulas of paper B)."""
    raw = [np.mean(x**n) for n in range(order + 1)]
    kappa = [0.0]
    for n in range(1, order + 1):
        kappa.append(raw[n] - sum(comb(n - 1, m - 1) * kappa[m] * raw[n - m] for m in range(1, n)))
    return np.array(kappa[1:])


def test_mean_sum_max_match_pandas_groupby():
    rng = np.random.default_rng(0)
    F, segment = ragged(rng, [3, 1, 5, 2])
    grouped = pd.DataFrame(F).groupby(segment)
    for method in ("mean", "sum", "max"):
        expected = getattr(grouped, method)().to_numpy()
        np.testing.assert_allclose(pool(F, segment, method=method), expected, rtol=1e-12)


def test_central_moments_match_scipy_moment():
    rng = np.random.default_rng(1)
    F, segment = ragged(rng, [4, 7, 2, 9])
    mean, mu = central_moments(F, segment, max_order=8)
    for s in range(4):
        atoms = F[segment == s]
        np.testing.assert_allclose(mean[s], atoms.mean(axis=0), rtol=1e-12)
        for k in range(2, 9):
            np.testing.assert_allclose(mu[k][s], stats.moment(atoms, k, axis=0), atol=1e-12)


def test_cumulants_match_recursion_on_raw_moments():
    rng = np.random.default_rng(2)
    F, segment = ragged(rng, [6, 11, 3], d=2)
    kappa = cumulants(F, segment, order=8)
    for s in range(3):
        for j in range(2):
            expected = cumulants_by_recursion(F[segment == s, j], 8)
            np.testing.assert_allclose(kappa[:, s, j], expected, rtol=1e-8, atol=1e-10)


def test_cumulants_converge_to_kstat_and_to_uniform_distribution():
    """Population cumulants of a large sample: κ2..κ4 ≈ scipy's k-statistics, and κ_n of
    U(0, 1) ≈ B_n / n (1/12, 0, −1/120, 0, 1/252, 0, −1/240)."""
    x = np.random.default_rng(3).uniform(size=200_000)
    kappa = cumulants(x[:, None], np.zeros(len(x), dtype=int), order=8)[:, 0, 0]
    for n in (2, 3, 4):
        assert kappa[n - 1] == pytest.approx(stats.kstat(x, n), abs=1e-6)
    assert kappa[0] == pytest.approx(0.5, abs=3e-3)  # 4.6 standard errors of the mean
    uniform = np.array([1 / 12, 0, -1 / 120, 0, 1 / 252, 0, -1 / 240])
    np.testing.assert_allclose(kappa[1:], uniform, atol=3e-4)


def test_cumulant_pool_blocks_and_lower_orders_are_prefixes():
    rng = np.random.default_rng(4)
    F, segment = ragged(rng, [5, 2, 8], d=4)
    phi = cumulant_pool(F, segment, order=8)
    kappa = cumulants(F, segment, order=8)
    assert phi.shape == (3, 32)
    np.testing.assert_allclose(phi[:, :4], pool(F, segment, method="mean"))  # φ^(1) = mean
    np.testing.assert_allclose(phi[:, 8:12], np.cbrt(kappa[2]))  # block 3 = sign·|κ3|^(1/3)
    np.testing.assert_allclose(cumulant_pool(F, segment, order=3), phi[:, :12])


def test_pooling_is_invariant_to_atom_order_and_single_atoms_have_zero_higher_blocks():
    rng = np.random.default_rng(5)
    F, segment = ragged(rng, [6, 1, 4])
    permutation = rng.permutation(len(F))
    np.testing.assert_allclose(
        cumulant_pool(F[permutation], segment[permutation]), cumulant_pool(F, segment), atol=1e-12
    )
    single = np.flatnonzero(np.bincount(segment) == 1)[0]
    assert np.all(cumulant_pool(F, segment)[single, 3:] == 0)


@pytest.mark.parametrize(
    ("features", "segment", "message"),
    [
        (np.array([[np.nan], [1.0]]), np.array([0, 0]), "NaN"),
        (np.ones((3, 2)), np.array([0, 1]), "expected 3 integer"),
        (np.ones((3, 2)), np.array([0, 2, 2]), "structure 1 has no atoms"),
    ],
)
def test_bad_input_raises_one_line_data_error(features, segment, message):
    with pytest.raises(DataError, match=message) as error:
        cumulant_pool(features, segment)
    assert "\n" not in str(error.value)
