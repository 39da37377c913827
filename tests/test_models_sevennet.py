"""SevenNet builtins (shipped in the sevenn wheel): known energies of all three, L = 0/1/2
(SevenNet-0) and L = 0..3 (l3i5) feature layout and equivariance, rotation-invariant features
of l3i5 at every layer (molecule and crystal), its column groups, readout consistency, periodic
cells, checksum guard. Checkpoints: tests/test_models_checkpoints.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from scipy.spatial.transform import Rotation

from atomprobe.cpd.groups import DEFAULT_GROUPS, group_columns, group_layers
from atomprobe.errors import ConfigError
from atomprobe.features.extract import extract_features, invariant
from atomprobe.models.families import get_family
from atomprobe.models.families.sevennet import SHIPPED_CHECKPOINTS, load_sevennet_checkpoint
from atomprobe.models.structures import Structures
from fixtures.models.batches import batch_of, molecules, moved

torch.set_num_threads(1)

ROTATION = Rotation.random(random_state=11).as_matrix()


@pytest.fixture(scope="module")
def sevennet():
    return get_family("sevennet").load({"source": "builtin"})


@pytest.fixture(scope="module")
def l3i5():
    return get_family("sevennet").load({"source": "builtin", "weights": "SevenNet-l3i5"})


# Total energies (eV) of ase's CH4 and of diamond Si (a = 5.43 Å, 2 atoms) computed once with
# this adapter (float32, CPU); the Si values equal sevenn's own SevenNetCalculator on the same
# checkpoint to 1e-4 eV (-10.80166, -10.82132, -10.84372). PBE-scale: CH4 about -24 eV,
# Si about -5.4 eV/atom.
KNOWN_ENERGIES = {
    "SevenNet-0_11Jul2024": (-23.8017, -10.8017),
    "SevenNet-0_22May2024": (-23.9432, -10.8213),
    "SevenNet-l3i5": (-23.8276, -10.8437),
}


@pytest.mark.parametrize("weights", sorted(KNOWN_ENERGIES))
def test_each_builtin_gives_its_known_energies(weights, sevennet, l3i5):
    model = {"SevenNet-0_11Jul2024": sevennet, "SevenNet-l3i5": l3i5}.get(weights)
    if model is None:
        model = get_family("sevennet").load({"source": "builtin", "weights": weights})
    with torch.no_grad():
        methane = model.predict(batch_of(molecules(("CH4",)))).item()
        silicon = model.predict(batch_of([bulk("Si", "diamond", a=5.43)])).item()
    assert (methane, silicon) == pytest.approx(KNOWN_ENERGIES[weights], abs=2e-3)


def test_unknown_builtin_name_lists_the_shipped_ones():
    assert set(SHIPPED_CHECKPOINTS) == set(KNOWN_ENERGIES)
    with pytest.raises(ConfigError, match="SevenNet-l3i5"):
        get_family("sevennet").load({"source": "builtin", "weights": "SevenNet-1"})


def test_methane_energy_is_the_known_value(sevennet):
    with torch.no_grad():
        energy = sevennet.predict(batch_of(molecules(("CH4",))))
    assert energy.item() == pytest.approx(-23.80, abs=0.005)  # SevenNet-0 (11Jul2024), eV


def test_blocks_hold_l0_l1_l2_per_layer(sevennet):
    blocks = sevennet.atom_features(batch_of(molecules(("CH4",))))
    described = [(b.layer, b.stream, b.L, tuple(b.values.shape)) for b in blocks]
    inner = [
        ((k, "scalar", 0, (5, 128)), (k, "vector", 1, (5, 64, 3)), (k, "vector", 2, (5, 32, 5)))
        for k in range(4)
    ]
    assert described == [block for layer in inner for block in layer] + [(4, "scalar", 0, (5, 128))]
    assert {b.layer_name for b in blocks if b.layer == 4} == {"4_equivariant_gate"}


def test_l3i5_blocks_hold_l0_to_l3_at_every_gate(l3i5):
    blocks = l3i5.atom_features(batch_of(molecules(("CH4",))))
    described = [(b.layer, b.layer_name, b.stream, b.L, tuple(b.values.shape)) for b in blocks]
    widths = {0: (5, 128), 1: (5, 64, 3), 2: (5, 32, 5), 3: (5, 32, 7)}
    inner = [
        (k, f"{k}_equivariant_gate", "scalar" if ell == 0 else "vector", ell, widths[ell])
        for k in range(4)
        for ell in range(4)
    ]
    assert described == [*inner, (4, "4_equivariant_gate", "scalar", 0, (5, 128))]


def assert_rotated(before, after):
    """L = 0 features and the norms of L >= 1 features unchanged; L >= 1 rotated by the
    Wigner D-matrix of ROTATION (and not trivially unchanged)."""
    from e3nn import o3

    rotation = torch.tensor(ROTATION, dtype=torch.float32)
    assert [(b.layer, b.L) for b in before] == [(a.layer, a.L) for a in after]
    for b, a in zip(before, after, strict=True):
        scale = b.values.abs().max()
        if b.L == 0:
            torch.testing.assert_close(a.values, b.values, atol=1e-4 * scale, rtol=1e-4)
            continue
        wigner = o3.Irrep(b.L, 1).D_from_matrix(rotation)
        torch.testing.assert_close(
            a.values.norm(dim=-1), b.values.norm(dim=-1), atol=1e-4 * scale, rtol=1e-4
        )
        torch.testing.assert_close(a.values, b.values @ wigner.T, atol=1e-4 * scale, rtol=1e-4)
        assert (a.values - b.values).abs().max() > 1e-2 * scale


def test_rotation_and_translation_rotate_l1_and_l2_features(sevennet):
    ethanol = molecules(("CH3CH2OH",))
    before = sevennet.atom_features(batch_of(ethanol))
    after = sevennet.atom_features(
        batch_of([moved(ethanol[0], ROTATION, np.array([3.0, -1.0, 2.0]))])
    )
    assert_rotated(before, after)


def test_l3i5_features_up_to_l3_are_rotation_equivariant(l3i5):
    ethanol = molecules(("CH3CH2OH",))
    before = l3i5.atom_features(batch_of(ethanol))
    after = l3i5.atom_features(batch_of([moved(ethanol[0], ROTATION, np.array([3.0, -1.0, 2.0]))]))
    assert {b.L for b in before} == {0, 1, 2, 3}
    assert_rotated(before, after)


def _wurtzite() -> Atoms:
    """A polar, rattled ZnO cell (4 atoms ×2): L >= 1 features are far from zero by symmetry."""
    crystal = bulk("ZnO", "wurtzite", a=3.25, c=5.2).repeat((2, 1, 1))
    crystal.rattle(0.05, seed=1)
    return crystal


# float32 features after five interaction blocks: ~1e-6 of a block's largest value moves under
# a rotation for molecules, ~1e-4 for crystals (cell images summed in float32); 1e-3 of it is
# the bound. A feature that is not invariant (an L >= 1 component) moves by > 1e-2 of it.
INVARIANCE_TOLERANCE = 1e-3


@pytest.mark.parametrize("structure", ["ethanol", "wurtzite ZnO"])
def test_l3i5_invariants_of_every_layer_survive_a_random_rotation(l3i5, structure):
    """L = 0 features and per-channel norms over m of L >= 1 (what extraction keeps) are the
    same after rotating the structure (a crystal: positions and lattice together)."""
    atoms = molecules(("CH3CH2OH",))[0] if structure == "ethanol" else _wurtzite()
    rotation = Rotation.random(random_state=5).as_matrix()
    with torch.no_grad():
        before = l3i5.atom_features(batch_of([atoms]))
        after = l3i5.atom_features(batch_of([moved(atoms, rotation, np.array([1.0, -2.0, 0.5]))]))
    assert [(b.layer, b.L) for b in before] == [(k, L) for k in range(4) for L in range(4)] + [
        (4, 0)
    ]
    for b, a in zip(before, after, strict=True):
        scale = invariant(b).abs().max()
        torch.testing.assert_close(
            invariant(a), invariant(b), atol=INVARIANCE_TOLERANCE * scale, rtol=0
        )
        if b.L > 0:
            assert (a.values - b.values).abs().max() > 1e-2 * scale


def test_l3i5_column_groups_are_l0_to_l3_inside_and_l0_only_last(l3i5):
    atoms = molecules(("CH3CH2OH", "C6H6"))
    data = Structures(
        ids=["a", "b"],
        numbers=[torch.as_tensor(a.numbers, dtype=torch.int64) for a in atoms],
        positions=[torch.as_tensor(a.positions, dtype=torch.float32) for a in atoms],
        y=np.full(2, np.nan),
    )
    _, described, *_ = extract_features(l3i5, data, show_progress=False)
    columns = pd.DataFrame(described)
    assert columns["L"].notna().all()
    widths = columns.groupby(["layer", "L"]).size().to_dict()
    inner = {(k, L): w for k in range(4) for L, w in ((0, 128), (1, 64), (2, 32), (3, 32))}
    assert widths == {**inner, (4, 0): 128}
    for layer in range(5):
        in_layer = columns[columns["layer"] == layer].reset_index(drop=True)
        found = set(group_columns(in_layer, DEFAULT_GROUPS))
        groups = {"L0", "L1", "L2", "L3", "scalar", "vector"} if layer < 4 else set()
        assert found == {"all"} | groups  # the last layer: L0 is every column, so only "all"
    last = group_layers(columns, {"layers": "last", "definitions": DEFAULT_GROUPS}, range(5))
    assert last == {name: {3} for name in ("L0", "L1", "L2", "L3", "scalar", "vector")}


@pytest.mark.parametrize("model", ["sevennet", "l3i5"])
def test_last_layer_features_reproduce_the_energy(model, request):
    adapter = request.getfixturevalue(model)
    batch = batch_of(molecules(("CH4", "C6H6", "HCOOH")))
    with torch.no_grad():
        energy = adapter.predict(batch)
        last = [b for b in adapter.atom_features(batch) if b.layer == 4]
        recomputed = adapter.readout(last, batch)
    torch.testing.assert_close(recomputed, energy, atol=1e-4, rtol=1e-6)


def test_periodic_energy_is_extensive_and_rotation_invariant(sevennet):
    silicon = bulk("Si", "diamond", a=5.43)
    with torch.no_grad():
        one = sevennet.predict(batch_of([silicon]))
        supercell = sevennet.predict(batch_of([silicon.repeat((2, 1, 1))]))
        turned = sevennet.predict(batch_of([moved(silicon, ROTATION, np.zeros(3))]))
    assert one.item() == pytest.approx(-10.80, abs=0.01)  # sevenn's ASE calculator gives -10.8017
    torch.testing.assert_close(supercell, 2 * one, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(turned, one, atol=1e-3, rtol=1e-5)


def test_checksum_mismatch_is_refused_in_one_line():
    path, _ = SHIPPED_CHECKPOINTS["SevenNet-0_11Jul2024"]
    with pytest.raises(ConfigError) as error:
        load_sevennet_checkpoint(path, "f" * 64, key="models.sevennet0")
    assert "models.sevennet0" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="sha256"):
        get_family("sevennet").load({"source": "checkpoint", "path": path})
