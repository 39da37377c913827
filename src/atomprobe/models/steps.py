"""The models stage's steps that run a model (workflow/rules/models.smk): training, and the
untrained controls.

Each reads only its inputs and writes only its outputs (contract: :mod:`atomprobe.runner`). The
model table's step runs in the light ``data`` environment, without torch, so it lives with the
registry (:func:`atomprobe.models.registry.model_table`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from atomprobe.device import resolve_device
from atomprobe.io import (
    Paths,
    write_parquet,
    write_text,
)
from atomprobe.models import resume
from atomprobe.models.base import (
    save_model,
)
from atomprobe.models.families import get_family
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
