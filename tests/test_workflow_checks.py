"""Dry runs of the workflow on config/branches.yaml: the branches the tiny config leaves unused.

``snakemake -n --configfile config/tiny.yaml config/branches.yaml`` parses, validates and plans
the DAG with cumulant pooling, column groups and nonlinear probes on every layer, tables on the
best layer, QM9 from the archive and a subset of the tiny registry. Each run uses a temporary
working directory (``--directory``) holding one symlink, ``config -> <repo>/config`` (the
registry path is relative to the working directory), so nothing is written into the repository
and a dry run executes nothing, so nothing is downloaded. ``make lint`` runs the static checks
(ruff, snakefmt, ``snakemake --lint``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from atomprobe.config import load_yaml, validate_config
from atomprobe.render.figures import FIGURES
from atomprobe.render.tables import TABLES
from conftest import merge_config, run_snakemake

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [ROOT / "config" / "config.yaml", ROOT / "config" / "tiny.yaml"]
BRANCHES = ROOT / "config" / "branches.yaml"
FIXTURE = ROOT / "tests" / "fixtures" / "data" / "qm9_sample.tar.bz2"
ARCHIVE = load_yaml(BRANCHES)["data"]["qm9"]["archive"]["path"]  # relative to the workdir
DRY_RUN_TIMEOUT_S = 240  # ~8 s on an idle core; guard for a busy machine

pytestmark = pytest.mark.timeout(2 * DRY_RUN_TIMEOUT_S + 60)


def _config(*paths: Path) -> dict:
    merged: dict = {}
    for path in paths:
        merged = merge_config(merged, load_yaml(path))
    return merged


def test_branches_overlay_switches_the_other_branches():
    tiny = _config(*CONFIGS)
    branches = _config(*CONFIGS, BRANCHES)
    validate_config(branches, source="config.yaml + tiny.yaml + branches.yaml")
    switched = {
        ("features", "pooling"): "cumulants",
        ("cpd", "groups", "layers"): "all",
        ("cpd", "nonlinear", "layers"): "all",
        ("render", "layer"): "best",
        ("data", "qm9", "source"): "archive",
    }
    for keys, value in switched.items():
        old, new = tiny, branches
        for key in keys:
            old, new = old[key], new[key]
        assert (old, new) != (value, value), f"{'.'.join(keys)}: tiny.yaml already has {value}"
        assert new == value, keys
    registry = load_yaml(ROOT / branches["registry"])["models"]
    assert isinstance(branches["models"], list)
    assert 2 <= len(branches["models"]) < len(registry)
    assert set(branches["models"]) <= set(registry)
    archive = branches["data"]["qm9"]["archive"]
    assert archive["checksum"] == f"md5:{hashlib.md5(FIXTURE.read_bytes()).hexdigest()}"
    assert archive["url"].startswith("http://127.0.0.1:")  # never the real download
    assert archive["path"].startswith("results/")  # a real run never overwrites a tracked file


def _dry_run(workdir: Path) -> str:
    """``snakemake -n`` on tiny.yaml + branches.yaml in ``workdir``; its output (stdout+stderr)."""
    configs = [str(ROOT / "config" / "tiny.yaml"), str(BRANCHES)]
    result = run_snakemake(
        workdir, "--dry-run", "--configfile", *configs, timeout=DRY_RUN_TIMEOUT_S
    )
    output = result.stdout + "\n" + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


def _jobs(output: str) -> list[dict[str, str]]:
    """The planned jobs of a dry run: ``{"rule": name, "input": ..., "wildcards": ...}``."""
    jobs = []
    for block in re.split(r"\n\s*\n", output):
        lines = block.strip().splitlines()
        heads = [i for i, line in enumerate(lines) if re.match(r"(local)?rule \w+:$", line)]
        if not heads:
            continue
        job = {"rule": lines[heads[0]].split()[-1].rstrip(":")}
        for line in lines[heads[0] + 1 :]:
            key, sep, value = line.strip().partition(": ")
            if sep and line.startswith("    "):
                job[key] = value
        jobs.append(job)
    return jobs


def _wildcards(job: dict[str, str]) -> dict[str, str]:
    fields = [f.split("=", 1) for f in job.get("wildcards", "").split(", ") if "=" in f]
    return dict(fields)


@pytest.fixture()
def workdir(tmp_path) -> Path:
    (tmp_path / "config").symlink_to(ROOT / "config", target_is_directory=True)
    return tmp_path


def _check_models(jobs: list[dict[str, str]]) -> None:
    config = _config(*CONFIGS, BRANCHES)
    chosen = config["models"]
    registry = load_yaml(ROOT / config["registry"])["models"]
    models = {_wildcards(job)["model"] for job in jobs if "model" in _wildcards(job)}
    assert models == set(chosen)
    trained = sorted(_wildcards(job)["model"] for job in jobs if job["rule"] == "train_model")
    assert trained == sorted(m for m in chosen if registry[m]["source"] == "train")
    assert trained  # the subset keeps a trained model: checkpoints and convergence are planned
    extracted = {
        (_wildcards(j)["model"], _wildcards(j)["dataset"]) for j in jobs if j["rule"] == "extract"
    }
    assert {m for m, _ in extracted} == set(chosen)
    assert {d for _, d in extracted} == {"qm9", "mp"}
    # every table and figure is still planned on the subset
    rules = {job["rule"] for job in jobs}
    assert {f"table_{t}" for t in TABLES} | {f"figure_{f}" for f in FIGURES} <= rules
    assert {"cpd", "reconstruction", "cumulants", "reproduction", "all"} <= rules


def test_branches_dry_run_plans_the_archive_download(workdir):
    """Without the archive in the working directory, rule qm9_archive is planned (not run)."""
    output = _dry_run(workdir)
    jobs = _jobs(output)
    by_rule = {job["rule"]: job for job in jobs}
    assert "qm9_archive" in by_rule, output[-3000:]
    assert by_rule["qm9_archive"]["output"] == ARCHIVE
    assert by_rule["qm9"]["input"] == ARCHIVE
    _check_models(jobs)
    assert not (workdir / ARCHIVE).exists()  # a dry run downloads nothing
    assert not (workdir / "results").exists()


def test_branches_dry_run_reads_a_local_archive(workdir):
    """With the archive present, rule qm9 reads it and nothing downloads it."""
    archive = workdir / ARCHIVE
    archive.parent.mkdir(parents=True)
    # a fresh mtime: an output older than the rule's script counts as "code has changed"
    shutil.copyfile(FIXTURE, archive)
    output = _dry_run(workdir)
    jobs = _jobs(output)
    rules = [job["rule"] for job in jobs]
    assert "qm9_archive" not in rules, output[-3000:]
    (qm9,) = (job for job in jobs if job["rule"] == "qm9")
    assert qm9["input"] == ARCHIVE
    _check_models(jobs)


def test_default_dry_run_plans_untrained_controls_without_training(workdir):
    """Each `source: random_init` entry of the default registry: one init_model job, extraction
    and CPD like any model, and no training, checkpoint or convergence job of its own."""
    registry = load_yaml(ROOT / "config" / "models.yaml")["models"]
    controls = {n for n, e in registry.items() if e["source"] == "random_init"}
    assert len(controls) == 5
    result = run_snakemake(workdir, "--dry-run", timeout=DRY_RUN_TIMEOUT_S)
    output = result.stdout + "\n" + result.stderr
    assert result.returncode == 0, output[-6000:]
    jobs = _jobs(output)
    planned = {(job["rule"], _wildcards(job).get("model")) for job in jobs}
    for name in controls:
        assert {("init_model", name), ("extract", name), ("cpd", name)} <= planned, name
        for rule in ("train_model", "extract_checkpoints"):
            assert (rule, name) not in planned
    inits = [job for job in jobs if job["rule"] == "init_model"]
    assert all("results/data/qm9_splits.parquet" in job["input"] for job in inits)
    by_rule = {job["rule"]: job for job in jobs}
    assert not controls & set(
        re.findall(r"results/features/(\w+)/", by_rule["convergence"]["input"])
    )
    trained = {n for n, e in registry.items() if e["source"] == "train"}
    assert {m for r, m in planned if r == "train_model"} == trained


@pytest.mark.parametrize(
    ("device", "visible", "claim"),
    [("cpu", None, "0"), ("cuda", None, "1"), ("auto", "", "0")],
    ids=["cpu", "cuda", "auto-no-gpu-visible"],
)
def test_model_jobs_claim_a_gpu_only_when_they_run_on_one(
    workdir, monkeypatch, device, visible, claim
):
    """Training and extraction claim `gpu=1` (what the default profile caps at one job at a
    time) only when they will run on a GPU; on the CPU they claim none and run side by side."""
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    configs = [str(ROOT / "config" / "tiny.yaml")]
    result = run_snakemake(
        workdir,
        "--dry-run",
        "--configfile",
        *configs,
        "--config",
        f"device={device}",
        timeout=DRY_RUN_TIMEOUT_S,
    )
    output = result.stdout + "\n" + result.stderr
    assert result.returncode == 0, output[-6000:]
    jobs = _jobs(output)
    model_jobs = [
        j
        for j in jobs
        if j["rule"] in {"train_model", "init_model", "extract", "extract_checkpoints"}
    ]
    assert model_jobs
    for job in model_jobs:
        assert re.search(rf"\bgpu={claim}\b", job["resources"]), (job["rule"], job["resources"])
    assert not any("gpu=1" in j.get("resources", "") for j in jobs if j not in model_jobs)
