"""MACE family: irreps layout of the extracted features (equivariance), pooling, readout
consistency, a few training steps, and the mace-torch ``.model`` loader (MACE-MP format)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from atomprobe.errors import ConfigError
from atomprobe.models.base import TrainingStats
from atomprobe.models.families import get_family
from atomprobe.models.families._weights import sha256_of
from atomprobe.models.families.mace import MACEAdapter, MACEHyperparameters, resolve_pooling
from fixtures.models.batches import batch_of, molecules, moved, permuted

torch.set_num_threads(1)

STATS = TrainingStats(
    target="gap", unit="eV", mean=6.8, std=1.3, elements=(1, 6, 7, 8), avg_num_neighbors=9.0
)
ROTATION = Rotation.random(random_state=7).as_matrix()
SHIFT = np.array([1.5, -2.0, 0.7])


@pytest.fixture(scope="module")
def mace() -> MACEAdapter:
    torch.manual_seed(0)
    hparams = {"hidden_irreps": "8x0e+8x1o", "num_interactions": 3, "radial_mlp": [16]}
    adapter = get_family("mace").build(hparams, STATS)
    adapter.module.eval()
    return adapter


def test_blocks_have_the_irreps_layout(mace):
    structures = molecules(("CH3CH2OH",))
    blocks = mace.atom_features(batch_of(structures))
    described = [(b.layer, b.layer_name, b.stream, b.L, tuple(b.values.shape)) for b in blocks]
    n = len(structures[0])
    assert described == [
        (0, "products.0", "scalar", 0, (n, 8)),
        (0, "products.0", "vector", 1, (n, 8, 3)),
        (1, "products.1", "scalar", 0, (n, 8)),
        (1, "products.1", "vector", 1, (n, 8, 3)),
        (2, "products.2", "scalar", 0, (n, 8)),  # the last layer keeps scalars only
    ]


def test_rotation_and_translation_act_on_l1_as_the_rotation_matrix(mace):
    from e3nn import o3

    structures = molecules(("CH3CH2OH", "CH3CONH2"))
    before = mace.atom_features(batch_of(structures))
    after = mace.atom_features(batch_of([moved(a, ROTATION, SHIFT) for a in structures]))
    wigner = o3.Irrep(1, -1).D_from_matrix(torch.tensor(ROTATION, dtype=torch.float32))
    for b, a in zip(before, after, strict=True):
        if b.L == 0:
            torch.testing.assert_close(a.values, b.values, atol=2e-5, rtol=1e-4)
        else:
            torch.testing.assert_close(
                a.values.norm(dim=-1), b.values.norm(dim=-1), atol=2e-5, rtol=1e-4
            )
            torch.testing.assert_close(a.values, b.values @ wigner.T, atol=2e-5, rtol=1e-4)
            # the test can fail: the vectors really turn
            assert (a.values - b.values).abs().max() > 1e-2


def test_permuting_atoms_permutes_features_and_keeps_pooled_ones(mace):
    ethanol = molecules(("CH3CH2OH",))[0]
    shuffled, order = permuted(ethanol, seed=3)
    before = mace.atom_features(batch_of([ethanol]))
    after = mace.atom_features(batch_of([shuffled]))
    for b, a in zip(before, after, strict=True):
        torch.testing.assert_close(a.values, b.values[order], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(a.values.mean(0), b.values.mean(0), atol=1e-5, rtol=1e-4)


def test_features_reproduce_the_prediction_through_the_readout(mace):
    batch = batch_of(molecules())
    with torch.no_grad():
        predicted = mace.predict(batch)
        recomputed = mace.readout(mace.atom_features(batch), batch)
    torch.testing.assert_close(recomputed, predicted, atol=1e-5, rtol=1e-5)
    # an intensive target is mean-pooled: a molecule and two copies of it agree
    twice = batch_of(
        [molecules(("C6H6",))[0] + moved(molecules(("C6H6",))[0], np.eye(3), [30.0, 0, 0])]
    )
    with torch.no_grad():
        single = mace.predict(batch_of(molecules(("C6H6",))))
        torch.testing.assert_close(mace.predict(twice), single, atol=1e-5, rtol=1e-5)


def test_extensive_target_is_sum_pooled_with_atom_references(mace):
    stats = dataclasses.replace(
        STATS, target="u0", atom_refs={1: -13.6, 6: -1030.0, 7: -1486.0, 8: -2047.0}
    )
    assert resolve_pooling("auto", stats) == "sum" and resolve_pooling("auto", STATS) == "mean"
    assert mace.pooling == "mean"
    adapter = MACEAdapter(mace.module, mace.hparams, stats, pooling="sum")
    methane = molecules(("CH4",))[0]
    two_methanes = methane + moved(methane, np.eye(3), [30.0, 0.0, 0.0])
    with torch.no_grad():
        one, two = adapter.predict(batch_of([methane])), adapter.predict(batch_of([two_methanes]))
    # y = refs + mean + std * raw: doubling the molecule doubles refs and raw, not the mean
    torch.testing.assert_close(two - stats.mean, 2 * (one - stats.mean), atol=1e-3, rtol=1e-6)


def test_a_few_optimiser_steps_reduce_the_loss(mace):
    adapter = MACEAdapter(copy.deepcopy(mace.module), mace.hparams, STATS, pooling="mean")
    batch = batch_of(molecules())
    target = torch.tensor([9.0, 7.5, 5.5, 7.0, 6.5])
    optimiser = torch.optim.Adam(adapter.module.parameters(), lr=1e-2)
    adapter.module.train()
    losses = []
    for _ in range(25):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(adapter.predict(batch), target)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_unknown_elements_and_hparams_fail_clearly(mace):
    with pytest.raises(ConfigError, match=r"Z=\[16\]"):
        mace.atom_features(batch_of(molecules(("CH3SH",))))
    with pytest.raises(
        ConfigError, match="not accepted by family 'mace'; did you mean 'hidden_irreps'"
    ):
        MACEHyperparameters.from_mapping({"hiden_irreps": "8x0e"})


def _save_like_mace_torch(path, dtype=torch.float64) -> torch.nn.Module:
    """A small ScaleShiftMACE saved whole, as mace-torch's run_train saves ``.model`` files."""
    from e3nn import o3
    from mace import modules

    torch.manual_seed(2)
    model = modules.ScaleShiftMACE(
        r_max=4.0,
        num_bessel=4,
        num_polynomial_cutoff=5,
        max_ell=2,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        num_interactions=2,
        num_elements=3,
        hidden_irreps=o3.Irreps("8x0e+8x1o"),
        MLP_irreps=o3.Irreps("8x0e"),
        atomic_energies=np.array([-3.0, -8.0, -5.0]),
        avg_num_neighbors=12.0,
        atomic_numbers=[3, 8, 14],
        correlation=2,
        gate=torch.nn.functional.silu,
        radial_MLP=[16],
        atomic_inter_scale=1.2,
        atomic_inter_shift=0.1,
    ).to(dtype)
    torch.save(model, path)
    return model


def test_model_file_roundtrip_periodic(tmp_path):
    from ase.build import bulk

    path = tmp_path / "tiny-mp.model"
    original = _save_like_mace_torch(path)
    entry = {"source": "checkpoint", "path": str(path), "sha256": sha256_of(path)}
    adapter = get_family("mace").load(entry)
    assert adapter.dtype == torch.float32 and adapter.supports_periodic
    crystals = [bulk("Si", "diamond", a=5.43), bulk("Li2O", "fluorite", a=4.6)]
    batch = batch_of(crystals)
    with torch.no_grad():
        energy = adapter.predict(batch)
        # reference: mace-torch's own forward on the float64 original, our graph input
        reference = original(
            {
                k: v.double() if v.is_floating_point() else v
                for k, v in adapter.graph_input(batch).items()
            },
            compute_force=False,
        )["energy"]
        supercell = adapter.predict(batch_of([crystals[0].repeat((2, 1, 1))]))
        recomputed = adapter.readout(adapter.atom_features(batch), batch)
    torch.testing.assert_close(energy.double(), reference, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(supercell, 2 * energy[:1], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(recomputed, energy, atol=1e-4, rtol=1e-5)


def test_model_file_with_wrong_checksum_is_refused_in_one_line(tmp_path):
    path = tmp_path / "tiny-mp.model"
    path.write_bytes(b"not what the registry names")  # refused before anything is unpickled
    entry = {"source": "checkpoint", "path": str(path), "sha256": "0" * 64}
    with pytest.raises(ConfigError) as error:
        get_family("mace").load(entry)
    assert "sha256" in str(error.value) and "\n" not in str(error.value)


def test_importing_mace_leaves_torch_load_safe_by_default(tmp_path):
    import os
    import pickle

    # `import mace` sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for the process; importing it
    # through atomprobe (done above) restores the default, so pickled code stays refused
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    torch.save({"function": os.getcwd}, tmp_path / "unsafe.pt")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "unsafe.pt")
