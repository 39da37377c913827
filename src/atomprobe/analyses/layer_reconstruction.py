"""Backbone against last layer (paper B's last-layer vs backbone comparison), per model.

For every model and every layer ℓ before the last: GFRE(layer ℓ → last layer) and
GFRE(last layer → layer ℓ) on the pooled features of one dataset, with the structure-level
split and solver of ``reconstruction`` (relative alphas, one seeded test set). A small
GFRE(ℓ → last) says the last layer is (linearly) already in layer ℓ; a large
GFRE(last → ℓ) says the last layer has discarded what layer ℓ held.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from atomprobe.analyses.reconstruction import (
    capped_test_size,
    gfre,
    train_test_indices,
)

LAYER_RECONSTRUCTION_COLUMNS = {
    "model": "model whose layers are compared",
    "dataset": "dataset of the structures",
    "layer": "earlier layer ℓ (pooled features, every atom_norm column of it)",
    "last_layer": "the model's last layer",
    "direction": "layer_to_last: GFRE(ℓ → last); last_to_layer: GFRE(last → ℓ)",
    "value": "GFRE, dimensionless (0 = reconstructed exactly, about 1 = nothing)",
    "n_train": "training structures of the map",
    "n_test": "test structures",
}


def layer_gfre(
    layers: dict[int, np.ndarray], test_size: int, seed: int, alphas: np.ndarray
) -> pd.DataFrame:
    """GFRE between every earlier layer and the last one, both directions.

    Parameters
    ----------
    layers : dict of int to ndarray of shape (n_samples, n_features_layer)
        Pooled features of each layer, rows the same structures in the same order.
    test_size : int
        Test structures (capped at half the rows).
    seed : int
        Seed of the split.
    alphas : ndarray
        Relative ridge alphas (:func:`~atomprobe.analyses.reconstruction.alpha_grid`).

    Returns
    -------
    DataFrame
        Columns layer, last_layer, direction, value, n_train, n_test.
    """
    last = max(layers)
    n = len(layers[last])
    train_idx, test_idx = train_test_indices(n, capped_test_size(n, test_size), seed)
    rows = []
    for layer in sorted(layers):
        if layer == last:
            continue
        for direction, (X, Y) in (
            ("layer_to_last", (layers[layer], layers[last])),
            ("last_to_layer", (layers[last], layers[layer])),
        ):
            rows.append(
                {
                    "layer": layer,
                    "last_layer": last,
                    "direction": direction,
                    "value": gfre(X, Y, train_idx, test_idx, alphas),
                    "n_train": len(train_idx),
                    "n_test": len(test_idx),
                }
            )
    return pd.DataFrame(rows)
