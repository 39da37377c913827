"""Composition matrices: identities and an independent count with collections.Counter."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from atomprobe.data.composition import composition_matrix
from atomprobe.errors import DataError

# CH4, H2O, C2H5OH (ethanol), NaCl (a periodic cell of 8 atoms)
STRUCTURES = [
    np.array([6, 1, 1, 1, 1]),
    np.array([8, 1, 1]),
    np.array([6, 6, 8, 1, 1, 1, 1, 1, 1]),
    np.array([11, 17] * 4),
]


def test_counts_match_an_independent_count():
    counts, elements = composition_matrix(STRUCTURES)
    assert elements == [1, 6, 8, 11, 17] and counts.dtype == np.float64
    expected = np.array([[Counter(z.tolist())[e] for e in elements] for z in STRUCTURES])
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_array_equal(counts.sum(axis=1), [len(z) for z in STRUCTURES])


def test_fraction_and_presence_follow_from_counts():
    counts, _ = composition_matrix(STRUCTURES)
    fraction, _ = composition_matrix(STRUCTURES, encoding="fraction")
    presence, _ = composition_matrix(STRUCTURES, encoding="presence")
    np.testing.assert_allclose(fraction.sum(axis=1), 1.0)
    np.testing.assert_allclose(fraction * counts.sum(axis=1, keepdims=True), counts)
    np.testing.assert_array_equal(presence, (counts > 0).astype(float))
    assert fraction[3].tolist() == [0.0, 0.0, 0.0, 0.5, 0.5]


def test_given_element_order_is_kept_with_empty_columns():
    counts, elements = composition_matrix(STRUCTURES[:2], elements=[9, 8, 6, 1])
    assert elements == [9, 8, 6, 1]
    np.testing.assert_array_equal(counts, [[0, 0, 1, 4], [0, 1, 0, 2]])


def test_bad_input_is_one_line_error():
    with pytest.raises(DataError, match=r"atomic numbers \[8\] are not in the given elements"):
        composition_matrix(STRUCTURES[:2], elements=[1, 6])
    with pytest.raises(DataError, match="encoding 'onehot' is unknown"):
        composition_matrix(STRUCTURES, encoding="onehot")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="no atoms"):
        composition_matrix([np.array([1]), np.array([], dtype=int)])
    with pytest.raises(DataError, match="duplicates"):
        composition_matrix(STRUCTURES[:1], elements=[1, 6, 1])
