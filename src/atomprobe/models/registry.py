"""The model registry (``config/models.yaml``): load, validate, and resolve paths per model.

Validation happens before any job runs: the schema (``atomprobe/schemas/models.schema.yaml``),
then what a schema cannot see: the family exists and supports the source, weight and feature
files exist, checksums match. Every problem is one :class:`ConfigError` line naming the entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from atomprobe.config import SCHEMA_DIR, load_yaml, validate_against
from atomprobe.errors import ConfigError
from atomprobe.io import read_metadata, sha256_file, write_parquet
from atomprobe.models.families import family_info

DATASETS = ("qm9", "mp")
PERIODIC_DATASETS = frozenset({"mp"})
# training settings of a `source: train` entry unless train_defaults or the entry set them
TRAINING_DEFAULTS: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 32,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "patience": 10,
    "lr_patience": 4,
    "checkpoint_every": 5,
    "n_train": None,
    "progress": True,
}


def _check_entry(name: str, entry: Mapping[str, Any], where: str) -> None:
    """Checks beyond the schema for one entry; ConfigError naming ``where`` and what to fix."""
    source = entry["source"]
    if source == "features":
        for dataset, path in entry["paths"].items():
            if dataset not in DATASETS:
                raise ConfigError(f"{where}.paths: unknown dataset {dataset!r}; use {DATASETS}")
            if not Path(path).is_file():
                raise ConfigError(f"{where}.paths.{dataset}: {path} not found; fix the path")
        if "family" in entry:
            family_info(entry["family"])
        return
    try:
        info = family_info(entry["family"])
    except ConfigError as exc:
        raise ConfigError(f"{where}.family: {exc}") from exc
    if source == "train" and not info.trainable:
        raise ConfigError(f"{where}: family {entry['family']!r} cannot be trained here")
    if source == "checkpoint":
        path = Path(entry["path"])
        if not path.is_file():
            raise ConfigError(f"{where}.path: {path} not found; put the weights there")
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise ConfigError(
                f"{where}.sha256: {path} has sha256 {digest}, registry says {entry['sha256']}; "
                "use the right file or update the checksum"
            )


def load_registry(
    path: str | Path, selection: str | Sequence[str] = "all"
) -> dict[str, dict[str, Any]]:
    """Validated registry entries, name -> entry, for ``selection`` ("all" or a list of names).

    Disabled entries are left out of "all". ``source: train`` entries get
    ``training = {**TRAINING_DEFAULTS, **train_defaults, **entry.training}``.
    """
    document = load_yaml(path)
    validate_against(document, SCHEMA_DIR / "models.schema.yaml", source=str(path))
    entries = document["models"]
    if selection == "all":
        names = [n for n, e in entries.items() if e.get("enabled", True)]
    else:
        unknown = [n for n in selection if n not in entries]
        if unknown:
            raise ConfigError(f"config models: {unknown} not in {path}; known: {sorted(entries)}")
        names = list(selection)
    defaults = {**TRAINING_DEFAULTS, **document.get("train_defaults", {})}
    registry = {}
    for name in names:
        entry = dict(entries[name])
        _check_entry(name, entry, f"{path}: models.{name}")
        if entry["source"] == "train":
            entry["training"] = {**defaults, **entry.get("training", {})}
        registry[name] = entry
    return registry


def model_datasets(entry: Mapping[str, Any], datasets: Sequence[str] = DATASETS) -> list[str]:
    """The datasets a model is extracted on: those of its feature files for ``source:
    features``; QM9 only for models trained here (they know only QM9's elements); else every
    dataset in ``datasets``, periodic ones only if its family supports periodic cells."""
    if entry["source"] == "features":
        return [d for d in datasets if d in entry["paths"]]
    if entry["source"] == "train":
        return [d for d in datasets if d not in PERIODIC_DATASETS]
    periodic = family_info(entry["family"]).supports_periodic
    return [d for d in datasets if periodic or d not in PERIODIC_DATASETS]


def features_path(name: str, entry: Mapping[str, Any], dataset: str) -> str:
    """Pooled feature table of model ``name`` on ``dataset`` (docs/formats.md)."""
    if entry["source"] == "features":
        return entry["paths"][dataset]
    return f"results/features/{name}/{dataset}.parquet"


def model_table(inputs: Mapping, outputs: Mapping, params: dict[str, Any], threads: int) -> None:
    """Step: one row per registry model -> ``results/models/registry.parquet``.

    Columns: name, label, family, source, train_target, n_params, test_mae, baseline_mae
    (predict-the-train-mean, target units), composition_mae (extensive targets: per-element
    references alone), supports_periodic, datasets, note.
    params: registry (name -> entry), datasets (name -> datasets it was extracted on).
    """
    rows = []
    for name, entry in params["registry"].items():
        datasets = params["datasets"][name]
        metrics: dict[str, Any] = {}
        if entry["source"] == "train":
            metrics = json.loads(Path(f"results/models/{name}/metrics.json").read_text())
        n_params = metrics.get("n_params")
        if n_params is None and datasets:
            n_params = read_metadata(features_path(name, entry, datasets[0])).get("n_params")
        notes = [entry["note"]] if "note" in entry else []
        skipped = [d for d in DATASETS if d not in datasets]
        if skipped and entry["source"] == "train":
            notes.append(f"not extracted on {', '.join(skipped)}: trained on QM9 molecules")
        elif skipped and entry["source"] != "features":
            notes.append(f"not extracted on {', '.join(skipped)}: no periodic support")
        periodic = "family" in entry and family_info(entry["family"]).supports_periodic
        rows.append(
            {
                "name": name,
                "label": entry["label"],
                "family": entry.get("family", ""),
                "source": entry["source"],
                "train_target": entry.get("target", ""),
                "n_params": n_params,
                "test_mae": metrics.get("test_mae"),
                "baseline_mae": metrics.get("baseline_mae"),
                "composition_mae": metrics.get("composition_baseline_mae"),
                "supports_periodic": periodic,
                "datasets": ",".join(datasets),
                "note": "; ".join(notes),
            }
        )
    units = {
        "test_mae": "target units (eV for gap and u0)",
        "baseline_mae": "predict the training mean; same units",
        "composition_mae": "extensive targets: per-element least-squares references alone",
    }
    sources = [p for v in inputs.values() for p in ([v] if isinstance(v, str) else v)]
    write_parquet(pd.DataFrame(rows), outputs["table"], {"units": units}, params, sources)
