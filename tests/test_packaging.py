"""A plain install of the package validates configs: the schemas ship as package data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# validates the repository's default config and model registry with the installed package only
VALIDATE = """
import sys
import yaml
import atomprobe
from atomprobe.config import validate_config
from atomprobe.data.datasets import configured_datasets
from atomprobe.models.registry import load_registry
assert not atomprobe.__file__.startswith(sys.argv[1]), atomprobe.__file__
config = yaml.safe_load(open(sys.argv[2]))
validate_config(config)
print(len(load_registry(sys.argv[3], "all", configured_datasets(config))))
"""


@pytest.mark.timeout(300)
def test_wheel_ships_schemas_and_validates_outside_the_checkout(tmp_path):
    build = ["pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w"]
    subprocess.run(
        [sys.executable, "-m", *build, str(tmp_path / "dist"), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("atomprobe-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    schemas = {Path(n).name for n in names if n.startswith("atomprobe/schemas/")}
    assert {"config.schema.yaml", "models.schema.yaml", "cpd.schema.yaml"} <= schemas
    assert "atomprobe/render/claims.yaml" in names
    config_files = [str(REPO / "config" / "config.yaml"), str(REPO / "config" / "models.yaml")]
    result = subprocess.run(
        [sys.executable, "-c", VALIDATE, str(REPO / "src"), *config_files],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) > 0
