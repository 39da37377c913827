"""Fixtures shared by several test modules."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]

# Runs in a subprocess (Snakemake sets up logging and reads the config): prints one JSON object
# per rule. Snakemake has no public API for a rule's directives, hence Workflow.rules.
_LIST_RULES = r"""
import json, os, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import OutputSettings, ResourceSettings

def plain(resource):  # a resource's integer value; None if computed per job or not a number
    try:
        value = resource.value
    except ValueError:
        return None
    return value if isinstance(value, int) else None

with SnakemakeApi(OutputSettings()) as api:
    workflow = api.workflow(
        resource_settings=ResourceSettings(), snakefile=Path("Snakefile"), workdir=Path(".")
    )._workflow
    for rule in workflow.rules:
        env = rule.conda_env
        if env is not None:
            env = os.path.normpath(os.path.join(os.path.dirname(rule.snakefile), str(env)))
        params = dict(rule.params.items())
        step = params.get("step")
        print(json.dumps({
            "name": rule.name,
            "has_action": not rule.norun,
            "conda": env,
            "step": step if isinstance(step, str) else None,
            "logs": {name: str(value) for name, value in rule.log.items()},
            "benchmark": rule.benchmark is not None,
            "resources": {
                name: plain(value) for name, value in rule.resources.items()
                if not name.startswith("_")
            },
            "threads": plain(rule.resources["_cores"]),
        }))
"""


@pytest.fixture(scope="session")
def rules() -> list[dict]:
    """Every rule of the workflow with the default config (name, action, conda, step, resources)."""
    result = subprocess.run(
        [sys.executable, "-c", _LIST_RULES],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"the Snakefile does not load:\n{result.stderr[-3000:]}"
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def run_snakemake(workdir: Path, *args: str, timeout: float) -> SimpleNamespace:
    """Run the repository's Snakefile in ``workdir`` with ``args`` (2 cores, one BLAS thread
    per job); on timeout kill Snakemake and every job it started, and fail the test.

    Returns ``returncode``, ``stdout`` and ``stderr``.
    """
    command = [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory"]
    command += [str(workdir), "--cores", "2", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # snakemake and the jobs it started
        stdout, stderr = process.communicate()
        pytest.fail(f"snakemake {' '.join(args)} ran over {timeout:.0f} s: {stderr[-3000:]}")
    return SimpleNamespace(returncode=process.returncode, stdout=stdout, stderr=stderr)


def merge_config(base: dict, overlay: dict) -> dict:
    """``overlay`` over ``base`` as Snakemake merges a --configfile: mappings recursively,
    everything else (lists included) replaced."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
