"""CHGNet (weights in the wheel): agrees with its own predict_structure, per-layer features,
readout consistency, molecules in vacuum, periodic invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk
from pymatgen.io.ase import AseAtomsAdaptor
from scipy.spatial.transform import Rotation

from atomprobe.errors import ConfigError
from atomprobe.models.families import get_family
from fixtures.models.batches import batch_of, molecules, moved, permuted

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def chgnet():
    return get_family("chgnet").load({"source": "builtin"})


@pytest.fixture(scope="module")
def crystals():
    return [bulk("Si", "diamond", a=5.43), bulk("NaCl", "rocksalt", a=5.64)]


def test_energy_per_atom_matches_chgnet_predict_structure(chgnet, crystals):
    with torch.no_grad():
        ours = chgnet.predict(batch_of(crystals))
    theirs = [
        chgnet.module.predict_structure(AseAtomsAdaptor.get_structure(c), task="e")["e"]
        for c in crystals
    ]
    np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-5)
    assert ours[0].item() == pytest.approx(-5.312, abs=2e-3)  # diamond Si, eV/atom


def test_features_per_layer_and_readout(chgnet, crystals):
    batch = batch_of(crystals)
    blocks = chgnet.atom_features(batch)
    assert [(b.layer, b.layer_name, b.stream, b.L, tuple(b.values.shape)) for b in blocks] == [
        (k, f"atom_conv_layers.{k}", "scalar", 0, (4, 64)) for k in range(4)
    ]
    with torch.no_grad():
        recomputed = chgnet.readout([blocks[-1]], batch)
        torch.testing.assert_close(recomputed, chgnet.predict(batch), atol=1e-5, rtol=1e-5)


def test_periodic_supercell_rotation_and_permutation(chgnet, crystals):
    salt = crystals[1]
    turned = moved(salt, Rotation.random(random_state=5).as_matrix(), np.array([0.3, 0.1, -0.2]))
    shuffled, order = permuted(salt.repeat((2, 1, 1)), seed=1)
    with torch.no_grad():
        energies = chgnet.predict(batch_of([salt, salt.repeat((2, 1, 1)), turned, shuffled]))
    torch.testing.assert_close(energies, energies[:1].expand(4), atol=1e-4, rtol=1e-5)
    base = chgnet.atom_features(batch_of([salt.repeat((2, 1, 1))]))[-1].values
    again = chgnet.atom_features(batch_of([shuffled]))[-1].values
    torch.testing.assert_close(again, base[order], atol=1e-4, rtol=1e-4)


def test_molecules_are_isolated_in_vacuum(chgnet):
    methane = molecules(("CH4",))[0]
    far_apart = methane + moved(methane, np.eye(3), np.array([40.0, 0.0, 0.0]))
    with torch.no_grad():
        one, two = chgnet.predict(batch_of([methane])), chgnet.predict(batch_of([far_apart]))
    torch.testing.assert_close(two, one, atol=1e-5, rtol=1e-5)  # per atom: unchanged


def test_only_builtin_source():
    with pytest.raises(ConfigError, match="builtin"):
        get_family("chgnet").load({"source": "train"})
