"""QM9 splits: sizes, disjointness, reproducibility, overlap when not disjoint, errors."""

from __future__ import annotations

import pandas as pd
import pytest

from atomprobe.data.splits import SPLITS, make_splits, read_splits
from atomprobe.data.steps import splits
from atomprobe.errors import ConfigError
from atomprobe.io import read_parquet, write_parquet

IDS = [f"qm9:{i}" for i in range(1, 201)]
SIZES = {"train": 100, "val": 10, "test": 20, "probe": 60}


def _sets(table: pd.DataFrame) -> dict[str, set[str]]:
    return {name: set(table.loc[table["split"] == name, "id"]) for name in SPLITS}


def test_disjoint_splits_have_the_sizes_and_no_overlap():
    table = make_splits(IDS, SIZES, seed=0, disjoint=True)
    sets = _sets(table)
    assert {k: len(v) for k, v in sets.items()} == SIZES
    assert table["id"].is_unique and set(table["id"]) <= set(IDS)
    assert table.loc[table["split"] == "train", "id"].tolist() == [
        i for i in IDS if i in sets["train"]
    ]  # within a split, the order of the input ids


def test_seed_fixes_the_draw():
    first = make_splits(IDS, SIZES, seed=7)
    pd.testing.assert_frame_equal(first, make_splits(IDS, SIZES, seed=7))
    assert not first.equals(make_splits(IDS, SIZES, seed=8))


def test_probe_drawn_from_all_molecules_when_not_disjoint():
    sizes = {"train": 150, "val": 10, "test": 10, "probe": 100}  # 270 > 200: must overlap
    sets = _sets(make_splits(IDS, sizes, seed=0, disjoint=False))
    training = sets["train"] | sets["val"] | sets["test"]
    assert len(sets["probe"]) == 100 and len(training) == 170
    assert len(sets["probe"] & training) >= 70
    # training splits are the same draw as with disjoint=True
    disjoint = _sets(make_splits(IDS, {**sizes, "probe": 30}, seed=0, disjoint=True))
    assert sets["train"] == disjoint["train"]


def test_too_large_sizes_are_one_line_error():
    with pytest.raises(ConfigError, match=r"data\.qm9\.splits: sizes .* need 290 .* only 200"):
        make_splits(IDS, {**SIZES, "probe": 160}, seed=0, key="data.qm9.splits")


def test_step_writes_splits_table(tmp_path):
    structures = tmp_path / "qm9.parquet"
    write_parquet(pd.DataFrame({"id": IDS}), structures, {"dataset": "qm9"})
    out = tmp_path / "qm9_splits.parquet"
    params = {"splits": {"seed": 0, "disjoint": True, **SIZES}}
    splits({"structures": str(structures)}, {"splits": str(out)}, params, 1)
    table, meta = read_parquet(out)
    assert table.columns.tolist() == ["id", "split"] and len(table) == sum(SIZES.values())
    assert meta["sizes"] == SIZES and meta["dataset"] == "qm9"
    by_split = read_splits(out)
    assert {k: len(v) for k, v in by_split.items()} == SIZES
    assert by_split["probe"] == table.loc[table["split"] == "probe", "id"].tolist()
