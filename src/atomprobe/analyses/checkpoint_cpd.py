"""R² along training: the CPD probe on every kept training checkpoint's features.

The training-budget evidence the pipeline already keeps: each trained model's pooled
last-layer features at every kept epoch (``results/features/{model}/{dataset}_checkpoints.parquet``)
are probed exactly as the final model's are (Ridge, same composition encoding, folds, scaling
and penalties as ``cpd``), for the targets of ``render.task_alignment`` and the main target.
A claim's statistic recomputed per epoch says whether it is still moving when training stops
(the ``cause`` of the reproduction report).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from atomprobe.cpd.scores import cpd_scores
from atomprobe.data.composition import composition_matrix, encode_counts
from atomprobe.errors import DataError

CHECKPOINT_CPD_COLUMNS = {
    "model": "trained model",
    "dataset": "dataset of the probed structures (the model's training dataset)",
    "epoch": "training epoch of the checkpoint",
    "layer": "always 'last': checkpoints keep the pooled last layer only",
    "group": "always 'all': every feature column",
    "target": "probed target (never residualised)",
    "representation": "full or geom_v2 (per-fold composition projection)",
    "probe": "always ridge",
    "repeat": "CV repeat",
    "fold": "CV fold",
    "r2": "out-of-fold R² (dimensionless)",
}


def checkpoint_scores(
    checkpoints: pd.DataFrame,
    structures: pd.DataFrame,
    targets: list[str],
    encoding: str,
    settings: Any,
    representations: tuple[str, ...] = ("full", "geom_v2"),
) -> pd.DataFrame:
    """Per-fold Ridge R² of every checkpoint's features.

    Parameters
    ----------
    checkpoints : DataFrame
        Columns ``epoch``, ``id`` and the feature columns (one row per structure and epoch).
    structures : DataFrame
        The structure table rows of those ids (``numbers`` and the targets).
    targets : list of str
        Target columns probed.
    encoding : str
        Composition encoding (resolved: counts, fraction or presence).
    settings : ProbeSettings
        Folds and Ridge settings, as for ``cpd``.
    representations : tuple of str
        Representations scored.

    Returns
    -------
    DataFrame
        The columns of :data:`CHECKPOINT_CPD_COLUMNS` but ``model`` and ``dataset``.
    """
    features = [c for c in checkpoints.columns if c not in ("epoch", "id")]
    by_id = structures.set_index("id")
    frames = []
    for epoch, part in checkpoints.groupby("epoch", sort=True):
        part = part.sort_values("id")
        rows = by_id.loc[part["id"]]
        Y = rows[targets].to_numpy(dtype=np.float64)
        keep = np.isfinite(Y).all(axis=1)
        counts, _ = composition_matrix(rows["numbers"].to_numpy()[keep], encoding="counts")
        scores = cpd_scores(
            part[features].to_numpy(dtype=np.float64)[keep],
            encode_counts(counts, encoding),
            Y[keep],
            targets,
            probes=["ridge"],
            representations=representations,
            settings=settings,
        )
        frames.append(scores.assign(epoch=int(epoch), layer="last", group="all"))
    if not frames:
        raise DataError("checkpoint CPD: the checkpoint table has no epoch")
    return pd.concat(frames, ignore_index=True)
