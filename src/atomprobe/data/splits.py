"""Reproducible train/val/test/probe splits of a structure table.

Models are trained on ``train``/``val``/``test``; features are extracted and probed on
``probe``. With ``disjoint=True`` the four sets are drawn without overlap from one random
permutation, so no probed structure was seen in training. With ``disjoint=False`` train/val/test
are drawn as before and ``probe`` independently from all structures; an id may then appear twice
in the table (e.g. once as ``train`` and once as ``probe``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from atomprobe.errors import ConfigError, DataError
from atomprobe.io import read_parquet

SPLITS = ("train", "val", "test", "probe")


def check_split_sizes(n: int, sizes: Mapping[str, int], disjoint: bool, key: str) -> None:
    """The splits fit in a dataset of ``n`` structures.

    Parameters
    ----------
    n : int
        Structures in the dataset.
    sizes : mapping of str to int
        Structures in each of ``train``, ``val``, ``test`` and ``probe``.
    disjoint : bool
        Probe drawn apart from train/val/test (then the four add up).
    key : str
        Config key named in the message.

    Raises
    ------
    ConfigError
        One line with the sizes, what they need and what exists.
    """
    counts = {name: int(sizes[name]) for name in SPLITS}
    training = counts["train"] + counts["val"] + counts["test"]
    needed = training + counts["probe"] if disjoint else max(training, counts["probe"])
    if needed > n:
        raise ConfigError(
            f"{key}: sizes {counts} need {needed} structures "
            f"({'disjoint' if disjoint else 'probe may overlap'}), only {n} exist; lower them"
        )


def make_splits(
    ids: Sequence[str],
    sizes: dict[str, int],
    seed: int,
    disjoint: bool = True,
    key: str = "data.splits",
) -> pd.DataFrame:
    """Draw the splits.

    Args:
        ids: structure ids, unique.
        sizes: number of structures for each of ``train``, ``val``, ``test``, ``probe``.
        seed: seed of the random draw (numpy ``SeedSequence``; same seed, same splits).
        disjoint: draw probe disjoint from train/val/test (see the module docstring).
        key: config key named in error messages.

    Returns:
        Frame with columns ``id`` and ``split``, rows grouped by split in :data:`SPLITS` order,
        and within a split in the order of ``ids``.
    """
    ids_array = np.asarray(ids, dtype=object)
    n = len(ids_array)
    check_split_sizes(n, sizes, disjoint, key)
    counts = [int(sizes[name]) for name in SPLITS]
    split_rng, probe_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    order = split_rng.permutation(n)
    bounds = np.cumsum([0, *counts])
    chosen = [order[bounds[i] : bounds[i + 1]] for i in range(3)]
    if disjoint:
        chosen.append(order[bounds[3] : bounds[4]])
    else:
        chosen.append(probe_rng.choice(n, size=counts[3], replace=False))
    frames = [
        pd.DataFrame({"id": ids_array[np.sort(rows)], "split": name})
        for name, rows in zip(SPLITS, chosen, strict=True)
    ]
    return pd.concat(frames, ignore_index=True)


def read_splits(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """The ids of each split in a splits table, in file order.

    Parameters
    ----------
    path : str or os.PathLike
        Splits parquet with the columns ``id`` and ``split``.

    Returns
    -------
    dict of str to list of str
        ``{"train": [...], "val": [...], "test": [...], "probe": [...]}``: the structure ids of
        each split (empty lists for splits the table lacks).

    Raises
    ------
    DataError
        The table has split names other than train, val, test and probe.
    """
    table, _ = read_parquet(path, columns=["id", "split"])
    unknown = sorted(set(table["split"]) - set(SPLITS))
    if unknown:
        raise DataError(f"{path}: unknown split names {unknown}; rebuild it with the splits rule")
    return {name: table.loc[table["split"] == name, "id"].tolist() for name in SPLITS}
