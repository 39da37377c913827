"""Principal covariates regression (PCovR) maps of feature spaces, as in paper B.

PCovR (``skmatter.decomposition.PCovR``) finds a low-dimensional projection that mixes
variance of the features (PCA, ``mixing=1``) with linear regression of a target
(``mixing=0``); paper B draws 2-D maps with ``mixing=0.5``. Features are centred and divided by
one scalar so their total variance is 1 (as for GFRE); the target is standardised.
"""

from __future__ import annotations

import numpy as np
from skmatter.decomposition import PCovR

from atomprobe.analyses.reconstruction import check_features
from atomprobe.errors import DataError

PCOVR_COLUMNS = {
    "model": "model whose pooled features are projected",
    "dataset": "dataset of the structures",
    "target": "property the projection regresses on (column of the structures parquet)",
    "id": "structure id",
    "pcovr_1": "first PCovR coordinate (scaled-feature units)",
    "pcovr_2": "second PCovR coordinate (scaled-feature units)",
    "y": "target value, in the unit of the structures parquet (see its metadata 'targets')",
}


def pcovr_map(
    H: np.ndarray, y: np.ndarray, n_components: int = 2, mixing: float = 0.5
) -> np.ndarray:
    """PCovR coordinates (n, n_components) of features H (n, d) regressed on target y (n,).

    H is centred and divided by sqrt of its total variance; y is standardised.

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Pooled features (units of the model's features).
    y : ndarray of shape (n_samples,)
        Target the projection regresses on (its own units).
    n_components : int, default=2
        Number of PCovR coordinates.
    mixing : float, default=0.5
        Weight of the feature variance (1 = PCA) against the regression of y (0); dimensionless.

    Returns
    -------
    ndarray of shape (n_samples, n_components)
        PCovR coordinates, in units of the scaled features (dimensionless).

    Raises
    ------
    DataError
        Invalid or mismatched inputs, or constant features or target.
    """
    H = check_features(H, "PCovR features")
    y = check_features(np.asarray(y).reshape(-1, 1), "PCovR target", H.shape[0])[:, 0]
    centred = H - H.mean(axis=0)
    total_std = np.sqrt((centred**2).mean(axis=0).sum())
    if total_std == 0 or y.std() == 0:
        raise DataError("PCovR: features or target are constant; nothing to project")
    y_scaled = (y - y.mean()) / y.std()
    model = PCovR(mixing=mixing, n_components=n_components, random_state=0)
    return model.fit(centred / total_std, y_scaled).transform(centred / total_std)
