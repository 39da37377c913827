"""A run killed with SIGKILL (Snakemake and its jobs at once) and resumed as README says
(``--unlock``, then the same command) gives the numbers of an uninterrupted run, bitwise; so do
two clean runs.

The tiny run (``fixtures/resume``: QM9 from qm9pack, a SchNet trained 2 epochs on 200
molecules, the ANI-2x AEV, CPD on 200 probed molecules) asks for the CPD score files only.
One uninterrupted reference run is shared. Each kill test starts from a copy of it with one
model's outputs from one stage on (and all logs) removed, so only the job killed and the jobs
after it run again; the data stage is not repeated. Comparison: every parquet value and every
tensor of the trained weights, by ``tools/compare_runs.py`` (wall-clock columns left out).
Training killed after its first epoch goes on from that epoch (its resume state,
``atomprobe.models.resume``), not from the start.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import SNAKEMAKE, run_snakemake

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "resume"
TARGETS = ("results/cpd/schnet_gap/qm9.parquet", "results/cpd/ani2x_aev/qm9.parquet")
# the run's command line; after a kill, README ("Running it") says to rerun it after the same
# command with --unlock (the killed Snakemake left its lock); the profile reruns incomplete jobs
COMMAND = (*TARGETS, "--configfile", "config.yaml")
# slow (run by `make test` like every test; `-m "not slow"` leaves it out); per test: the limit
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
_spec = importlib.util.spec_from_file_location("compare_runs", REPO / "tools" / "compare_runs.py")
compare_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_runs)


def new_workdir(path: Path) -> Path:
    """A working directory with the config folder and the fixture's overlay and registry."""
    path.mkdir()
    (path / "config").symlink_to(REPO / "config", target_is_directory=True)
    for name in ("config.yaml", "models.yaml"):
        shutil.copy(FIXTURE / name, path / name)
    return path


def run(workdir: Path) -> None:
    """Run the tiny pipeline to the end in ``workdir``; fail with Snakemake's stderr otherwise."""
    result = run_snakemake(workdir, *COMMAND, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def differences(before: Path, after: Path) -> list[str]:
    """Files under ``results/`` present in one run only, and parquet tables or weights whose
    values differ (``tools/compare_runs.py``)."""
    files = {
        side: {p.relative_to(side) for p in (side / "results").rglob("*") if p.is_file()}
        for side in (before, after)
    }
    problems = [f"{p}: only in {before}" for p in sorted(files[before] - files[after])]
    problems += [f"{p}: only in {after}" for p in sorted(files[after] - files[before])]
    for name in sorted(files[before] & files[after]):
        if name.suffix == ".parquet":
            problem = compare_runs.tables_equal(
                pq.read_table(before / name), pq.read_table(after / name)
            )
        elif name.suffix == ".pt":
            problem = compare_runs.weights_equal(before / name, after / name)
        else:
            continue
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted run of the tiny pipeline."""
    workdir = new_workdir(tmp_path_factory.mktemp("resume") / "reference")
    run(workdir)
    return workdir


def copy_without(reference: Path, workdir: Path, outputs: list[str]) -> Path:
    """A copy of the reference run (Snakemake's records included) without ``outputs`` (folders
    under ``results/``) and without logs: Snakemake reruns those jobs and nothing else."""
    shutil.copytree(reference, workdir, symlinks=True)
    shutil.rmtree(workdir / "logs")
    for output in outputs:
        shutil.rmtree(workdir / "results" / output)
    return workdir


def kill_when(workdir: Path, started: Callable[[], bool], timeout: float = 240) -> None:
    """Start the pipeline in its own process group; once ``started()`` holds, SIGKILL the group
    (Snakemake and every job it started), as a power cut or ``kill -9`` would."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [str(SNAKEMAKE), *COMMAND, "--snakefile", str(REPO / "Snakefile")]
    command += ["--directory", str(workdir), "--cores", "2"]
    with open(workdir / "killed_run.log", "w") as output:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=output, stderr=output, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not started():
            if process.poll() is not None or time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                pytest.fail(f"the job never started: {(workdir / 'killed_run.log').read_text()}")
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def step_started(log: Path) -> Callable[[], bool]:
    """True once the job logging to ``log`` runs its step (it logs its params first)."""
    return lambda: log.exists() and "params=" in log.read_text()


def resume_and_compare(reference: Path, workdir: Path) -> None:
    """Resume as README says (``--unlock``, then the same command): it finishes, leaves no
    temporary file in ``results/``, and every value equals the reference run's."""
    unlocked = run_snakemake(workdir, "--unlock", *COMMAND, timeout=120)
    assert unlocked.returncode == 0, unlocked.stderr[-3000:]
    run(workdir)
    leftovers = [p for pattern in ("*.tmp", "*.part") for p in (workdir / "results").rglob(pattern)]
    assert not leftovers, leftovers
    assert differences(reference, workdir) == []


def test_killed_while_training(reference, tmp_path):
    removed = ["models/schnet_gap", "features/schnet_gap", "cpd/schnet_gap"]
    workdir = copy_without(reference, tmp_path / "run", removed)
    model = workdir / "results" / "models" / "schnet_gap"
    # once the first epoch's resume state is saved (atomprobe.models.resume), during the second
    kill_when(workdir, lambda: (model / "resume" / "state.pt").exists())
    assert not (model / "model.pt").exists()
    resume_and_compare(reference, workdir)
    # the rerun went on from the state (not an output: Snakemake kept it) and then removed it
    log = (workdir / "logs" / "models" / "train_schnet_gap.log").read_text()
    assert "resuming from epoch 1 " in log
    assert not (model / "resume").exists()


def test_killed_while_extracting(reference, tmp_path):
    workdir = copy_without(reference, tmp_path / "run", ["features/ani2x_aev", "cpd/ani2x_aev"])
    kill_when(workdir, step_started(workdir / "logs" / "features" / "ani2x_aev_qm9.log"))
    features = workdir / "results" / "features" / "ani2x_aev"
    assert not (features / "qm9.parquet").exists()
    # what a kill during the write leaves (atomprobe.io.atomic_path): the rerun removes it
    features.mkdir(parents=True, exist_ok=True)
    (features / ".qm9.parquet.k1ll3d.tmp").write_bytes(b"PAR1 half a table")
    resume_and_compare(reference, workdir)


def test_killed_while_probing(reference, tmp_path):
    workdir = copy_without(reference, tmp_path / "run", ["cpd/ani2x_aev"])
    kill_when(workdir, step_started(workdir / "logs" / "cpd" / "ani2x_aev" / "qm9.log"))
    assert not (workdir / "results" / "cpd" / "ani2x_aev" / "qm9.parquet").exists()
    resume_and_compare(reference, workdir)


def test_two_clean_runs_give_the_same_numbers(reference, tmp_path):
    workdir = new_workdir(tmp_path / "run")
    run(workdir)
    assert differences(reference, workdir) == []
