"""SevenNet (``sevenn`` 0.10.4): NequIP-style equivariant potentials.

Sources. ``builtin``: the three universal models shipped in the sevenn wheel, by ``weights``
name (:data:`SHIPPED_CHECKPOINTS`; default ``SevenNet-0_11Jul2024``): SevenNet-0 (11Jul2024 and
22May2024, irreps up to L = 2) and SevenNet-l3i5 (L = 3), all trained on MPtrj.
``checkpoint``: a user's own (e.g. fine-tuned) model as the ``.pth`` file sevenn's trainer
writes (``checkpoint_best.pth``): a dict with ``model_state_dict`` and ``config`` (plus
``optimizer_state_dict``, ``scheduler_state_dict``, ``epoch``), the same format as the shipped
files, rebuilt with ``sevenn.util.model_from_checkpoint``.

Features: the node features after each layer's equivariant gate (``{i}_equivariant_gate``),
split by L: 128x0e+64x1e+32x2e for the inner layers of SevenNet-0 (+32x3e for l3i5) and 128x0e
for the last; L >= 1 blocks keep their m components. ``predict`` is the total energy in eV per
structure (sum of the per-atom energies). float32, as the checkpoints were trained.

Loading. Every file's sha256 is checked first (builtins against the value recorded here).
torch >= 2.6 refuses these files under its default ``weights_only=True`` because their training
config pickles numpy arrays (per-species shift and scale). We allow numpy arrays, dtypes and
scalars and slices, data containers a training config holds (:data:`_CHECKPOINT_SAFE_GLOBALS`),
for that one load, still with ``weights_only=True``; a file that pickles anything else (a class
or function: code) is refused with a ConfigError, never unpickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from atomprobe.errors import ConfigError
from atomprobe.models.base import AtomsBatch, FeatureBlock, ModelAdapter, ModelFamily
from atomprobe.models.families import family_info
from atomprobe.models.families._equivariant import (
    edge_shifts,
    import_e3nn,
    irreps_feature_blocks,
    join_irreps_blocks,
    radius_graph,
)
from atomprobe.models.families._weights import (
    checkpoint_file,
    load_weights_only,
    verify_sha256,
)
from atomprobe.models.sources import Source, source_of

import_e3nn()

import sevenn._const  # noqa: E402
import sevenn._keys as KEY  # noqa: E402
from e3nn import o3  # noqa: E402
from sevenn.util import model_from_checkpoint  # noqa: E402

SHIPPED_CHECKPOINTS: dict[str, tuple[str, str]] = {
    # name: (path inside the installed wheel, sha256 of the file shipped with sevenn 0.10.4)
    "SevenNet-0_11Jul2024": (
        sevenn._const.SEVENNET_0_11Jul2024,
        "7052cb42b7b3be42b40b97fa0d21077a48c54b5548948fc4dcf346629f813c36",
    ),
    "SevenNet-0_22May2024": (
        sevenn._const.SEVENNET_0_22May2024,
        "5d389fafd512e6ae2830d74d0b66ffc49a55d3832653ff8e7bf7f1343013c1d1",
    ),
    "SevenNet-l3i5": (
        sevenn._const.SEVENNET_l3i5,
        "a7ff190d41efe5b8317a03d20a468e4036a1a3e64e0b14fdbab64ac3f4bfc09d",
    ),
}

# The non-tensor types a sevenn training config may pickle: numpy arrays (the shipped files:
# per-species shift/scale, float32) with their dtypes, numpy scalars, slices. Data containers
# only, never code. numpy >= 2 pickles as numpy._core, numpy 1.x as numpy.core: both names map
# to the same functions.
_RECONSTRUCT = np._core.multiarray._reconstruct
_SCALAR = np._core.multiarray.scalar
_CHECKPOINT_SAFE_GLOBALS = [
    slice,
    _RECONSTRUCT,
    (_RECONSTRUCT, "numpy.core.multiarray._reconstruct"),
    _SCALAR,
    (_SCALAR, "numpy.core.multiarray.scalar"),
    np.ndarray,
    np.dtype,
    np.dtypes.Float32DType,
    np.dtypes.Float64DType,
    np.dtypes.Int64DType,
]


def load_sevennet_checkpoint(
    path: str | Path, sha256: str, key: str = "checkpoint"
) -> torch.nn.Module:
    """SevenNet model from a sevenn checkpoint, after checking its sha256 (float32, CPU)."""
    verify_sha256(path, sha256, key)
    checkpoint = load_weights_only(path, key, _CHECKPOINT_SAFE_GLOBALS)
    if not (isinstance(checkpoint, dict) and {"model_state_dict", "config"} <= set(checkpoint)):
        found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ConfigError(
            f"{key}: {path} is not a sevenn checkpoint (a dict with model_state_dict and "
            f"config, as sevenn's trainer writes); found {found}"
        )
    try:
        model, _config = model_from_checkpoint(checkpoint)
    except (AssertionError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ConfigError(f"{key}: {path}: sevenn cannot build the model ({detail})") from None
    # Energies only: drop the autograd force/stress head, so no gradient graph is built.
    model.delete_module_by_key("force_output")
    model.key_grad = None
    model.set_is_batch_data(True)
    return model.float().eval()


def load_builtin(name: str) -> torch.nn.Module:
    """One of the checkpoints shipped in the sevenn wheel, by name (see SHIPPED_CHECKPOINTS)."""
    if name not in SHIPPED_CHECKPOINTS:
        raise ConfigError(f"sevennet builtin: {name!r} is not one of {sorted(SHIPPED_CHECKPOINTS)}")
    path, sha256 = SHIPPED_CHECKPOINTS[name]
    return load_sevennet_checkpoint(path, sha256, key=f"sevennet builtin {name}")


class SevenNetAdapter(ModelAdapter):
    """A sevenn ``AtomGraphSequential`` with hooks after each equivariant gate (every
    interaction layer), whatever its irreps (L up to 2 for SevenNet-0, 3 for l3i5)."""

    family = "sevennet"
    supports_periodic = True

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__(module)
        self.cutoff = float(module.cutoff)
        self.z_table = sorted(int(z) for z in module.type_map)
        self.gate_names = sorted(
            (name for name in module._modules if name.endswith("_equivariant_gate")),
            key=lambda name: int(name.split("_")[0]),
        )
        if not self.gate_names:
            raise ConfigError("sevennet: the model has no equivariant gate layers to probe")
        self.layer_irreps = [
            o3.Irreps(str(module._modules[name].gate.irreps_out)) for name in self.gate_names
        ]

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    def graph_input(self, batch: AtomsBatch) -> dict[str, torch.Tensor]:
        """sevenn's input dictionary for ``batch`` on the model's device and dtype."""
        unknown = sorted(set(batch.numbers.tolist()) - set(self.z_table))
        if unknown:
            raise ConfigError(f"sevennet: elements Z={unknown} are not among the model's elements")
        batch = batch.to(self.device, self.dtype)
        edge_index, unit_shifts = radius_graph(batch, self.cutoff)
        sender, receiver = edge_index
        edge_vec = (
            batch.positions[receiver]
            - batch.positions[sender]
            + edge_shifts(batch, edge_index, unit_shifts)
        )
        counts = torch.bincount(batch.batch, minlength=batch.n_structures)
        return {
            KEY.NODE_FEATURE: batch.numbers,
            KEY.ATOMIC_NUMBERS: batch.numbers,
            KEY.POS: batch.positions,
            KEY.EDGE_IDX: edge_index,
            KEY.EDGE_VEC: edge_vec,
            KEY.BATCH: batch.batch,
            KEY.NUM_ATOMS: counts,
        }

    def predict(self, batch: AtomsBatch) -> torch.Tensor:
        """(n_structures,) total energy in eV."""
        return self.module(self.graph_input(batch))[KEY.PRED_TOTAL_ENERGY]

    def atom_features(self, batch: AtomsBatch) -> list[FeatureBlock]:
        """Node features after every layer's gate, one block per (layer, L)."""
        # sevenn modules update one dict in place: keep the tensor each gate wrote.
        captured: list[torch.Tensor] = []
        gates = [self.module._modules[name] for name in self.gate_names]
        handles = [
            gate.register_forward_hook(lambda _m, _i, out: captured.append(out[KEY.NODE_FEATURE]))
            for gate in gates
        ]
        try:
            with torch.no_grad():
                self.module(self.graph_input(batch))
        finally:
            for handle in handles:
                handle.remove()
        blocks: list[FeatureBlock] = []
        for layer, (values, irreps, name) in enumerate(
            zip(captured, self.layer_irreps, self.gate_names, strict=True)
        ):
            blocks += irreps_feature_blocks(values.detach(), irreps, layer, name)
        return blocks

    def readout(self, last: list[FeatureBlock], batch: AtomsBatch) -> torch.Tensor:
        """Energy (n_structures,) eV recomputed from the last layer's features through the
        model's own head (the modules after the last gate: linear layers, per-species
        scale/shift, sum over atoms)."""
        names = list(self.module._modules)
        head = names[names.index(self.gate_names[-1]) + 1 :]
        numbers = batch.numbers.to(self.device)
        data = {
            KEY.NODE_FEATURE: join_irreps_blocks(last, self.layer_irreps[-1]),
            KEY.ATOM_TYPE: self.module.z_to_onehot_tensor.to(self.device)[numbers],
            KEY.BATCH: batch.batch.to(self.device),
        }
        for name in head:
            data = self.module._modules[name](data)
        return data[KEY.PRED_TOTAL_ENERGY]


class SevenNetFamily(ModelFamily):
    """SevenNet: ``source: builtin`` with ``weights`` naming one of
    :data:`SHIPPED_CHECKPOINTS` (default ``SevenNet-0_11Jul2024``), or ``source: checkpoint``
    with ``path`` and ``sha256`` of a sevenn training checkpoint (``.pth``)."""

    name = "sevennet"
    default_weights = family_info("sevennet").builtin_weights[0]  # the registry's default

    def load(self, entry: Mapping[str, Any]) -> SevenNetAdapter:
        if source_of(entry) is Source.CHECKPOINT:
            path, sha256 = checkpoint_file(entry, "sevennet")
            return SevenNetAdapter(
                load_sevennet_checkpoint(path, sha256, key="sevennet checkpoint")
            )
        return SevenNetAdapter(load_builtin(str(entry.get("weights", self.default_weights))))
