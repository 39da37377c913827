"""Read the structure tables ``results/data/{dataset}.parquet`` and iterate their structures.

The table layout is fixed in ``docs/formats.md``: one row per structure with ``id``,
``formula``, ``numbers``, ``positions`` (Å), ``cell`` (Å, null for molecules), ``pbc`` and the
target columns listed (with units) in the metadata ``targets``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import ase
import numpy as np
import pandas as pd
import pyarrow as pa
from ase.data import chemical_symbols

from atomprobe.errors import DataError
from atomprobe.io import read_parquet

STRUCTURE_COLUMNS = ("id", "formula", "numbers", "positions", "cell", "pbc")


@dataclass(frozen=True)
class StructureArrays:
    """One structure as plain arrays.

    Parameters
    ----------
    id : str
        Structure id.
    numbers : ndarray of shape (n_atoms,)
        Atomic numbers, int64.
    positions : ndarray of shape (n_atoms, 3)
        Cartesian coordinates, float64, Å.
    cell : ndarray of shape (3, 3) or None
        Lattice vectors as rows, float64, Å; None for molecules.
    pbc : bool
        Whether the structure is periodic.

    Attributes
    ----------
    id : str
        Structure id.
    numbers : ndarray of shape (n_atoms,)
        Atomic numbers, int64.
    positions : ndarray of shape (n_atoms, 3)
        Cartesian coordinates, float64, Å.
    cell : ndarray of shape (3, 3) or None
        Lattice vectors as rows, float64, Å; None for molecules.
    pbc : bool
        Whether the structure is periodic.
    """

    id: str
    numbers: np.ndarray  # (n_atoms,) int64 atomic numbers
    positions: np.ndarray  # (n_atoms, 3) float64 Cartesian coordinates, Å
    cell: np.ndarray | None  # (3, 3) float64 lattice vectors as rows, Å; None for molecules
    pbc: bool


MAX_Z = 118


def check_atomic_numbers(numbers: np.ndarray, what: str) -> None:
    """Raise a one-line DataError unless ``numbers`` are integers in 1..118.

    Parameters
    ----------
    numbers : ndarray of shape (n_atoms,)
        Atomic numbers.
    what : str
        The structure (id) or caller named in the message.

    Raises
    ------
    DataError
        Empty, non-integer (6.7) or outside 1–118 (0, −3, 200).
    """
    if numbers.size == 0:
        raise DataError(f"{what}: no atoms")
    if not np.issubdtype(numbers.dtype, np.integer):
        if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
            raise DataError(f"{what}: atomic numbers must be integers, got {numbers.tolist()[:5]}")
    if numbers.min() < 1 or numbers.max() > MAX_Z:
        raise DataError(f"{what}: atomic numbers outside 1-{MAX_Z}: {numbers.tolist()[:5]}")


def check_positions(positions: np.ndarray, what: str) -> None:
    """Raise a one-line DataError unless ``positions`` (n_atoms, 3), Å, are finite and no two
    atoms coincide (closer than 1e-3 Å).

    Parameters
    ----------
    positions : ndarray of shape (n_atoms, 3)
        Cartesian coordinates, Å.
    what : str
        The structure (id) named in the message.

    Raises
    ------
    DataError
        NaN or infinite coordinates, a wrong shape, or coincident atoms.
    """
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise DataError(f"{what}: positions must be (n_atoms, 3), got {positions.shape}")
    if not np.isfinite(positions).all():
        raise DataError(f"{what}: NaN or infinite positions")
    if len(positions) > 1:
        gaps = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
        np.fill_diagonal(gaps, np.inf)
        if gaps.min() < COINCIDENT_ATOMS:
            raise DataError(f"{what}: two atoms closer than {COINCIDENT_ATOMS} Å (coincident)")


COINCIDENT_ATOMS = 1e-3  # Å

# |det(cell)| / (|a| |b| |c|): 1 for an orthogonal cell, the product of the angles' sines
# otherwise; the reduced cells of real crystals lie above 0.1. Below this a cell's vectors are
# (numerically) coplanar, its volume zero: the cell is singular.
SINGULAR_CELL = 1e-6


def check_cell(cell: np.ndarray, what: str) -> None:
    """Raise a one-line DataError unless ``cell`` (3, 3), Å, rows the lattice vectors, is finite
    and not singular (normalised volume ``|det| / (|a||b||c|)`` at least :data:`SINGULAR_CELL`).

    Parameters
    ----------
    cell : ndarray of shape (3, 3)
        Lattice vectors as rows, Å.
    what : str
        The structure (id) named in the message.

    Raises
    ------
    DataError
        NaN or infinite entries, a zero-length vector, or (numerically) coplanar vectors.
    """
    if not np.isfinite(cell).all():
        raise DataError(f"{what}: NaN or infinite cell {cell.tolist()}; fix the lattice vectors")
    lengths = np.linalg.norm(cell, axis=1)
    volume = abs(float(np.linalg.det(cell)))
    if lengths.min() == 0 or volume / float(np.prod(lengths)) < SINGULAR_CELL:
        raise DataError(
            f"{what}: the cell is singular (volume {volume:.3g} Å^3, lattice vectors "
            f"{cell.round(4).tolist()} are coplanar); fix the lattice vectors"
        )


def hill_formula(numbers: Sequence[int] | np.ndarray) -> str:
    """Hill formula (C, then H, then the others alphabetically), e.g. ``C7H10O2``.

    Without carbon every element, H included, is alphabetical (``H2O``, ``H3N``). Written out
    here rather than with ``ase.formula.Formula`` (5x slower, 25 s of a 130k-molecule build);
    the tests check it against ase.

    Parameters
    ----------
    numbers : sequence of int or ndarray of shape (n_atoms,)
        Atomic numbers of the structure's atoms.

    Returns
    -------
    str
        The Hill formula; counts of 1 are left out.
    """
    numbers = np.asarray(numbers)
    check_atomic_numbers(numbers, "hill_formula")
    elements, counts = np.unique(numbers.astype(np.int64), return_counts=True)
    count_of = {chemical_symbols[z]: int(n) for z, n in zip(elements, counts, strict=True)}
    first = [s for s in ("C", "H") if s in count_of] if "C" in count_of else []
    order = first + sorted(symbol for symbol in count_of if symbol not in first)
    return "".join(s if count_of[s] == 1 else f"{s}{count_of[s]}" for s in order)


def load_structures(path: str | os.PathLike[str], ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a structure table; with ``ids``, only those rows, in the order given.

    The frame's ``attrs["atomprobe"]`` holds the file's metadata (``dataset``, ``targets`` with
    units, ``source``, provenance).

    Parameters
    ----------
    path : str or os.PathLike
        Structure table ``results/data/{dataset}.parquet`` (layout in ``docs/formats.md``).
    ids : sequence of str or None, default=None
        Structure ids to keep, in this order; None for every row in file order.

    Returns
    -------
    DataFrame
        One row per structure with ``id``, ``formula``, ``numbers``, ``positions`` (Å), ``cell``
        (Å, null for molecules), ``pbc`` and the target columns.

    Raises
    ------
    DataError
        The file is not a structure table, or a requested id is absent.
    """
    df, meta = read_parquet(path)
    missing_columns = [c for c in STRUCTURE_COLUMNS if c not in df.columns]
    if missing_columns:
        raise DataError(
            f"{path}: not a structure table (missing columns {missing_columns}); rebuild it "
            "with the rule of its dataset's source (qm9, mp or structures_from_file)"
        )
    if ids is not None:
        wanted = list(ids)
        df = df.set_index("id", drop=False)
        absent = [i for i in wanted if i not in df.index]
        if absent:
            raise DataError(f"{path}: {len(absent)} requested ids are absent, e.g. {absent[:3]}")
        df = df.loc[wanted].reset_index(drop=True)
    df.attrs["atomprobe"] = meta
    return df


def iter_arrays(df: pd.DataFrame) -> Iterator[StructureArrays]:
    """Yield each row of a structure table as :class:`StructureArrays`.

    Parameters
    ----------
    df : DataFrame
        Structure table with the columns ``id``, ``numbers``, ``positions``, ``cell`` and ``pbc``
        (as from :func:`load_structures`).

    Yields
    ------
    StructureArrays
        One structure per row, in row order (positions and cell in Å).
    """
    for sid, numbers, positions, cell, pbc in zip(
        df["id"], df["numbers"], df["positions"], df["cell"], df["pbc"], strict=True
    ):
        yield StructureArrays(
            id=sid,
            numbers=np.asarray(numbers, dtype=np.int64),
            positions=np.stack(positions).astype(np.float64),
            cell=None if cell is None else np.stack(cell).astype(np.float64),
            pbc=bool(pbc),
        )


def to_atoms(structure: StructureArrays) -> ase.Atoms:
    """The structure as ``ase.Atoms`` (``info["id"]`` holds its id).

    Parameters
    ----------
    structure : StructureArrays
        The structure (positions and cell in Å).

    Returns
    -------
    ase.Atoms
        Atoms with the same numbers, positions (Å), cell (Å) and pbc.
    """
    atoms = ase.Atoms(
        numbers=structure.numbers,
        positions=structure.positions,
        cell=structure.cell,
        pbc=structure.pbc,
    )
    atoms.info["id"] = structure.id
    return atoms


def iter_atoms(df: pd.DataFrame) -> Iterator[ase.Atoms]:
    """Yield each row of a structure table as ``ase.Atoms``.

    Parameters
    ----------
    df : DataFrame
        Structure table (as from :func:`load_structures`).

    Yields
    ------
    ase.Atoms
        One structure per row, in row order, with ``info["id"]`` set (see :func:`to_atoms`).
    """
    for structure in iter_arrays(df):
        yield to_atoms(structure)


def ragged_column(arrays: Sequence[np.ndarray], value_type: pa.DataType) -> pd.Series:
    """Pack per-structure arrays of shape (n_i,) or (n_i, d) into an object Series.

    Parquet stores rank-1 arrays as ``list<value_type>`` and rank-2 arrays as
    ``list<list<value_type>>`` (one inner list per row). The column is assembled as one Arrow
    array from a flat buffer (5x faster than converting Python lists for QM9's 130k molecules).
    """
    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int32, count=len(arrays))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    flat = np.concatenate([np.asarray(a).reshape(-1) for a in arrays]) if arrays else []
    values: pa.Array = pa.array(flat, type=value_type)
    if arrays and np.ndim(arrays[0]) == 2:
        width = np.shape(arrays[0])[1]
        values = pa.ListArray.from_arrays(np.arange(0, len(values) + 1, width, np.int32), values)
    return pa.ListArray.from_arrays(offsets, values).to_pandas()
