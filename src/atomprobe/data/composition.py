"""Composition matrices from atomic numbers, the 'composition' baseline of every CPD analysis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from atomprobe.errors import DataError

Encoding = Literal["counts", "fraction", "presence"]
ENCODINGS: tuple[str, ...] = ("counts", "fraction", "presence")


def composition_matrix(
    numbers: Sequence[Sequence[int] | np.ndarray],
    elements: Sequence[int] | None = None,
    encoding: Encoding = "counts",
) -> tuple[np.ndarray, list[int]]:
    """Element composition of each structure.

    Parameters
    ----------
    numbers : sequence of array_like of int
        One integer array of atomic numbers per structure (any length ≥ 1).
    elements : sequence of int or None, default=None
        Column order as atomic numbers; default: the sorted union of all elements.
        Passing it fixes the columns across data sets; an atom outside it is an error.
    encoding : {"counts", "fraction", "presence"}, default="counts"
        ``counts`` (atoms of each element), ``fraction`` (counts / n_atoms, rows sum
        to 1) or ``presence`` (1.0 where the element occurs, else 0.0); all dimensionless.

    Returns
    -------
    C : ndarray of shape (n_structures, n_elements)
        The composition, float64.
    elements : list of int
        The n_elements atomic numbers that label the columns of ``C``.

    Raises
    ------
    DataError
        An unknown encoding, no structures, a structure without atoms, duplicate ``elements``,
        or an atom whose element is not in ``elements``.
    """
    if encoding not in ENCODINGS:
        raise DataError(f"composition encoding {encoding!r} is unknown; use one of {ENCODINGS}")
    arrays = [np.asarray(z, dtype=np.int64).ravel() for z in numbers]
    if not arrays:
        raise DataError("composition_matrix got no structures; pass at least one")
    if any(a.size == 0 for a in arrays):
        raise DataError("composition_matrix got a structure with no atoms; drop empty rows")
    lengths = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
    flat = np.concatenate(arrays)
    order = np.unique(flat) if elements is None else np.asarray(list(elements), dtype=np.int64)
    if order.size != np.unique(order).size:
        raise DataError(f"composition elements {order.tolist()} contain duplicates")
    sorter = np.argsort(order)
    slot = np.searchsorted(order, flat, sorter=sorter).clip(max=order.size - 1)
    column = sorter[slot]
    unknown = order[column] != flat
    if unknown.any():
        missing = sorted(set(flat[unknown].tolist()))
        raise DataError(
            f"atomic numbers {missing} are not in the given elements {order.tolist()}; "
            "add them or drop those structures"
        )
    row = np.repeat(np.arange(len(arrays)), lengths)
    counts = np.zeros((len(arrays), order.size), dtype=np.float64)
    np.add.at(counts, (row, column), 1.0)
    if encoding == "fraction":
        counts /= lengths[:, None]
    elif encoding == "presence":
        counts = (counts > 0).astype(np.float64)
    return counts, order.tolist()
