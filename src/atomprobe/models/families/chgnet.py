"""CHGNet (package ``chgnet`` 0.4.2).

Sources. ``builtin``: the three pretrained models shipped in the chgnet wheel, by ``weights``
name as ``CHGNet.load`` names them (:data:`SHIPPED_CHECKPOINTS`): "0.3.0" (default; MPtrj),
"0.2.0" (the deprecated MPtrj release) and "r2scan" (transfer-learned on MP r2SCAN).
``checkpoint``: a user's own (e.g. fine-tuned) CHGNet as the file ``CHGNet.from_file`` reads
and chgnet's ``Trainer.save`` writes: a dict whose ``"model"`` is ``CHGNet.as_dict()``, i.e.
``{"state_dict": ..., "model_args": ...}`` (plus optimizer/scheduler state and training
history, ignored here).

Features: the atom features after each atom-convolution layer (``atom_conv_layers.{i}``,
64 invariant channels, stream "scalar", L = 0). ``predict`` is CHGNet's energy **per atom**
(eV/atom, as ``CHGNet.predict_structure`` returns it, composition reference included):
``mean_atoms(mlp(readout_norm(h_last))) + AtomRef(composition)``.

Molecules (no cell) are placed in a cubic box with ``2 x atom_graph_cutoff`` (12 Å) of vacuum
around them, so that no periodic image is within any cutoff: the result is the isolated
molecule. Loading checks the file's sha256 (builtins against the value recorded here) and reads
it with ``weights_only=True`` and no extra safe globals: the format holds only tensors and
plain containers (dicts, lists, strings, numbers). ``CHGNet.from_file`` itself unpickles with
``weights_only=False``; we never do: a file that pickles code is refused with a ConfigError.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from chgnet.model import model as chgnet_model
from pymatgen.core import Lattice, Structure

from atomprobe.errors import ConfigError
from atomprobe.models.base import AtomsBatch, FeatureBlock, ModelAdapter, ModelFamily
from atomprobe.models.families import family_info
from atomprobe.models.families._weights import (
    checkpoint_file,
    load_weights_only,
    verify_sha256,
)
from atomprobe.models.hooks import record_calls
from atomprobe.models.sources import Source, source_of

log = logging.getLogger(__name__)

_PRETRAINED = os.path.join(os.path.dirname(chgnet_model.__file__), "..", "pretrained")
SHIPPED_CHECKPOINTS: dict[str, tuple[str, str]] = {
    # name: (path inside the installed wheel, sha256 of the file shipped with chgnet 0.4.2)
    "0.2.0": (
        os.path.join(_PRETRAINED, "0.2.0", "chgnet_0.2.0_e30f77s348m32.pth.tar"),
        "ef624f78b6db9d315b4ef256f1bb3207449924191b91720dc17d3f60c5df980e",
    ),
    "0.3.0": (
        os.path.join(_PRETRAINED, "0.3.0", "chgnet_0.3.0_e29f68s314m37.pth.tar"),
        "d14ab7c0f093efe64b60a7bcd540bca10e74fb7f46c86108a079af60524659d1",
    ),
    "r2scan": (
        os.path.join(
            _PRETRAINED, "r2scan", "chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar"
        ),
        "8eba3db0f35a2788bb3ae22885ad340591e27996f213c6643af522a633b50dad",
    ),
}
# the registry knows the shipped names without importing torch; the first is the default
DEFAULT_WEIGHTS = family_info("chgnet").builtin_weights[0]

# Present only in models built with mlp_out_bias=True (CHGNet.load does so for 0.2.0 only).
_MLP_OUT_BIAS_KEY = "atom_conv_layers.0.mlp_out.layers.1.bias"


def load_chgnet_file(
    path: str | Path, sha256: str, key: str = "checkpoint", version: str | None = None
) -> torch.nn.Module:
    """CHGNet from a file in ``CHGNet.from_file``'s format, after checking its sha256
    (float32, CPU, eval). ``version`` is recorded as ``CHGNet.load`` does for the builtins."""
    verify_sha256(path, sha256, key)
    state = load_weights_only(path, key)
    model_dict = state.get("model") if isinstance(state, dict) else None
    if not (isinstance(model_dict, dict) and {"state_dict", "model_args"} <= set(model_dict)):
        raise ConfigError(
            f"{key}: {path} is not a CHGNet checkpoint (a dict whose 'model' holds state_dict "
            "and model_args, as CHGNet.from_file reads and chgnet's Trainer.save writes)"
        )
    args = dict(model_dict["model_args"])
    state_dict = model_dict["state_dict"]
    # Models built with mlp_out_bias record it in model_args; the shipped files were saved
    # before it existed, and CHGNet.load passes it for 0.2.0 only: read it off the weights.
    args.setdefault("mlp_out_bias", _MLP_OUT_BIAS_KEY in state_dict)
    if version is not None:
        args.setdefault("version", version)
    try:
        model = chgnet_model.CHGNet(**args)
        model.load_state_dict(state_dict)
    except (TypeError, ValueError, KeyError, NotImplementedError, RuntimeError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise ConfigError(f"{key}: {path}: CHGNet cannot be built from it ({detail})") from None
    return model.float().eval()


def load_builtin(name: str = DEFAULT_WEIGHTS) -> torch.nn.Module:
    """One of the CHGNets shipped in the wheel, by name (see SHIPPED_CHECKPOINTS)."""
    if name not in SHIPPED_CHECKPOINTS:
        raise ConfigError(f"chgnet builtin: {name!r} is not one of {sorted(SHIPPED_CHECKPOINTS)}")
    path, sha256 = SHIPPED_CHECKPOINTS[name]
    return load_chgnet_file(path, sha256, key=f"chgnet builtin {name}", version=name)


class CHGNetAdapter(ModelAdapter):
    """A CHGNet with hooks on its atom-convolution layers.

    An atom with no neighbour within the atom-graph cutoff (5 Å for CHGNet 0.2.0, 6 Å after;
    e.g. in a sparse crystal) receives no messages: its features are what the model computes
    for it, its embedding passed through the layers. chgnet's graph converter refuses such
    structures by default; we keep them, so that every model has the same rows, and log how
    many structures of each batch have such atoms.
    """

    family = "chgnet"
    supports_periodic = True

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__(module)
        module.graph_converter.on_isolated_atoms = "ignore"

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def structures(self, batch: AtomsBatch) -> list[Structure]:
        """pymatgen structures in batch order (molecules boxed in vacuum, see module doc)."""
        positions = batch.positions.detach().cpu().double().numpy()
        numbers = batch.numbers.detach().cpu().numpy()
        structure_of = batch.batch.detach().cpu().numpy()
        starts = np.searchsorted(structure_of, np.arange(batch.n_structures + 1))
        vacuum = 2.0 * float(self.module.graph_converter.atom_graph_cutoff)
        out = []
        for s in range(batch.n_structures):
            xyz = positions[starts[s] : starts[s + 1]]
            z = numbers[starts[s] : starts[s + 1]]
            if batch.pbc:
                lattice = Lattice(batch.cell[s].detach().cpu().double().numpy())
            else:
                lattice = Lattice.cubic(float(np.ptp(xyz, axis=0).max()) + vacuum)
                xyz = xyz - xyz.min(axis=0) + vacuum / 2
            out.append(Structure(lattice, z.tolist(), xyz, coords_are_cartesian=True))
        return out

    def _run(self, batch: AtomsBatch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(energy per atom (n_structures,) eV/atom, per-layer atom features [(n_atoms, 64)])."""
        model = self.module
        graphs = [model.graph_converter(s).to(self.device) for s in self.structures(batch)]
        isolated = sum(
            int(g.atom_graph.reshape(-1, 2)[:, 0].unique().numel() < len(g.atomic_number))
            for g in graphs
        )
        if isolated:
            log.warning(
                "chgnet: %d of %d structures have atoms with no neighbour within %g Å "
                "(features: their embeddings through the layers, no messages)",
                isolated,
                len(graphs),
                float(model.graph_converter.atom_graph_cutoff),
            )
        with record_calls(list(model.atom_conv_layers)) as calls:
            energy = model(graphs, task="e")["e"]
        return energy, [output for _inputs, output in calls]

    def predict(self, batch: AtomsBatch) -> torch.Tensor:
        """(n_structures,) CHGNet energy per atom, eV/atom."""
        return self._run(batch)[0]

    def atom_features(self, batch: AtomsBatch) -> list[FeatureBlock]:
        """Atom features after every atom-convolution layer, (n_atoms, 64) each."""
        with torch.no_grad():
            _, layers = self._run(batch)
        return [
            FeatureBlock(
                layer=k, layer_name=f"atom_conv_layers.{k}", stream="scalar", L=0, values=h
            )
            for k, h in enumerate(layers)
        ]

    def readout(self, last: list[FeatureBlock], batch: AtomsBatch) -> torch.Tensor:
        """Energy per atom (n_structures,) eV/atom recomputed from the last layer's features:
        ``mean_atoms(mlp(readout_norm(h)) + w[Z])`` with ``w`` the AtomRef composition weights
        (AtomRef is linear in the element fractions, i.e. a mean of per-element values)."""
        model = self.module
        if not (model.mlp_first and model.is_intensive):
            raise ValueError("chgnet readout: implemented for mlp_first, intensive models")
        h = last[0].values.to(self.device)
        if model.readout_norm is not None:
            h = model.readout_norm(h)
        site_energy = model.mlp(h).view(-1)
        numbers = batch.numbers.to(self.device)
        if model.composition_model is not None:
            site_energy = site_energy + model.composition_model.fc.weight[0, numbers - 1]
        structure = batch.batch.to(self.device)
        total = torch.zeros(batch.n_structures, dtype=h.dtype, device=self.device)
        total.index_add_(0, structure, site_energy)
        return total / torch.bincount(structure, minlength=batch.n_structures)


class CHGNetFamily(ModelFamily):
    """CHGNet: ``source: builtin`` with ``weights`` naming one of :data:`SHIPPED_CHECKPOINTS`
    (default "0.3.0"), or ``source: checkpoint`` with ``path`` and ``sha256`` of a file
    ``CHGNet.from_file`` reads."""

    name = "chgnet"
    default_weights = DEFAULT_WEIGHTS

    def load(self, entry: Mapping[str, Any]) -> CHGNetAdapter:
        if source_of(entry) is Source.CHECKPOINT:
            path, sha256 = checkpoint_file(entry, "chgnet")
            return CHGNetAdapter(load_chgnet_file(path, sha256, key="chgnet checkpoint"))
        return CHGNetAdapter(load_builtin(str(entry.get("weights", self.default_weights))))
