"""SchNet, DimeNet++, ViSNet (torch-geometric) and PaiNN (graph-pes): features read by hooks are
invariant / equivariant as they should be, and reproduce the model's own prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from atomprobe.features.extract import invariant, pool
from atomprobe.models.base import TrainingStats
from atomprobe.models.families import get_family
from fixtures.models.batches import batch_of, molecules, moved, permuted

torch.set_num_threads(1)

STATS = TrainingStats(
    target="gap", unit="eV", mean=6.8, std=1.3, elements=(1, 6, 7, 8), avg_num_neighbors=9.0
)
TINY = {
    "schnet": {"hidden_channels": 8, "num_filters": 8, "num_interactions": 2, "num_gaussians": 10},
    "dimenetpp": {
        "hidden_channels": 8,
        "out_emb_channels": 8,
        "int_emb_size": 4,
        "basis_emb_size": 2,
        "num_blocks": 2,
        "num_spherical": 2,
        "num_radial": 2,
    },
    "visnet": {"hidden_channels": 8, "num_layers": 2, "num_heads": 2, "num_rbf": 8},
    "painn": {"channels": 8, "layers": 2, "radial_features": 8},
}
ROTATION = Rotation.random(random_state=3).as_matrix()
SHIFT = np.array([0.4, -1.1, 2.3])


@pytest.fixture(scope="module", params=sorted(TINY))
def adapter(request):
    torch.manual_seed(0)
    model = get_family(request.param).build(TINY[request.param], STATS)
    with torch.no_grad():  # DimeNet++ starts with zero output layers: make the readout non-trivial
        for p in model.module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.module.double().eval()
    return model


def features(adapter, structures):
    with torch.no_grad():
        batch = batch_of(structures, torch.float64)
        return batch, adapter.atom_features(batch), adapter.predict(batch)


def test_layers_are_numbered_in_order_with_known_streams(adapter):
    _, blocks, _ = features(adapter, molecules())
    layers = [b.layer for b in blocks]
    assert layers == sorted(layers) and layers[0] == 0
    for b in blocks:
        assert b.stream in ("scalar", "vector")
        assert b.values.ndim == (2 if b.L == 0 else 3)
        if b.L:
            assert b.values.shape[-1] == 2 * b.L + 1


def test_rotation_translation_invariance_and_vector_equivariance(adapter):
    structures = molecules()
    _, blocks, prediction = features(adapter, structures)
    _, rotated, rotated_prediction = features(
        adapter, [moved(a, ROTATION, SHIFT) for a in structures]
    )
    torch.testing.assert_close(rotated_prediction, prediction)
    for b, r in zip(blocks, rotated, strict=True):
        torch.testing.assert_close(invariant(r), invariant(b))
        if b.L == 1:  # Cartesian (x, y, z) components rotate with the molecule
            expected = b.values @ torch.tensor(ROTATION).T
            torch.testing.assert_close(r.values, expected)


def test_pooled_features_ignore_atom_order(adapter):
    structures = molecules()
    batch, blocks, _ = features(adapter, structures)
    shuffled_batch, shuffled, _ = features(adapter, [permuted(a, seed=5)[0] for a in structures])
    for b, s in zip(blocks, shuffled, strict=True):
        for method in ("mean", "sum", "max"):
            torch.testing.assert_close(
                pool(invariant(s), shuffled_batch.batch, batch.n_structures, method),
                pool(invariant(b), batch.batch, batch.n_structures, method),
            )


def test_hooked_features_reproduce_the_prediction(adapter):
    batch, blocks, prediction = features(adapter, molecules())
    last = max(b.layer for b in blocks)
    # DimeNet++ sums the outputs of every block; the others read out the last layer only
    used = blocks if adapter.family == "dimenetpp" else [b for b in blocks if b.layer == last]
    with torch.no_grad():
        torch.testing.assert_close(adapter.readout(used, batch), prediction)
    assert prediction.std() > 0
