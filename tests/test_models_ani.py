"""ANI-2x AEV descriptor (torchani, built offline): 1,008 values per atom that equal the
radial formula on a diatomic, invariance to rotation/translation/permutation, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

from atomprobe.errors import ConfigError
from atomprobe.models.families import get_family
from atomprobe.models.families.ani import ANI2X_ATOMIC_NUMBERS
from fixtures.models.batches import batch_of, molecules, moved, permuted

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ani():
    return get_family("ani2x_aev").load({"source": "builtin"})


def test_one_block_of_1008_values_per_atom(ani):
    structures = molecules()
    blocks = ani.atom_features(batch_of(structures))
    assert len(blocks) == 1 and ani.out_dim == 1008
    block = blocks[0]
    assert (block.layer, block.layer_name, block.stream, block.L) == (0, "aev", "aev", 0)
    assert block.values.shape == (sum(len(a) for a in structures), 1008)


def test_radial_terms_of_a_diatomic_equal_the_ani_formula(ani):
    r = 1.128  # C-O, Å
    values = ani.atom_features(batch_of([Atoms("CO", positions=[[0, 0, 0], [0, 0, r]])]))[0].values
    # ANI-2x radial term: 0.25 exp(-eta (r - s_k)^2) fc(r), eta 19.7, 16 shifts from 0.8 Å
    # spaced (5.1 - 0.8)/16, fc = 0.5 cos(pi r / 5.1) + 0.5; one 16-block per neighbour element
    shifts = 0.8 + np.arange(16) * (5.1 - 0.8) / 16
    expected = 0.25 * np.exp(-19.7 * (r - shifts) ** 2) * (0.5 * np.cos(np.pi * r / 5.1) + 0.5)
    oxygen, carbon = ANI2X_ATOMIC_NUMBERS.index(8), ANI2X_ATOMIC_NUMBERS.index(6)
    radial_of_carbon = values[0, :112].reshape(7, 16).double().numpy()
    np.testing.assert_allclose(radial_of_carbon[oxygen], expected, rtol=1e-5, atol=1e-7)
    assert np.abs(np.delete(radial_of_carbon, oxygen, axis=0)).max() == 0
    np.testing.assert_allclose(
        values[1, carbon * 16 : carbon * 16 + 16].numpy(), expected, rtol=1e-5, atol=1e-7
    )
    assert values[:, 112:].abs().max() == 0  # a single neighbour has no angles


def test_invariant_to_rotation_translation_and_permutation(ani):
    structures = molecules(("CH3CH2OH", "CH3CONH2"))
    rotation = Rotation.random(random_state=3).as_matrix()
    before = ani.atom_features(batch_of(structures))[0].values
    after = ani.atom_features(
        batch_of([moved(a, rotation, np.array([4.0, -2.0, 1.0])) for a in structures])
    )[0].values
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)
    shuffled, order = permuted(structures[0], seed=2)
    again = ani.atom_features(batch_of([shuffled]))[0].values
    torch.testing.assert_close(again, before[: len(order)][order], atol=1e-5, rtol=1e-4)


def test_unsupported_elements_and_predict_fail_clearly(ani):
    with pytest.raises(ConfigError, match=r"Z=\[14\]"):
        ani.atom_features(
            batch_of([Atoms("SiH4", positions=np.random.default_rng(0).random((5, 3)) * 2)])
        )
    with pytest.raises(ConfigError, match="no readout"):
        ani.predict(batch_of(molecules(("CH4",))))
