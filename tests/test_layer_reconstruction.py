"""Backbone vs last layer: GFRE between a model's layers, against known answers."""

from __future__ import annotations

import numpy as np

from atomprobe.analyses.layer_reconstruction import layer_gfre
from atomprobe.analyses.reconstruction import alpha_grid

ALPHAS = alpha_grid(1e-9, 1.0, 20)


def test_an_invertible_map_reconstructs_both_ways_and_noise_does_not():
    rng = np.random.default_rng(0)
    last = rng.normal(size=(600, 8))
    layers = {
        0: last @ rng.normal(size=(8, 8)),  # an invertible linear map of the last layer
        1: rng.normal(size=(600, 8)),  # unrelated
        2: last,
    }
    frame = layer_gfre(layers, 200, 0, ALPHAS).set_index(["layer", "direction"])["value"]
    assert frame[(0, "layer_to_last")] < 1e-3 and frame[(0, "last_to_layer")] < 1e-3
    assert frame[(1, "layer_to_last")] > 0.9 and frame[(1, "last_to_layer")] > 0.9


def test_a_layer_holding_more_reconstructs_the_last_but_not_back():
    rng = np.random.default_rng(1)
    last = rng.normal(size=(600, 4))
    richer = np.hstack([last, rng.normal(size=(600, 4))])  # the last layer plus more
    frame = layer_gfre({0: richer, 1: last}, 200, 0, ALPHAS).set_index("direction")["value"]
    assert frame["layer_to_last"] < 0.05 < 0.5 < frame["last_to_layer"]
