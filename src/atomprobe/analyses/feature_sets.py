"""Feature files of many models as aligned matrices: what the paper-B steps read.

A :class:`FeatureSet` is one model's features on one dataset, pooled per structure or per atom;
:func:`group_by_dataset` and :func:`align_rows` line the models of one dataset up on the rows
they share, so that row i is the same structure (or atom) in every matrix.
:func:`align_atom_rows` does the same for per-atom features reading only the rows it keeps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from atomprobe.errors import DataError
from atomprobe.features.io import read_atom_index, read_atom_values, read_features
from atomprobe.io import as_path_list, read_metadata

log = logging.getLogger(__name__)


@dataclass
class FeatureSet:
    """One model's features on one dataset, one row per structure or per atom.

    Rows are keyed by ``keys`` (structure id, or ``"<id>#<atom>"`` for atoms).

    Parameters
    ----------
    model : str
        Model name (from the feature file's metadata).
    dataset : str
        Dataset the features were computed on.
    keys : ndarray of shape (n_rows,)
        Row keys, str: structure ids, or ``"<id>#<atom>"`` (0-based atom index) for atoms.
    values : ndarray of shape (n_rows, n_features)
        Features, float32 (units of the model's features).

    Attributes
    ----------
    model : str
        Model name.
    dataset : str
        Dataset name.
    keys : ndarray of shape (n_rows,)
        Row keys.
    values : ndarray of shape (n_rows, n_features)
        Features, float32.
    """

    model: str
    dataset: str
    keys: np.ndarray
    values: np.ndarray


def model_and_dataset(path: str) -> tuple[str, str]:
    """(model, dataset) from the metadata of a feature file.

    Parameters
    ----------
    path : str
        Feature parquet written by :mod:`atomprobe.features.io`.

    Returns
    -------
    model : str
        Model name.
    dataset : str
        Dataset name.

    Raises
    ------
    DataError
        The metadata lacks ``model`` or ``dataset``.
    """
    meta = read_metadata(path)
    missing = [key for key in ("model", "dataset") if not meta.get(key)]
    if missing:
        raise DataError(f"{path}: metadata lacks {missing}; rewrite it with atomprobe.features.io")
    return str(meta["model"]), str(meta["dataset"])


def load_structure_features(path: str, layer: int | str = "last") -> FeatureSet:
    """Pooled features of one model and dataset; ``layer``: "last", an index, or "all".

    Parameters
    ----------
    path : str
        Pooled feature parquet.
    layer : int or str, default="last"
        Layer index, ``"last"`` (the highest layer) or ``"all"`` (every column).

    Returns
    -------
    FeatureSet
        Rows keyed by structure id; ``values`` of shape (n_structures, n_features), float32.

    Raises
    ------
    DataError
        Missing metadata or no columns on that layer.
    """
    model, dataset = model_and_dataset(path)
    ids, H, _ = read_features(path, layer=None if layer == "all" else layer)
    return FeatureSet(model, dataset, ids, H)


def atom_keys(index: pd.DataFrame) -> np.ndarray:
    """Row keys ``"<id>#<atom>"`` of a per-atom index.

    Parameters
    ----------
    index : DataFrame
        Per-atom index with the columns ``id`` and ``atom`` (0-based index within its structure).

    Returns
    -------
    ndarray of shape (n_atoms,)
        The keys, str.
    """
    return (index["id"].astype(str) + "#" + index["atom"].astype(str)).to_numpy()


def has_features(path: str) -> bool:
    """Whether a feature file holds features; False (with a log line) for one written empty.

    A model family that cannot run on that dataset (e.g. no periodic support on crystals) writes
    an empty feature file and records why in metadata ``note``.

    Parameters
    ----------
    path : str
        Feature parquet.

    Returns
    -------
    bool
        True when the metadata lists feature columns.
    """
    meta = read_metadata(path)
    if meta.get("columns"):
        return True
    log.warning("%s: no features (%s); skipped", path, meta.get("note") or "empty table")
    return False


def load_feature_sets(paths: str | list[str], layer: int | str = "last") -> list[FeatureSet]:
    """The pooled features (``layer``) of the non-empty feature files among ``paths``.

    Per-atom features are aligned by :func:`align_atom_rows`, which reads only the rows kept.

    Parameters
    ----------
    paths : str or list of str
        Feature parquets; empty ones (see :func:`has_features`) are skipped.
    layer : int or str, default="last"
        Layer of the pooled features (see :func:`load_structure_features`).

    Returns
    -------
    list of FeatureSet
        One per non-empty file, in input order.
    """
    return [
        load_structure_features(path, layer) for path in as_path_list(paths) if has_features(path)
    ]


def group_by_dataset(feature_sets: Sequence[FeatureSet]) -> dict[str, list[FeatureSet]]:
    """Feature sets per dataset, models in input order; a model twice per dataset is an error.

    Parameters
    ----------
    feature_sets : sequence of FeatureSet
        Feature sets of any models and datasets.

    Returns
    -------
    dict of str to list of FeatureSet
        Dataset name to its feature sets.

    Raises
    ------
    DataError
        A model with two feature sets for one dataset.
    """
    groups: dict[str, list[FeatureSet]] = {}
    for fs in feature_sets:
        group = groups.setdefault(fs.dataset, [])
        if any(other.model == fs.model for other in group):
            raise DataError(f"model {fs.model!r} has two feature files for dataset {fs.dataset!r}")
        group.append(fs)
    return groups


def shared_rows(
    keys: Sequence[np.ndarray], what: str, max_rows: int | None = None, seed: int = 0
) -> np.ndarray:
    """Keys present in every array, sorted; a seeded subsample of ``max_rows`` if given.

    Parameters
    ----------
    keys : sequence of ndarray of shape (n_rows_model,)
        Row keys of each model's features.
    what : str
        Names the dataset and models in the error.
    max_rows : int or None, default=None
        At most this many rows, drawn without replacement with ``seed``; None for all.
    seed : int, default=0
        Seed of the subsample.

    Returns
    -------
    ndarray of shape (n_rows,)
        The shared keys, sorted.

    Raises
    ------
    DataError
        No key is shared.
    """
    shared = keys[0]
    for other in keys[1:]:
        shared = np.intersect1d(shared, other)
    shared = np.sort(np.asarray(shared))
    if shared.size == 0:
        raise DataError(f"{what} share no rows")
    if max_rows is not None and shared.size > max_rows:
        rng = np.random.default_rng(seed)
        shared = np.sort(rng.choice(shared, size=max_rows, replace=False))
    return shared


def align_rows(
    group: Sequence[FeatureSet], max_rows: int | None = None, seed: int = 0
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rows shared by every feature set, in the same order in every matrix.

    Keys are sorted; if ``max_rows`` is given, a seeded subsample of that many shared rows.

    Parameters
    ----------
    group : sequence of FeatureSet
        Feature sets of one dataset.
    max_rows : int or None, default=None
        At most this many rows, drawn without replacement with ``seed``; None for all.
    seed : int, default=0
        Seed of the subsample.

    Returns
    -------
    keys : ndarray of shape (n_rows,)
        The shared row keys, sorted.
    matrices : list of ndarray of shape (n_rows, n_features_model)
        Each feature set's values on those rows, in the order of ``group`` (float32).

    Raises
    ------
    DataError
        The feature sets share no row.
    """
    what = f"dataset {group[0].dataset!r}: models {[fs.model for fs in group]}"
    shared = shared_rows([fs.keys for fs in group], what, max_rows, seed)
    matrices = [fs.values[pd.Index(fs.keys).get_indexer(shared)] for fs in group]
    return shared, matrices


def align_atom_rows(
    paths: str | list[str], dataset: str, max_rows: int | None = None, seed: int = 0
) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """Per-atom features of every model on ``dataset``, aligned, reading only the rows kept.

    The same rows and values as :func:`align_rows` on every model's whole per-atom table
    (rows keyed by :func:`atom_keys`), without holding any whole table: the peak is the kept
    rows of every model plus the atom indexes (paper scale: 51,000 of 360,000 QM9 atoms).

    Parameters
    ----------
    paths : str or list of str
        Per-atom feature parquets of any datasets; empty ones and other datasets are skipped.
    dataset : str
        The dataset to align.
    max_rows : int or None, default=None
        At most this many shared atoms, drawn without replacement with ``seed``; None for all.
    seed : int, default=0
        Seed of the subsample.

    Returns
    -------
    models : list of str
        Model of each matrix, in input order (empty when no file is on ``dataset``).
    matrices : list of ndarray of shape (n_rows, n_features_model)
        Each model's per-atom features on the shared rows, float32.
    structures : ndarray of shape (n_rows,)
        Structure id of each row, str (what a split by structure groups on).

    Raises
    ------
    DataError
        A model with two files for the dataset, missing metadata or index columns, or no shared
        row.
    """
    models, files, keys = [], [], []
    for path in as_path_list(paths):
        if not has_features(path):
            continue
        model, file_dataset = model_and_dataset(path)
        if file_dataset != dataset:
            continue
        if model in models:
            raise DataError(f"model {model!r} has two feature files for dataset {dataset!r}")
        models.append(model)
        files.append(path)
        keys.append(atom_keys(read_atom_index(path)))
    if not models:
        return [], [], np.array([], dtype=str)
    shared = shared_rows(keys, f"dataset {dataset!r}: models {models}", max_rows, seed)
    matrices = [
        read_atom_values(path, rows=pd.Index(file_keys).get_indexer(shared))
        for path, file_keys in zip(files, keys, strict=True)
    ]
    structures = pd.Series(shared).str.rsplit("#", n=1).str[0].to_numpy(dtype=str)
    return models, matrices, structures
