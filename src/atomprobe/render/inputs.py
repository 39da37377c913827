"""Load the cached parquet results a render step reads; absent inputs become empty frames.

A render never computes a model: it only reads ``results/models/registry.parquet``, the CPD score
files ``results/cpd/{model}/{dataset}.parquet`` and the cross-model analyses
``results/analyses/{name}.parquet``. An input that the workflow did not produce (model or
analysis not configured) is simply absent; tables then say "not run" in its place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from atomprobe.errors import DataError
from atomprobe.io import as_path_list, read_parquet

REGISTRY_COLUMNS = ("name", "label", "family", "source", "train_target", "supports_periodic")
CPD_DTYPES: dict[str, type] = {
    "model": str,
    "dataset": str,
    "target": str,
    "layer": int,
    "group": str,
    "representation": str,
    "probe": str,
    "repeat": int,
    "fold": int,
    "r2": float,
    "ceiling": float,
}
CPD_COLUMNS = tuple(CPD_DTYPES)
# input names that are not analyses: the model table, the CPD score files, the render code
NOT_ANALYSES = ("registry", "cpd", "code")


@dataclass
class Results:
    """Everything a table or figure may read, already loaded.

    ``registry``: one row per configured model, in config order (columns ``REGISTRY_COLUMNS``…).
    ``cpd``: all CPD score files concatenated (columns ``CPD_COLUMNS``).
    ``analyses``: analysis name → tidy frame as the workflow wrote it (absent names were not
    produced); ``layer_profile`` marks each curve's best layer for ``render.layer: best``.
    ``metadata``: input name → its ``atomprobe`` metadata document (units, settings).
    """

    registry: pd.DataFrame
    cpd: pd.DataFrame
    analyses: dict[str, pd.DataFrame] = field(default_factory=dict)
    metadata: dict[str, dict] = field(default_factory=dict)

    def analysis(self, name: str) -> pd.DataFrame | None:
        """The frame of analysis ``name``, or None when it was not produced."""
        return self.analyses.get(name)

    def label(self, model: str) -> str:
        """Human-readable label of a model (its registry ``label``, else its name)."""
        match = self.registry.loc[self.registry["name"] == model, "label"]
        return str(match.iloc[0]) if len(match) and pd.notna(match.iloc[0]) else model

    def model_order(self) -> list[str]:
        """Model names in registry order, then any model that only appears in the scores."""
        names = list(self.registry["name"])
        extra = sorted(set(self.cpd["model"]) - set(names))
        return names + extra

    def rungs(self) -> list[int]:
        """The training-budget rungs of the models built here (registry ``rung``; [0] when
        the registry has none)."""
        if "rung" not in self.registry.columns:
            return [0]
        return sorted({int(r) for r in self.registry["rung"].dropna()}) or [0]

    def at_rung(self, rung: int) -> Results:
        """These results as one rung of a ladder sees them: the models built here at ``rung``
        and every model not built here (pretrained, your features); CPD scores of the others
        left out."""
        if "rung" not in self.registry.columns:
            return self
        keep = self.registry["rung"].isna() | (self.registry["rung"] == rung)
        registry = self.registry.loc[keep].reset_index(drop=True)
        dropped = set(self.registry["name"]) - set(registry["name"])
        cpd = self.cpd.loc[~self.cpd["model"].isin(dropped)] if "model" in self.cpd else self.cpd
        return Results(registry, cpd, self.analyses, self.metadata)


def require_columns(df: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """Raise a DataError naming ``source`` if any of ``columns`` is missing."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; rebuild it with the current atomprobe "
            "(the file contract is docs/formats.md)"
        )


def load_results(inputs: Mapping[str, str | Sequence[str]]) -> Results:
    """Load the render inputs named in ``inputs``.

    Keys: ``registry`` (one path), ``cpd`` (zero or more paths), ``code`` (ignored: the render
    code, an input only so that editing it re-renders) and any analysis name, such as
    ``isomers`` or ``layer_profile`` (one path: results/analyses/{name}.parquet), or
    ``cpd_sensitivity`` or ``cpd_protocols`` (one file per model, concatenated). Missing keys
    or paths that do not exist yield empty / absent data; the metadata of a name is that of its
    first file.
    """
    metadata: dict[str, dict] = {}
    registry_paths = [p for p in as_path_list(inputs.get("registry")) if Path(p).exists()]
    if registry_paths:
        registry, metadata["registry"] = read_parquet(registry_paths[0])
        require_columns(registry, REGISTRY_COLUMNS, registry_paths[0])
    else:
        registry = pd.DataFrame(columns=list(REGISTRY_COLUMNS)).astype(
            {c: str for c in REGISTRY_COLUMNS} | {"supports_periodic": bool}
        )

    frames = []
    for path in as_path_list(inputs.get("cpd")):
        if Path(path).exists():
            frame, meta = read_parquet(path)
            require_columns(frame, CPD_COLUMNS, path)
            frames.append(frame)
            metadata[f"cpd:{path}"] = meta
    frames = [f for f in frames if not f.empty]
    cpd = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CPD_COLUMNS)
    cpd = cpd.astype(CPD_DTYPES)

    analyses = {}
    for name in (key for key in inputs if key not in NOT_ANALYSES):
        paths = [p for p in as_path_list(inputs[name]) if Path(p).exists()]
        if paths:
            loaded = [read_parquet(path) for path in paths]
            frames = [frame for frame, _ in loaded]
            analyses[name] = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            metadata[name] = loaded[0][1]
    return Results(registry=registry, cpd=cpd, analyses=analyses, metadata=metadata)
