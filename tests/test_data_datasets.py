"""The dataset registry and your own structures: config checks and the file loader."""

from __future__ import annotations

import copy
from pathlib import Path

import ase
import ase.db
import ase.io
import numpy as np
import pandas as pd
import pytest
import yaml
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator

from atomprobe.data.datasets import (
    check_config_targets,
    check_dataset_entries,
    configured_datasets,
    dataset_targets,
    has_splits,
    is_periodic,
)
from atomprobe.data.files import count_structures, read_frames
from atomprobe.data.steps import splits, structures_from_file
from atomprobe.errors import ConfigError, DataError
from atomprobe.io import read_parquet

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
TARGETS = {"energy": {"unit": "eV", "extensive": True}, "size": {"unit": "Å", "key": "radius"}}


def _frame(atoms: ase.Atoms, energy: float, radius: float, **info) -> ase.Atoms:
    atoms = atoms.copy()
    atoms.info.update({"radius": radius, **info})
    atoms.calc = SinglePointCalculator(atoms, energy=energy)
    return atoms


def _entry(path: Path, **changes) -> dict:
    return {"source": "file", "path": str(path), "periodic": True, "targets": TARGETS, **changes}


def _load(tmp_path: Path, name: str, entry: dict) -> tuple[pd.DataFrame, dict]:
    out = tmp_path / f"{name}.parquet"
    structures_from_file({}, {"structures": str(out)}, {"name": name, **entry}, 1)
    return read_parquet(out)


@pytest.fixture
def mixed(tmp_path) -> Path:
    """Two molecules and one crystal in one extxyz file."""
    frames = [
        _frame(molecule("H2O"), -14.2, 0.6, name="w"),
        _frame(molecule("CH4"), -24.0, 0.9, name="m"),
        _frame(bulk("Si", "diamond", a=5.43), -10.8, 1.2, name="si"),
    ]
    path = tmp_path / "mixed.extxyz"
    ase.io.write(path, frames, format="extxyz")
    return path


def test_default_datasets_and_their_facts():
    datasets = configured_datasets(CONFIG)
    assert list(datasets) == ["qm9", "mp"]
    assert not is_periodic("qm9", datasets["qm9"]) and is_periodic("mp", datasets["mp"])
    assert dataset_targets("qm9", datasets["qm9"])["gap"] == "eV"
    assert has_splits(datasets["qm9"]) and not has_splits(datasets["mp"])
    mine = _entry(Path("x"), periodic=False)
    assert not is_periodic("mine", mine) and dataset_targets("mine", mine) == {
        "energy": "eV",
        "size": "Å",
    }


def test_a_null_dataset_is_left_out_and_one_must_remain():
    config = copy.deepcopy(CONFIG)
    config["data"]["mp"] = None
    assert list(configured_datasets(config)) == ["qm9"]
    config["data"]["qm9"] = None
    with pytest.raises(ConfigError, match="every dataset is null"):
        configured_datasets(config)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (("cpd", "targets", "qm9"), ["gapp"], r"cpd\.targets\.qm9: \['gapp'\] are not targets"),
        (("cpd", "nonlinear", "targets", "mp"), ["gap"], r"cpd\.nonlinear\.targets\.mp: \['gap'\]"),
        (("reconstruction", "pcovr", "targets", "mp"), "u0", r"pcovr\.targets\.mp: \['u0'\]"),
        (("analyses", "isomers", "targets"), ["band_gap"], r"analyses\.isomers\.targets: "),
        (("analyses", "dataset"), "mine", r"analyses\.dataset: 'mine' is not a configured"),
        (("render", "dataset"), "mine", r"render\.dataset: 'mine' is not a configured"),
        (("render", "main_target"), "band_gap", r"render\.main_target: \['band_gap'\]"),
    ],
)
def test_targets_and_datasets_named_in_the_config_are_checked(key, value, message):
    config = copy.deepcopy(CONFIG)
    section = config
    for part in key[:-1]:
        section = section[part]
    section[key[-1]] = value
    with pytest.raises(ConfigError, match=message) as error:
        check_config_targets(config, configured_datasets(config))
    assert "\n" not in str(error.value)


def test_targets_of_a_dataset_left_out_are_not_checked():
    config = copy.deepcopy(CONFIG)
    config["data"]["mp"] = None
    config["render"]["crystal_dataset"] = "qm9"
    config["cpd"]["targets"]["mp"] = ["anything"]
    check_config_targets(config, configured_datasets(config))


def test_extxyz_with_molecules_and_crystals(tmp_path, mixed):
    table, meta = _load(tmp_path, "mine", _entry(mixed, id_key="name"))
    assert table["id"].tolist() == ["w", "m", "si"]
    assert table["pbc"].tolist() == [False, False, True]
    assert table["cell"][0] is None and np.allclose(np.stack(table["cell"][2]), bulk("Si").cell)
    assert table["energy"].tolist() == [-14.2, -24.0, -10.8]  # a calculator result
    assert table["size"].tolist() == [0.6, 0.9, 1.2]  # info key "radius"
    assert table["formula"].tolist() == ["H2O", "CH4", "Si2"]
    assert meta["dataset"] == "mine" and meta["targets"] == {"energy": "eV", "size": "Å"}
    assert meta["extensive_targets"] == ["energy"] and meta["n_periodic"] == 1
    default_ids, _ = _load(tmp_path, "other", _entry(mixed))
    assert default_ids["id"].tolist() == ["other:0", "other:1", "other:2"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"periodic": False}, r"1 structures are periodic but the entry says periodic: false"),
        ({"id_key": "nothing"}, r"structure 0 has no id key 'nothing'"),
        ({"targets": {"gap": {"unit": "eV"}}}, r"target 'gap': no structure has a value"),
    ],
)
def test_bad_entries_name_the_dataset(tmp_path, mixed, change, message):
    with pytest.raises((ConfigError, DataError), match=message) as error:
        _load(tmp_path, "mine", _entry(mixed, **change))
    assert "data.mine" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda a: a.set_atomic_numbers([0, 1, 1]), r"structure mine:0: atomic numbers outside"),
        (lambda a: a.positions.__setitem__((0, 0), np.nan), r"structure mine:0: NaN or infinite"),
        (
            lambda a: a.positions.__setitem__(1, a.positions[0]),
            r"structure mine:0: two atoms closer",
        ),
        (lambda a: a.set_pbc([True, False, False]), r"structure mine:0 is periodic along some"),
    ],
)
def test_bad_structures_name_the_structure(tmp_path, spoil, message):
    atoms = _frame(molecule("H2O"), -14.2, 0.6)
    spoil(atoms)
    path = tmp_path / "bad.extxyz"
    ase.io.write(path, [atoms, _frame(molecule("CH4"), -24.0, 0.9)], format="extxyz")
    with pytest.raises(DataError, match=message):
        _load(tmp_path, "mine", _entry(path))


def test_duplicate_ids_are_refused(tmp_path):
    frames = [_frame(molecule("H2O"), -14.0, 0.6, name="x") for _ in range(2)]
    path = tmp_path / "dup.extxyz"
    ase.io.write(path, frames, format="extxyz")
    with pytest.raises(DataError, match=r"ids are not unique, e\.g\. \['x'\]"):
        _load(tmp_path, "mine", _entry(path, id_key="name"))


def test_ase_database_rows_and_their_key_value_pairs(tmp_path):
    path = tmp_path / "mine.db"
    with ase.db.connect(path) as database:
        for name, energy in (("H2O", -14.2), ("NH3", -19.5)):
            atoms = molecule(name)
            atoms.calc = SinglePointCalculator(atoms, energy=energy)
            database.write(atoms, radius=0.7, label=name)
    table, _ = _load(tmp_path, "mine", _entry(path, periodic=False, id_key="label"))
    assert table["id"].tolist() == ["H2O", "NH3"]
    assert table["energy"].tolist() == [-14.2, -19.5] and table["size"].tolist() == [0.7, 0.7]


def test_folder_of_cifs_with_a_targets_file(tmp_path):
    folder = tmp_path / "cifs"
    folder.mkdir()
    for name, atoms in (("si", bulk("Si", "diamond", a=5.43)), ("cu", bulk("Cu", "fcc", 3.6))):
        ase.io.write(folder / f"{name}.cif", atoms)
    (folder / "notes.txt").write_text("not a structure")
    targets = tmp_path / "targets.csv"
    targets.write_text("id,energy,size\ncu,-3.7,0.0\nsi,-10.8,1.1\n")
    entry = _entry(folder, pattern="*.cif", targets_file=str(targets))
    table, _ = _load(tmp_path, "mine", entry)
    assert table["id"].tolist() == ["cu", "si"] and table["energy"].tolist() == [-3.7, -10.8]
    targets.write_text("id,energy,size\nsi,-10.8,1.1\n")
    with pytest.raises(DataError, match=r"has no row for ids \['cu'\]"):
        _load(tmp_path, "mine", entry)


def test_splits_from_an_info_key(tmp_path):
    frames = [
        _frame(molecule("H2O"), -14.0, 0.6, split=split)
        for split in ("train", "train", "val", "test", "probe", "unused")
    ]
    path = tmp_path / "split.extxyz"
    ase.io.write(path, frames, format="extxyz")
    entry = _entry(path, periodic=False, splits={"key": "split"})
    _load(tmp_path, "mine", entry)
    out = tmp_path / "mine_splits.parquet"
    params = {"splits": entry["splits"]}
    splits({"structures": str(tmp_path / "mine.parquet")}, {"splits": str(out)}, params, 1)
    table, meta = read_parquet(out)
    assert table["split"].tolist() == ["train", "train", "val", "test", "probe"]
    assert meta["sizes"] == {"train": 2, "val": 1, "test": 1, "probe": 1}


@pytest.mark.parametrize(
    ("dataset", "change", "message"),
    [
        (
            "qm9",
            {"source": "archive", "archive": {"checksum": "md5:abc123"}},
            r"data\.qm9\.archive\.checksum: a md5 digest has 32 hex digits, not 6",
        ),
        ("mp", {"offline_dir": "no/such/folder"}, r"data\.mp\.offline_dir: no/such/folder"),
    ],
)
def test_dataset_entries_are_checked_before_any_job(dataset, change, message):
    config = copy.deepcopy(CONFIG)
    entry = config["data"][dataset]
    for key, value in change.items():
        entry[key] = {**entry[key], **value} if isinstance(value, dict) else value
    with pytest.raises(ConfigError, match=message):
        check_dataset_entries(configured_datasets(config))


def test_a_file_dataset_must_exist(tmp_path):
    entry = _entry(tmp_path / "missing.extxyz")
    with pytest.raises(ConfigError, match=r"data\.mine\.path: .*missing\.extxyz does not exist"):
        check_dataset_entries({"mine": entry})


def test_the_structures_of_a_file_dataset_are_counted_as_its_job_reads_them(tmp_path):
    """What the preflight compares the splits with: as many as the job reads, or None."""
    frames = [molecule(name) for name in ("H2O", "CH4", "NH3")]
    ase.io.write(tmp_path / "three.extxyz", frames, format="extxyz")
    (tmp_path / "cifs").mkdir()
    for name, atoms in (("si", bulk("Si", "diamond", a=5.43)), ("cu", bulk("Cu", "fcc", 3.6))):
        ase.io.write(tmp_path / "cifs" / f"{name}.cif", atoms)
    with ase.db.connect(tmp_path / "two.db") as database:
        for atoms in frames[:2]:
            database.write(atoms)
    (tmp_path / "broken.xyz").write_text("3\ncomment\nH 0 0 0\n")
    (tmp_path / "text.xyz").write_text("not a count\n")
    counts = {
        "three.extxyz": 3,
        "cifs": 2,
        "two.db": 2,
        "broken.xyz": None,
        "text.xyz": None,
        "nowhere.extxyz": None,
    }
    for name, expected in counts.items():
        entry = _entry(tmp_path / name, pattern="*.cif" if name == "cifs" else None)
        assert count_structures(entry) == expected, name
    for name in ("three.extxyz", "cifs", "two.db"):
        frames_read = read_frames(tmp_path / name, None, "*.cif")
        assert len(list(frames_read)) == counts[name]
