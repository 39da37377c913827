"""The resume state of a training run: what :func:`atomprobe.models.training.train` needs to go
on after a kill exactly as if it had never stopped.

``{resume_dir}/state.pt`` is rewritten atomically (:func:`atomprobe.io.atomic_path`) at the end
of every epoch: the weights, the optimiser, the LR schedule, the early-stopping state (best
validation MAE, its epoch and weights), the learning-curve rows, the names of the kept
checkpoints (copied into ``{resume_dir}/checkpoints/``, so that a rerun which lost its
checkpoint folder gets them back) and the random state (torch CPU and CUDA, numpy, ``random``
and the batch-shuffling generator). It carries the :func:`training_key` of the run that wrote
it; a state under another key is logged, removed and not used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from atomprobe.errors import DataError
from atomprobe.io import atomic_path
from atomprobe.models.structures import Structures

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
CHECKPOINTS = "checkpoints"
# training settings that change nothing the training computes
DISPLAY_SETTINGS = ("progress",)


def _update_with_structures(digest: Any, structures: Structures) -> None:
    """Feed ids, atoms, positions, cells and targets of ``structures`` to ``digest``."""
    digest.update("\0".join(structures.ids).encode())
    for numbers, positions in zip(structures.numbers, structures.positions, strict=True):
        digest.update(np.int64(len(numbers)).tobytes())
        digest.update(numbers.numpy().tobytes())
        digest.update(positions.numpy().tobytes())
    if structures.cells is not None:
        digest.update(structures.cells.numpy().tobytes())
    digest.update(np.ascontiguousarray(structures.y, dtype=np.float64).tobytes())


def training_key(config: Mapping[str, Any], train_set: Structures, val_set: Structures) -> str:
    """Hex sha256 of a training config and the data it trains and validates on.

    Parameters
    ----------
    config : mapping
        JSON-able description of the run (family, hparams, target, seed, settings, ...); the
        :data:`DISPLAY_SETTINGS` of ``config["settings"]`` are left out.
    train_set, val_set : Structures
        The training and validation structures, with their targets.

    Returns
    -------
    str
        The key a resume state must carry to be used.
    """
    settings = {k: v for k, v in config.get("settings", {}).items() if k not in DISPLAY_SETTINGS}
    digest = hashlib.sha256(
        json.dumps({**config, "settings": settings}, sort_keys=True, default=str).encode()
    )
    for structures in (train_set, val_set):
        _update_with_structures(digest, structures)
    return digest.hexdigest()


def rng_state(shuffle: np.random.Generator, device: torch.device) -> dict[str, Any]:
    """Every random state training draws from (plain values and tensors, weights-only safe).

    Parameters
    ----------
    shuffle : numpy.random.Generator
        The generator that shuffles the training batches.
    device : torch.device
        The training device (a GPU: its CUDA generator is included).

    Returns
    -------
    dict
        ``torch``, ``cuda`` (None off the GPU), ``numpy``, ``python`` and ``shuffle`` states.
    """
    # the legacy global generator too: code a model calls may draw from it
    kind, key, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": (kind, key.tolist(), pos, has_gauss, gauss),
        "python": random.getstate(),
        "shuffle": shuffle.bit_generator.state,
    }


def set_rng_state(
    state: Mapping[str, Any], shuffle: np.random.Generator, device: torch.device
) -> None:
    """Restore the random states :func:`rng_state` returned.

    Parameters
    ----------
    state : mapping
        What :func:`rng_state` returned.
    shuffle : numpy.random.Generator
        The batch-shuffling generator, set in place.
    device : torch.device
        The training device (a GPU gets the saved CUDA state, if the state has one).
    """
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(key, dtype=np.uint32), pos, has_gauss, gauss))  # noqa: NPY002
    random.setstate(state["python"])
    shuffle.bit_generator.state = state["shuffle"]


def keep_checkpoint(resume_dir: str | Path, checkpoint: str | Path) -> None:
    """Copy a kept checkpoint into ``{resume_dir}/checkpoints/``, atomically.

    Parameters
    ----------
    resume_dir : str or Path
        The run's resume folder.
    checkpoint : str or Path
        The checkpoint just saved.
    """
    source = Path(checkpoint)
    with atomic_path(Path(resume_dir) / CHECKPOINTS / source.name) as tmp:
        shutil.copyfile(source, tmp)


def save_state(resume_dir: str | Path, state: Mapping[str, Any]) -> None:
    """Write a resume state to ``{resume_dir}/state.pt``, atomically.

    Parameters
    ----------
    resume_dir : str or Path
        The run's resume folder (created if missing).
    state : mapping
        Plain values and tensors, with the run's ``key`` (:func:`training_key`).
    """
    with atomic_path(Path(resume_dir) / STATE_FILE) as tmp:
        torch.save(dict(state), tmp)


def load_state(
    resume_dir: str | Path, key: str, checkpoint_dir: str | Path | None
) -> dict[str, Any] | None:
    """The resume state in ``resume_dir`` if it was written under ``key``, else None.

    With a state of this run, its kept checkpoints are copied back into ``checkpoint_dir``
    (Snakemake deleted them when it reran the killed job). A state of another config is logged
    and removed with its folder.

    Parameters
    ----------
    resume_dir : str or Path
        The run's resume folder; temporary files a killed write left in it are removed.
    key : str
        The run's :func:`training_key`.
    checkpoint_dir : str or Path or None
        Where the run keeps its checkpoints (None: it keeps none).

    Returns
    -------
    dict or None
        The state :func:`save_state` wrote (tensors on the CPU), or None: no state to use.

    Raises
    ------
    DataError
        The state file cannot be read.
    """
    folder = Path(resume_dir)
    for leftover in folder.glob("**/.*.tmp"):
        leftover.unlink()
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"{path}: unreadable resume state ({exc}); delete {folder}") from exc
    if state.get("key") != key:
        log.warning(
            "%s: resume state of another training config (key %.12s, this run %.12s); "
            "ignored and removed, training starts from epoch 1",
            path,
            state.get("key"),
            key,
        )
        remove_state(folder)
        return None
    if checkpoint_dir is not None:
        for name in state["checkpoints"]:
            with atomic_path(Path(checkpoint_dir) / name) as tmp:
                shutil.copyfile(folder / CHECKPOINTS / name, tmp)
    return state


def remove_state(resume_dir: str | Path) -> None:
    """Remove a resume folder and everything in it.

    Parameters
    ----------
    resume_dir : str or Path
        The run's resume folder; nothing happens if it does not exist.
    """
    if Path(resume_dir).exists():
        shutil.rmtree(resume_dir)
