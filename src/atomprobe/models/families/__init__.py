"""The model families atomprobe knows: registry family name -> implementation and capabilities.

Each entry names a :class:`atomprobe.models.base.ModelFamily` subclass as ``"module:Class"``;
it is imported only when a model of that family is built or loaded, so reading the registry
(e.g. while Snakemake parses the workflow) stays cheap. To add a family: write the class and
add one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atomprobe.errors import ConfigError
from atomprobe.models.sources import Source

if TYPE_CHECKING:  # importing torch is slow; the registry only needs the table below
    from atomprobe.models.base import ModelFamily


@dataclass(frozen=True)
class FamilyInfo:
    """What the registry may know of a family without importing it (or torch).

    Attributes
    ----------
    implementation : str
        ``"module:Class"`` of the ModelFamily.
    sources : frozenset of Source
        The registry sources its entries may have (``features`` needs no family and is
        always allowed).
    supports_periodic : bool
        Handles periodic cells (crystals).
    builtin_weights : tuple of str
        Names a ``source: builtin`` entry's ``weights`` may take (the family module's
        ``SHIPPED_CHECKPOINTS``; a test keeps the two equal); empty: no ``weights`` key.
    """

    implementation: str
    sources: frozenset[Source]
    supports_periodic: bool
    builtin_weights: tuple[str, ...] = ()

    @property
    def trainable(self) -> bool:
        """Can be built and trained here."""
        return Source.TRAIN in self.sources


_PKG = "atomprobe.models.families"
# built here, or a model.pt of ours (or, for MACE, a mace-torch .model) brought as a checkpoint
_BUILT = frozenset({Source.TRAIN, Source.RANDOM_INIT, Source.CHECKPOINT})
# pretrained: weights shipped in the wheel, or a checkpoint file of the package's own format
_PRETRAINED = frozenset({Source.BUILTIN, Source.CHECKPOINT})
FAMILIES: dict[str, FamilyInfo] = {
    "schnet": FamilyInfo(f"{_PKG}.pyg:SchNetFamily", _BUILT, supports_periodic=False),
    "dimenetpp": FamilyInfo(f"{_PKG}.pyg:DimeNetPPFamily", _BUILT, supports_periodic=False),
    "visnet": FamilyInfo(f"{_PKG}.pyg:ViSNetFamily", _BUILT, supports_periodic=False),
    "painn": FamilyInfo(f"{_PKG}.painn:PaiNNFamily", _BUILT, supports_periodic=False),
    "mace": FamilyInfo(f"{_PKG}.mace:MACEFamily", _BUILT, supports_periodic=True),
    # a fixed descriptor: constants only, nothing to train or load
    "ani2x_aev": FamilyInfo(
        f"{_PKG}.ani:ANIAEVFamily", frozenset({Source.BUILTIN}), supports_periodic=False
    ),
    "sevennet": FamilyInfo(
        f"{_PKG}.sevennet:SevenNetFamily",
        _PRETRAINED,
        supports_periodic=True,
        builtin_weights=("SevenNet-0_11Jul2024", "SevenNet-0_22May2024", "SevenNet-l3i5"),
    ),
    "chgnet": FamilyInfo(
        f"{_PKG}.chgnet:CHGNetFamily",
        _PRETRAINED,
        supports_periodic=True,
        builtin_weights=("0.3.0", "0.2.0", "r2scan"),
    ),
}


def family_info(name: str) -> FamilyInfo:
    """Capabilities of family ``name``; ConfigError naming the known families otherwise."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; known families: {sorted(FAMILIES)}")
    return FAMILIES[name]


def get_family(name: str) -> ModelFamily:
    """Import and instantiate the ModelFamily of ``name``."""
    module_name, class_name = family_info(name).implementation.split(":")
    return getattr(importlib.import_module(module_name), class_name)()
