"""The interface every model family implements, so that extraction and training are generic.

A family adapter wraps one maintained implementation (torch-geometric, mace-torch, torchani,
sevenn, chgnet, ...) and exposes, for a batch of structures, the per-atom features of every
layer split by irrep order, and the model's own prediction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch


@dataclass
class AtomsBatch:
    """A batch of structures, atoms concatenated.

    numbers: (n_atoms,) int64 atomic numbers; positions: (n_atoms, 3) Å;
    batch: (n_atoms,) int64 index of each atom's structure in 0..n_structures-1;
    cell: (n_structures, 3, 3) Å lattice vectors as rows, or None for molecules;
    pbc: periodic boundary conditions (all structures of a batch share it);
    ids: (n_structures,) structure ids as in the structures parquet.
    """

    numbers: torch.Tensor
    positions: torch.Tensor
    batch: torch.Tensor
    n_structures: int
    ids: list[str]
    cell: torch.Tensor | None = None
    pbc: bool = False

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> AtomsBatch:
        """Copy to ``device``; floating tensors are cast to ``dtype`` if given."""
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None:
                return None
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device)

        return AtomsBatch(
            numbers=move(self.numbers), positions=move(self.positions), batch=move(self.batch),
            n_structures=self.n_structures, ids=self.ids, cell=move(self.cell), pbc=self.pbc,
        )


@dataclass
class FeatureBlock:
    """Per-atom features of one layer and one irrep order (or stream).

    values: (n_atoms, channels) when ``L == 0``; (n_atoms, channels, 2L+1) when ``L >= 1``,
    m-components in the library's own (e3nn) order.
    layer: 0-based index of the block in the model (interaction/message-passing layer);
    layer_name: the module name the hook read; stream: "scalar" or "vector" (or a family's
    own name such as "aev"); L: irrep order.
    """

    layer: int
    layer_name: str
    stream: str
    L: int
    values: torch.Tensor


class ModelAdapter(ABC):
    """One loaded model of a family, ready for inference."""

    family: ClassVar[str]
    supports_periodic: ClassVar[bool] = False

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    @abstractmethod
    def atom_features(self, batch: AtomsBatch) -> list[FeatureBlock]:
        """Per-atom features of every layer (forward hooks), in layer order."""

    @abstractmethod
    def predict(self, batch: AtomsBatch) -> torch.Tensor:
        """The model's own prediction per structure: (n_structures,) in the target's units."""
