"""Data layer: QM9 and Materials Project structure tables, splits, composition matrices.

Tables and their columns are fixed in ``docs/formats.md``. Readers for other stages:

* :func:`load_structures` — a structure table as a DataFrame (optionally only some ids);
* :func:`iter_atoms` / :func:`iter_arrays` — its rows as ``ase.Atoms`` or plain arrays;
* :func:`composition_matrix` — element counts / fractions / presence per structure;
* :func:`read_splits` — the ids of each split (train/val/test/probe) of a splits table.
"""

from atomprobe.data.composition import composition_matrix
from atomprobe.data.splits import read_splits
from atomprobe.data.structures import (
    StructureArrays,
    hill_formula,
    iter_arrays,
    iter_atoms,
    load_structures,
    to_atoms,
)

__all__ = [
    "StructureArrays",
    "composition_matrix",
    "hill_formula",
    "iter_arrays",
    "iter_atoms",
    "load_structures",
    "read_splits",
    "to_atoms",
]
