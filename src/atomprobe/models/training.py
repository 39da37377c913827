"""Train any buildable model family on a structure table: one generic, deterministic loop.

Given the seed, the loop is deterministic (same seed, same weights): torch is seeded before
the model is built, and batches are shuffled by a numpy generator seeded from the same seed.
The target is standardised (:class:`TrainingStats`: least-squares atom references for
extensive targets, then mean/std), the loss is the MSE of the standardised target, the learning
rate halves when the validation MAE stalls, training stops early when it has not improved for
``patience`` epochs, and the weights of the best validation epoch are kept. A checkpoint is saved
every ``checkpoint_every`` epochs (kept, for feature-convergence studies), and the learning curve,
test MAE and the predict-the-mean baseline MAE are written next to the model. A ``source:
random_init`` entry gets the model training starts from (:func:`initial_model`), untrained.
The state at the end of every epoch is kept in ``resume/`` beside the model until the outputs
are written, so that a killed job rerun goes on from its last epoch, bitwise as if never stopped
(:mod:`atomprobe.models.resume`).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import vesin

from atomprobe.data.progress import progress
from atomprobe.data.structures import load_structures
from atomprobe.errors import ConfigError, DataError
from atomprobe.io import read_parquet
from atomprobe.models import resume
from atomprobe.models.base import (
    AtomsBatch,
    ModelAdapter,
    ModelFamily,
    TrainingStats,
    save_model,
)
from atomprobe.models.registry import TRAINING_DEFAULTS
from atomprobe.models.structures import Structures

log = logging.getLogger(__name__)


def composition_counts(numbers: Sequence[torch.Tensor], elements: Sequence[int]) -> np.ndarray:
    """(n_structures, n_elements) atom counts per element."""
    column = {z: k for k, z in enumerate(elements)}
    counts = np.zeros((len(numbers), len(elements)))
    for i, z in enumerate(numbers):
        for value, count in zip(*np.unique(z.numpy(), return_counts=True), strict=True):
            counts[i, column[int(value)]] = count
    return counts


def mean_neighbors(structures: Structures, cutoff: float) -> float:
    """Mean number of neighbours within ``cutoff`` (Å) per atom."""
    calculator = vesin.NeighborList(cutoff=cutoff, full_list=True)
    pairs = sum(
        len(calculator.compute(p.double().numpy(), np.zeros((3, 3)), False, "i")[0])
        for p in structures.positions
    )
    return pairs / sum(len(z) for z in structures.numbers)


def fit_stats(
    train: Structures, target: str, unit: str, extensive: bool, cutoff: float
) -> TrainingStats:
    """Standardisation of ``target`` fitted on the training structures only."""
    elements = sorted({int(z) for numbers in train.numbers for z in numbers.tolist()})
    residual, atom_refs = train.y, {}
    if extensive:
        counts = composition_counts(train.numbers, elements)
        refs, *_ = np.linalg.lstsq(counts, train.y, rcond=None)
        residual = train.y - counts @ refs
        atom_refs = {z: float(r) for z, r in zip(elements, refs, strict=True)}
    return TrainingStats(
        target=target,
        unit=unit,
        mean=float(residual.mean()),
        std=float(residual.std()),
        elements=tuple(elements),
        avg_num_neighbors=mean_neighbors(train, cutoff),
        atom_refs=atom_refs,
    )


def predict(
    adapter: ModelAdapter, data: Structures, batch_size: int, device: torch.device
) -> np.ndarray:
    """Model predictions (n,) in target units, in the order of ``data``."""
    adapter.module.eval()
    out = np.empty(len(data))
    with torch.no_grad():
        for rows, batch in data.batches(batch_size):
            out[rows] = adapter.predict(batch.to(device)).double().cpu().numpy()
    return out


def initial_model(
    family: ModelFamily,
    hparams: Mapping[str, Any],
    train_set: Structures,
    target: str,
    unit: str,
    seed: int,
    extensive: bool = False,
) -> ModelAdapter:
    """The model :func:`train` starts from: its state before the first optimisation step.

    Torch is seeded with ``seed``, the target's standardisation (:func:`fit_stats`: atom
    references for an extensive target, mean, std, elements, mean neighbour count) is fitted on
    ``train_set``, and ``family.build`` makes the model, in that order; so a ``source:
    random_init`` entry and the ``source: train`` entry it mirrors differ only by the training.

    Parameters
    ----------
    family : ModelFamily
        A trainable family.
    hparams : mapping
        The family's hyper-parameters (registry ``hparams``).
    train_set : Structures
        The training structures (after the ``n_train`` subset), with the target.
    target, unit : str
        The target column and its unit.
    seed : int
        Seed of the weight initialisation.
    extensive : bool, default=False
        The target grows with the number of atoms: per-element references are fitted first.

    Returns
    -------
    ModelAdapter
        The freshly initialised model (float32, CPU) with its ``stats``.
    """
    torch.manual_seed(seed)
    stats = fit_stats(train_set, target, unit, extensive, family.cutoff(hparams))
    return family.build(hparams, stats)


def training_step(
    adapter: ModelAdapter, optimizer: torch.optim.Optimizer, batch: AtomsBatch, y: torch.Tensor
) -> torch.Tensor:
    """One optimisation step: the mean squared error of the standardised target on ``batch``.

    Parameters
    ----------
    adapter : ModelAdapter
        A model built here (its ``stats.std`` standardises the target), in training mode.
    optimizer : torch.optim.Optimizer
        The optimiser of the adapter's parameters.
    batch : AtomsBatch
        The structures, on the model's device.
    y : torch.Tensor
        Targets of the batch, shape (n_structures,), target units, on the model's device.

    Returns
    -------
    torch.Tensor
        The loss before the step (scalar, dimensionless).
    """
    loss = (((adapter.predict(batch) - y) / adapter.stats.std) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def train(
    family: ModelFamily,
    hparams: Mapping[str, Any],
    train_set: Structures,
    val_set: Structures,
    target: str,
    unit: str,
    seed: int,
    settings: Mapping[str, Any],
    device: torch.device | str = "cpu",
    checkpoint_dir: str | Path | None = None,
    extensive: bool = False,
    resume_dir: str | Path | None = None,
) -> tuple[ModelAdapter, pd.DataFrame]:
    """Train a fresh ``family`` model; return (best-validation model, learning curve).

    ``settings``: :data:`TRAINING_DEFAULTS` keys. ``extensive``: the target grows with the
    number of atoms (an energy): per-element references are fitted first. Learning curve
    columns: epoch, train_loss (MSE of the standardised target), val_mae (target units), lr,
    seconds (cumulative). ``resume_dir``: the end of every epoch is saved there
    (:mod:`atomprobe.models.resume`), and a state this same config saved there before is resumed
    from, to bitwise the result of an uninterrupted run on the CPU; the caller removes it once
    the outputs are written.
    """
    cfg = {**TRAINING_DEFAULTS, **settings}
    device = torch.device(device)
    adapter = initial_model(family, hparams, train_set, target, unit, seed, extensive)
    rng = np.random.default_rng(seed)
    adapter.module.to(device)
    optimizer = torch.optim.Adam(
        adapter.module.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"]
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=cfg["lr_patience"]
    )
    y_train = torch.as_tensor(train_set.y, dtype=torch.float32)
    best = (np.inf, 0, copy.deepcopy(adapter.module.state_dict()))
    curve, kept, first, finished = [], [], 1, False
    if resume_dir is not None:
        config = {"family": family.name, "hparams": hparams, "target": target, "unit": unit}
        config |= {"seed": seed, "extensive": extensive, "settings": cfg}
        key = resume.training_key(config, train_set, val_set)
        state = resume.load_state(resume_dir, key, checkpoint_dir)
        if state is not None:
            adapter.module.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            best, curve, kept = tuple(state["best"]), state["curve"], state["checkpoints"]
            first, finished = state["epoch"] + 1, state["finished"]
            resume.set_rng_state(state["rng"], rng, device)
            log.info("resuming from epoch %d (%s)", state["epoch"], resume_dir)
    start = time.perf_counter() - (curve[-1]["seconds"] if curve else 0.0)
    epochs = range(first, 1 if finished else cfg["epochs"] + 1)
    bar = progress(epochs, cfg["progress"], desc=f"train {family.name}")
    for epoch in bar:
        adapter.module.train()
        total, n_seen = 0.0, 0
        for rows, batch in train_set.batches(cfg["batch_size"], rng):
            batch = batch.to(device)
            y = y_train[rows].to(device)
            loss = training_step(adapter, optimizer, batch, y)
            total += loss.item() * len(rows)
            n_seen += len(rows)
        val_mae = float(np.abs(predict(adapter, val_set, 256, device) - val_set.y).mean())
        scheduler.step(val_mae)
        curve.append(
            {
                "epoch": epoch,
                "train_loss": total / n_seen,
                "val_mae": val_mae,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - start,
            }
        )
        bar.set_postfix(loss=f"{total / n_seen:.3f}", val_mae=f"{val_mae:.3f}")
        if val_mae < best[0]:
            best = (val_mae, epoch, copy.deepcopy(adapter.module.state_dict()))
        if checkpoint_dir is not None and epoch % cfg["checkpoint_every"] == 0:
            checkpoint = Path(checkpoint_dir) / f"epoch_{epoch:04d}.pt"
            save_model(checkpoint, adapter, {"epoch": epoch})
            kept.append(checkpoint.name)
            if resume_dir is not None:
                resume.keep_checkpoint(resume_dir, checkpoint)
        stop = epoch - best[1] >= cfg["patience"]
        if resume_dir is not None:
            resume.save_state(
                resume_dir,
                {
                    "key": key,
                    "epoch": epoch,
                    "finished": stop or epoch == cfg["epochs"],
                    "model": adapter.module.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "best": best,
                    "curve": curve,
                    "checkpoints": kept,
                    "rng": resume.rng_state(rng, device),
                },
            )
        if stop:
            log.info("early stop at epoch %d (best val MAE %.4f at %d)", epoch, best[0], best[1])
            break
    adapter.module.load_state_dict(best[2])
    adapter.module.eval()
    return adapter, pd.DataFrame(curve)


def load_split_structures(
    structures_path: str, splits_path: str, target: str
) -> tuple[dict[str, Structures], str, bool]:
    """{train, val, test: Structures} from the structure and split tables, the target's unit,
    and whether the dataset marks it extensive (metadata ``extensive_targets``)."""
    splits, _ = read_parquet(splits_path)
    frame = load_structures(structures_path)
    meta = frame.attrs["atomprobe"]
    units = meta.get("targets", {})
    if target not in units:
        raise ConfigError(f"target {target!r}: not in {structures_path} (targets: {list(units)})")
    by_id = frame.set_index("id", drop=False)
    sets = {}
    for name in ("train", "val", "test"):
        ids = splits.loc[splits["split"] == name, "id"]
        if ids.empty:
            raise DataError(
                f"{splits_path}: no '{name}' rows; set data.{meta.get('dataset')}.splits sizes"
            )
        sets[name] = Structures.from_frame(by_id.loc[ids].reset_index(drop=True), target)
    return sets, units[target], target in meta.get("extensive_targets", [])


def training_sets(
    inputs: Mapping, entry: Mapping[str, Any]
) -> tuple[dict[str, Structures], str, bool]:
    """The train/val/test structures of a registry entry built here (``source: train`` or
    ``random_init``), the train split cut to the entry's seeded ``training.n_train`` subset;
    with the target's unit and whether it is extensive (:func:`load_split_structures`).

    Parameters
    ----------
    inputs : mapping
        ``structures`` and ``splits``: the tables of the entry's training dataset.
    entry : mapping
        The resolved registry entry (``target``, ``seed``, ``training.n_train``).

    Returns
    -------
    sets : dict of str to Structures
        ``train`` (the subset), ``val``, ``test``.
    unit : str
        The target's unit.
    extensive : bool
        Whether the dataset marks the target extensive.
    """
    sets, unit, extensive = load_split_structures(
        inputs["structures"], inputs["splits"], entry["target"]
    )
    n_train = entry.get("training", {}).get("n_train")
    if n_train is not None and n_train < len(sets["train"]):
        rows = np.random.default_rng(entry["seed"]).permutation(len(sets["train"]))[:n_train]
        sets["train"] = sets["train"].subset(np.sort(rows))
    return sets, unit, extensive


def evaluate_model(
    adapter: ModelAdapter, sets: Mapping[str, Structures], device: torch.device
) -> dict[str, Any]:
    """Test MAE of a model and its baselines, in the target's unit.

    Parameters
    ----------
    adapter : ModelAdapter
        A model built here (with ``stats``).
    sets : mapping of str to Structures
        ``train`` and ``test`` structures (:func:`training_sets`).
    device : torch.device
        Where the test predictions run.

    Returns
    -------
    dict
        ``test_mae``, ``baseline_mae`` (predict the training mean) and
        ``composition_baseline_mae`` (extensive targets: the per-element references alone;
        None otherwise).
    """
    test = sets["test"]
    test_mae = float(np.abs(predict(adapter, test, 256, device) - test.y).mean())
    baseline_mae = float(np.abs(sets["train"].y.mean() - test.y).mean())
    composition_mae = None
    if adapter.stats.atom_refs:
        elements = sorted(adapter.stats.atom_refs)
        refs = np.array([adapter.stats.atom_refs[z] for z in elements])
        linear = composition_counts(test.numbers, elements) @ refs + adapter.stats.mean
        composition_mae = float(np.abs(linear - test.y).mean())
    return {
        "test_mae": test_mae,
        "baseline_mae": baseline_mae,
        "composition_baseline_mae": composition_mae,
    }


def model_metrics(
    name: str,
    entry: Mapping[str, Any],
    unit: str,
    adapter: ModelAdapter,
    sets: Mapping[str, Structures],
    device: torch.device,
    scores: Mapping[str, Any],
) -> dict[str, Any]:
    """What ``metrics.json`` says of every model built here, trained or not.

    Parameters
    ----------
    name : str
        Registry name.
    entry : mapping
        The resolved registry entry (``family``, ``target``).
    unit : str
        The target's unit.
    adapter : ModelAdapter
        The model.
    sets : mapping of str to Structures
        ``train``, ``val`` and ``test`` structures (:func:`training_sets`).
    device : torch.device
        Where it ran.
    scores : mapping
        Test MAE and baselines (:func:`evaluate_model`).

    Returns
    -------
    dict
        ``model, family, target, unit``, the scores, ``n_train, n_val, n_test, n_params,
        device``.
    """
    return {
        "model": name,
        "family": entry["family"],
        "target": entry["target"],
        "unit": unit,
        **scores,
        "n_train": len(sets["train"]),
        "n_val": len(sets["val"]),
        "n_test": len(sets["test"]),
        "n_params": sum(p.numel() for p in adapter.module.parameters()),
        "device": str(device),
    }
