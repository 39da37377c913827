"""Column contracts of the CPD score files, shared by the steps that write them and the tables
that read them (docs/formats.md): results/cpd/{model}/{dataset}.parquet and
results/cpd_sensitivity/{model}/{dataset}.parquet.
"""

from __future__ import annotations

from atomprobe.cpd.ceiling import CEILING_COLUMNS
from atomprobe.cpd.scores import SCORE_COLUMNS

CPD_COLUMNS: dict[str, str] = {
    "model": "model name (registry)",
    "dataset": "dataset probed",
    "layer": "layer index of the pooled features",
    "group": "feature-column group (all = every column of the layer)",
    "n_columns": "feature columns in the group",
    **SCORE_COLUMNS,
    "ceiling": CEILING_COLUMNS["ceiling"],
}

#: Representations of the sensitivity scores: H, the in-sample residual (v1), the per-fold one (v2).
SENSITIVITY_REPRESENTATIONS: tuple[str, ...] = ("full", "geom_v1", "geom_v2")
#: Encodings scored besides the one the cpd step uses: the residuals only (H has no encoding).
SENSITIVITY_ENCODINGS: tuple[str, ...] = ("counts", "fraction")
SENSITIVITY_COLUMNS: dict[str, str] = {
    "model": "model name (registry)",
    "dataset": "dataset probed",
    "layer": "layer index of the pooled features (the model's last layer)",
    "encoding": "composition encoding of C: counts | fraction | presence",
    "main": "true for the encoding the cpd step uses (cpd.composition.encoding, auto resolved); "
    "representation full is scored under it only",
    "scaling": "feature scaling of the Ridge probe: guarded | standard | none",
    **SCORE_COLUMNS,
    "n_clipped": "test values of the fold the guard clips (the same for every scaling; 0 means "
    "guarded and standard give bitwise the same score on that fold)",
    "ceiling": CEILING_COLUMNS["ceiling"],
}
