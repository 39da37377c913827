"""The pipeline through the SLURM executor on a real one-node SLURM cluster.

.ci/slurm/run-test.sh installs Debian's SLURM, munge and MariaDB (apt), starts a private
cluster on 127.0.0.1 with accounting (slurmdbd), runs Snakemake with .ci/slurm/profile and
stops the daemons it started. Here we check that Snakemake succeeded and that every job it ran
went through SLURM: each appears in `sacct` as COMPLETED, GPU rules on the GPU partition.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN_TEST = REPO / ".ci" / "slurm" / "run-test.sh"
SLURM_TOOLS = ("slurmctld", "slurmd", "slurmdbd", "sacct", "munged", "mariadbd")

# Seconds Snakemake may run (run-test.sh reads the same variable): about 150 s on an idle 2-core
# machine (`make test` runs this test alone, after the others); the rest is headroom for a busy one.
SNAKEMAKE_BUDGET = int(os.environ.get("CLUSTER_TEST_TIMEOUT", "600"))
# + install (~40 s the first time), cluster start (~15 s), interrupt grace (20 s) and stop
RUN_TEST_LIMIT = SNAKEMAKE_BUDGET + 70

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(RUN_TEST_LIMIT + 10)]


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: starts SLURM, munge and MariaDB daemons (and may apt-get install them)"
    installed = all(shutil.which(tool) for tool in SLURM_TOOLS)
    if not installed and shutil.which("apt-get") is None:
        return "SLURM is not installed and apt-get is unavailable to install it"
    return None


def _free_ports(count: int) -> list[int]:
    """Ports free right now on 127.0.0.1, so that two test runs on one machine do not collide."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _rules_run_by_snakemake(log: str) -> set[str]:
    """Rules of the jobs Snakemake reported finished (the local target rule `all` excluded)."""
    return set(re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", log)) - {"all"}


def _gpu_rules(log: str) -> set[str]:
    """Rules whose jobs Snakemake printed with a gpu resource of 1 or more."""
    blocks = re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n)+)", log, flags=re.MULTILINE)
    return {name for name, body in blocks if re.search(r"resources: .*\bgpu=[1-9]", body)}


def _sacct_rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    header = lines[0].split("|")
    return [dict(zip(header, line.split("|"), strict=True)) for line in lines[1:] if line]


def _rule_of(comment: str) -> str:
    """The executor's sbatch --comment is rule_<name>[_wildcards_<values>]."""
    return comment.removeprefix("rule_").split("_wildcards_")[0]


def test_pipeline_runs_on_slurm(tmp_path):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    names = ("SLURMCTLD_PORT", "SLURMD_PORT", "SLURMDBD_PORT", "MARIADB_PORT")
    env = {**os.environ, **{n: str(p) for n, p in zip(names, _free_ports(4), strict=True)}}
    env["CLUSTER_TEST_TIMEOUT"] = str(SNAKEMAKE_BUDGET)
    try:
        run = subprocess.run(
            ["bash", str(RUN_TEST), str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TEST_LIMIT,
        )
    except subprocess.TimeoutExpired:
        # run-test.sh was killed before its own cleanup: stop the daemons it started
        subprocess.run(["bash", str(RUN_TEST.parent / "stop.sh"), str(tmp_path / "cluster")])
        raise
    log = (tmp_path / "snakemake.log").read_text() if (tmp_path / "snakemake.log").exists() else ""
    assert run.returncode == 0, (
        f"run-test.sh exited {run.returncode}\n--- stdout\n{run.stdout[-4000:]}\n"
        f"--- stderr\n{run.stderr[-3000:]}\n--- snakemake.log\n{log[-4000:]}"
    )

    rules_run = _rules_run_by_snakemake(log)
    assert rules_run, f"Snakemake ran no job:\n{log[-3000:]}"
    jobs = _sacct_rows(tmp_path / "sacct.txt")
    print(run.stdout)  # the sacct table, for the CI log
    assert {_rule_of(job["Comment"]) for job in jobs} == rules_run
    gpu_rules = _gpu_rules(log)
    assert gpu_rules, "the run should include a GPU rule (train_model)"
    for job in jobs:
        assert job["State"] == "COMPLETED", f"SLURM job {job}"
        assert job["ExitCode"] == "0:0", f"SLURM job {job}"
        assert job["Account"] == "atomprobe-ci"
        # a GPU rule gets the GPU (--gpus=1) on the gpu partition, other rules neither
        wants_gpu = _rule_of(job["Comment"]) in gpu_rules
        assert ("gres/gpu=1" in job["AllocTRES"]) == wants_gpu, f"SLURM job {job}"
        assert job["Partition"] == ("gpu" if wants_gpu else "cpu"), f"SLURM job {job}"

    # The outputs exist in the run's copy of the repository (and nothing was left running).
    produced = re.findall(r"^\s+output: (.+)$", log, flags=re.MULTILINE)
    for outputs in produced:
        for output in outputs.split(", "):
            assert (tmp_path / "repo" / output).exists(), f"missing output {output}"
    assert "stopped slurmctld" in run.stdout
