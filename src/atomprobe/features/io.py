"""Read and write feature tables: pooled per structure and per atom (see docs/formats.md).

A feature table is a parquet with an ``id`` column (and ``atom``, ``Z`` for per-atom tables)
followed by one float32 column per feature, named ``l{layer}.{stream}.L{L}.c{channel:04d}``.
Its metadata ``columns`` holds one dict per feature column,
``{name, layer, layer_name, stream, L, channel, invariant}``, so analyses select "layer 2, L=1"
or "the vector stream" by value instead of parsing names.

``invariant`` says how a column became rotation invariant (:data:`INVARIANT_CONSTRUCTIONS`):
``atom_norm`` (every column of a per-atom table, and of a pooled table before vector-aware
pooling: L=0 as it is, L>=1 by the norm over m per atom, then pooled) or ``pooled_norm`` (an
L>=1 channel's m-components pooled over the atoms of a structure first, then the norm; named
``l{layer}.{stream}.L{L}.pooled_norm.c{channel:04d}``, pooled tables only). Tables written
before the field existed read as ``atom_norm``. Readers return ``atom_norm`` columns unless
asked for others, so every analysis that does not ask sees exactly the columns it saw before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from atomprobe.errors import DataError
from atomprobe.io import ParquetBatchWriter, read_metadata, read_parquet, write_parquet

COLUMN_KEYS = ("name", "layer", "layer_name", "stream", "L", "channel", "invariant")
#: Keys every column description must give (``name`` is derived, ``invariant`` defaults to
#: ``atom_norm``).
REQUIRED_COLUMN_KEYS = COLUMN_KEYS[1:6]
#: How a column became rotation invariant: per-atom norm then pooling (``atom_norm``, every
#: column of today's tables), or pooling of the m-components then norm (``pooled_norm``).
INVARIANT_CONSTRUCTIONS = ("atom_norm", "pooled_norm")
ATOM_INDEX_COLUMNS = ("id", "atom", "Z")

PathLike = str | os.PathLike[str]


def column_name(layer: int, stream: str, L: int, channel: int, invariant: str = "atom_norm") -> str:
    """Feature column name, e.g. ``column_name(2, "scalar", 0, 5) == "l2.scalar.L0.c0005"``.

    Parameters
    ----------
    layer : int
        Layer index (0 = first hooked layer).
    stream : str
        Feature stream, e.g. ``"scalar"`` or ``"vector"``.
    L : int
        Irrep order of the channel.
    channel : int
        Channel index within (layer, stream, L).
    invariant : {"atom_norm", "pooled_norm"}, default="atom_norm"
        Invariant construction of the column (see :data:`INVARIANT_CONSTRUCTIONS`).

    Returns
    -------
    str
        ``l{layer}.{stream}.L{L}.c{channel:04d}``, with ``.pooled_norm`` before the channel
        for a ``pooled_norm`` column.
    """
    construction = "" if invariant == "atom_norm" else f".{invariant}"
    return f"l{layer}.{stream}.L{L}{construction}.c{channel:04d}"


def _complete_columns(columns: Sequence[Mapping[str, Any]], n_features: int) -> list[dict]:
    """Check the column descriptions against ``n_features``; fill in missing names."""
    if len(columns) != n_features:
        raise DataError(
            f"feature columns: {len(columns)} descriptions for {n_features} feature columns; "
            "pass one dict per column of H"
        )
    completed = []
    for i, col in enumerate(columns):
        missing = [k for k in REQUIRED_COLUMN_KEYS if k not in col]
        if missing:
            raise DataError(
                f"feature column {i}: missing keys {missing}; give {REQUIRED_COLUMN_KEYS}"
            )
        entry = {
            "layer": int(col["layer"]),
            "layer_name": str(col["layer_name"]),
            "stream": str(col["stream"]),
            "L": int(col["L"]),
            "channel": int(col["channel"]),
            "invariant": str(col.get("invariant", "atom_norm")),
        }
        if entry["invariant"] not in INVARIANT_CONSTRUCTIONS:
            raise DataError(
                f"feature column {i}: invariant {entry['invariant']!r} not in "
                f"{INVARIANT_CONSTRUCTIONS}; omit it for atom_norm"
            )
        if entry["invariant"] == "pooled_norm" and entry["L"] == 0:
            raise DataError(
                f"feature column {i}: invariant 'pooled_norm' needs L >= 1 (L=0 has no m to "
                "norm over); give it invariant 'atom_norm'"
            )
        expected = column_name(
            entry["layer"], entry["stream"], entry["L"], entry["channel"], entry["invariant"]
        )
        name = str(col.get("name", expected))
        if name != expected:
            raise DataError(f"feature column {i}: name {name!r} should be {expected!r}")
        completed.append({"name": name, **entry})
    names = [c["name"] for c in completed]
    if len(set(names)) != len(names):
        raise DataError(
            "feature columns: duplicate (layer, stream, L, channel, invariant); make them unique"
        )
    return completed


def _feature_matrix(H: np.ndarray, n_rows: int, what: str) -> np.ndarray:
    H = np.asarray(H)
    if H.ndim != 2 or H.shape[0] != n_rows:
        raise DataError(f"{what}: expected shape ({n_rows}, d), got {H.shape}")
    H = H.astype(np.float32, copy=False)
    if not np.isfinite(H).all():
        raise DataError(f"{what}: contains NaN or inf; check the model outputs")
    return H


def write_features(
    path: PathLike,
    ids: Sequence[str],
    H: np.ndarray,
    columns: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[PathLike] = (),
) -> None:
    """Write pooled features H (n_structures, d) float32 for structures ``ids``.

    Parameters
    ----------
    path : str or os.PathLike
        Output parquet.
    ids : sequence of str
        Structure ids, unique, one per row of H.
    H : ndarray of shape (n_structures, n_features)
        Pooled features (finite), stored as float32 (units of the model's features).
    columns : sequence of mapping
        One dict per column of H with keys layer, layer_name, stream, L, channel
        (``name`` is derived if absent; ``invariant`` is ``atom_norm`` if absent).
    metadata : mapping
        Model, family, dataset, pooling, invariant, ...
    params : mapping or None, default=None
        Parameters recorded in the provenance (see :func:`atomprobe.io.provenance`).
    inputs : sequence of str or os.PathLike, default=()
        Input files whose sha256 is recorded.

    Raises
    ------
    DataError
        Duplicate ids, H of the wrong shape or with NaN/inf, or column descriptions that do not
        match H (wrong count, missing keys, wrong or duplicate names).
    """
    ids = [str(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: structure ids are not unique")
    H = _feature_matrix(H, len(ids), f"{path}: H")
    cols = _complete_columns(columns, H.shape[1])
    frame = pd.concat(
        [pd.DataFrame({"id": ids}), pd.DataFrame(H, columns=[c["name"] for c in cols])], axis=1
    )
    write_parquet(frame, path, {**metadata, "columns": cols}, params=params, inputs=inputs)


def feature_columns(path: PathLike) -> pd.DataFrame:
    """The column descriptions of a feature table, in file order.

    Parameters
    ----------
    path : str or os.PathLike
        Feature parquet.

    Returns
    -------
    DataFrame
        One row per feature column with the columns name, layer, layer_name, stream, L,
        channel and invariant (``atom_norm`` where the file does not record it).

    Raises
    ------
    DataError
        The file has no ``columns`` metadata.
    """
    meta = read_metadata(path)
    if "columns" not in meta:
        raise DataError(f"{path}: no 'columns' metadata; write it with atomprobe.features.io")
    described = [{"invariant": "atom_norm", **column} for column in meta["columns"]]
    return pd.DataFrame(described, columns=list(COLUMN_KEYS))


def select_columns(
    columns: pd.DataFrame,
    layer: int | str | None = None,
    L: int | None = None,
    stream: str | None = None,
    invariant: str | None = "atom_norm",
) -> pd.DataFrame:
    """Rows of ``columns`` matching every given filter; ``layer="last"`` is the highest layer
    and ``invariant=None`` keeps every invariant construction."""
    mask = np.ones(len(columns), dtype=bool)
    if layer == "last":
        layer = int(columns["layer"].max())
    elif layer is not None and not isinstance(layer, int | np.integer):
        raise DataError(f"layer={layer!r}: expected None, an int or 'last'")
    if layer is not None:
        mask &= columns["layer"].to_numpy() == layer
    if L is not None:
        mask &= columns["L"].to_numpy() == L
    if stream is not None:
        mask &= columns["stream"].to_numpy() == stream
    if invariant is not None:
        mask &= columns["invariant"].to_numpy() == invariant
    selected = columns[mask].reset_index(drop=True)
    if selected.empty:
        keys = ["layer", "stream", "L", "invariant"]
        available = sorted(set(columns[keys].itertuples(index=False, name=None)))
        raise DataError(
            f"no feature columns with layer={layer}, L={L}, stream={stream}, "
            f"invariant={invariant}; available (layer, stream, L, invariant): {available}"
        )
    return selected


def read_features(
    path: PathLike,
    layer: int | str | None = None,
    L: int | None = None,
    stream: str | None = None,
    invariant: str | None = "atom_norm",
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Pooled features, optionally one layer / irrep order / stream / invariant construction.

    Parameters
    ----------
    path : str or os.PathLike
        Pooled feature parquet.
    layer : int or str or None, default=None
        Layer index, ``"last"`` (the highest layer) or None for every layer.
    L : int or None, default=None
        Irrep order to keep; None for all.
    stream : str or None, default=None
        Stream to keep; None for all.
    invariant : str or None, default="atom_norm"
        Invariant construction to keep (:data:`INVARIANT_CONSTRUCTIONS`): the default is every
        column of a table without vector-aware pooling; None keeps ``pooled_norm`` columns too
        (written after all ``atom_norm`` ones).

    Returns
    -------
    ids : ndarray of shape (n_structures,)
        Structure ids, str.
    H : ndarray of shape (n_structures, n_features)
        The selected features, float32 (units of the model's features).
    columns : DataFrame
        Descriptions of the selected columns (n_features rows; see :func:`feature_columns`).

    Raises
    ------
    DataError
        No ``columns`` metadata, a bad ``layer``, or no column matching the filters.
    """
    columns = select_columns(feature_columns(path), layer, L, stream, invariant)
    frame, _ = read_parquet(path, ["id", *columns["name"]])
    H = frame[list(columns["name"])].to_numpy(dtype=np.float32)
    return frame["id"].to_numpy(dtype=str), H, columns


def write_atom_features(
    path: PathLike,
    ids: Sequence[str],
    atom: np.ndarray,
    Z: np.ndarray,
    F: np.ndarray,
    columns: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[PathLike] = (),
) -> None:
    """Write per-atom features F (n_atoms, d) float32, one row per atom.

    Row i is atom ``atom[i]`` (0-based index within its structure) of structure ``ids[i]`` with
    atomic number ``Z[i]``.

    Parameters
    ----------
    path : str or os.PathLike
        Output parquet.
    ids : sequence of str
        Structure id of each atom (n_atoms values).
    atom : ndarray of shape (n_atoms,)
        Index of each atom within its structure, stored as int32.
    Z : ndarray of shape (n_atoms,)
        Atomic number of each atom, stored as int16.
    F : ndarray of shape (n_atoms, n_features)
        Per-atom features (finite), stored as float32.
    columns : sequence of mapping
        One dict per column of F (see :func:`write_features`).
    metadata : mapping
        Model, family, dataset, ...
    params : mapping or None, default=None
        Parameters recorded in the provenance.
    inputs : sequence of str or os.PathLike, default=()
        Input files whose sha256 is recorded.

    Raises
    ------
    DataError
        ``ids``, ``atom`` and ``Z`` of different lengths, F of the wrong shape or with NaN/inf,
        or column descriptions that do not match F.
    """
    with AtomFeatureWriter(path, metadata, params, inputs) as writer:
        writer.write(ids, atom, Z, F, columns)


class AtomFeatureWriter:
    """Write a per-atom feature table a batch of atoms at a time (one row group each).

    The table :func:`write_atom_features` writes, without holding every atom's features:
    extraction streams each batch of structures here, so its memory does not grow with the
    dataset. A context manager: the file appears only when the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        Output parquet.
    metadata : mapping
        Model, family, dataset, ... (``columns`` is added from the first batch).
    params : mapping or None, default=None
        Parameters recorded in the provenance.
    inputs : sequence of str or os.PathLike, default=()
        Input files whose sha256 is recorded.
    """

    def __init__(
        self,
        path: PathLike,
        metadata: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        inputs: Sequence[PathLike] = (),
    ) -> None:
        self.path = path
        self._columns: list[dict] | None = None
        self._writer = ParquetBatchWriter(path, dict(metadata), params, inputs)

    def __enter__(self) -> AtomFeatureWriter:
        self._writer.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._writer.__exit__(*exc_info)

    def write(
        self,
        ids: Sequence[str],
        atom: np.ndarray,
        Z: np.ndarray,
        F: np.ndarray,
        columns: Sequence[Mapping[str, Any]],
    ) -> None:
        """Append atoms: ``atom[i]`` (0-based index within its structure) of structure
        ``ids[i]`` with atomic number ``Z[i]`` and features ``F[i]`` (F: (n_atoms, d), finite,
        stored as float32; ``columns``: one dict per column of F, the same in every batch).

        Raises
        ------
        DataError
            ``ids``, ``atom`` and ``Z`` of different lengths, F of the wrong shape or with
            NaN/inf, or column descriptions that do not match F or the first batch's.
        """
        n_atoms = len(ids)
        atom, Z = np.asarray(atom, dtype=np.int32), np.asarray(Z, dtype=np.int16)
        if atom.shape != (n_atoms,) or Z.shape != (n_atoms,):
            raise DataError(f"{self.path}: ids, atom and Z must all have length {n_atoms}")
        F = _feature_matrix(F, n_atoms, f"{self.path}: F")
        cols = _complete_columns(columns, F.shape[1])
        if self._columns is None:
            self._columns = self._writer.metadata["columns"] = cols
        elif cols != self._columns:
            raise DataError(f"{self.path}: a batch has other feature columns than the first")
        index = pd.DataFrame({"id": [str(i) for i in ids], "atom": atom, "Z": Z})
        names = [c["name"] for c in cols]
        self._writer.write(pd.concat([index, pd.DataFrame(F, columns=names)], axis=1))


# Bytes of decoded columns one read of a per-atom table may hold beside its result: a
# full-QM9 table (2.4 million atoms) then reads about 13 columns at a time.
ATOM_READ_BUDGET_BYTES = 256 * 2**20


def read_atom_index(path: PathLike) -> pd.DataFrame:
    """The per-atom index of a per-atom feature table, without its features.

    Parameters
    ----------
    path : str or os.PathLike
        Per-atom feature parquet.

    Returns
    -------
    DataFrame
        One row per atom, in file order, with the columns ``id``, ``atom`` (0-based index within
        its structure) and ``Z`` (atomic number).

    Raises
    ------
    DataError
        Missing per-atom index columns.
    """
    missing = set(ATOM_INDEX_COLUMNS) - set(pq.read_schema(path).names)
    if missing:
        raise DataError(f"{path}: missing per-atom columns {sorted(missing)}")
    frame, _ = read_parquet(path, list(ATOM_INDEX_COLUMNS))
    return frame


def read_atom_values(path: PathLike, rows: np.ndarray | None = None) -> np.ndarray:
    """The feature matrix of a per-atom table, all rows or only ``rows``, without its index.

    Reads a few columns at a time (:data:`ATOM_READ_BUDGET_BYTES`) into the preallocated
    result, so the peak is the result plus one group of decoded columns, where reading the
    whole table through pandas holds the table about three times (arrow, frame, matrix).

    Parameters
    ----------
    path : str or os.PathLike
        Per-atom feature parquet.
    rows : ndarray of shape (n_selected,) or None, default=None
        Row positions (0-based, in file order) to read, returned in the order given; None for
        every row.

    Returns
    -------
    ndarray of shape (n_selected, n_features)
        Per-atom features, float32 (a float64 column is rounded as ``astype(np.float32)``
        rounds it).

    Raises
    ------
    DataError
        No ``columns`` metadata or a row position out of range.
    """
    names = list(feature_columns(path)["name"])
    parquet = pq.ParquetFile(path)
    n_rows = parquet.metadata.num_rows
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
            raise DataError(f"{path}: row positions must lie in [0, {n_rows})")
    F = np.empty((n_rows if rows is None else len(rows), len(names)), dtype=np.float32)
    per_read = max(1, ATOM_READ_BUDGET_BYTES // (8 * max(n_rows, 1)))
    for start in range(0, len(names), per_read):
        chunk = names[start : start + per_read]
        table = parquet.read(columns=chunk)
        for j, name in enumerate(chunk, start):
            values = table.column(name).to_numpy()
            F[:, j] = values if rows is None else values[rows]
    return F


def read_atom_features(
    path: PathLike, rows: np.ndarray | None = None
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Per-atom features with their atom index and column descriptions, all rows or ``rows``.

    Only the rows asked for are kept in memory (besides the index and a few decoded columns;
    see :func:`read_atom_values`): analyses that use a subsample of the atoms read only that
    subsample.

    Parameters
    ----------
    path : str or os.PathLike
        Per-atom feature parquet.
    rows : ndarray of shape (n_selected,) or None, default=None
        Row positions (0-based, in file order) to read, returned in the order given; None for
        every row.

    Returns
    -------
    index : DataFrame
        One row per returned atom with the columns ``id``, ``atom`` (0-based index within its
        structure) and ``Z`` (atomic number).
    F : ndarray of shape (n_selected, n_features)
        Per-atom features, float32.
    columns : DataFrame
        Descriptions of the feature columns (n_features rows; see :func:`feature_columns`).

    Raises
    ------
    DataError
        No ``columns`` metadata, missing per-atom index columns, or a row position out of range.
    """
    index = read_atom_index(path)
    F = read_atom_values(path, rows)
    if rows is not None:
        index = index.iloc[np.asarray(rows, dtype=np.int64)].reset_index(drop=True)
    return index, F, feature_columns(path)


def check_feature_file(path: PathLike, model: str, dataset: str, atoms: bool = False) -> None:
    """Check a feature table a ``source: features`` entry brings, before any job reads it.

    Parameters
    ----------
    path : str or os.PathLike
        The parquet file.
    model : str
        The registry name of the entry: the file's metadata ``model`` must be it.
    dataset : str
        The dataset it is given for: the file's metadata ``dataset`` must be it.
    atoms : bool, default=False
        A per-atom table (index columns ``id``, ``atom``, ``Z``) instead of a pooled one.

    Raises
    ------
    DataError
        One line naming the file, what is wrong and how to write it
        (:func:`write_features` / :func:`write_atom_features`, layout in docs/formats.md).
    """
    writer = "write_atom_features" if atoms else "write_features"
    how = f"write it with atomprobe.features.io.{writer} (docs/formats.md)"
    meta = read_metadata(path)
    for key, wanted in (("model", model), ("dataset", dataset)):
        if meta.get(key) != wanted:
            raise DataError(
                f"{path}: metadata {key} is {meta.get(key)!r}, expected {wanted!r}; {how}"
            )
    names = pq.read_schema(path).names
    index = ATOM_INDEX_COLUMNS if atoms else ATOM_INDEX_COLUMNS[:1]
    missing = [c for c in index if c not in names]
    described = [c.get("name") for c in meta.get("columns") or []]
    if missing or not described:
        raise DataError(f"{path}: no {list(missing) or 'columns'} in it; {how}")
    absent = [c for c in described if c not in names]
    if absent:
        raise DataError(f"{path}: columns {absent[:3]} described but absent; {how}")


def check_feature_ids(path: PathLike, structures: PathLike) -> None:
    """Every structure id of a feature table is a row of the dataset's structure table.

    Parameters
    ----------
    path : str or os.PathLike
        The feature table (pooled or per atom).
    structures : str or os.PathLike
        The structure table of its dataset.

    Raises
    ------
    DataError
        One line naming both files and a few unknown ids.
    """
    check_ids_known(read_parquet(path, columns=["id"])[0]["id"], structures, path)


def check_ids_known(ids: Sequence[str], structures: PathLike, what: PathLike) -> None:
    """DataError naming ``what`` and ``structures`` unless every id is a row of ``structures``."""
    ids = pd.unique(pd.Series(ids).astype(str))
    known = set(read_parquet(structures, columns=["id"])[0]["id"].astype(str))
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise DataError(
            f"{what}: {len(unknown)} ids are not in {structures}, e.g. {unknown[:3]}; "
            "the features must be computed on that dataset's structures"
        )
