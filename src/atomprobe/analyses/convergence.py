"""How the features of training checkpoints approach those of the final model (paper B).

For every saved epoch: GFRE(checkpoint → final), GFRE(final → checkpoint) and linear CKA,
on the pooled last-layer features of the same structures. Both GFREs falling to 0 (and CKA
rising to 1) means the checkpoint's feature space has converged to the final one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from atomprobe.analyses.feature_sets import (
    FeatureSet,
    align_rows,
)
from atomprobe.analyses.reconstruction import (
    RELATIVE_ALPHAS,
    capped_test_size,
    gfre,
    train_test_indices,
)
from atomprobe.analyses.similarity import linear_cka
from atomprobe.errors import DataError

CONVERGENCE_COLUMNS = {
    "model": "trained model",
    "dataset": "dataset of the structures",
    "epoch": "training epoch of the checkpoint",
    "metric": "gfre_checkpoint_to_final, gfre_final_to_checkpoint or cka",
    "value": "dimensionless (GFRE: 0 = reconstructed exactly; CKA: 1 = same up to rotation/scale)",
    "n_train": "training structures of the GFRE map",
    "n_test": "test structures (GFRE) / all structures (CKA: n_train + n_test)",
}


def checkpoint_convergence(
    checkpoints: pd.DataFrame,
    final: FeatureSet,
    n_test: int,
    seed: int,
    alphas: np.ndarray = RELATIVE_ALPHAS,
) -> pd.DataFrame:
    """Convergence metrics per epoch: GFRE in both directions and linear CKA.

    Rows are matched by structure id; ``n_test`` of them (at most half) are the GFRE test set.

    Parameters
    ----------
    checkpoints : DataFrame
        Pooled features per checkpoint: columns ``epoch``, ``id`` and the feature columns, one
        row per (epoch, structure).
    final : FeatureSet
        The final model's pooled features.
    n_test : int
        Requested GFRE test structures, capped at half of the shared structures.
    seed : int
        Seed of the train/test split.
    alphas : ndarray of shape (n_alphas,), default=RELATIVE_ALPHAS
        Relative alphas of the GFRE ridge (config ``reconstruction.relative_alphas``).

    Returns
    -------
    DataFrame
        One row per (epoch, metric) with the columns of ``CONVERGENCE_COLUMNS``: metrics
        ``gfre_checkpoint_to_final``, ``gfre_final_to_checkpoint`` and ``cka``, values
        dimensionless.

    Raises
    ------
    DataError
        ``checkpoints`` lacks ``epoch`` or ``id``, shares no structure with ``final``, or has
        invalid features.
    """
    missing = {"epoch", "id"} - set(checkpoints.columns)
    if missing:
        raise DataError(f"checkpoint features: missing columns {sorted(missing)}")
    feature_columns = [c for c in checkpoints.columns if c not in ("epoch", "id")]
    rows = []
    for epoch, part in checkpoints.groupby("epoch", sort=True):
        checkpoint = FeatureSet(
            final.model,
            final.dataset,
            part["id"].astype(str).to_numpy(),
            part[feature_columns].to_numpy(dtype=np.float32),
        )
        _, (C, H) = align_rows([checkpoint, final])
        train_idx, test_idx = train_test_indices(len(C), capped_test_size(len(C), n_test), seed)
        sizes = {"n_train": len(train_idx), "n_test": len(test_idx)}
        values = {
            "gfre_checkpoint_to_final": (gfre(C, H, train_idx, test_idx, alphas), sizes),
            "gfre_final_to_checkpoint": (gfre(H, C, train_idx, test_idx, alphas), sizes),
            "cka": (linear_cka(C, H), {"n_train": 0, "n_test": len(C)}),
        }
        rows += [
            {"epoch": int(epoch), "metric": metric, "value": value, **counts}
            for metric, (value, counts) in values.items()
        ]
    frame = pd.DataFrame(rows)
    frame.insert(0, "model", final.model)
    frame.insert(1, "dataset", final.dataset)
    return frame
