"""MACE (mace-torch 0.3.16): trainable on QM9, and MACE-MP-0 from a local ``.model`` file.

Features: the output of every ``EquivariantProductBasisBlock`` (``model.products[i]``), i.e.
the ``node_feats`` of interaction ``i``, split by irrep order L (e3nn layout, m-components in
e3nn order; for e3nn 0.4.4 the L = 1 block transforms with D¹(R) = R). As in mace-torch's
default, the last layer keeps only scalars (L = 0); L = 1 channels come from the other layers.

Readout (invariant). MACE's own per-atom output is
``node_out = E0[Z] + scale_shift(sum_i readout_i(node_feats_i))``: a linear map of the L = 0
channels for the inner layers and a gated MLP on the last (the L = 1 channels reach the output
only through later layers). A structure's value pools ``node_out`` over its atoms with
``pooling``: "sum" for extensive targets (energies, as mace-torch does) and "mean" for intensive
ones such as the HOMO-LUMO gap, so that the prediction neither grows with molecule size nor
needs per-element offsets. Models built here have E0 = 0 and no scale/shift; their prediction is
``stats.to_target(pooled)`` = atom references (energies only) + mean + std * pooled, with the
statistics fitted on the training split (:class:`TrainingStats`). A loaded MACE-MP file keeps
its own E0, scale and shift and predicts its total energy (eV, sum pooling).

Precision: float32 throughout (a MACE-MP ``.model``, usually saved in float64, is cast).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from atomprobe.errors import ConfigError
from atomprobe.models.base import (
    AtomsBatch,
    FeatureBlock,
    ModelAdapter,
    ModelFamily,
    TrainingStats,
)
from atomprobe.models.families._equivariant import (
    edge_shifts,
    import_mace,
    irreps_feature_blocks,
    join_irreps_blocks,
    radius_graph,
)
from atomprobe.models.families._weights import verify_sha256
from atomprobe.models.families.hparams import READOUTS as POOLINGS
from atomprobe.models.families.hparams import MACEHyperparameters
from atomprobe.models.hooks import record_calls
from atomprobe.models.sources import Source, source_of

import_mace()

from e3nn import o3  # noqa: E402
from mace import modules as mace_modules  # noqa: E402


def build_mace(
    hparams: MACEHyperparameters, atomic_numbers: Sequence[int], avg_num_neighbors: float
) -> torch.nn.Module:
    """A freshly initialised mace-torch ``MACE`` (float32, CPU; seed torch before calling)
    whose per-atom output is the standardised raw prediction (atomic energies E0 = 0).

    atomic_numbers: the elements it accepts; avg_num_neighbors: normalises the messages.
    """
    z_table = sorted(int(z) for z in atomic_numbers)
    return mace_modules.MACE(
        r_max=hparams.r_max,
        num_bessel=hparams.num_bessel,
        num_polynomial_cutoff=hparams.num_polynomial_cutoff,
        max_ell=hparams.max_ell,
        interaction_cls=mace_modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=mace_modules.interaction_classes[
            "RealAgnosticResidualInteractionBlock"
        ],
        num_interactions=hparams.num_interactions,
        num_elements=len(z_table),
        hidden_irreps=o3.Irreps(hparams.hidden_irreps),
        MLP_irreps=o3.Irreps(hparams.mlp_irreps),
        atomic_energies=np.zeros(len(z_table)),
        avg_num_neighbors=float(avg_num_neighbors),
        atomic_numbers=z_table,
        correlation=hparams.correlation,
        gate=torch.nn.functional.silu,
        radial_MLP=list(hparams.radial_mlp),
    ).float()


def load_mace_model_file(path: str | Path, sha256: str, key: str = "checkpoint") -> torch.nn.Module:
    """A MACE saved whole with ``torch.save(model, path)`` (mace-torch's ``.model`` format,
    e.g. MACE-MP-0), after checking its sha256; returned in float32 on CPU, eval mode.

    A ``.model`` file is a pickled module, which torch can only read with
    ``weights_only=False`` (that runs code from the file). We do that for this one file and
    only once its checksum matches the one in the registry.
    """
    verify_sha256(path, sha256, key)
    module = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(module, mace_modules.MACE):
        raise ConfigError(
            f"{key}: {path} holds a {type(module).__name__}, not a mace-torch MACE model"
        )
    return module.float().eval()


class MACEAdapter(ModelAdapter):
    """A mace-torch MACE (or ScaleShiftMACE) with hooks on its product blocks.

    pooling: "sum" or "mean" of the per-atom output. Built models (``stats`` set) return
    ``stats.to_target(pooled)``; loaded pretrained models (MACE-MP) their own total energy.
    """

    family = "mace"
    supports_periodic = True

    def __init__(
        self,
        module: torch.nn.Module,
        hparams: Mapping[str, Any] | None = None,
        stats: TrainingStats | None = None,
        pooling: str = "sum",
    ) -> None:
        super().__init__(module, hparams, stats)
        if pooling not in POOLINGS:
            raise ConfigError(f"mace pooling: {pooling!r} is not one of {POOLINGS}")
        self.pooling = pooling
        self.z_table = [int(z) for z in module.atomic_numbers.tolist()]
        self.cutoff = float(module.r_max)
        self.layer_irreps = [o3.Irreps(str(p.linear.irreps_out)) for p in module.products]

    @property
    def dtype(self) -> torch.dtype:
        return self.module.r_max.dtype

    @property
    def device(self) -> torch.device:
        return self.module.r_max.device

    def element_one_hot(self, batch: AtomsBatch) -> torch.Tensor:
        """One-hot element encoding (n_atoms, n_elements) in the model's element order."""
        lookup = torch.full((119,), -1, dtype=torch.int64, device=self.device)
        lookup[self.z_table] = torch.arange(len(self.z_table), device=self.device)
        numbers = batch.numbers.to(self.device)
        element_index = lookup[numbers]
        if bool((element_index < 0).any()):
            unknown = sorted(set(numbers[element_index < 0].tolist()))
            raise ConfigError(
                f"mace: elements Z={unknown} are not among the model's elements {self.z_table}"
            )
        return torch.nn.functional.one_hot(element_index, len(self.z_table)).to(self.dtype)

    def graph_input(self, batch: AtomsBatch) -> dict[str, torch.Tensor]:
        """mace-torch's input dictionary for ``batch`` (moved to the model's device/dtype)."""
        batch = batch.to(self.device, self.dtype)
        node_attrs = self.element_one_hot(batch)
        edge_index, unit_shifts = radius_graph(batch, self.cutoff)
        counts = torch.bincount(batch.batch, minlength=batch.n_structures)
        ptr = torch.zeros(batch.n_structures + 1, dtype=torch.int64, device=self.device)
        ptr[1:] = torch.cumsum(counts, 0)
        cell = (
            batch.cell
            if batch.cell is not None
            else torch.zeros(batch.n_structures, 3, 3, dtype=self.dtype, device=self.device)
        )
        return {
            "positions": batch.positions.clone(),
            "node_attrs": node_attrs,
            "edge_index": edge_index,
            "shifts": edge_shifts(batch, edge_index, unit_shifts),
            "unit_shifts": unit_shifts,
            "cell": cell.reshape(-1, 3),
            "batch": batch.batch,
            "ptr": ptr,
        }

    def forward(self, batch: AtomsBatch) -> dict[str, torch.Tensor | None]:
        """mace-torch's output dictionary (no forces), differentiable w.r.t. the weights."""
        return self.module(
            self.graph_input(batch), training=self.module.training, compute_force=False
        )

    def predict(self, batch: AtomsBatch) -> torch.Tensor:
        """(n_structures,): total energy (eV) for MACE-MP; the target in its units for a
        model built here. Differentiable w.r.t. the weights (call under no_grad to infer)."""
        node_energy = self.forward(batch)["node_energy"].to(self.dtype)
        return self._to_prediction(node_energy, batch)

    def _to_prediction(self, node_out: torch.Tensor, batch: AtomsBatch) -> torch.Tensor:
        """Pool the per-atom output (n_atoms,) and map it to target units (n_structures,)."""
        structure = batch.batch.to(self.device)
        pooled = pool_atoms(node_out, structure, batch.n_structures, self.pooling)
        if self.stats is None:
            return pooled
        return self.stats.to_target(pooled, batch.to(self.device, self.dtype))

    def atom_features(self, batch: AtomsBatch) -> list[FeatureBlock]:
        """Per-atom ``node_feats`` of every interaction, one block per (layer, L)."""
        with torch.no_grad(), record_calls(list(self.module.products)) as calls:
            self.forward(batch)
        captured = [output for _inputs, output in calls]
        blocks: list[FeatureBlock] = []
        for layer, (values, irreps) in enumerate(zip(captured, self.layer_irreps, strict=True)):
            blocks += irreps_feature_blocks(values.detach(), irreps, layer, f"products.{layer}")
        return blocks

    def readout(self, blocks: list[FeatureBlock], batch: AtomsBatch) -> torch.Tensor:
        """The prediction (n_structures,) recomputed from ``blocks``, the features of every
        layer (as :meth:`atom_features` returns them) through the model's own readouts:
        ``pool(E0[Z] + scale_shift(sum_i readout_i(node_feats_i)))``. Not defined for models
        with a ZBL pair-repulsion term, which depends on geometry, not on features."""
        module = self.module
        if hasattr(module, "pair_repulsion"):
            raise ValueError("mace readout: the model has a pair-repulsion term; use predict")
        node_attrs = self.element_one_hot(batch)
        heads = torch.zeros(node_attrs.shape[0], dtype=torch.int64, device=self.device)
        atoms = torch.arange(node_attrs.shape[0], device=self.device)
        layer_feats = [
            join_irreps_blocks([b for b in blocks if b.layer == k], irreps)
            for k, irreps in enumerate(self.layer_irreps)
        ]
        readouts = list(module.readouts)
        node_out = sum(
            readout(layer_feats[-1 if len(readouts) == 1 else k], heads)[atoms, heads]
            for k, readout in enumerate(readouts)
        )
        if hasattr(module, "scale_shift"):
            node_out = module.scale_shift(node_out, heads)
        node_out = module.atomic_energies_fn(node_attrs)[atoms, heads] + node_out
        return self._to_prediction(node_out.to(self.dtype), batch)


def resolve_pooling(pooling: str, stats: TrainingStats) -> str:
    """``pooling`` with "auto" resolved: "sum" for targets with atom references (extensive
    energies), "mean" for the others (intensive, e.g. the HOMO-LUMO gap)."""
    if pooling != "auto":
        return pooling
    return "sum" if stats.atom_refs else "mean"


def pool_atoms(
    values: torch.Tensor, batch: torch.Tensor, n_structures: int, how: str
) -> torch.Tensor:
    """Sum or mean of per-atom ``values`` (n_atoms,) over each structure → (n_structures,)."""
    total = torch.zeros(n_structures, dtype=values.dtype, device=values.device).index_add_(
        0, batch, values
    )
    if how == "sum":
        return total
    counts = torch.bincount(batch, minlength=n_structures).to(values.dtype)
    return total / counts


class MACEFamily(ModelFamily):
    """MACE models: built and trained here, or loaded from a file (``source: checkpoint``).

    A checkpoint whose name ends in ``.model`` is mace-torch's own format (a whole pickled
    model, e.g. MACE-MP-0; its ``sha256`` is required and checked before unpickling); any
    other checkpoint is a model trained here and saved by :func:`save_model`.
    """

    name = "mace"

    def build(self, hparams: Mapping[str, Any], stats: TrainingStats) -> MACEAdapter:
        hp = MACEHyperparameters.from_mapping(hparams)
        pooling = resolve_pooling(hp.pooling, stats)
        module = build_mace(hp, stats.elements, stats.avg_num_neighbors)
        return MACEAdapter(module, asdict(hp), stats, pooling=pooling)

    def cutoff(self, hparams: Mapping[str, Any]) -> float:
        return MACEHyperparameters.from_mapping(hparams).r_max

    def load(self, entry: Mapping[str, Any]) -> ModelAdapter:
        path = Path(str(entry.get("path", "")))
        if source_of(entry) is Source.CHECKPOINT and path.suffix == ".model":
            if not entry.get("sha256"):
                raise ConfigError(f"mace checkpoint {path}: give its sha256 (a .model is pickled)")
            return MACEAdapter(load_mace_model_file(path, str(entry["sha256"])), pooling="sum")
        return super().load(entry)
