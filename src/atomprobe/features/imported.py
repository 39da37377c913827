"""Features you bring: a ``source: features`` entry's files, checked and written as atomprobe's
feature tables (``results/features/{model}/{dataset}[_atoms].parquet``, docs/formats.md).

Two kinds of file are accepted:

* a table written by :func:`~atomprobe.features.io.write_features` /
  :func:`~atomprobe.features.io.write_atom_features` (atomprobe's column metadata): its
  ``model`` and ``dataset`` must be the entry's, and it is copied as it is;
* a **plain table**, as people write them: parquet or CSV with an ``id`` column (per atom:
  ``id``, ``atom``, ``Z``) and numeric feature columns, or an ``.npz`` with the arrays ``id``
  (per atom also ``atom`` and ``Z``) and ``features`` of shape (n_rows, d). Its columns are
  taken as one layer of scalar (L = 0) features, in file order, and the job says in one line
  that these defaults were used; the original column names are kept in the metadata.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from atomprobe.errors import DataError
from atomprobe.features.io import (
    ATOM_INDEX_COLUMNS,
    check_feature_file,
    check_feature_ids,
    check_ids_known,
    write_atom_features,
    write_features,
)
from atomprobe.io import Paths, atomic_path, read_metadata

log = logging.getLogger(__name__)

PLAIN_SUFFIXES = (".parquet", ".csv", ".npz")
PLAIN_LAYER_NAME = "plain table"


def has_column_metadata(path: str | os.PathLike[str]) -> bool:
    """Whether a file is a parquet table atomprobe wrote (it records its feature columns).

    Parameters
    ----------
    path : str or os.PathLike
        Any file.

    Returns
    -------
    bool
        True for a ``.parquet`` file whose metadata has ``columns``.
    """
    return Path(path).suffix.lower() == ".parquet" and "columns" in read_metadata(path)


def read_plain_table(
    path: str | os.PathLike[str], atoms: bool = False
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """The index and features of a plain table (module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.parquet``, ``.csv`` or ``.npz`` file.
    atoms : bool, default=False
        A per-atom table: the index is ``id``, ``atom`` (0-based index in its structure), ``Z``.

    Returns
    -------
    index : DataFrame of shape (n_rows, 1 or 3)
        ``id`` (str), and per atom ``atom`` and ``Z`` (int).
    F : ndarray of shape (n_rows, n_features)
        The features, float32 (the table's units).
    names : list of str
        The feature columns' names in the file (``features[:, k]`` -> ``"k"`` for ``.npz``).

    Raises
    ------
    DataError
        One line naming the file: another suffix, a missing index column or array, or feature
        columns that are not numeric.
    """
    path = Path(path)
    index_columns = list(ATOM_INDEX_COLUMNS if atoms else ATOM_INDEX_COLUMNS[:1])
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in [*index_columns, "features"] if k not in arrays.files]
            if missing:
                raise DataError(
                    f"{path}: no arrays {missing} (it has {arrays.files}); an .npz of features "
                    f"holds {[*index_columns, 'features']}"
                )
            index = pd.DataFrame({k: arrays[k] for k in index_columns})
            F = np.asarray(arrays["features"])
        if F.ndim != 2 or len(F) != len(index):
            raise DataError(f"{path}: features must be ({len(index)}, d), got {F.shape}")
        names = [str(k) for k in range(F.shape[1])]
    elif suffix in (".csv", ".parquet"):
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype={"id": str})
        else:
            frame = pd.read_parquet(path)
        missing = [c for c in index_columns if c not in frame.columns]
        if missing:
            raise DataError(f"{path}: no columns {missing}; a plain table has {index_columns}")
        names = [str(c) for c in frame.columns if c not in index_columns]
        text = [c for c in names if not pd.api.types.is_numeric_dtype(frame[c])]
        if text:
            raise DataError(f"{path}: columns {text[:3]} are not numeric; features are numbers")
        index, F = frame[index_columns], frame[names].to_numpy()
    else:
        raise DataError(f"{path}: not a feature table; give {list(PLAIN_SUFFIXES)}")
    if F.shape[1] == 0:
        raise DataError(f"{path}: no feature columns besides {index_columns}")
    index = index.assign(id=index["id"].astype(str))
    return index, F.astype(np.float32), names


def plain_columns(n_features: int) -> list[dict[str, Any]]:
    """The default description of a plain table's columns.

    Parameters
    ----------
    n_features : int
        Feature columns.

    Returns
    -------
    list of dict
        One description per column: layer 0 (``plain table``), stream ``scalar``, L 0,
        channel = the column's position.
    """
    return [
        {"layer": 0, "layer_name": PLAIN_LAYER_NAME, "stream": "scalar", "L": 0, "channel": k}
        for k in range(n_features)
    ]


def import_features(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: a ``source: features`` entry's file -> atomprobe's feature table.

    inputs: ``features`` (the file the entry brings) and ``structures`` (its dataset's table:
    every id must be a structure of it). outputs: ``features``. params: ``model``,
    ``dataset``, ``atoms`` (a per-atom table).
    """
    source, target = Path(str(inputs["features"])), Path(str(outputs["features"]))
    model, dataset, atoms = params["model"], params["dataset"], bool(params["atoms"])
    if has_column_metadata(source):
        check_feature_file(source, model, dataset, atoms=atoms)
        check_feature_ids(source, str(inputs["structures"]))
        with atomic_path(target) as temporary:
            shutil.copyfile(source, temporary)
        log.info("%s: atomprobe feature table of %s on %s, copied", source, model, dataset)
        return
    index, F, names = read_plain_table(source, atoms)
    check_ids_known(index["id"], str(inputs["structures"]), source)
    log.info(
        "%s has no atomprobe column metadata: defaults used, one layer of %d scalar (L=0) "
        "columns in file order (docs/formats.md)",
        source,
        F.shape[1],
    )
    metadata: Mapping[str, Any] = {"model": model, "dataset": dataset, "source_columns": names}
    columns = plain_columns(F.shape[1])
    if atoms:
        write_atom_features(
            target,
            index["id"],
            index["atom"].to_numpy(),
            index["Z"].to_numpy(),
            F,
            columns,
            metadata,
            params,
            [source],
        )
    else:
        write_features(target, index["id"], F, columns, metadata, params, [source])


def check_brought_file(path: str | os.PathLike[str], model: str, dataset: str, atoms: bool) -> None:
    """Check a brought file before any job.

    An atomprobe table: its metadata (:func:`check_feature_file`); a plain table: its suffix
    and (parquet) its index columns.

    Parameters
    ----------
    path : str or os.PathLike
        The file a ``source: features`` entry brings.
    model, dataset : str
        The entry's name and the dataset the file is given for.
    atoms : bool
        A per-atom table.

    Raises
    ------
    DataError
        One line naming the file.
    """
    path = Path(path)
    if has_column_metadata(path):
        check_feature_file(path, model, dataset, atoms=atoms)
        return
    if path.suffix.lower() not in PLAIN_SUFFIXES:
        raise DataError(f"{path}: not a feature table; give {list(PLAIN_SUFFIXES)}")
    if path.suffix.lower() == ".parquet":
        index_columns = ATOM_INDEX_COLUMNS if atoms else ATOM_INDEX_COLUMNS[:1]
        missing = [c for c in index_columns if c not in pq.read_schema(path).names]
        if missing:
            raise DataError(
                f"{path}: no columns {missing}; a plain table has {list(index_columns)}"
            )
