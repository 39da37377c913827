"""Composition Projection Decomposition: remove the linear composition signal, probe the rest."""

from atomprobe.cpd.groups import DEFAULT_GROUPS, column_group_scores, group_columns, group_layers
from atomprobe.cpd.projection import CompositionProjector, join_composition
from atomprobe.cpd.ridge import SharedRidgeCV, alpha_grid
from atomprobe.cpd.scaling import SCALINGS, FeatureScaler, GuardedScaler, make_scaler
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
    "DEFAULT_GROUPS",
    "PROBES",
    "REPRESENTATIONS",
    "SCALINGS",
    "CompositionProjector",
    "FeatureScaler",
    "GuardedScaler",
    "ProbeSettings",
    "SharedRidgeCV",
    "alpha_grid",
    "column_group_scores",
    "cpd_scores",
    "fold_matrices",
    "group_columns",
    "group_layers",
    "join_composition",
    "make_scaler",
    "make_splits",
    "pipeline_scores",
    "ridge_scores",
    "summarize",
]
