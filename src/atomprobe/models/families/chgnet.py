"""CHGNet 0.3.0 (package ``chgnet``; weights ship in the wheel, ``builtin`` source).

Features: the atom features after each atom-convolution layer (``atom_conv_layers.{i}``,
64 invariant channels, stream "scalar", L = 0). ``predict`` is CHGNet's energy **per atom**
(eV/atom, as ``CHGNet.predict_structure`` returns it, composition reference included):
``mean_atoms(mlp(readout_norm(h_last))) + AtomRef(composition)``.

Molecules (no cell) are placed in a cubic box with ``2 x atom_graph_cutoff`` (12 Å) of vacuum
around them, so that no periodic image is within any cutoff: the result is the isolated
molecule. Loading checks the shipped file's sha256 and reads it with ``weights_only=True``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from chgnet.model import model as chgnet_model
from pymatgen.core import Lattice, Structure

from atomprobe.errors import ConfigError
from atomprobe.models.base import AtomsBatch, FeatureBlock, ModelAdapter, ModelFamily
from atomprobe.models.families._weights import require_builtin, verify_sha256
from atomprobe.models.hooks import record_calls

SHIPPED_CHECKPOINTS: dict[str, tuple[str, str]] = {
    # name: (path inside the installed wheel, sha256 of the file shipped with chgnet 0.4.2)
    "0.3.0": (
        os.path.join(
            os.path.dirname(chgnet_model.__file__),
            "..",
            "pretrained",
            "0.3.0",
            "chgnet_0.3.0_e29f68s314m37.pth.tar",
        ),
        "d14ab7c0f093efe64b60a7bcd540bca10e74fb7f46c86108a079af60524659d1",
    ),
}


def load_builtin(name: str = "0.3.0") -> torch.nn.Module:
    """The CHGNet shipped in the wheel (float32, CPU, eval), after checking its sha256."""
    if name not in SHIPPED_CHECKPOINTS:
        raise ConfigError(f"chgnet builtin: {name!r} is not one of {sorted(SHIPPED_CHECKPOINTS)}")
    path, sha256 = SHIPPED_CHECKPOINTS[name]
    verify_sha256(path, sha256, f"chgnet builtin {name}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    # As CHGNet.load does for 0.3.0 (mlp_out_bias only for the deprecated 0.2.0).
    model = chgnet_model.CHGNet.from_dict(state["model"], mlp_out_bias=False, version=name)
    return model.float().eval()


class CHGNetAdapter(ModelAdapter):
    """A CHGNet with hooks on its atom-convolution layers."""

    family = "chgnet"
    supports_periodic = True

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
    """CHGNet shipped in the chgnet wheel: ``source: builtin``, ``weights`` "0.3.0" (default)."""

    name = "chgnet"

    def load(self, entry: Mapping[str, Any]) -> CHGNetAdapter:
        require_builtin(entry, "chgnet", "weights ship in the wheel")
        return CHGNetAdapter(load_builtin(str(entry.get("weights", "0.3.0"))))
