"""PaiNN from graph-pes 1.0.2 (torch-geometric has no PaiNN; schnetpack 2.1 pins
``sympy<=1.12``, which torch 2.13 cannot use), trained here on QM9.

The neighbour list comes from :mod:`atomprobe.models.graph`. The model's per-atom output
("local energies" in graph-pes, here any per-atom contribution) is summed or averaged per
structure (``readout``) to a standardised ``raw``; the prediction is ``stats.to_target(raw)``.

Features per layer: the scalar (L=0, stream "scalar") and vector (L=1, stream "vector",
Cartesian x, y, z) embeddings after each interaction + update pair (``updates.{l}``), exactly
the residual stream the model carries; the readout MLP acts on the last layer's scalars.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from graph_pes.atomic_graph import AtomicGraph
from graph_pes.models import PaiNN

from atomprobe.models.base import (
    AtomsBatch,
    FeatureBlock,
    HyperparameterFamily,
    StandardisedAdapter,
    TrainingStats,
)
from atomprobe.models.graph import radius_graph
from atomprobe.models.hooks import record_calls


def atomic_graph(batch: AtomsBatch, cutoff: float) -> AtomicGraph:
    """A batched graph-pes ``AtomicGraph`` of molecules: neighbour_list[0] is the centre."""
    edge_index = radius_graph(batch.positions, batch.batch, cutoff)
    counts = torch.bincount(batch.batch, minlength=batch.n_structures)
    ptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
    device, dtype = batch.positions.device, batch.positions.dtype
    return AtomicGraph(
        Z=batch.numbers,
        R=batch.positions,
        cell=torch.zeros(batch.n_structures, 3, 3, device=device, dtype=dtype),
        neighbour_list=edge_index.flip(0),
        neighbour_cell_offsets=torch.zeros(edge_index.shape[1], 3, device=device, dtype=dtype),
        properties={},
        cutoff=cutoff,
        other={},
        batch=batch.batch,
        ptr=ptr,
        pbc=None,
    )


class PaiNNAdapter(StandardisedAdapter):
    family = "painn"

    def _reduce(self, per_atom: torch.Tensor, batch: AtomsBatch) -> torch.Tensor:
        """Per-atom outputs (n_atoms,) -> per structure (n_structures,) by ``readout``."""
        out = per_atom.new_zeros(batch.n_structures).index_add_(0, batch.batch, per_atom)
        if self.hparams["readout"] == "mean":
            out = out / torch.bincount(batch.batch, minlength=batch.n_structures)
        return out

    def _run(self, batch: AtomsBatch) -> tuple[torch.Tensor, list[tuple[torch.Tensor, ...]]]:
        """(raw (n_structures,), per layer (scalars (n_atoms, C), vectors (n_atoms, C, 3)))."""
        model: PaiNN = self.module
        graph = atomic_graph(batch, self.hparams["cutoff"])
        with record_calls(list(model.updates)) as calls:
            per_atom = model(graph)["local_energies"].reshape(-1)
        layers = [(inputs[1] + output[1], inputs[0] + output[0]) for inputs, output in calls]
        return self._reduce(per_atom, batch), layers

    def atom_features(self, batch: AtomsBatch) -> list[FeatureBlock]:
        _, layers = self._run(batch)
        blocks = []
        for k, (scalars, vectors) in enumerate(layers):
            blocks.append(FeatureBlock(k, f"updates.{k}", "scalar", 0, scalars))
            blocks.append(FeatureBlock(k, f"updates.{k}", "vector", 1, vectors))
        return blocks

    def readout(self, last: list[FeatureBlock], batch: AtomsBatch) -> torch.Tensor:
        """Prediction (n_structures,) from the last layer's scalar features alone."""
        model: PaiNN = self.module
        scalars = next(b.values for b in last if b.L == 0)
        graph = atomic_graph(batch, self.hparams["cutoff"])
        per_atom = model.scaler(model.read_out(scalars).reshape(-1), graph)
        return self.stats.to_target(self._reduce(per_atom, batch), batch)


class PaiNNFamily(HyperparameterFamily):
    name = "painn"

    def build(self, hparams: Mapping[str, Any], stats: TrainingStats) -> PaiNNAdapter:
        hp = self.resolve_hparams(hparams)
        module = PaiNN(
            channels=hp["channels"],
            radial_features=hp["radial_features"],
            layers=hp["layers"],
            cutoff=hp["cutoff"],
        )
        return PaiNNAdapter(module, hp, stats)
