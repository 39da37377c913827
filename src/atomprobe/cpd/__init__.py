"""Composition Projection Decomposition: remove the linear composition signal, probe the rest."""

from atomprobe.cpd.projection import CompositionProjector, join_composition
from atomprobe.cpd.ridge import SharedRidgeCV, alpha_grid
from atomprobe.cpd.scores import (
    PROBES,
    REPRESENTATIONS,
    ProbeSettings,
    cpd_scores,
    fold_matrices,
    make_splits,
    pipeline_scores,
    ridge_scores,
    summarize,
)

__all__ = [
    "PROBES",
    "REPRESENTATIONS",
    "CompositionProjector",
    "ProbeSettings",
    "SharedRidgeCV",
    "alpha_grid",
    "cpd_scores",
    "fold_matrices",
    "join_composition",
    "make_splits",
    "pipeline_scores",
    "ridge_scores",
    "summarize",
]
