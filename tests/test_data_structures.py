"""Structure-table helpers: Hill formula against ase, ragged columns, periodic ase.Atoms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from ase.data import chemical_symbols
from ase.formula import Formula

from atomprobe.data.structures import (
    hill_formula,
    iter_arrays,
    iter_atoms,
    load_structures,
    ragged_column,
)
from atomprobe.errors import DataError
from atomprobe.io import read_parquet, write_parquet
from atomprobe.models.structures import Structures

SAMPLE = Path(__file__).parent / "fixtures" / "models" / "qm9_sample.parquet"


@pytest.mark.parametrize(
    "numbers",
    [
        [6, 1, 1, 1, 1],
        [8, 1, 1],
        [7, 1, 1, 1],
        [6, 8, 8],
        [9, 9, 6, 9, 9],
        [11, 17],
        [8, 6, 6, 1, 7, 1, 9],
        [1],
        [26, 8, 8, 8, 26],
    ],
)
def test_hill_formula_matches_ase(numbers):
    expected = Formula.from_list([chemical_symbols[z] for z in numbers]).format("hill")
    assert hill_formula(numbers) == expected


def test_ragged_columns_round_trip_through_parquet(tmp_path):
    positions = [np.arange(6.0).reshape(2, 3), np.arange(9.0).reshape(3, 3) / 7]
    frame = pd.DataFrame({"id": ["a", "b"]})
    frame["numbers"] = ragged_column([np.array([1, 8]), np.array([6, 1, 1])], pa.int8())
    frame["positions"] = ragged_column(positions, pa.float64())
    frame["cell"] = ragged_column([np.eye(3) * 4, np.eye(3) * 5], pa.float64())
    frame["pbc"] = True
    write_parquet(frame, tmp_path / "t.parquet")
    back, _ = read_parquet(tmp_path / "t.parquet")
    structures = list(iter_arrays(back))
    assert structures[1].numbers.tolist() == [6, 1, 1]
    np.testing.assert_array_equal(structures[1].positions, positions[1])
    atoms = next(iter_atoms(back))
    assert atoms.pbc.all() and atoms.info["id"] == "a"
    np.testing.assert_array_equal(atoms.cell[:], np.eye(3) * 4)


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        ([-1, 6], r"outside 1-118: \[-1, 6\]"),
        ([0, 1], "outside 1-118"),
        ([200], "outside 1-118"),
        ([6.7], "must be integers"),
        ([], "no atoms"),
    ],
)
def test_hill_formula_refuses_impossible_atomic_numbers(numbers, message):
    with pytest.raises(DataError, match=message):
        hill_formula(numbers)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda pos: pos.__setitem__((0, 0), np.nan), "NaN or infinite positions"),
        (lambda pos: pos.__setitem__((1, 2), np.inf), "NaN or infinite positions"),
        (lambda pos: pos.__setitem__(1, pos[0]), "two atoms closer than"),
    ],
)
def test_model_input_refuses_bad_structures_naming_them(change, message):
    """What a model would see: NaN positions once gave finite ANI features."""
    frame = load_structures(SAMPLE).head(3).copy()
    positions = np.stack(frame.loc[1, "positions"]).astype(np.float64)
    change(positions)
    frame.at[1, "positions"] = list(positions)
    with pytest.raises(DataError, match=rf"structure {frame.loc[1, 'id']}: {message}"):
        Structures.from_frame(frame)
