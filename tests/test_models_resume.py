"""Training killed with SIGKILL after an epoch and run again resumes from its resume state and
ends bitwise where an uninterrupted run ends: weights, learning curve, kept checkpoints. A state
of another config is ignored (logged), one of a finished run is reused without training.

The kill test runs the training in subprocesses (one torch thread each): the uninterrupted
reference, the killed run and its rerun, with the kept-checkpoint folder deleted in between as
Snakemake deletes a killed job's outputs. ``tests/test_resume.py`` kills a whole pipeline
during training and checks that its rerun resumes.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from atomprobe.data.structures import load_structures
from atomprobe.models import resume
from atomprobe.models.families import get_family
from atomprobe.models.structures import Structures
from atomprobe.models.training import train

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tests" / "fixtures" / "models" / "qm9_sample.parquet"
TINY_SCHNET = {"hidden_channels": 16, "num_filters": 16, "num_interactions": 2, "num_gaussians": 16}
# the LR halves at epochs 2, 5, 6 and 7 and training stops early at 7 (best at 4): killed after
# epoch 4 or later, a rerun that lost any part of the state would end elsewhere
SETTINGS = {
    "epochs": 8,
    "batch_size": 16,
    "lr": 3e-2,
    "lr_patience": 0,
    "patience": 3,
    "checkpoint_every": 2,
    "progress": False,
}
KILL_AFTER = 4  # the kill comes once the state of this epoch (or a later one) is on disk
_spec = importlib.util.spec_from_file_location("compare_runs", REPO / "tools" / "compare_runs.py")
compare_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_runs)

# one training run; argv: output folder, resume folder, settings (JSON)
_TRAIN = r"""
import json, logging, sys
from pathlib import Path
import torch
from atomprobe.data.structures import load_structures
from atomprobe.models.families import get_family
from atomprobe.models.structures import Structures
from atomprobe.models.training import train

torch.set_num_threads(1)
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
out, resume_dir, settings, hparams, sample = sys.argv[1:]
data = Structures.from_frame(load_structures(sample), "gap")
model, curve = train(
    get_family("schnet"), json.loads(hparams), data.subset(range(80)), data.subset(range(80, 120)),
    "gap", "eV", 0, json.loads(settings), checkpoint_dir=Path(out) / "checkpoints",
    resume_dir=resume_dir,
)
torch.save(model.module.state_dict(), Path(out) / "weights.pt")
curve.to_parquet(Path(out) / "curve.parquet")
"""


def train_command(out: Path, resume_dir: Path) -> list[str]:
    """The command line of one training run writing to ``out``."""
    arguments = [str(out), str(resume_dir), json.dumps(SETTINGS), json.dumps(TINY_SCHNET)]
    return [sys.executable, "-c", _TRAIN, *arguments, str(SAMPLE)]


def run_training(out: Path, resume_dir: Path) -> str:
    """Train to the end in a subprocess; its log."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(
        train_command(out, resume_dir), capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def saved_epoch(resume_dir: Path) -> int:
    """The last epoch whose resume state is on disk (0: none yet)."""
    path = resume_dir / resume.STATE_FILE
    if not path.is_file():
        return 0
    return torch.load(path, map_location="cpu", weights_only=True)["epoch"]


def kill_after_epoch(out: Path, resume_dir: Path, epoch: int, timeout: float = 240) -> None:
    """Start a training run; SIGKILL it once the state of ``epoch`` is saved."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    process = subprocess.Popen(
        train_command(out, resume_dir),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    while saved_epoch(resume_dir) < epoch:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the training never reached epoch {epoch}: {process.communicate()[1]}")
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def same_training(reference: Path, other: Path) -> None:
    """Weights, learning curve (timings aside) and kept checkpoints are bitwise equal."""
    assert compare_runs.weights_equal(reference / "weights.pt", other / "weights.pt") is None
    curves = [
        pd.read_parquet(p / "curve.parquet").drop(columns="seconds") for p in (reference, other)
    ]
    pd.testing.assert_frame_equal(*curves, check_exact=True)
    names = sorted(p.name for p in (reference / "checkpoints").iterdir())
    assert names == sorted(p.name for p in (other / "checkpoints").iterdir())
    for name in names:
        problem = compare_runs.weights_equal(
            reference / "checkpoints" / name, other / "checkpoints" / name
        )
        assert problem is None, f"{name}: {problem}"


def test_killed_training_resumes_bitwise(tmp_path):
    reference = tmp_path / "reference"
    run_training(reference, tmp_path / "reference_resume")
    curve = pd.read_parquet(reference / "curve.parquet")
    assert len(curve) < SETTINGS["epochs"] and curve["lr"].nunique() > 2  # stopped early
    killed, resume_dir = tmp_path / "killed", tmp_path / "killed_resume"
    kill_after_epoch(killed, resume_dir, KILL_AFTER)
    epoch = saved_epoch(resume_dir)
    assert KILL_AFTER <= epoch < len(curve) and not (killed / "weights.pt").exists()
    shutil.rmtree(killed / "checkpoints")  # Snakemake deletes a killed job's outputs
    log = run_training(killed, resume_dir)
    assert f"resuming from epoch {epoch} " in log
    same_training(reference, killed)


@pytest.fixture(scope="module")
def qm9() -> dict[str, Structures]:
    data = Structures.from_frame(load_structures(SAMPLE), "gap")
    return {"train": data.subset(range(40)), "val": data.subset(range(40, 60))}


def run(qm9, tmp_path: Path, settings: dict, resume_dir: Path | None) -> tuple:
    """Train the tiny SchNet (seed 0) with ``settings``, checkpoints under ``tmp_path``."""
    return train(
        get_family("schnet"),
        TINY_SCHNET,
        qm9["train"],
        qm9["val"],
        "gap",
        "eV",
        0,
        {**SETTINGS, "epochs": 3, **settings},
        checkpoint_dir=tmp_path / "checkpoints",
        resume_dir=resume_dir,
    )


def test_state_of_another_config_is_ignored(qm9, tmp_path, caplog):
    resume_dir = tmp_path / "resume"
    run(qm9, tmp_path / "other", {"lr": 1e-2}, resume_dir)  # leaves a finished state
    leftover = resume_dir / resume.CHECKPOINTS / "epoch_0002.pt"
    assert leftover.exists()
    with caplog.at_level(logging.INFO, logger="atomprobe"):
        model, curve = run(qm9, tmp_path / "this", {}, resume_dir)
    assert "resume state of another training config" in caplog.text
    assert "resuming" not in caplog.text
    fresh, fresh_curve = run(qm9, tmp_path / "fresh", {}, None)
    assert compare_runs.objects_equal(model.module.state_dict(), fresh.module.state_dict()) is None
    pd.testing.assert_frame_equal(
        curve.drop(columns="seconds"), fresh_curve.drop(columns="seconds")
    )


def test_state_of_a_finished_run_gives_its_result_without_training(qm9, tmp_path, caplog):
    resume_dir = tmp_path / "resume"
    model, curve = run(qm9, tmp_path / "first", {}, resume_dir)
    leftover = resume_dir / ".state.pt.k1ll3d.tmp"  # a write the kill cut short
    leftover.write_bytes(b"half a state")
    with caplog.at_level(logging.INFO, logger="atomprobe"):
        again, again_curve = run(qm9, tmp_path / "again", {}, resume_dir)
    assert "resuming from epoch 3 " in caplog.text and not leftover.exists()
    assert compare_runs.objects_equal(model.module.state_dict(), again.module.state_dict()) is None
    pd.testing.assert_frame_equal(curve, again_curve)
    assert sorted(p.name for p in (tmp_path / "again" / "checkpoints").iterdir()) == [
        "epoch_0002.pt"
    ]


def test_training_key_follows_config_and_data(qm9):
    config = {"family": "schnet", "seed": 0, "settings": {"lr": 1e-3, "progress": True}}
    key = resume.training_key(config, qm9["train"], qm9["val"])
    shown = {**config, "settings": {"lr": 1e-3, "progress": False}}
    assert resume.training_key(shown, qm9["train"], qm9["val"]) == key
    for other in ({**config, "seed": 1}, {**config, "settings": {"lr": 2e-3}}):
        assert resume.training_key(other, qm9["train"], qm9["val"]) != key
    fewer = qm9["val"].subset(range(19))
    assert resume.training_key(config, qm9["train"], fewer) != key
