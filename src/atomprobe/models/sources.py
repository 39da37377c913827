"""Where a registry entry's model comes from: its ``source``, as one type.

The registry file writes ``source`` as a string; the library reads it through :class:`Source`
(a ``StrEnum``, so it still equals its string in the entries Snakemake passes to the steps).
What each source means for the workflow lives here, once; which sources a family supports is
data in :data:`atomprobe.models.families.FAMILIES`, checked once by the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Source(StrEnum):
    """A registry entry's ``source``."""

    #: built from the family's hparams and trained here (weights in results/models/{name}/)
    TRAIN = "train"
    #: built here like the ``train`` entry it mirrors, never trained (its untrained control)
    RANDOM_INIT = "random_init"
    #: weights (or constants) shipped inside the family's package
    BUILTIN = "builtin"
    #: a weights file you bring (``path`` and ``sha256``)
    CHECKPOINT = "checkpoint"
    #: feature tables you bring: no model runs here
    FEATURES = "features"

    @property
    def built_here(self) -> bool:
        """The model is built here (trained or not): its weights are a ``model.pt`` of ours."""
        return self in (Source.TRAIN, Source.RANDOM_INIT)

    @property
    def runs_model(self) -> bool:
        """A model runs here to extract features (every source but ``features``)."""
        return self is not Source.FEATURES


def source_of(entry: Mapping[str, Any]) -> Source:
    """The :class:`Source` of a registry entry (validated by the registry schema)."""
    return Source(entry["source"])
