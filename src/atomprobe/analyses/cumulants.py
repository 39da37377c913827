"""Cumulant pooling orders against each other: the ``cumulants`` step (paper B).

φ^(K) stacks the first K cumulants of a structure's per-atom features
(:func:`atomprobe.features.pooling.cumulant_pool`); GFRE(φ^(K) → φ^(K')) says how much of the
higher orders the lower ones reconstruct linearly.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from atomprobe.analyses.reconstruction import (
    RELATIVE_ALPHAS,
    pointwise_gfre,
    root_mean_square,
    train_test_indices,
)
from atomprobe.features.pooling import cumulant_pool

log = logging.getLogger(__name__)


def cumulant_features(
    index: pd.DataFrame, F: np.ndarray, max_order: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """φ^(max_order) per structure from per-atom features, single-atom structures dropped.

    Parameters
    ----------
    index : DataFrame
        One row per atom with at least the column ``id`` (structure id), as from
        :func:`atomprobe.features.read_atom_features`.
    F : ndarray of shape (n_atoms, n_features)
        Per-atom features, rows matching ``index``.
    max_order : int
        Highest cumulant order K (1 … 8).

    Returns
    -------
    ids : ndarray of shape (n_kept,)
        Ids of the structures kept (more than one atom), in order of first appearance.
    phi : ndarray of shape (n_kept, max_order * n_features)
        Cumulant-pooled features φ^(K), float64, in the units of the features (see
        :func:`atomprobe.features.pooling.cumulant_pool`).
    n_dropped : int
        Number of single-atom structures dropped.
    """
    segment, ids = pd.factorize(index["id"])
    phi = cumulant_pool(F, segment, len(ids), order=max_order)
    keep = np.bincount(segment, minlength=len(ids)) > 1
    return np.asarray(ids)[keep], phi[keep], int((~keep).sum())


def cumulant_order_gfre(
    phi: np.ndarray,
    max_order: int,
    n_test: int,
    seed: int,
    alphas: np.ndarray = RELATIVE_ALPHAS,
) -> pd.DataFrame:
    """GFRE(φ^(K) → φ^(K')) for every pair of cumulant orders K, K' in 1 … max_order.

    One seeded train/test split serves every pair.

    Parameters
    ----------
    phi : ndarray of shape (n_structures, max_order * n_features)
        Cumulant-pooled features, block-ordered as from ``cumulant_pool``: the first K·d columns
        are φ^(K).
    max_order : int
        Highest cumulant order in ``phi``.
    n_test : int
        Test structures (at least two structures must remain for training).
    seed : int
        Seed of the train/test split.
    alphas : ndarray of shape (n_alphas,), default=RELATIVE_ALPHAS
        Relative alphas of the ridge (config ``reconstruction.relative_alphas``).

    Returns
    -------
    DataFrame
        One row per (K, K') with the columns ``source_order``, ``target_order``, ``value`` (GFRE,
        dimensionless), ``n_train`` and ``n_test``.

    Raises
    ------
    DataError
        A test size that leaves fewer than two training rows, or constant features.
    """
    d = phi.shape[1] // max_order
    orders = range(1, max_order + 1)
    blocks = [phi[:, : K * d] for K in orders]
    train_idx, test_idx = train_test_indices(len(phi), n_test, seed)
    rows = []
    for K, X in zip(orders, blocks, strict=True):
        values = root_mean_square(pointwise_gfre(X, blocks, train_idx, test_idx, alphas))
        rows += [
            {"source_order": K, "target_order": K_target, "value": float(value)}
            for K_target, value in zip(orders, values, strict=True)
        ]
    frame = pd.DataFrame(rows)
    frame["n_train"], frame["n_test"] = len(train_idx), len(test_idx)
    return frame
