"""The interface every model family implements, so that extraction and training are generic.

A family adapter wraps one maintained implementation (torch-geometric, mace-torch, torchani,
sevenn, chgnet, ...) and exposes, for a batch of structures, the per-atom features of every
layer split by irrep order, and the model's own prediction.

A :class:`ModelFamily` makes adapters: ``build(hparams, stats)`` a fresh model to train (the
generic loop in :mod:`atomprobe.models.training` trains any family that can be built), and
``load(entry)`` a model with weights named by a registry entry (``source: checkpoint | builtin``).
Families are listed, with what they support, in :mod:`atomprobe.models.families`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from atomprobe.errors import ConfigError
from atomprobe.io import atomic_path
from atomprobe.models.families.hparams import check_hparams


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
            numbers=move(self.numbers),
            positions=move(self.positions),
            batch=move(self.batch),
            n_structures=self.n_structures,
            ids=self.ids,
            cell=move(self.cell),
            pbc=self.pbc,
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


@dataclass(frozen=True)
class TrainingStats:
    """What a model built for training needs to know about its target and training set.

    target, unit: the target column and its unit (e.g. ``gap``, ``eV``);
    atom_refs: {Z: per-atom reference value} fitted by least squares on the composition for
    extensive targets (energies), {} for intensive ones; mean, std: of the target after
    subtracting the atom references (target units), so a model predicts
    ``y = sum(atom_refs[Z]) + mean + std * raw``; elements: sorted atomic numbers seen in
    training; avg_num_neighbors: mean neighbour count within the family's cutoff.
    """

    target: str
    unit: str
    mean: float
    std: float
    elements: tuple[int, ...]
    avg_num_neighbors: float
    atom_refs: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON- and ``torch.load(weights_only=True)``-safe form."""
        return {
            **asdict(self),
            "elements": list(self.elements),
            "atom_refs": {str(z): v for z, v in self.atom_refs.items()},
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> TrainingStats:
        """Inverse of :meth:`to_dict`."""
        return cls(
            **{
                **doc,
                "elements": tuple(int(z) for z in doc["elements"]),
                "atom_refs": {int(z): float(v) for z, v in doc["atom_refs"].items()},
            }
        )

    def reference(self, batch: AtomsBatch) -> torch.Tensor:
        """Sum of the atom references per structure: (n_structures,), target units."""
        table = torch.zeros(119, dtype=batch.positions.dtype, device=batch.positions.device)
        for z, value in self.atom_refs.items():
            table[z] = value
        out = torch.zeros(batch.n_structures, dtype=table.dtype, device=table.device)
        return out.index_add_(0, batch.batch, table[batch.numbers])

    def to_target(self, raw: torch.Tensor, batch: AtomsBatch) -> torch.Tensor:
        """Standardised model output (n_structures,) -> target units (n_structures,)."""
        return self.reference(batch) + self.mean + self.std * raw


class ModelAdapter(ABC):
    """One loaded model of a family, ready for inference (and training, if built).

    ``module`` holds every trainable parameter; ``hparams`` and ``stats`` are set for models
    built by :meth:`ModelFamily.build`, so that :func:`save_model` can rebuild them.
    """

    family: ClassVar[str]
    supports_periodic: ClassVar[bool] = False

    def __init__(
        self,
        module: torch.nn.Module,
        hparams: Mapping[str, Any] | None = None,
        stats: TrainingStats | None = None,
    ) -> None:
        self.module = module
        self.hparams = dict(hparams or {})
        self.stats = stats

    @abstractmethod
    def atom_features(self, batch: AtomsBatch) -> list[FeatureBlock]:
        """Per-atom features of every layer (forward hooks), in layer order."""

    @abstractmethod
    def predict(self, batch: AtomsBatch) -> torch.Tensor:
        """The model's own prediction per structure: (n_structures,) in the target's units."""


class StandardisedAdapter(ModelAdapter):
    """Adapter of a model built here whose module outputs the standardised target ``raw``.

    Subclasses implement :meth:`_run`, one forward pass returning ``raw`` and what the hooks
    recorded; the prediction is ``stats.to_target(raw)``.
    """

    @abstractmethod
    def _run(self, batch: AtomsBatch) -> tuple[torch.Tensor, list[Any]]:
        """(raw (n_structures,), per-layer tensors recorded by the hooks)."""

    def predict(self, batch: AtomsBatch) -> torch.Tensor:
        return self.stats.to_target(self._run(batch)[0], batch)


class ModelFamily(ABC):
    """Makes :class:`ModelAdapter` objects of one family (one maintained implementation).

    A trainable family implements :meth:`build` and :meth:`cutoff`; its trained weights load
    through the default :meth:`load` (``source: checkpoint`` with a ``model.pt`` written by
    :func:`save_model`). Families of pretrained models override :meth:`load`.
    """

    name: ClassVar[str]

    def build(self, hparams: Mapping[str, Any], stats: TrainingStats) -> ModelAdapter:
        """A freshly initialised model (float32, CPU; seed torch first) for ``hparams``."""
        raise ConfigError(f"family {self.name!r} cannot be trained; use source checkpoint/builtin")

    def cutoff(self, hparams: Mapping[str, Any]) -> float:
        """Neighbour cutoff radius (Å) of a model with ``hparams`` (for ``avg_num_neighbors``)."""
        raise ConfigError(f"family {self.name!r} cannot be trained; use source checkpoint/builtin")

    def load(self, entry: Mapping[str, Any]) -> ModelAdapter:
        """The model named by a registry entry (its source checked by the registry against
        the family's ``sources``); by default a :func:`save_model` checkpoint."""
        return load_model(entry["path"], self)


def save_model(
    path: str | Path, adapter: ModelAdapter, extra: Mapping[str, Any] | None = None
) -> None:
    """Save a built model as ``{family, hparams, stats, state_dict, extra}`` (weights-only safe)."""
    if adapter.stats is None:
        raise ValueError("save_model: the adapter was not built by ModelFamily.build")
    with atomic_path(path) as tmp:
        torch.save(
            {
                "family": adapter.family,
                "hparams": adapter.hparams,
                "stats": adapter.stats.to_dict(),
                "state_dict": adapter.module.state_dict(),
                "extra": dict(extra or {}),
            },
            tmp,
        )


def read_model_file(path: str | Path) -> dict[str, Any]:
    """The dict saved by :func:`save_model` (tensors and plain values only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: model file not found; train it or fix the path") from exc


def load_model(path: str | Path, family: ModelFamily) -> ModelAdapter:
    """Rebuild the model saved at ``path`` by :func:`save_model` and load its weights."""
    saved = read_model_file(path)
    if saved["family"] != family.name:
        raise ConfigError(f"{path}: holds a {saved['family']!r} model, not {family.name!r}")
    adapter = family.build(saved["hparams"], TrainingStats.from_dict(saved["stats"]))
    adapter.module.load_state_dict(saved["state_dict"])
    adapter.module.eval()
    return adapter


class HyperparameterFamily(ModelFamily):
    """A trainable family whose hparams are its declared defaults
    (:data:`atomprobe.models.families.hparams.DEFAULTS`) updated by the registry entry's, with a
    ``cutoff`` (Å) among them."""

    def resolve_hparams(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults updated with ``hparams``; ConfigError naming an unknown key, a value of
        the wrong type or a choice the family does not offer."""
        return check_hparams(self.name, hparams)

    def cutoff(self, hparams: Mapping[str, Any]) -> float:
        return float(self.resolve_hparams(hparams)["cutoff"])
