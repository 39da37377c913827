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

import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ase
import ase.db
import ase.io
import ase.io.cif
import numpy as np
import pandas as pd
import pyarrow as pa

from atomprobe.data.structures import (
    check_atomic_numbers,
    check_cell,
    check_positions,
    hill_formula,
    ragged_column,
)
from atomprobe.errors import ConfigError, DataError

# declared by each dataset entry (atomprobe.data.datasets)
PERIODIC = None
TARGETS = None


def read_frames(
    path: str | Path, fmt: str | None = None, pattern: str | None = None
) -> Iterator[tuple[str | None, ase.Atoms, dict[str, Any]]]:
    """Yield ``(file id or None, atoms, properties)`` for every structure under ``path``.

    ``properties`` merges the frame's info and its calculator results (ASE db: the row's
    key-value pairs). A folder yields one structure per file matching ``pattern``, with the
    file's stem (its name without the extension: ``c0`` for ``c0.cif``) as its id. A file ASE
    cannot read, and a structure with partially occupied sites, raise a one-line DataError
    naming the file and the frame (:func:`_read_error`).
    """
    path = Path(path)
    if path.is_dir():
        files = structure_files(path, pattern)
        if not files:
            raise DataError(f"{path}: no file matches pattern {pattern!r}; fix data.*.pattern")
        for file in files:
            try:
                atoms = ase.io.read(file, format=fmt)
            except Exception as exc:  # ASE's readers raise many types; each becomes one line
                raise _read_error(file, None, exc) from exc
            _check_ordered(atoms, file, None)
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
    frames = ase.io.iread(path, index=":", format=fmt or "extxyz")
    for index in itertools.count():
        try:
            atoms = next(frames)
        except StopIteration:
            return
        except Exception as exc:  # as above: only ASE's reading is wrapped, not our checks
            raise _read_error(path, index, exc) from exc
        _check_ordered(atoms, path, f"frame {index}")
        yield None, atoms, _properties(atoms)


def _read_error(path: Path, index: int | None, exc: Exception) -> DataError:
    """One line for an error ASE raised reading frame ``index`` (None: the whole file)."""
    fix = "fix that frame or leave it out"
    if isinstance(exc, UnicodeDecodeError):
        reason = f"not a UTF-8 text file (byte {exc.start} is {exc.object[exc.start]:#04x})"
        fix = "give a text file, or name its ASE format in the dataset's format key"
    elif isinstance(exc, KeyError):
        reason = f"unknown element symbol {exc.args[0]!r}" if exc.args else "a key is missing"
    else:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.removeprefix("ase.io.extxyz: ")
    where = f"{path}"
    if index is not None:
        line = _frame_line(path, index)
        where += f": frame {index}" + (f" (from line {line})" if line is not None else "")
    return DataError(f"{where}: {reason}; {fix}")


def _frame_line(path: Path, index: int) -> int | None:
    """The 1-based line of frame ``index``'s atom count in an (ext)xyz file; None when the
    file is not laid out as one (binary, or a count line that is not an integer)."""
    try:
        for frame, line in enumerate(_xyz_frame_lines(path)):
            if frame == index:
                return line
    except (UnicodeDecodeError, ValueError):
        return None
    return None


def _xyz_frame_lines(path: Path) -> Iterator[int]:
    """Yield the 1-based line of each frame's atom count in an (ext)xyz file.

    Raises
    ------
    UnicodeDecodeError
        The file is not UTF-8 text.
    ValueError
        A count line is not an integer (the file is not (ext)xyz), or the file ends inside the
        frame last yielded (truncated).
    """
    with open(path, encoding="utf-8") as handle:
        number = 0
        while line := handle.readline():
            number += 1
            if not line.strip():
                continue
            n_atoms = int(line)
            yield number
            for _ in range(n_atoms + 1):  # the comment line, then one line per atom
                if not handle.readline():
                    raise ValueError(f"{path} ends inside the frame at line {number}")
                number += 1


def _check_ordered(atoms: ase.Atoms, path: Path, frame: str | None) -> None:
    """Refuse a structure ASE read with partially occupied sites (a disordered CIF): ASE keeps
    one species per site, so the structure would silently be another one."""
    occupancy = atoms.info.get("occupancy") or {}
    disordered = {
        site: species
        for site, species in occupancy.items()
        if len(species) > 1 or sum(species.values()) < 1 - 1e-6
    }
    if not disordered:
        return
    labels = _cif_site_labels(path)
    site, species = next(iter(disordered.items()))
    label = labels[int(site)] if int(site) < len(labels) else f"#{site}"
    shares = ", ".join(f"{element} {share:g}" for element, share in species.items())
    where = str(path) if frame is None else f"{path}: {frame}"
    raise DataError(
        f"{where}: site {label} ({shares}) is partially occupied "
        f"({len(disordered)} such sites); atomprobe needs ordered structures: order them "
        "(e.g. pymatgen's OrderDisorderedStructureTransformation) or leave the file out"
    )


def _cif_site_labels(path: Path) -> list[str]:
    """The ``_atom_site_label`` column of a CIF's first data block ([] if there is none)."""
    try:
        block = next(iter(ase.io.cif.parse_cif(str(path))))
        return [str(label) for label in block.get("_atom_site_label") or []]
    except Exception:  # the labels only name the site in a message; reading already succeeded
        return []


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
    if pbc.all():
        check_cell(np.asarray(atoms.cell.array, dtype=np.float64), what)
    return bool(pbc.all())


def frames_to_table(
    name: str, entry: Mapping[str, Any], frames: Iterator[tuple[str | None, ase.Atoms, dict]]
) -> pd.DataFrame:
    """The structure table (docs/formats.md) of a ``source: file`` dataset.

    Columns: id, formula, numbers, positions (Å), cell (Å, rows; null for molecules), pbc,
    the entry's targets (in their declared units) and, with ``splits.key``, ``split``.
    Every structure must have a finite value of every target (:func:`_target_values`).
    """
    where = f"data.{name} ({entry['path']})"
    targets: Mapping[str, Mapping[str, Any]] = entry["targets"]
    split_key = (entry.get("splits") or {}).get("key")
    rows: list[dict[str, Any]] = []
    raw_targets: dict[str, list[Any]] = {target: [] for target in targets}  # None: absent
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
            raw_targets[target].append(properties.get(spec.get("key", target)))
        if split_key is not None:
            row["split"] = str(properties.get(split_key, ""))
        rows.append(row)
    if not rows:
        raise DataError(f"{where}: no structures read")
    frame = pd.DataFrame(rows)
    for target, values in raw_targets.items():  # object dtype: None stays None, not NaN
        frame[target] = pd.Series(values, index=frame.index, dtype=object)
    duplicated = frame["id"][frame["id"].duplicated()].tolist()
    if duplicated:
        raise DataError(f"{where}: structure ids are not unique, e.g. {duplicated[:3]}")
    if frame["pbc"].any() and not entry["periodic"]:
        raise ConfigError(
            f"{where}: {int(frame['pbc'].sum())} structures are periodic but the entry says "
            "periodic: false; set periodic: true"
        )
    source = "the frames' info keys"
    if entry.get("targets_file"):
        frame = _join_targets_file(frame, entry, where)
        source = f"targets_file {entry['targets_file']}"
    for target in targets:
        frame[target] = _target_values(
            frame["id"],
            frame[target],
            f"{where}: target {target!r}",
            f"data.{name}.targets",
            source,
        )
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


def _target_values(
    ids: pd.Series, raw: pd.Series, what: str, targets_key: str, source: str
) -> np.ndarray:
    """The raw values of one target as float64, every one present, numeric and finite.

    A structure table is complete: models are probed on the same rows for every target, so a
    structure without a value is an error naming it, never a NaN in the table (give it a
    value, leave the structure out, or drop the target from ``targets_key``). Text that is not
    a number, NaN and ±inf are errors naming the structure and the value.

    Parameters
    ----------
    ids : Series of shape (n_structures,)
        Structure ids, named in messages.
    raw : Series of shape (n_structures,)
        The values as read: None (or "") where absent, numbers, numeric text or arrays of one.
    what, targets_key, source : str
        Named in messages: the dataset and target, its config key, where values come from.

    Raises
    ------
    DataError
        One line naming the first offending structures.
    """
    missing = [i for i, value in zip(ids, raw, strict=True) if value is None or value == ""]
    if len(missing) == len(raw):
        raise DataError(f"{what}: no structure has a value in {source}; check the key")
    if missing:
        raise DataError(
            f"{what}: {len(missing)} of {len(raw)} structures have no value in {source}, "
            f"e.g. {missing[:3]}; give each a value, leave them out, or drop the target "
            f"from {targets_key}"
        )
    values = np.empty(len(raw))
    for row, (sid, value) in enumerate(zip(ids, raw, strict=True)):
        try:
            values[row] = float(np.asarray(value).item())
        except (TypeError, ValueError):
            raise DataError(
                f"{what}: structure {sid} has the value {value!r} in {source}, not a number"
            ) from None
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{what}: {int(bad.sum())} structures have a NaN or infinite value, e.g. "
            f"{ids.iloc[first]} ({values[first]}); fix or leave them out"
        )
    return values


def _join_targets_file(frame: pd.DataFrame, entry: Mapping[str, Any], where: str) -> pd.DataFrame:
    """Take the targets from the CSV ``targets_file`` (columns ``id`` and the targets), as text
    (an empty cell is absent; :func:`_target_values` converts and checks the rest)."""
    path = entry["targets_file"]
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise DataError(f"{where}: targets_file {path} is not a CSV table ({reason})") from None
    if "id" not in table.columns:
        raise DataError(f"{where}: targets_file {path} has no id column; name it 'id'")
    duplicated = table["id"][table["id"].duplicated()].tolist()
    if duplicated:
        raise DataError(f"{where}: targets_file {path} has ids twice, e.g. {duplicated[:3]}")
    table = table.set_index("id")
    absent = [t for t in entry["targets"] if t not in table.columns]
    if absent:
        raise DataError(f"{where}: targets_file {path} lacks columns {absent}")
    unknown = sorted(set(frame["id"]) - set(table.index))
    if unknown:
        raise DataError(f"{where}: targets_file {path} has no row for ids {unknown[:3]}")
    for target in entry["targets"]:
        frame[target] = table.loc[frame["id"], target].str.strip().to_numpy(dtype=object)
    return frame


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
        for other formats, a missing path, or a text file that does not read as (ext)xyz (its
        job then says what is wrong).

    Raises
    ------
    DataError
        An (ext)xyz dataset that is not text (a binary file), before any job.
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
    try:
        return sum(1 for _ in _xyz_frame_lines(path))
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not a UTF-8 text file (byte {exc.start} is {exc.object[exc.start]:#04x}), "
            "so not extxyz; give the structures as extxyz, or name their ASE format in the "
            "dataset's format key"
        ) from exc
    except ValueError:
        return None


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
