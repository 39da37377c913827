"""SchNet, DimeNet++ and ViSNet from torch-geometric 2.8.1, trained here on QM9.

Neighbour graphs come from :mod:`atomprobe.models.graph` (torch-geometric's own radius search
needs pyg-lib). Every model outputs one standardised scalar per structure, ``raw``; the
prediction in target units is ``stats.to_target(raw)`` (atom references + mean + std * raw).

Features per layer (read with forward hooks, exactly the tensors the forward pass carries):

* SchNet: the atom embedding ``h`` after each interaction block (residual stream).
* DimeNet++: per-atom features of each output block, the input of its last linear layer
  (``output_blocks.{l}.lin``); layer 0 is the embedding block. The model's output is the sum
  over atoms and layers of ``lin_l(features_l)``.
* ViSNet: scalar ``x`` (L=0) and vector ``vec`` (L=1..lmax, Cartesian x, y, z for L=1) after each
  ViS-MP layer; the last layer is the representation's output (after ``out_norm`` /
  ``vec_out_norm``), which is what the readout sees.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

import torch
from torch_geometric.nn.models import DimeNetPlusPlus, SchNet, ViSNet
from torch_geometric.utils import scatter

from atomprobe.models.base import (
    AtomsBatch,
    FeatureBlock,
    HyperparameterFamily,
    StandardisedAdapter,
    TrainingStats,
)
from atomprobe.models.graph import RadiusDistance, RadiusInteractionGraph, radius_graph, triplets
from atomprobe.models.hooks import record_calls

# the ``readout`` hparam (atomprobe.models.families.hparams.READOUTS) -> torch-geometric's name
READOUTS = {"sum": "add", "mean": "mean"}


# ----------------------------------------------------------------------------------- SchNet
class SchNetAdapter(StandardisedAdapter):
    family = "schnet"

    def _run(self, batch: AtomsBatch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(raw (n_structures,), per-layer atom embeddings [(n_atoms, hidden)])."""
        model: SchNet = self.module
        with record_calls([model.embedding, *model.interactions]) as calls:
            raw = model(batch.numbers, batch.positions, batch.batch).squeeze(-1)
        h, layers = calls[0][1], []
        for _, delta in calls[1:]:
            h = h + delta
            layers.append(h)
        return raw, layers

    def atom_features(self, batch: AtomsBatch) -> list[FeatureBlock]:
        _, layers = self._run(batch)
        return [
            FeatureBlock(layer=k, layer_name=f"interactions.{k}", stream="scalar", L=0, values=h)
            for k, h in enumerate(layers)
        ]

    def readout(self, last: list[FeatureBlock], batch: AtomsBatch) -> torch.Tensor:
        """Prediction (n_structures,) from the last layer's features alone."""
        model: SchNet = self.module
        per_atom = model.lin2(model.act(model.lin1(last[0].values)))
        raw = model.readout(per_atom, batch.batch, dim=0, dim_size=batch.n_structures)
        return self.stats.to_target(raw.squeeze(-1), batch)


class SchNetFamily(HyperparameterFamily):
    name = "schnet"

    def build(self, hparams: Mapping[str, Any], stats: TrainingStats) -> SchNetAdapter:
        hp = self.resolve_hparams(hparams)
        module = SchNet(
            hidden_channels=hp["hidden_channels"],
            num_filters=hp["num_filters"],
            num_interactions=hp["num_interactions"],
            num_gaussians=hp["num_gaussians"],
            cutoff=hp["cutoff"],
            interaction_graph=RadiusInteractionGraph(hp["cutoff"]),
            readout=READOUTS[hp["readout"]],
        )
        return SchNetAdapter(module, hp, stats)


# -------------------------------------------------------------------------------- DimeNet++
def dimenet_forward(model: DimeNetPlusPlus, z, pos, batch, n_structures: int) -> torch.Tensor:
    """torch-geometric's ``DimeNet.forward`` (DimeNet++ branch) with the graph and triplets
    from :mod:`atomprobe.models.graph`: (n_structures, out_channels)."""
    edge_index = radius_graph(pos, batch, model.cutoff)
    i, j, idx_i, idx_j, idx_k, idx_kj, idx_ji = triplets(edge_index, num_nodes=z.size(0))
    dist = (pos[i] - pos[j]).pow(2).sum(dim=-1).sqrt()
    pos_jk, pos_ij = pos[idx_j] - pos[idx_k], pos[idx_i] - pos[idx_j]
    a = (pos_ij * pos_jk).sum(dim=-1)
    b = torch.cross(pos_ij, pos_jk, dim=1).norm(dim=-1)
    angle = torch.atan2(b, a)
    rbf = model.rbf(dist)
    sbf = model.sbf(dist, angle, idx_kj)
    x = model.emb(z, rbf, i, j)
    P = model.output_blocks[0](x, rbf, i, num_nodes=pos.size(0))
    for interaction_block, output_block in zip(
        model.interaction_blocks, model.output_blocks[1:], strict=True
    ):
        x = interaction_block(x, rbf, sbf, idx_kj, idx_ji)
        P = P + output_block(x, rbf, i, num_nodes=pos.size(0))
    return scatter(P, batch, dim=0, dim_size=n_structures, reduce="sum")


class DimeNetPPAdapter(StandardisedAdapter):
    family = "dimenetpp"

    def _run(self, batch: AtomsBatch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        model: DimeNetPlusPlus = self.module
        with record_calls([block.lin for block in model.output_blocks]) as calls:
            raw = dimenet_forward(
                model, batch.numbers, batch.positions, batch.batch, batch.n_structures
            ).squeeze(-1)
        return raw, [inputs[0] for inputs, _ in calls]

    def atom_features(self, batch: AtomsBatch) -> list[FeatureBlock]:
        _, layers = self._run(batch)
        return [
            FeatureBlock(
                layer=k, layer_name=f"output_blocks.{k}.lin", stream="scalar", L=0, values=h
            )
            for k, h in enumerate(layers)
        ]

    def readout(self, blocks: list[FeatureBlock], batch: AtomsBatch) -> torch.Tensor:
        """Prediction (n_structures,) from the features of every layer (DimeNet++ sums the
        output of every block, so the last layer alone does not determine it)."""
        model: DimeNetPPAdapter = self.module
        per_atom = sum(model.output_blocks[b.layer].lin(b.values) for b in blocks).squeeze(-1)
        raw = scatter(per_atom, batch.batch, dim=0, dim_size=batch.n_structures, reduce="sum")
        return self.stats.to_target(raw, batch)


class DimeNetPPFamily(HyperparameterFamily):
    name = "dimenetpp"

    def build(self, hparams: Mapping[str, Any], stats: TrainingStats) -> DimeNetPPAdapter:
        hp = self.resolve_hparams(hparams)
        module = copy.deepcopy(_dimenet_template(tuple(sorted(hp.items()))))
        module.reset_parameters()  # initialised from the caller's torch seed
        return DimeNetPPAdapter(module, hp, stats)


@functools.lru_cache(maxsize=4)
def _dimenet_template(hparams: tuple[tuple[str, Any], ...]) -> DimeNetPlusPlus:
    """One DimeNet++ per architecture and process, copied by :meth:`DimeNetPPFamily.build`:
    its constructor derives the radial/spherical basis symbolically with sympy, which took
    ~170 s here for num_spherical=7, num_radial=6 (2 busy cores). The global torch RNG is left
    untouched, so a build gives the same weights whether or not the template was cached."""
    with torch.random.fork_rng():
        return DimeNetPlusPlus(out_channels=1, **dict(hparams))


# ----------------------------------------------------------------------------------- ViSNet
class ViSNetAdapter(StandardisedAdapter):
    family = "visnet"

    def _run(self, batch: AtomsBatch) -> tuple[torch.Tensor, list[tuple[torch.Tensor, ...]]]:
        """(raw (n_structures,), per layer (x (n_atoms, H), vec (n_atoms, (lmax+1)²-1, H)))."""
        model: ViSNet = self.module
        rep = model.representation_model
        with record_calls([*rep.vis_mp_layers[:-1], rep]) as calls:
            raw = model(batch.numbers, batch.positions, batch.batch)[0].squeeze(-1)
        layers = [(inputs[0] + output[0], inputs[1] + output[1]) for inputs, output in calls[:-1]]
        layers.append(calls[-1][1])
        return raw, layers

    def atom_features(self, batch: AtomsBatch) -> list[FeatureBlock]:
        _, layers = self._run(batch)
        n_layers = len(layers)
        blocks = []
        for k, (x, vec) in enumerate(layers):
            name = (
                "representation_model"
                if k == n_layers - 1
                else f"representation_model.vis_mp_layers.{k}"
            )
            blocks.append(FeatureBlock(k, name, "scalar", 0, x))
            for L in range(1, self.hparams["lmax"] + 1):
                components = vec[:, L * L - 1 : (L + 1) ** 2 - 1, :]  # (n_atoms, 2L+1, H)
                blocks.append(FeatureBlock(k, name, "vector", L, components.transpose(1, 2)))
        return blocks

    def readout(self, last: list[FeatureBlock], batch: AtomsBatch) -> torch.Tensor:
        """Prediction (n_structures,) from the last layer's scalar and vector features."""
        model: ViSNet = self.module
        x = next(b.values for b in last if b.L == 0)
        vec = torch.cat([b.values.transpose(1, 2) for b in last if b.L > 0], dim=1)
        per_atom = model.output_model.pre_reduce(x, vec) * model.std
        per_atom = model.prior_model(per_atom, batch.numbers)
        raw = (
            scatter(
                per_atom, batch.batch, dim=0, dim_size=batch.n_structures, reduce=model.reduce_op
            )
            + model.mean
        )
        return self.stats.to_target(raw.squeeze(-1), batch)


class ViSNetFamily(HyperparameterFamily):
    name = "visnet"

    def build(self, hparams: Mapping[str, Any], stats: TrainingStats) -> ViSNetAdapter:
        hp = self.resolve_hparams(hparams)
        module = ViSNet(
            lmax=hp["lmax"],
            num_heads=hp["num_heads"],
            num_layers=hp["num_layers"],
            hidden_channels=hp["hidden_channels"],
            num_rbf=hp["num_rbf"],
            cutoff=hp["cutoff"],
            reduce_op=hp["readout"],
        )
        module.representation_model.distance = RadiusDistance(hp["cutoff"])
        return ViSNetAdapter(module, hp, stats)
