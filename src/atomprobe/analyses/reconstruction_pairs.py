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

from atomprobe.analyses.reconstruction import (
    RELATIVE_ALPHAS,
    default_n_neighbors,
    pointwise_gfre,
    pointwise_lfre,
    root_mean_square,
    structure_test_indices,
    train_test_indices,
)

log = logging.getLogger(__name__)

ERROR_COLUMNS = {
    "source": "model whose features reconstruct (X)",
    "target": "model whose features are reconstructed (Y)",
    "level": "structure (pooled features) or atom (per-atom last-layer features)",
    "dataset": "dataset of the structures",
    "split": (
        "what the test set draws: atoms (random atoms, paper B) or structures (whole "
        "structures: no structure on both sides); structure level: structures"
    ),
    "repeat": "random test split (seed + repeat); LFRE: split 0 only",
    "value": (
        "reconstruction error, dimensionless (0 = exact, ~1 = nothing reconstructed): the RMS "
        "of the pointwise errors of the test rows"
    ),
    "median": "median of the pointwise errors of the test rows (one row cannot dominate it)",
    "n_train": "training rows of the linear map",
    "n_test": "test rows the error is averaged over",
}


def source_errors(
    names: Sequence[str],
    matrices: Sequence[np.ndarray],
    source: str,
    n_test: int,
    seed: int,
    lfre_test_size: int | None,
    n_neighbors: int | None,
    test_splits: int = 1,
    structures: np.ndarray | None = None,
    alphas: np.ndarray = RELATIVE_ALPHAS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GFRE and LFRE from one model's features to every model's (itself included).

    Test set of split r: ``n_test`` random rows drawn with seed ``seed + r``, training = the
    rest (split ``atoms`` for per-atom rows, paper B; ``structures`` for pooled rows); it
    depends only on the number of rows and the seed, so every source of one aligned group
    shares it. With ``structures`` (per-atom rows) a second reading, split ``structures``,
    draws whole structures with the same seed until their atoms reach ``n_test``
    (:func:`~atomprobe.analyses.reconstruction.structure_test_indices`), so no structure has
    atoms on both sides. GFRE is computed on each of ``test_splits`` splits (its spread over
    them is the interval of a GFRE); LFRE, one SVD per test point, on the first split only, on
    ``lfre_test_size`` seeded rows of its test set, or all of it if None.

    Parameters
    ----------
    names : sequence of str
        Model name of each matrix.
    matrices : sequence of ndarray of shape (n_samples, n_features_model)
        Feature matrices of the same rows in the same order (see
        :func:`atomprobe.analyses.feature_sets.align_rows`).
    source : str
        The model whose features reconstruct (X), one of ``names``.
    n_test : int
        Test rows.
    seed : int
        Seed of the train/test split and of the LFRE test subsample.
    lfre_test_size : int or None
        Test rows LFRE is evaluated on; None for the whole test set.
    n_neighbors : int or None
        LFRE neighbourhood size k; None for paper B's ``min(d_x, d_y)``.
    test_splits : int, default=1
        Random test splits GFRE is computed on (seeds ``seed`` … ``seed + test_splits − 1``).
    structures : ndarray of shape (n_samples,) or None, default=None
        Structure id of each row when the rows are atoms; None when they are structures.
    alphas : ndarray of shape (n_alphas,), default=RELATIVE_ALPHAS
        Relative alphas of every ridge (config ``reconstruction.relative_alphas``).

    Returns
    -------
    gfre : DataFrame
        One row per split kind, test split and target model with the columns ``source``,
        ``target``, ``split``, ``repeat`` (the split, 0-based), ``n_train``, ``value`` (GFRE,
        dimensionless), ``median`` (of the pointwise errors) and ``n_test``.
    lfre : DataFrame
        The same for LFRE on split 0, plus ``n_neighbors`` (the k used).

    Raises
    ------
    DataError
        Invalid features, a test size that leaves fewer than two training rows, or k larger than
        the training set.
    """
    X = matrices[list(names).index(source)]
    log.info("GFRE/LFRE from %s (%d x %d), %d test split(s)", source, *X.shape, test_splits)
    draws = {"structures": lambda r: train_test_indices(len(X), n_test, seed + r)}
    if structures is not None:
        draws = {
            "atoms": draws["structures"],
            "structures": lambda r: structure_test_indices(structures, n_test, seed + r),
        }
    gfre_rows, lfre_rows = [], []
    for split, draw in draws.items():
        for repeat in range(test_splits):
            train_idx, test_idx = draw(repeat)
            common = {"split": split, "repeat": repeat, "n_train": len(train_idx)}
            pointwise = pointwise_gfre(X, matrices, train_idx, test_idx, alphas)
            gfre_rows += _rows(source, names, pointwise, common)
            if repeat > 0:
                continue
            lfre_test_idx = test_idx
            if lfre_test_size is not None and lfre_test_size < len(test_idx):
                shuffled = np.random.default_rng(seed).permutation(test_idx)
                lfre_test_idx = np.sort(shuffled[:lfre_test_size])
            pointwise = pointwise_lfre(
                X, matrices, train_idx, lfre_test_idx, n_neighbors, alphas=alphas
            )
            ks = [
                n_neighbors or default_n_neighbors(X.shape[1], Y.shape[1], len(train_idx))
                for Y in matrices
            ]
            lfre_rows += [
                {**row, "n_neighbors": k}
                for row, k in zip(_rows(source, names, pointwise, common), ks, strict=True)
            ]
    return pd.DataFrame(gfre_rows), pd.DataFrame(lfre_rows)


def _rows(
    source: str, targets: Sequence[str], pointwise: np.ndarray, common: dict[str, Any]
) -> list[dict[str, Any]]:
    """One table row per target from its pointwise errors (n_targets, n_test): RMS and median."""
    return [
        {
            "source": source,
            "target": target,
            **common,
            "value": float(value),
            "median": float(median),
            "n_test": pointwise.shape[1],
        }
        for target, value, median in zip(
            targets, root_mean_square(pointwise), np.median(pointwise, axis=1), strict=True
        )
    ]


def error_columns(name: str) -> dict[str, str]:
    """Column descriptions of the ``gfre`` or ``lfre`` table.

    Parameters
    ----------
    name : {"gfre", "lfre"}
        The table.

    Returns
    -------
    dict of str to str
        Column -> description (LFRE adds ``n_neighbors``).
    """
    columns = dict(ERROR_COLUMNS)
    if name == "lfre":
        columns["n_neighbors"] = "k, training points in each local fit"
    return columns
