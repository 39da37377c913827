"""Conda environments (envs/*.yaml) against pyproject.toml and the workflow's rules.

Conda channels are unreachable here, so no environment is created: these tests check what can
go wrong without conda. Each file parses and has the expected layout; its pip pins are the
pyproject.toml specifiers (the test fails when either side drifts); every pyproject dependency
is in some environment; the post-deploy script installs this repository; every rule with an
action declares one of the environments (and the cluster resources the SLURM profile maps);
and each environment holds every distribution that its rules' step modules import. Last, the
SLURM partition maps of both cluster profiles admit every rule, GPU rules on a GPU partition.
"""

from __future__ import annotations

import ast
import importlib.metadata
import logging
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
ENV_DIR = REPO / "envs"
SRC = REPO / "src"
GROUPS = ("data", "torch", "analysis", "plot")
# Needed by the process that runs Snakemake, never inside a job's environment.
HOST_ONLY = {"snakemake", "snakemake-executor-plugin-slurm"}
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def pyproject_requirements() -> dict[str, Requirement]:
    """pyproject.toml runtime dependencies, by canonical distribution name."""
    requirements = (Requirement(line) for line in PYPROJECT["project"]["dependencies"])
    return {canonicalize_name(req.name): req for req in requirements}


def env_spec(group: str) -> dict:
    """The parsed envs/<group>.yaml."""
    return yaml.safe_load((ENV_DIR / f"{group}.yaml").read_text())


def env_pip_requirements(group: str) -> dict[str, Requirement]:
    """The pip section of envs/<group>.yaml, by canonical distribution name."""
    sections = [d["pip"] for d in env_spec(group)["dependencies"] if isinstance(d, dict)]
    assert len(sections) == 1, f"envs/{group}.yaml: expected exactly one pip section"
    requirements = [Requirement(line) for line in sections[0]]
    by_name = {canonicalize_name(req.name): req for req in requirements}
    assert len(by_name) == len(requirements), f"envs/{group}.yaml: a distribution is listed twice"
    return by_name


def test_env_files_are_exactly_the_groups():
    assert sorted(p.stem for p in ENV_DIR.glob("*.yaml")) == sorted(GROUPS)


@pytest.mark.parametrize("group", GROUPS)
def test_env_file_layout(group):
    spec = env_spec(group)
    assert spec["name"] == f"atomprobe-{group}"
    assert spec["channels"] == ["conda-forge", "nodefaults"]
    conda_deps = [d for d in spec["dependencies"] if isinstance(d, str)]
    pythons = [d for d in conda_deps if d.startswith("python=")]
    assert len(pythons) == 1 and "pip" in conda_deps
    python_version = pythons[0].removeprefix("python=")
    assert python_version in SpecifierSet(PYPROJECT["project"]["requires-python"])


@pytest.mark.parametrize("group", GROUPS)
def test_env_pins_equal_pyproject(group):
    project = pyproject_requirements()
    for name, req in env_pip_requirements(group).items():
        assert name in project, f"envs/{group}.yaml pins {req}, which pyproject.toml lacks"
        assert name not in HOST_ONLY, f"envs/{group}.yaml: {req} belongs to the host only"
        wanted = project[name]
        assert (req.specifier, req.extras, req.marker) == (
            wanted.specifier,
            wanted.extras,
            wanted.marker,
        ), f"envs/{group}.yaml has {req} but pyproject.toml has {wanted}"


def test_every_pyproject_dependency_is_in_an_env():
    in_envs = set().union(*(env_pip_requirements(g) for g in GROUPS))
    missing = sorted(set(pyproject_requirements()) - HOST_ONLY - in_envs)
    assert not missing, f"pyproject.toml dependencies in no envs/*.yaml: {missing}"


@pytest.mark.parametrize("group", GROUPS)
def test_post_deploy_installs_this_repository(group, tmp_path):
    """Snakemake runs <group>.post-deploy.sh in its working directory with the env active."""
    script = ENV_DIR / f"{group}.post-deploy.sh"
    assert script.resolve() == ENV_DIR / "install-atomprobe.sh"
    # A stand-in `python` that records how it was called instead of installing.
    record = tmp_path / "python-args"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$@" > {record}\n')
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    run = subprocess.run(["bash", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    expected = ["-m", "pip", "install", "--no-deps", "--editable", str(REPO)]
    assert record.read_text().split() == expected

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(["bash", script], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert run.returncode == 1
    assert "run snakemake from the atomprobe repository root" in run.stderr


def test_package_metadata_builds(tmp_path):
    """The package builds (editable metadata through its own build backend), as pip would."""
    code = (
        "import sys; from setuptools import build_meta;"
        "print(build_meta.prepare_metadata_for_build_editable(sys.argv[1]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    dist_info = run.stdout.strip().splitlines()[-1]
    assert dist_info.startswith("atomprobe-")
    metadata = (tmp_path / dist_info / "METADATA").read_text()
    assert "Name: atomprobe" in metadata


def test_every_rule_declares_an_env_and_resources(rules):
    envs = {str(ENV_DIR / f"{g}.yaml") for g in GROUPS}
    acting = [r for r in rules if r["has_action"]]
    assert acting, "the workflow has no rules with an action"
    for rule in acting:
        assert rule["conda"] in envs, (
            f"rule {rule['name']}: conda: {rule['conda']} is not one of envs/<group>.yaml"
        )
        # The SLURM profile turns these into --mem and --time; without them a cluster's
        # defaults apply, which are often too small.
        missing = {"mem_mb", "runtime"} - set(rule["resources"])
        assert not missing, f"rule {rule['name']}: declare resources {sorted(missing)}"


def _module_file(module: str) -> Path | None:
    """The source file of an atomprobe module (package __init__ or module), if it exists."""
    base = SRC.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """All nodes of ``tree`` except those under ``if TYPE_CHECKING:`` (never run)."""
    for child in ast.iter_child_nodes(tree):
        yield child
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            for other in child.orelse:
                yield other
                yield from _runtime_nodes(other)
        else:
            yield from _runtime_nodes(child)


def third_party_imports(module: str) -> set[str]:
    """Top-level names of non-atomprobe modules imported by ``module`` and, transitively, by
    every atomprobe module it imports (parent packages included). Static: imports made with
    importlib at run time (plugin registries) are not seen, ``if TYPE_CHECKING:`` ones skipped."""
    seen: set[str] = set()
    external: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            path = _module_file(prefix)
            if prefix in seen or path is None:
                continue
            seen.add(prefix)
            for node in _runtime_nodes(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    # `from atomprobe.x import y` may import the submodule atomprobe.x.y
                    imported = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                else:
                    continue
                for target in imported:
                    top_level = target.split(".")[0]
                    if top_level == "atomprobe":
                        todo.append(target)
                    else:
                        external.add(top_level)
    return external - set(sys.stdlib_module_names) - {"__future__"}


def installed_closure(names: set[str]) -> set[str]:
    """``names`` plus every distribution they require (installed metadata, extras ignored)."""
    closure: set[str] = set()
    todo = list(names)
    environment = {**default_environment(), "extra": ""}
    while todo:
        name = canonicalize_name(todo.pop())
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(environment):
                todo.append(req.name)
    return closure


def test_each_env_has_what_its_rules_import(rules):
    """A rule's step module (and what it imports) finds all its distributions in the rule's env."""
    provider = importlib.metadata.packages_distributions()
    problems = []
    for group in GROUPS:
        env_file = str(ENV_DIR / f"{group}.yaml")
        steps = {r["step"] for r in rules if r["conda"] == env_file and r["has_action"]}
        available = installed_closure(set(env_pip_requirements(group)))
        for step in sorted(steps):
            module = step.split(":")[0]
            for top_level in sorted(third_party_imports(module)):
                dists = {canonicalize_name(d) for d in provider.get(top_level, [])}
                if not dists:
                    problems.append(f"step {step} ({module}) imports {top_level}: not installed")
                elif not dists & available:
                    problems.append(
                        f"step {step} ({module}) imports {top_level} ({', '.join(sorted(dists))}),"
                        f" which envs/{group}.yaml lacks"
                    )
    assert not problems, "add the pyproject pins to the envs (or move the rule):\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize(
    "partitions_file",
    [
        REPO / "profiles" / "slurm" / "partitions.yaml",
        REPO / ".ci" / "slurm" / "profile" / "partitions.yaml",
    ],
    ids=["slurm", "ci"],
)
def test_every_rule_fits_a_partition(rules, partitions_file):
    """A job that fits no partition is not refused: the executor falls back to the default
    partition, GPU or not. So each rule's request (default config) must fit the map."""
    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

    partitions = read_partition_file(partitions_file)
    gpu_partitions = {p.name for p in partitions if p.limits.max_gpu > 0}
    for rule in (r for r in rules if r["has_action"]):
        resources = {k: v for k, v in rule["resources"].items() if v is not None}
        if "gpu" in rule["resources"] and rule["resources"]["gpu"] is None:
            resources["gpu"] = 1  # model_job_gpus(): a model job on a cluster claims a GPU
        job = SimpleNamespace(
            name=rule["name"],
            threads=rule["threads"] or 1,
            resources=SimpleNamespace(get=resources.get, **resources),
        )
        chosen = get_best_partition(partitions, job, logging.getLogger(__name__))
        assert chosen is not None, f"rule {rule['name']} {resources} fits no partition"
        assert (chosen in gpu_partitions) == bool(resources.get("gpu")), (rule["name"], chosen)
