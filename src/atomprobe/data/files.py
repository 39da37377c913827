"""Structure tables from your own files: anything ASE reads, molecules or periodic.

A ``source: file`` dataset entry (config/README.md, ``## data``) points ``path`` at

* one file ASE reads (extended XYZ by default; ``format`` names another ASE format): every
  frame is a structure, its targets taken from the frame's info keys (extxyz comment-line
  keys; ``energy``, ``free_energy`` and other calculator results are found too);
* an ASE database (``.db``): every row is a structure, targets from its key-value pairs;
* a folder: every file matching ``pattern`` (e.g. ``*.cif``), in sorted order, is one structure
  whose id is the file name without extension; targets from ``targets_file``.

``targets_file`` (optional, any source): a CSV with an ``id`` column and one column per
target, joined on the structure ids. ``id_key`` names the info key holding each structure's id
(default: ``<dataset>:<index>``). A frame is periodic when all three of its ``pbc`` flags are
set, a molecule when none is; ``periodic`` in the entry must admit what the file holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ase
import ase.db
import ase.io
import numpy as np
import pandas as pd
import pyarrow as pa

from atomprobe.data.structures import (
    check_atomic_numbers,
    check_positions,
    hill_formula,
    ragged_column,
)
from atomprobe.errors import ConfigError, DataError
from atomprobe.io import write_parquet
from atomprobe.runner import Paths

log = logging.getLogger(__name__)

# declared by each dataset entry (atomprobe.data.datasets)
PERIODIC = None
TARGETS = None


def read_frames(
    path: str | Path, fmt: str | None = None, pattern: str | None = None
) -> Iterator[tuple[str | None, ase.Atoms, dict[str, Any]]]:
    """Yield ``(file id or None, atoms, properties)`` for every structure under ``path``.

    ``properties`` merges the frame's info and its calculator results (ASE db: the row's
    key-value pairs). A folder yields one structure per file matching ``pattern``, with the
    file name (no extension) as its id.
    """
    path = Path(path)
    if path.is_dir():
        files = structure_files(path, pattern)
        if not files:
            raise DataError(f"{path}: no file matches pattern {pattern!r}; fix data.*.pattern")
        for file in files:
            atoms = ase.io.read(file, format=fmt)
            yield file.stem, atoms, _properties(atoms)
        return
    if not path.is_file():
        raise ConfigError(f"{path}: no such file or folder; fix data.*.path")
    if fmt == "db" or (fmt is None and path.suffix == ".db"):
        with ase.db.connect(path) as database:
            for row in database.select():
                atoms = row.toatoms()
                yield None, atoms, {**_properties(atoms), **row.key_value_pairs}
        return
    for atoms in ase.io.read(path, index=":", format=fmt or "extxyz"):
        yield None, atoms, _properties(atoms)


def _properties(atoms: ase.Atoms) -> dict[str, Any]:
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    return {**results, **atoms.info}


def _check_structure(sid: str, atoms: ase.Atoms, where: str) -> bool:
    """Validate one structure; return whether it is periodic."""
    what = f"{where}: structure {sid}"
    check_atomic_numbers(atoms.get_atomic_numbers(), what)
    check_positions(np.asarray(atoms.positions, dtype=np.float64), what)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.any() and not pbc.all():
        raise DataError(
            f"{what} is periodic along some axes only ({pbc.tolist()}); "
            "only fully periodic cells and molecules are supported"
        )
    return bool(pbc.all())


def frames_to_table(
    name: str, entry: Mapping[str, Any], frames: Iterator[tuple[str | None, ase.Atoms, dict]]
) -> pd.DataFrame:
    """The structure table (docs/formats.md) of a ``source: file`` dataset.

    Columns: id, formula, numbers, positions (Å), cell (Å, rows; null for molecules), pbc,
    the entry's targets (in their declared units) and, with ``splits.key``, ``split``.
    """
    where = f"data.{name} ({entry['path']})"
    targets: Mapping[str, Mapping[str, Any]] = entry["targets"]
    split_key = (entry.get("splits") or {}).get("key")
    rows: list[dict[str, Any]] = []
    for index, (file_id, atoms, properties) in enumerate(frames):
        id_key = entry.get("id_key")
        if id_key is not None and id_key not in properties:
            raise DataError(f"{where}: structure {index} has no id key {id_key!r}")
        sid = str(properties[id_key]) if id_key is not None else file_id or f"{name}:{index}"
        periodic = _check_structure(sid, atoms, where)
        row: dict[str, Any] = {
            "id": sid,
            "numbers": atoms.get_atomic_numbers().astype(np.int16),
            "positions": np.asarray(atoms.positions, dtype=np.float64),
            "cell": np.asarray(atoms.cell.array, dtype=np.float64) if periodic else None,
            "pbc": periodic,
        }
        for target, spec in targets.items():
            value = properties.get(spec.get("key", target))
            row[target] = np.nan if value is None else float(np.asarray(value).item())
        if split_key is not None:
            row["split"] = str(properties.get(split_key, ""))
        rows.append(row)
    if not rows:
        raise DataError(f"{where}: no structures read")
    frame = pd.DataFrame(rows)
    duplicated = frame["id"][frame["id"].duplicated()].tolist()
    if duplicated:
        raise DataError(f"{where}: structure ids are not unique, e.g. {duplicated[:3]}")
    if frame["pbc"].any() and not entry["periodic"]:
        raise ConfigError(
            f"{where}: {int(frame['pbc'].sum())} structures are periodic but the entry says "
            "periodic: false; set periodic: true"
        )
    if entry.get("targets_file"):
        frame = _join_targets_file(frame, entry, where)
    missing = [t for t in targets if frame[t].isna().all()]
    if missing:
        raise DataError(f"{where}: no structure has a value for targets {missing}; check the keys")
    table = frame[["id"]].assign(formula=[hill_formula(z) for z in frame["numbers"]])
    table["numbers"] = ragged_column(list(frame["numbers"]), pa.int16())
    table["positions"] = ragged_column(list(frame["positions"]), pa.float64())
    table["cell"] = pd.Series(
        [None if c is None else c.tolist() for c in frame["cell"]], dtype=object
    )
    table["pbc"] = frame["pbc"].to_numpy(dtype=bool)
    for column in [*targets, *(["split"] if split_key is not None else [])]:
        table[column] = frame[column].to_numpy()
    return table


def _join_targets_file(frame: pd.DataFrame, entry: Mapping[str, Any], where: str) -> pd.DataFrame:
    """Fill the targets from the CSV ``targets_file`` (columns ``id`` and the targets)."""
    table = pd.read_csv(entry["targets_file"], dtype={"id": str}).set_index("id")
    absent = [t for t in entry["targets"] if t not in table.columns]
    if absent:
        raise DataError(f"{where}: targets_file {entry['targets_file']} lacks columns {absent}")
    unknown = sorted(set(frame["id"]) - set(table.index))
    if unknown:
        raise DataError(
            f"{where}: targets_file {entry['targets_file']} has no row for ids {unknown[:3]}"
        )
    for target in entry["targets"]:
        frame[target] = table.loc[frame["id"], target].to_numpy(dtype=np.float64)
    return frame


def structures_from_file(
    inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int
) -> None:
    """Step: the structure table of a ``source: file`` dataset.

    params: ``name`` (the dataset) and its config entry (``path``, ``format``, ``pattern``,
    ``targets``, ``id_key``, ``periodic``, ``targets_file``, ``splits``).
    """
    name = params["name"]
    frames = read_frames(params["path"], params.get("format"), params.get("pattern"))
    table = frames_to_table(name, params, frames)
    log.info("%s from %s: %d structures", name, params["path"], len(table))
    metadata = {
        "dataset": name,
        "source": "file",
        "path": str(params["path"]),
        "n_rows": len(table),
        "n_periodic": int(table["pbc"].sum()),
        "targets": {t: spec["unit"] for t, spec in params["targets"].items()},
        "extensive_targets": [t for t, s in params["targets"].items() if s.get("extensive")],
    }
    sources = [str(p) for p in as_sources(params)]
    write_parquet(table, str(outputs["structures"]), metadata, params, sources)


def count_structures(entry: Mapping[str, Any]) -> int | None:
    """Structures a ``source: file`` dataset holds, when counting them is cheap.

    Parameters
    ----------
    entry : mapping
        The dataset's config entry (``path``, ``format``, ``pattern``).

    Returns
    -------
    int or None
        A folder's matching files, an ASE database's rows or an (ext)xyz file's frames; None
        for other formats, a missing path, or a file that does not read as (ext)xyz (its job
        then says what is wrong).
    """
    path, fmt = Path(entry["path"]), entry.get("format")
    if path.is_dir():
        return len(structure_files(path, entry.get("pattern")))
    if not path.is_file():
        return None
    if fmt == "db" or (fmt is None and path.suffix == ".db"):
        with ase.db.connect(path) as database:
            return database.count()
    if fmt not in (None, "extxyz", "xyz"):
        return None
    frames = 0
    with open(path) as handle:
        while line := handle.readline():
            if not line.strip():
                continue
            try:
                n_atoms = int(line)
            except ValueError:
                return None
            for _ in range(n_atoms + 1):  # the comment line, then one line per atom
                if not handle.readline():
                    return None
            frames += 1
    return frames


def structure_files(folder: Path, pattern: str | None) -> list[Path]:
    """The files of a folder dataset, one structure each: those matching ``pattern``, sorted."""
    return sorted(folder.glob(pattern or "*"))


def as_sources(entry: Mapping[str, Any]) -> list[Path]:
    """The files a ``source: file`` dataset is read from (for provenance checksums)."""
    path = Path(entry["path"])
    files = structure_files(path, entry.get("pattern")) if path.is_dir() else [path]
    if entry.get("targets_file"):
        files.append(Path(entry["targets_file"]))
    return files
