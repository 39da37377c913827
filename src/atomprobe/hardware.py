"""What the machine offers, told without importing torch (the Snakefile asks on every parse).

:func:`gpu_visible` decides whether a model job run here would find a GPU, so that the workflow
claims a GPU for it only then (``model_job_gpus()`` in ``workflow/rules/common.smk``).
:func:`atomprobe.device.resolve_device` makes the final choice inside the job, with torch.
"""

from __future__ import annotations

import os
from pathlib import Path

# Where drivers list their GPUs: NVIDIA's kernel module, and ROCm's kernel fusion driver (AMD).
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")
ROCM_DEVICE = Path("/dev/kfd")


def gpu_visible() -> bool:
    """Whether torch on this machine would see a GPU: a driver lists one, and
    ``CUDA_VISIBLE_DEVICES`` does not hide them all (``""`` or ``-1``).

    Returns
    -------
    bool
        True if an NVIDIA GPU is listed or the ROCm device exists and none is hidden.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    nvidia = NVIDIA_GPUS.is_dir() and any(NVIDIA_GPUS.iterdir())
    return nvidia or ROCM_DEVICE.exists()
