"""Per-layer, per-irrep features of atomistic models: extraction, pooling and file IO."""

from atomprobe.features.io import (
    column_name,
    feature_columns,
    read_atom_features,
    read_atom_index,
    read_atom_values,
    read_features,
    write_atom_features,
    write_features,
)

__all__ = [
    "column_name",
    "feature_columns",
    "read_atom_features",
    "read_atom_index",
    "read_atom_values",
    "read_features",
    "write_atom_features",
    "write_features",
]
