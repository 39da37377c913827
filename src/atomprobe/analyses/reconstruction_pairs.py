"""GFRE and LFRE between every ordered pair of models: the ``reconstruction`` step (paper B).

Metrics: :mod:`atomprobe.analyses.reconstruction`; feature loading and row alignment:
:mod:`atomprobe.analyses.feature_sets`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from atomprobe.analyses.feature_sets import align_rows, group_by_dataset, load_feature_sets
from atomprobe.analyses.reconstruction import (
    capped_test_size,
    default_n_neighbors,
    pointwise_gfre,
    pointwise_lfre,
    root_mean_square,
    train_test_indices,
)
from atomprobe.io import write_parquet
from atomprobe.runner import Paths, as_path_list

log = logging.getLogger(__name__)

ERROR_COLUMNS = {
    "source": "model whose features reconstruct (X)",
    "target": "model whose features are reconstructed (Y)",
    "level": "structure (pooled features) or atom (per-atom last-layer features)",
    "dataset": "dataset of the structures",
    "value": "reconstruction error, dimensionless (0 = exact, ~1 = nothing reconstructed)",
    "n_train": "training rows of the linear map",
    "n_test": "test rows the error is averaged over",
}


def pairwise_errors(
    names: Sequence[str],
    matrices: Sequence[np.ndarray],
    n_test: int,
    seed: int,
    lfre_test_size: int | None,
    n_neighbors: int | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GFRE and LFRE for every ordered pair (diagonal included) of aligned feature matrices.

    Test set: ``n_test`` random rows (``seed``), training = the rest. LFRE is evaluated on the
    first ``lfre_test_size`` rows of the (shuffled) test set, or all of it if None.

    Parameters
    ----------
    names : sequence of str
        Model name of each matrix.
    matrices : sequence of ndarray of shape (n_samples, n_features_model)
        Feature matrices of the same rows in the same order (see
        :func:`atomprobe.analyses.feature_sets.align_rows`).
    n_test : int
        Test rows.
    seed : int
        Seed of the train/test split and of the LFRE test subsample.
    lfre_test_size : int or None
        Test rows LFRE is evaluated on; None for the whole test set.
    n_neighbors : int or None
        LFRE neighbourhood size k; None for paper B's ``min(d_x, d_y)``.

    Returns
    -------
    gfre : DataFrame
        One row per ordered pair with the columns ``source``, ``target``, ``value`` (GFRE,
        dimensionless), ``n_train`` and ``n_test``.
    lfre : DataFrame
        The same for LFRE, plus ``n_neighbors`` (the k used).

    Raises
    ------
    DataError
        Invalid features, a test size that leaves fewer than two training rows, or k larger than
        the training set.
    """
    train_idx, test_idx = train_test_indices(len(matrices[0]), n_test, seed)
    lfre_test_idx = test_idx
    if lfre_test_size is not None and lfre_test_size < n_test:
        shuffled = np.random.default_rng(seed).permutation(test_idx)
        lfre_test_idx = np.sort(shuffled[:lfre_test_size])
    gfre_rows, lfre_rows = [], []
    for source, X in zip(names, matrices, strict=True):
        log.info("GFRE/LFRE from %s (%d x %d)", source, *X.shape)
        gfre_values = root_mean_square(pointwise_gfre(X, matrices, train_idx, test_idx))
        lfre_values = root_mean_square(
            pointwise_lfre(X, matrices, train_idx, lfre_test_idx, n_neighbors)
        )
        for target, Y, g, lv in zip(names, matrices, gfre_values, lfre_values, strict=True):
            common = {"source": source, "target": target, "n_train": len(train_idx)}
            gfre_rows.append({**common, "value": float(g), "n_test": len(test_idx)})
            k = n_neighbors or default_n_neighbors(X.shape[1], Y.shape[1], len(train_idx))
            lfre_rows.append(
                {**common, "value": float(lv), "n_test": len(lfre_test_idx), "n_neighbors": k}
            )
    return pd.DataFrame(gfre_rows), pd.DataFrame(lfre_rows)


def reconstruction(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: GFRE and LFRE over all ordered model pairs, per dataset, at structure and atom level.

    inputs: ``structure`` pooled feature files, ``atoms`` per-atom feature files;
    outputs: ``gfre``, ``lfre`` parquet; params: the config ``reconstruction`` section.
    """
    levels = {
        "structure": load_feature_sets(inputs["structure"], params["layer"]),
        "atom": load_feature_sets(inputs["atoms"], atoms=True),
    }
    frames: dict[str, list[pd.DataFrame]] = {"gfre": [], "lfre": []}
    for level, feature_sets in levels.items():
        level_cfg = params[level]
        for dataset, group in group_by_dataset(feature_sets).items():
            max_rows = level_cfg["train_size"]
            if max_rows is not None:
                max_rows += level_cfg["test_size"]
            _, matrices = align_rows(group, max_rows, params["seed"])
            gfre_frame, lfre_frame = pairwise_errors(
                [fs.model for fs in group],
                matrices,
                capped_test_size(len(matrices[0]), level_cfg["test_size"]),
                params["seed"],
                params["lfre"]["test_size"],
                params["lfre"]["n_neighbors"],
            )
            for name, frame in (("gfre", gfre_frame), ("lfre", lfre_frame)):
                frame.insert(2, "level", level)
                frame.insert(3, "dataset", dataset)
                frames[name].append(frame)
    all_inputs = [*as_path_list(inputs["structure"]), *as_path_list(inputs["atoms"])]
    for name, parts in frames.items():
        columns = dict(ERROR_COLUMNS)
        if name == "lfre":
            columns["n_neighbors"] = "k, training points in each local fit"
        write_parquet(
            pd.concat(parts, ignore_index=True),
            outputs[name],
            {"analysis": name, "columns": columns},
            params=params,
            inputs=all_inputs,
        )
