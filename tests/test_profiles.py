"""Snakemake profiles: Snakemake accepts them, they say what docs/running.md promises, the SLURM
partition map sends GPU jobs to the GPU partition, and the CI test profile differs from
profiles/slurm only where a test must."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake.cli import parse_args
from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "profiles" / "default"
SLURM = REPO / "profiles" / "slurm"
PAPER = REPO / "profiles" / "paper"
SLURM_TEST = REPO / ".ci" / "slurm" / "profile"
# Keys of the CI test profile that profiles/slurm must not have.
TEST_ONLY_KEYS = {"slurm-init-seconds-before-status-checks", "slurm-keep-successful-logs"}


def profile(path: Path) -> dict:
    return yaml.safe_load((path / "config.yaml").read_text())


@pytest.mark.parametrize("path", [DEFAULT, SLURM, SLURM_TEST], ids=["default", "slurm", "ci"])
def test_snakemake_accepts_profile(path):
    """Snakemake's own parser reads every key (a misspelt key exits with an error)."""
    _, args = parse_args(["--profile", str(path)])
    assert args.rerun_incomplete and args.printshellcmds
    if path != DEFAULT:
        assert args.executor == "slurm"
        # the plugin option is resolved relative to the profile directory
        assert Path(args.slurm_partition_config) == path / "partitions.yaml"


@pytest.mark.parametrize("path", [SLURM, SLURM_TEST], ids=["slurm", "ci"])
def test_cluster_profile_stacked_under_default_workflow_profile(path, monkeypatch):
    """From the repository root Snakemake also reads profiles/default (as the workflow profile,
    winning over --profile): the cluster settings must survive it, and its GPU cap must only
    apply inside each submitted job."""
    monkeypatch.chdir(REPO)
    _, args = parse_args(["--profile", str(path)])
    assert args.executor == "slurm"
    assert args.latency_wait == profile(path)["latency-wait"]
    assert args.jobs == profile(path)["jobs"] and args.retries == profile(path)["retries"]
    assert args.set_resource_scopes == {"gpu": "local"}


def test_default_profile_is_local_with_one_gpu_slot():
    config = profile(DEFAULT)
    assert "executor" not in config
    assert config["cores"] == "all"
    assert config["resources"] == {"gpu": 1}
    assert config["rerun-incomplete"] is True and config["printshellcmds"] is True
    assert config["latency-wait"] > 0
    assert config["scheduler"] == "greedy"
    assert config["max-jobs-per-timespan"] == "100/10s"


def test_slurm_profile_leaves_cluster_specifics_to_fill_in():
    config = profile(SLURM)
    assert config["executor"] == "slurm"
    assert config["default-resources"]["slurm_account"].startswith("FILL-IN")
    assert not TEST_ONLY_KEYS & set(config), "test-only settings belong in .ci/slurm/profile"
    partitions = yaml.safe_load((SLURM / "partitions.yaml").read_text())["partitions"]
    assert all(name.startswith("FILL-IN") for name in partitions)
    # per-rule needs (mem_mb, runtime, gpu, threads) come from the rules, never the profile
    for key in ("mem_mb", "runtime", "gpu", "threads"):
        assert key not in config["default-resources"]


def test_paper_profile_stacks_on_the_cluster_and_default_profiles(monkeypatch):
    """profiles/paper sets no key of profiles/slurm or profiles/default, so stacking it keeps
    theirs whole (a later --profile replaces a top-level key an earlier one set)."""
    paper = profile(PAPER)
    assert set(paper) == {"configfile", "set-resources"}
    assert not set(paper) & (set(profile(DEFAULT)) | set(profile(SLURM)))
    monkeypatch.chdir(REPO)
    _, args = parse_args(["--profile", str(SLURM), "--profile", str(PAPER)])
    assert args.executor == "slurm" and args.set_resource_scopes == {"gpu": "local"}
    assert args.set_resources
    assert Path(args.configfile[0]).resolve() == REPO / "config" / "paper.yaml"


def test_ci_profile_differs_from_slurm_profile_only_where_a_test_must():
    slurm, ci = profile(SLURM), profile(SLURM_TEST)
    assert set(ci) - set(slurm) == TEST_ONLY_KEYS
    for key, value in slurm.items():
        if key == "default-resources":
            assert ci[key] == {**value, "slurm_account": "atomprobe-ci"}
        else:
            assert ci[key] == value, f"{key}: .ci/slurm/profile has {ci[key]!r}, slurm {value!r}"
    assert 1 <= ci["slurm-init-seconds-before-status-checks"] < 40  # the executor's default: 40


def _job(name: str, gpu: int = 0, threads: int = 1, mem_mb: int = 1000, runtime: int = 30):
    """The parts of a Snakemake job that the SLURM plugin's partition choice reads."""
    resources = {"gpu": gpu, "mem_mb": mem_mb, "runtime": runtime}
    return SimpleNamespace(
        name=name, threads=threads, resources=SimpleNamespace(get=resources.get, **resources)
    )


@pytest.mark.parametrize(
    ("path", "cpu", "gpu"),
    [
        (SLURM, "FILL-IN-cpu-partition", "FILL-IN-gpu-partition"),
        (SLURM_TEST, "cpu", "gpu"),
    ],
    ids=["slurm", "ci"],
)
def test_partition_map_routes_gpu_jobs(path, cpu, gpu):
    partitions = read_partition_file(path / "partitions.yaml")
    logger = logging.getLogger("test_profiles")
    assert get_best_partition(partitions, _job("features", gpu=1), logger) == gpu
    assert get_best_partition(partitions, _job("cpd", gpu=0, threads=2), logger) == cpu
    # a job needing more GPUs than any partition offers gets no partition from the map
    assert get_best_partition(partitions, _job("too_big", gpu=64), logger) is None


@pytest.mark.timeout(300)
def test_paper_profile_resources_reach_its_jobs(tmp_path):
    """What profiles/paper sets under `set-resources` (measured by the scale rehearsal) is what
    the paper config's jobs ask the scheduler for (sbatch --mem/--time on a cluster), and the
    profile brings config/paper.yaml with it."""
    from conftest import run_snakemake

    wanted = profile(PAPER)["set-resources"]
    for name in ("config", "profiles"):
        (tmp_path / name).symlink_to(REPO / name, target_is_directory=True)
    result = run_snakemake(tmp_path, "-n", "--profile", str(PAPER), timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "config/paper.yaml" in result.stdout + result.stderr
    jobs, rule = {}, None
    for line in (result.stdout + result.stderr).splitlines():
        line = line.strip()
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif rule and line.startswith("resources:"):
            for item in line.split(":", 1)[1].split(","):
                key, _, value = item.strip().partition("=")
                if key in ("mem_mb", "runtime"):
                    jobs.setdefault(rule, {})[key] = int(value)
    for name, asks in wanted.items():
        assert name in jobs, f"{name}: no job of this rule in the paper profile's dry run"
        for key, value in asks.items():
            assert jobs[name][key] == value, (name, key, jobs[name])
