"""Choose the torch device a step runs on, from the config's ``device`` setting.

Every step that runs a model calls::

    from atomprobe.device import resolve_device
    device = resolve_device(params.get("device", "auto"))   # -> torch.device
    module.to(device)

Accepted names: ``auto`` (the first visible GPU if there is one, else the CPU), ``cpu``,
``cuda`` (the first visible GPU) and ``cuda:N`` (visible GPU ``N``). ``cuda``/``cuda:N`` never
fall back silently: when no such GPU is visible they raise ``ConfigError``, because a paper-scale
job quietly running on a CPU would take days. The chosen device is logged once per call.

Which GPU is "visible" is decided by ``CUDA_VISIBLE_DEVICES``, which Snakemake does not set:

- On SLURM, a rule with ``resources: gpu=1`` gets a GPU through the profile's ``gres``; SLURM
  sets ``CUDA_VISIBLE_DEVICES`` to that GPU and ``cuda:0`` is the job's own GPU.
- On a workstation, set it yourself to pin GPU jobs (``CUDA_VISIBLE_DEVICES=1 snakemake ...``);
  left unset, every GPU job uses GPU 0. With several GPUs and ``--resources gpu=N`` (N > 1)
  concurrent GPU jobs would then share GPU 0, so a warning says so; keep ``gpu=1`` (the default
  profile's cap) or pin devices per run.
- ``CUDA_VISIBLE_DEVICES=""`` (or ``-1``) hides every GPU: ``auto`` then runs on the CPU.
"""

from __future__ import annotations

import logging
import os
import re

import torch

from atomprobe.errors import ConfigError

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_CUDA_NAME = re.compile(r"^cuda(?::(\d+))?$")


def _visible_devices_env() -> str | None:
    """``CUDA_VISIBLE_DEVICES`` as set in the environment, or None when unset."""
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def _gpu_description(index: int) -> str:
    """One line naming visible GPU ``index`` and where its visibility came from."""
    visible = _visible_devices_env()
    origin = (
        f"CUDA_VISIBLE_DEVICES={visible}"
        if visible is not None
        else "CUDA_VISIBLE_DEVICES unset: all local GPUs visible"
    )
    return f"{torch.cuda.get_device_name(index)}; {origin}"


def _no_gpu_reason() -> str:
    """Why torch sees no GPU, as far as can be told: a CPU-only build or the environment."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    visible = _visible_devices_env()
    if visible is not None:
        return f"CUDA_VISIBLE_DEVICES={visible!r}"
    return "no CUDA device or driver found"


def resolve_device(name: str = "auto") -> torch.device:
    """Turn the config's ``device`` value into a ``torch.device`` and log the choice.

    ``name``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (N indexes the *visible* GPUs, i.e.
    after ``CUDA_VISIBLE_DEVICES``). Raises ``ConfigError`` for any other value and when a
    requested GPU is not available.
    """
    if not isinstance(name, str):
        raise ConfigError(f"device: {name!r} is not a string; use one of {DEVICE_CHOICES}")
    key = name.strip().lower()
    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0

    if key == "cpu":
        log.info("device: cpu (requested)")
        return torch.device("cpu")

    if key == "auto":
        if n_gpus == 0:
            log.info("device: cpu (auto: no CUDA GPU visible; %s)", _no_gpu_reason())
            return torch.device("cpu")
        if n_gpus > 1 and _visible_devices_env() is None:
            log.warning(
                "device: %d GPUs visible and CUDA_VISIBLE_DEVICES unset; using cuda:0. "
                "Concurrent GPU jobs share it unless you pin one GPU per run "
                "(CUDA_VISIBLE_DEVICES=k) or keep --resources gpu=1",
                n_gpus,
            )
        log.info("device: cuda:0 (auto; %s)", _gpu_description(0))
        return torch.device("cuda", 0)

    match = _CUDA_NAME.match(key)
    if match is None:
        raise ConfigError(f"device: unknown value {name!r}; use one of {DEVICE_CHOICES}")
    index = int(match.group(1) or 0)
    if index >= n_gpus:
        visible = _visible_devices_env()
        raise ConfigError(
            f"device: {name!r} requested but {n_gpus} CUDA GPU(s) are visible "
            f"(torch {torch.__version__}, CUDA_VISIBLE_DEVICES="
            f"{'unset' if visible is None else repr(visible)}); "
            "set device: auto to fall back to the CPU, or run where that GPU exists"
        )
    log.info("device: cuda:%d (requested; %s)", index, _gpu_description(index))
    return torch.device("cuda", index)
