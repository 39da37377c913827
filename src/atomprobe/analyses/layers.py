"""Layer profile: the CPD score of every layer, with the best and the last layer marked.

``is_best`` is the single definition of a "best layer" in atomprobe: the rendered tables use it
too when ``render.layer: best``.
"""

from __future__ import annotations

import pandas as pd

from atomprobe.errors import DataError

PROFILE_KEYS = ["model", "dataset", "target", "group", "representation", "probe"]
PROFILE_COLUMNS: dict[str, str] = {
    "model": "model name",
    "dataset": "dataset probed",
    "target": "target probed",
    "group": "feature-column group",
    "representation": "full | comp | geom_v2 | geom_v1",
    "probe": "probe",
    "layer": "layer index (0 = first hooked layer)",
    "r2_mean": "mean R² over folds and repeats",
    "r2_std": "standard deviation of R² over folds and repeats",
    "is_best": "layer with the highest mean R² of its curve (ties: the lowest layer)",
    "is_last": "the model's last layer",
}


def layer_profile(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean R² per layer (PROFILE_COLUMNS) from per-fold CPD scores of one or more models.

    Parameters
    ----------
    scores : DataFrame
        Per-fold CPD scores (results/cpd tables) with the columns ``model``, ``dataset``,
        ``target``, ``group``, ``representation``, ``probe``, ``layer`` and ``r2``.

    Returns
    -------
    DataFrame
        One row per curve and layer with the columns of ``PROFILE_COLUMNS``: mean and standard
        deviation of R² (dimensionless) and the ``is_best`` and ``is_last`` flags.

    Raises
    ------
    DataError
        ``scores`` lacks one of the required columns.
    """
    missing = {*PROFILE_KEYS, "layer", "r2"} - set(scores.columns)
    if missing:
        raise DataError(f"CPD scores lack columns {sorted(missing)}; pass results/cpd tables")
    profile = (
        scores.groupby([*PROFILE_KEYS, "layer"])["r2"]
        .agg(r2_mean="mean", r2_std="std")
        .reset_index()
    )
    best_rows = profile.groupby(PROFILE_KEYS)["r2_mean"].idxmax()  # rows sorted by layer
    profile["is_best"] = profile.index.isin(best_rows)
    last_layer = scores.groupby(["model", "dataset"])["layer"].max().rename("last_layer")
    profile = profile.join(last_layer, on=["model", "dataset"])
    profile["is_last"] = profile["layer"] == profile.pop("last_layer")
    return profile[list(PROFILE_COLUMNS)]
