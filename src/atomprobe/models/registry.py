"""The model registry (``config/models.yaml``): load, validate, and resolve paths per model.

Validation happens before any job runs: the schema (``atomprobe/schemas/models.schema.yaml``),
then what a schema cannot see: the family exists and supports the source, a trained entry's
hparams are the family's, weight and feature files exist, checksums match. Every problem is one
:class:`ConfigError` line naming the entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from atomprobe.config import SCHEMA_DIR, load_yaml, validate_against
from atomprobe.data.datasets import dataset_targets, has_splits, is_periodic
from atomprobe.errors import ConfigError
from atomprobe.io import as_path_list, read_metadata, sha256_file, write_parquet
from atomprobe.models.families import family_info
from atomprobe.models.families.hparams import check_hparams
from atomprobe.models.sources import Source, source_of

# training settings of a `source: train` entry unless train_defaults or the entry set them
# the defaults of every `training` key, declared once in the registry schema
TRAINING_DEFAULTS: dict[str, Any] = {
    key: spec["default"]
    for key, spec in load_yaml(SCHEMA_DIR / "models.schema.yaml")["$defs"]["training"][
        "properties"
    ].items()
    if "default" in spec
}
# what a random_init entry takes from the entry it mirrors (`of`), so that the two cannot drift
MIRRORED_KEYS = ("family", "target", "seed", "rung", "hparams", "training")
# the training settings the initial model depends on (the rest only shape the optimisation)
INIT_TRAINING_KEYS = ("dataset", "n_train")


def _check_entry(
    name: str, entry: Mapping[str, Any], where: str, datasets: Mapping[str, Mapping[str, Any]]
) -> None:
    """Checks beyond the schema for one entry; ConfigError naming ``where`` and what to fix."""
    source = source_of(entry)
    if source is Source.FEATURES:
        for key in ("paths", "atom_paths"):
            for dataset, path in entry.get(key, {}).items():
                if dataset not in datasets:
                    raise ConfigError(
                        f"{where}.{key}: {dataset!r} is not a configured dataset; "
                        f"use one of {list(datasets)}"
                    )
                if not Path(path).is_file():
                    raise ConfigError(f"{where}.{key}.{dataset}: {path} not found; fix the path")
        extra = sorted(set(entry.get("atom_paths", {})) - set(entry["paths"]))
        if extra:
            raise ConfigError(f"{where}.atom_paths: {extra} have no pooled features in paths")
        if "family" in entry:
            try:
                family_info(entry["family"])
            except ConfigError as exc:
                raise ConfigError(f"{where}.family: {exc}") from exc
        return
    try:
        info = family_info(entry["family"])
    except ConfigError as exc:
        raise ConfigError(f"{where}.family: {exc}") from exc
    weights = entry.get("weights")
    shipped = info.builtin_weights
    if source is Source.BUILTIN and weights is not None and str(weights) not in shipped:
        known = list(info.builtin_weights) or "none (leave weights out)"
        raise ConfigError(
            f"{where}.weights: {weights!r} is not shipped for family {entry['family']!r}; "
            f"known: {known}"
        )
    if source not in info.sources:
        supported = ", ".join(sorted(info.sources))
        what = {
            Source.TRAIN: "cannot be trained here",
            Source.RANDOM_INIT: "cannot be trained here",
            Source.CHECKPOINT: "loads no checkpoint",
            Source.BUILTIN: "ships no weights",
        }[source]
        raise ConfigError(
            f"{where}.source: family {entry['family']!r} {what}; use source: {supported}"
        )
    if source.built_here:
        check_hparams(entry["family"], entry.get("hparams", {}), f"{where}.hparams")
        dataset = training_dataset(entry, datasets, where)
        if entry["target"] not in dataset_targets(dataset, datasets[dataset]):
            raise ConfigError(
                f"{where}.target: {entry['target']!r} is not a target of dataset {dataset!r}; "
                f"its targets: {list(dataset_targets(dataset, datasets[dataset]))}"
            )
    if source is Source.CHECKPOINT:
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
    path: str | Path,
    selection: str | Sequence[str],
    datasets: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Validated registry entries, name -> entry, for ``selection`` ("all" or a list of names).

    Parameters
    ----------
    path : str or Path
        The registry file (YAML).
    selection : str or sequence of str
        "all" (every entry not disabled) or the names to use, in that order.
    datasets : mapping
        The configured datasets (config ``data``, null entries removed): feature files and
        training datasets must name one of them.

    Returns
    -------
    dict of str to dict
        Name -> entry. ``source: train`` entries get ``training = {**TRAINING_DEFAULTS,
        **train_defaults, **entry.training}`` with ``training.dataset`` resolved.
        ``source: random_init`` entries get ``family``, ``target``, ``seed``, ``hparams`` and
        ``training`` (only ``dataset`` and ``n_train``, resolved the same way) of the entry
        named by their ``of`` (which need not be selected or enabled; of one with ``seeds``,
        the first seed), and its label as ``of_label``. An entry with ``seeds`` stands for one
        replica per seed (:func:`replicas`).

    Raises
    ------
    ConfigError
        One line naming the file, the entry and what to fix.
    """
    document = load_yaml(path)
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: not a model registry (a YAML mapping with key models)")
    validate_against(document, SCHEMA_DIR / "models.schema.yaml", source=str(path))
    entries = document["models"]
    if selection == "all":
        names = [n for n, e in entries.items() if e.get("enabled", True)]
    else:
        unknown = [n for n in selection if n not in entries]
        if unknown:
            raise ConfigError(f"config models: {unknown} not in {path}; known: {sorted(entries)}")
        names = list(selection)
    if not names:
        raise ConfigError(f"{path}: no model is enabled; enable one or list some in config models")
    defaults = {**TRAINING_DEFAULTS, **document.get("train_defaults", {})}
    registry = {}
    for name in names:
        entry = dict(entries[name])
        where = f"{path}: models.{name}"
        if source_of(entry) is Source.RANDOM_INIT:
            entry = random_init_entry(entry, entries, where)
            # problems in the mirrored settings name both entries
            where = f"{where}.of -> models.{entry['of']}"
        elif "of" in entry:
            raise ConfigError(
                f"{where}.of: only a `source: random_init` entry names the entry it mirrors; "
                "remove it"
            )
        if source_of(entry).built_here:
            entry["training"] = {**defaults, **entry.get("training", {})}
            entry["training"]["dataset"] = training_dataset(entry, datasets, where)
        if source_of(entry) is Source.RANDOM_INIT:
            entry["training"] = {k: entry["training"][k] for k in INIT_TRAINING_KEYS}
        _check_entry(name, entry, where, datasets)
        registry.update(replicas(name, entry, where))
    return registry


def replicas(name: str, entry: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """The models an entry stands for: itself, or with ``seeds`` one replica per seed.

    A replica is the entry with ``seed`` set, named ``<name>_seed<seed>``, labelled
    ``<label>, seed <seed>`` and marked ``replica_of: <name>``.

    Raises
    ------
    ConfigError
        ``seeds`` on an entry that is not ``source: train``.
    """
    if "seeds" not in entry:
        return {name: dict(entry)}
    if source_of(entry) is not Source.TRAIN:
        raise ConfigError(f"{where}.seeds: only a `source: train` entry trains replicas")
    base = {k: v for k, v in entry.items() if k != "seeds"}
    return {
        f"{name}_seed{seed}": {
            **base,
            "seed": seed,
            "label": f"{entry['label']}, seed {seed}",
            "replica_of": name,
        }
        for seed in entry["seeds"]
    }


def random_init_entry(
    entry: Mapping[str, Any], entries: Mapping[str, Mapping[str, Any]], where: str
) -> dict[str, Any]:
    """A ``source: random_init`` entry completed from the ``source: train`` entry it mirrors.

    Parameters
    ----------
    entry : mapping
        The random-init entry as written (``label``, ``source``, ``of``; optionally
        ``enabled``, ``note``).
    entries : mapping
        Every entry of the registry file, selected or not: ``of`` may name a disabled entry
        or one the run leaves out (the random-init model needs only its settings).
    where : str
        The entry's place (file and name) for messages.

    Returns
    -------
    dict
        ``entry`` with the mirrored entry's ``family``, ``target``, ``seed``, ``hparams``
        (``{}`` when it sets none) and ``training`` (unmerged), and ``of_label``.

    Raises
    ------
    ConfigError
        ``of`` names no entry or one that is not ``source: train``, or the entry sets a key
        it takes from ``of``.
    """
    own = [key for key in MIRRORED_KEYS if key in entry]
    if own:
        raise ConfigError(
            f"{where}.{own[0]}: a random_init entry takes {', '.join(MIRRORED_KEYS[:-1])} and "
            f"{MIRRORED_KEYS[-1]} from the entry named by `of`; remove it"
        )
    of = entry["of"]
    if of not in entries:
        raise ConfigError(
            f"{where}.of: {of!r} is not an entry of the registry; name a `source: train` entry"
        )
    mirrored = entries[of]
    if source_of(mirrored) is not Source.TRAIN:
        raise ConfigError(
            f"{where}.of: {of!r} has source {mirrored['source']!r}; a random_init entry "
            "mirrors a `source: train` entry"
        )
    return {
        **entry,
        **{key: mirrored[key] for key in MIRRORED_KEYS if key in mirrored},
        **({"seed": mirrored["seeds"][0]} if "seeds" in mirrored else {}),
        "hparams": mirrored.get("hparams", {}),
        "of_label": mirrored["label"],
    }


def training_dataset(
    entry: Mapping[str, Any], datasets: Mapping[str, Mapping[str, Any]], where: str
) -> str:
    """The dataset a ``source: train`` entry is trained on: its ``training.dataset``, else the
    first configured dataset with splits; ConfigError if it is not a split dataset."""
    dataset = entry.get("training", {}).get("dataset")
    if dataset is None:
        dataset = next((d for d, cfg in datasets.items() if has_splits(cfg)), None)
        if dataset is None:
            raise ConfigError(f"{where}: no configured dataset has splits to train on")
    if dataset not in datasets or not has_splits(datasets[dataset]):
        split = [d for d, cfg in datasets.items() if has_splits(cfg)]
        raise ConfigError(
            f"{where}.training.dataset: {dataset!r} is not a configured dataset with splits; "
            f"use one of {split}"
        )
    return dataset


def model_datasets(
    entry: Mapping[str, Any], datasets: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """The configured datasets a model's features exist on, in config order.

    ``source: features``: those of its feature files. Built here (trained, or its random
    initialisation): its training dataset only (the model knows only that dataset's elements).
    Otherwise every dataset, periodic ones only if the family supports periodic cells.
    """
    if source_of(entry) is Source.FEATURES:
        return [d for d in datasets if d in entry["paths"]]
    if source_of(entry).built_here:
        return [entry["training"]["dataset"]]
    periodic = family_info(entry["family"]).supports_periodic
    return [d for d, cfg in datasets.items() if periodic or not is_periodic(d, cfg)]


def has_atom_features(entry: Mapping[str, Any], dataset: str) -> bool:
    """Whether a model has per-atom last-layer features on ``dataset``: every model that runs
    here does; a ``source: features`` entry only where it brings them (``atom_paths``), and the
    atom-level analyses skip it elsewhere."""
    return source_of(entry) is not Source.FEATURES or dataset in entry.get("atom_paths", {})


def brought_features_path(entry: Mapping[str, Any], dataset: str, atoms: bool) -> str | None:
    """The file a ``source: features`` entry brings for ``dataset`` (``paths``, or per atom
    ``atom_paths``); None if it brings none."""
    return entry.get("atom_paths" if atoms else "paths", {}).get(dataset)


def model_table(inputs: Mapping, outputs: Mapping, params: dict[str, Any], threads: int) -> None:
    """Step: one row per registry model -> ``results/models/registry.parquet``.

    Columns: name, label, family, source, weights (a builtin's shipped weights), train_target
    (empty unless trained here), n_params, test_mae, baseline_mae (predict-the-train-mean, target
    units), composition_mae (extensive targets: per-element references alone), best_epoch (the
    epoch whose weights are the final model; trained here only), epochs_run, replica_of (the
    entry whose seeds this model is one of, else empty), seed and rung (models built here),
    train_passes (n_train × epochs_run, models trained here),
    supports_periodic, datasets, note. A random-init model's test MAE is that of the untrained
    model, in the mirrored entry's target.
    inputs: metrics (the metrics.json of every model built here, in the order of
    ``params["metrics_of"]``), features (pooled features, in the order of
    ``params["features_of"]``).
    params: registry (name -> entry), datasets (name -> datasets it was extracted on),
    all_datasets (every configured dataset), metrics_of (model names), features_of ((model,
    dataset) pairs).
    """
    metrics_files = dict(zip(params["metrics_of"], as_path_list(inputs["metrics"]), strict=True))
    feature_files = {
        (model, dataset): path
        for (model, dataset), path in zip(
            params["features_of"], as_path_list(inputs["features"]), strict=True
        )
    }
    rows = []
    for name, entry in params["registry"].items():
        datasets = params["datasets"][name]
        source = source_of(entry)
        metrics: dict[str, Any] = {}
        if source.built_here:
            metrics = json.loads(Path(metrics_files[name]).read_text())
        n_params = metrics.get("n_params")
        if n_params is None and datasets:
            n_params = read_metadata(feature_files[name, datasets[0]]).get("n_params")
        notes = [entry["note"]] if "note" in entry else []
        if source is Source.RANDOM_INIT:
            notes.insert(0, f"random initialisation of {entry['of_label']}, untrained")
        skipped = [d for d in params["all_datasets"] if d not in datasets]
        if skipped and source.built_here:
            dataset = entry["training"]["dataset"]
            why = f"trained on {dataset}" if source is Source.TRAIN else f"built for {dataset}"
            notes.append(f"not extracted on {', '.join(skipped)}: {why}")
        elif skipped and source.runs_model:
            notes.append(f"not extracted on {', '.join(skipped)}: no periodic support")
        no_atoms = [d for d in datasets if not has_atom_features(entry, d)]
        if no_atoms:
            notes.append(
                f"no per-atom features on {', '.join(no_atoms)}: atom-level GFRE/LFRE and "
                "cumulants skip it"
            )
        periodic = "family" in entry and family_info(entry["family"]).supports_periodic
        rows.append(
            {
                "name": name,
                "label": entry["label"],
                "family": entry.get("family", ""),
                "source": str(source),
                "weights": str(entry.get("weights", "")),
                "train_target": entry.get("target", "") if source is Source.TRAIN else "",
                "n_params": n_params,
                "test_mae": metrics.get("test_mae"),
                "baseline_mae": metrics.get("baseline_mae"),
                "composition_mae": metrics.get("composition_baseline_mae"),
                "best_epoch": metrics.get("best_epoch"),
                "epochs_run": metrics.get("epochs_run"),
                "replica_of": entry.get("replica_of", ""),
                "seed": entry.get("seed") if source.built_here else None,
                "rung": entry.get("rung", 0) if source.built_here else None,
                "train_passes": (
                    metrics["n_train"] * metrics["epochs_run"]
                    if source is Source.TRAIN and "n_train" in metrics
                    else None
                ),
                "supports_periodic": periodic,
                "datasets": ",".join(datasets),
                "note": "; ".join(notes),
            }
        )
    units = {
        "test_mae": "target units (eV for gap and u0)",
        "baseline_mae": "predict the training mean; same units",
        "composition_mae": "extensive targets: per-element least-squares references alone",
        "best_epoch": "epoch of the best validation MAE: its weights are the final model",
        "epochs_run": "epochs trained before early stopping or the epoch budget",
        "replica_of": "the entry whose seeds this model is one of (registry seeds); else empty",
        "seed": "training seed of a model built here (weights, subset, batch order)",
        "rung": "training-budget rung of a model built here (registry rung; ladder studies)",
        "train_passes": "molecule passes a model trained here made: n_train × epochs_run",
    }
    sources = [*metrics_files.values(), *feature_files.values()]
    write_parquet(pd.DataFrame(rows), outputs["table"], {"units": units}, params, sources)
