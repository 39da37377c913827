"""ANI-2x atomic environment vectors (torchani 2.9): a handcrafted descriptor, no weights.

``torchani.AEVComputer.like_2x()`` builds the ANI-2x featurizer offline (radial cutoff 5.1 Å,
16 radial shells per element; angular cutoff 3.5 Å, 8 x 4 angular terms per element pair), with
7 elements in ANI-2x's order H, C, N, O, S, F, Cl: 7 x 16 + 28 x 32 = 1,008 values per atom.
Single layer, stream "aev", L = 0. There is no readout: ``predict`` raises.
(``torchani.models.ANI2x()`` would download the network weights; we never call it.)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
import torchani
from ase.data import atomic_numbers as ASE_ATOMIC_NUMBERS
from torchani.utils import SYMBOLS_2X

from atomprobe.errors import ConfigError
from atomprobe.models.base import AtomsBatch, FeatureBlock, ModelAdapter, ModelFamily

ANI2X_ATOMIC_NUMBERS: tuple[int, ...] = tuple(ASE_ATOMIC_NUMBERS[s] for s in SYMBOLS_2X)
"""Atomic numbers in the AEV's element order: H, C, N, O, S, F, Cl."""


class ANIAEVAdapter(ModelAdapter):
    """ANI-2x AEVs of every atom; molecules only (elements H C N O S F Cl)."""

    family = "ani2x_aev"
    supports_periodic = False

    def __init__(self, module: torch.nn.Module | None = None) -> None:
        if module is None:
            with warnings.catch_warnings():  # its optional CUDA extensions; the AEV is pure torch
                warnings.filterwarnings("ignore", message="The extensions: .* are not installed")
                module = torchani.AEVComputer.like_2x()
        super().__init__(module)
        lookup = torch.full((119,), -1, dtype=torch.int64)
        lookup[list(ANI2X_ATOMIC_NUMBERS)] = torch.arange(len(ANI2X_ATOMIC_NUMBERS))
        self.module.register_buffer("z_to_index", lookup, persistent=False)

    @property
    def out_dim(self) -> int:
        """Values per atom (1,008 for ANI-2x)."""
        return int(self.module.out_dim)

    def atom_features(self, batch: AtomsBatch) -> list[FeatureBlock]:
        """One block: values (n_atoms, 1008), in the batch's atom order."""
        if batch.pbc:
            raise ConfigError("ani2x_aev: periodic structures are not supported (molecules only)")
        device = self.module.z_to_index.device
        numbers = batch.numbers.to(device)
        element_index = self.module.z_to_index[numbers]
        if bool((element_index < 0).any()):
            unknown = sorted(set(numbers[element_index < 0].tolist()))
            raise ConfigError(
                f"ani2x_aev: elements Z={unknown} are outside ANI-2x's H C N O S F Cl; "
                "drop those structures or use another model"
            )
        # Pad to (n_structures, max_atoms): torchani's layout, -1 marks padding.
        structure = batch.batch.to(device)
        counts = torch.bincount(structure, minlength=batch.n_structures)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(numbers.shape[0], device=device) - starts[structure]
        max_atoms = int(counts.max())
        species = torch.full((batch.n_structures, max_atoms), -1, dtype=torch.int64, device=device)
        species[structure, slot] = element_index
        dtype = next(b.dtype for b in self.module.buffers() if b.is_floating_point())
        coords = torch.zeros(batch.n_structures, max_atoms, 3, dtype=dtype, device=device)
        coords[structure, slot] = batch.positions.to(device=device, dtype=dtype)
        with torch.no_grad():
            aev = self.module(species, coords)  # (n_structures, max_atoms, out_dim)
        return [
            FeatureBlock(layer=0, layer_name="aev", stream="aev", L=0, values=aev[structure, slot])
        ]

    def predict(self, batch: AtomsBatch) -> torch.Tensor:
        """ANI-2x AEVs are a descriptor without a readout."""
        raise ConfigError("ani2x_aev: a handcrafted descriptor has no readout; it cannot predict")


class ANIAEVFamily(ModelFamily):
    """ANI-2x AEVs: ``source: builtin`` (the featurizer has constants, no weights)."""

    name = "ani2x_aev"

    def load(self, entry: Mapping[str, Any]) -> ANIAEVAdapter:
        return ANIAEVAdapter()
