"""Composition matrices from atomic numbers, the 'composition' baseline of every CPD analysis.

Which encoding matches a representation follows from its pooling. If each atom's features
were a function of its element alone, h_i = w(Z_i), the pooled representation would be
Σ_e n_e w(e) under sum pooling (linear in the element counts n_e) and Σ_e (n_e / N) w(e) under
mean pooling (linear in the fractions n_e / N). The composition part a projection removes is
the span of the encoding, so ``auto`` (:func:`resolve_encoding`) picks the encoding in which that
element-only part is linear: :data:`ENCODING_OF_POOLING`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from atomprobe.errors import ConfigError, DataError

Encoding = Literal["counts", "fraction", "presence"]
ENCODINGS: tuple[str, ...] = ("counts", "fraction", "presence")
#: The config value that chooses the encoding from the features' pooling.
AUTO = "auto"
#: Pooling -> the encoding in which an element-only per-atom part of the pooled features is
#: linear. sum: Σ_e n_e w(e), counts. mean: Σ_e (n_e/N) w(e), fractions. max: max over the
#: elements present, blind to multiplicity, so a function of which elements occur: presence
#: (exact for one or two elements with the intercept; interactions of more are not linear in
#: any encoding). cumulants: every cumulant of the atoms' feature distribution is a function
#: of the element fractions (κ₁ is the mean, linear in them; higher orders are polynomials in
#: them), so fractions.
ENCODING_OF_POOLING: dict[str, str] = {
    "mean": "fraction",
    "sum": "counts",
    "max": "presence",
    "cumulants": "fraction",
}
#: Pooling assumed for features that record none (your own features): the extraction default.
DEFAULT_POOLING = "mean"


def resolve_encoding(encoding: str, pooling: str | None) -> str:
    """The composition encoding to use for features pooled with ``pooling``.

    Parameters
    ----------
    encoding : {"auto", "counts", "fraction", "presence"}
        The configured ``cpd.composition.encoding``; any value but ``auto`` is returned as is.
    pooling : str or None
        The pooling the features file records (metadata ``pooling``); None: not recorded, taken
        as :data:`DEFAULT_POOLING`.

    Returns
    -------
    str
        One of :data:`ENCODINGS`: ``ENCODING_OF_POOLING[pooling]`` for ``auto``.

    Raises
    ------
    ConfigError
        An unknown encoding, or ``auto`` with a pooling that has no rule.
    """
    if encoding != AUTO:
        if encoding not in ENCODINGS:
            raise ConfigError(
                f"cpd.composition.encoding {encoding!r} is unknown; use {AUTO} or one of "
                f"{ENCODINGS}"
            )
        return encoding
    pooling = DEFAULT_POOLING if pooling is None else pooling
    if pooling not in ENCODING_OF_POOLING:
        raise ConfigError(
            f"cpd.composition.encoding auto has no rule for pooling {pooling!r} (rules: "
            f"{ENCODING_OF_POOLING}); set cpd.composition.encoding to one of {ENCODINGS}"
        )
    return ENCODING_OF_POOLING[pooling]


def encode_counts(counts: np.ndarray, encoding: Encoding) -> np.ndarray:
    """Element counts in another encoding.

    Parameters
    ----------
    counts : ndarray of shape (n_structures, n_elements)
        Atoms of each element per structure (float64, every row with at least one atom).
    encoding : {"counts", "fraction", "presence"}
        ``counts`` returns ``counts`` itself; ``fraction`` divides each row by its atoms (rows
        sum to 1); ``presence`` is 1.0 where the count is > 0, else 0.0. All dimensionless.

    Returns
    -------
    ndarray of shape (n_structures, n_elements)
        The composition in ``encoding``, float64.

    Raises
    ------
    DataError
        An unknown encoding.
    """
    if encoding not in ENCODINGS:
        raise DataError(f"composition encoding {encoding!r} is unknown; use one of {ENCODINGS}")
    if encoding == "fraction":
        return counts / counts.sum(axis=1, keepdims=True)
    if encoding == "presence":
        return (counts > 0).astype(np.float64)
    return counts


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
    return encode_counts(counts, encoding), order.tolist()
