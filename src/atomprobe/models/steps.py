"""The models stage's steps (workflow/rules/models.smk): training, the untrained controls and the
model table.

Each reads only its inputs and writes only its outputs (contract: :mod:`atomprobe.runner`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from atomprobe.device import resolve_device
from atomprobe.io import (
    Paths,
    as_path_list,
    read_metadata,
    write_parquet,
    write_text,
)
from atomprobe.models import resume
from atomprobe.models.base import (
    save_model,
)
from atomprobe.models.families import family_info, get_family
from atomprobe.models.registry import (
    BUILT_HERE,
    atom_features_path,
)
from atomprobe.models.training import (
    evaluate_model,
    initial_model,
    model_metrics,
    train,
    training_sets,
)

log = logging.getLogger(__name__)


def train_model(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: train registry entry ``params["entry"]`` (``source: train``) on QM9.

    inputs: structures, splits; outputs: model (model.pt), checkpoints (directory),
    curve (learning_curve.parquet), metrics (metrics.json).
    params: name, entry (with hparams, target, seed, training), device.
    The resume state lives in ``resume/`` beside the model (not an output: Snakemake leaves it
    when it reruns a killed job, which resumes from it); it is removed once the outputs are
    written.
    """
    entry, name = params["entry"], params["name"]
    device = resolve_device(params.get("device", "auto"))
    sets, unit, extensive = training_sets(inputs, entry)
    Path(outputs["checkpoints"]).mkdir(parents=True, exist_ok=True)
    resume_dir = Path(outputs["model"]).parent / "resume"
    start = time.perf_counter()
    adapter, curve = train(
        get_family(entry["family"]),
        entry.get("hparams", {}),
        sets["train"],
        sets["val"],
        entry["target"],
        unit,
        entry["seed"],
        dict(entry.get("training", {})),
        device,
        outputs["checkpoints"],
        extensive,
        resume_dir,
    )
    seconds = time.perf_counter() - start
    scores = evaluate_model(adapter, sets, device)
    metrics = model_metrics(name, entry, unit, adapter, sets, device, scores)
    metrics |= {
        "best_val_mae": float(curve["val_mae"].min()),
        "best_epoch": int(curve.loc[curve["val_mae"].idxmin(), "epoch"]),
        "epochs_run": len(curve),
        "train_seconds": seconds,
    }
    log.info(
        "%s: test MAE %.4f %s vs mean baseline %.4f",
        name,
        scores["test_mae"],
        unit,
        scores["baseline_mae"],
    )
    adapter.module.cpu()
    save_model(outputs["model"], adapter, {"metrics": metrics})
    write_parquet(
        curve,
        outputs["curve"],
        {"model": name, "units": {"val_mae": unit}},
        params=params,
        inputs=[inputs["structures"], inputs["splits"]],
    )
    write_text(outputs["metrics"], json.dumps(metrics, indent=2) + "\n")
    resume.remove_state(resume_dir)


def init_model(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: the untrained model of a ``source: random_init`` entry, as ``model.pt``.

    The model is :func:`initial_model` on the same training subset, target, seed and
    hyper-parameters as the ``source: train`` entry it mirrors (registry ``of``): bitwise the
    state that entry's training starts from, with the same standardisation constants. Its
    ``metrics.json`` has the test MAE of the untrained model and ``epochs_run`` 0; there is no
    checkpoint or learning curve.

    inputs: structures, splits (of the training dataset); outputs: model (model.pt), metrics
    (metrics.json). params: name, entry (resolved: family, hparams, target, seed, training,
    of), device.
    """
    entry, name = params["entry"], params["name"]
    device = resolve_device(params.get("device", "auto"))
    sets, unit, extensive = training_sets(inputs, entry)
    adapter = initial_model(
        get_family(entry["family"]),
        entry.get("hparams", {}),
        sets["train"],
        entry["target"],
        unit,
        entry["seed"],
        extensive,
    )
    adapter.module.to(device)
    scores = evaluate_model(adapter, sets, device)
    metrics = model_metrics(name, entry, unit, adapter, sets, device, scores)
    metrics |= {"init_of": entry["of"], "epochs_run": 0}
    log.info("%s: untrained test MAE %.4f %s", name, scores["test_mae"], unit)
    adapter.module.cpu()
    save_model(outputs["model"], adapter, {"metrics": metrics})
    write_text(outputs["metrics"], json.dumps(metrics, indent=2) + "\n")


def model_table(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
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
        metrics: dict[str, Any] = {}
        if entry["source"] in BUILT_HERE:
            metrics = json.loads(Path(metrics_files[name]).read_text())
        n_params = metrics.get("n_params")
        if n_params is None and datasets:
            n_params = read_metadata(feature_files[name, datasets[0]]).get("n_params")
        notes = [entry["note"]] if "note" in entry else []
        if entry["source"] == "random_init":
            notes.insert(0, f"random initialisation of {entry['of_label']}, untrained")
        skipped = [d for d in params["all_datasets"] if d not in datasets]
        if skipped and entry["source"] in BUILT_HERE:
            dataset = entry["training"]["dataset"]
            why = f"trained on {dataset}" if entry["source"] == "train" else f"built for {dataset}"
            notes.append(f"not extracted on {', '.join(skipped)}: {why}")
        elif skipped and entry["source"] != "features":
            notes.append(f"not extracted on {', '.join(skipped)}: no periodic support")
        no_atoms = [d for d in datasets if atom_features_path(name, entry, d) is None]
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
                "source": entry["source"],
                "weights": str(entry.get("weights", "")),
                "train_target": entry.get("target", "") if entry["source"] == "train" else "",
                "n_params": n_params,
                "test_mae": metrics.get("test_mae"),
                "baseline_mae": metrics.get("baseline_mae"),
                "composition_mae": metrics.get("composition_baseline_mae"),
                "best_epoch": metrics.get("best_epoch"),
                "epochs_run": metrics.get("epochs_run"),
                "replica_of": entry.get("replica_of", ""),
                "seed": entry.get("seed") if entry["source"] in BUILT_HERE else None,
                "rung": entry.get("rung", 0) if entry["source"] in BUILT_HERE else None,
                "train_passes": (
                    metrics["n_train"] * metrics["epochs_run"]
                    if entry["source"] == "train" and "n_train" in metrics
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
