"""The chemiscope atlas: the residual map is orthogonal to composition, the files hold every
structure and map, and the offline page loads in headless Chromium and shows its points."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atomprobe.analyses.atlas import residual_map
from atomprobe.analyses.steps import atlas
from atomprobe.data.steps import structures_from_file
from atomprobe.features.io import write_features
from atomprobe.io import write_parquet

FIXTURES = Path(__file__).parent / "fixtures" / "structures"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_residual_map_carries_no_composition():
    rng = np.random.default_rng(0)
    C = rng.integers(0, 5, size=(200, 3)).astype(float)
    signal = rng.normal(size=(200, 2))
    H = np.column_stack([C @ rng.normal(size=(3, 6)), signal]) + 1e-3 * rng.normal(size=(200, 8))
    coordinates = residual_map(H, C)
    design = np.column_stack([np.ones(200), C])
    # no linear function of [1 | C] explains the map: least-squares R² ~ 0
    fitted = design @ np.linalg.lstsq(design, coordinates, rcond=None)[0]
    assert np.abs(fitted).max() < 1e-8 * np.abs(coordinates).max()
    # the planted non-compositional signal is what the map shows: [1 | map] explains it
    with_map = np.column_stack([np.ones(200), coordinates])
    error = signal - with_map @ np.linalg.lstsq(with_map, signal, rcond=None)[0]
    assert 1 - (error**2).sum() / ((signal - signal.mean(axis=0)) ** 2).sum() > 0.95


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("atlas")
    structures = root / "mine.parquet"
    entry = {
        "name": "mine",
        "source": "file",
        "path": str(FIXTURES / "molecules.extxyz"),
        "periodic": False,
        "id_key": "name",
        "targets": {"energy_t": {"unit": "eV"}, "gap": {"unit": "eV"}},
    }
    structures_from_file({}, {"structures": str(structures)}, entry, 1)
    ids = [f"m{k}" for k in range(4)]
    rng = np.random.default_rng(1)
    columns = [
        {"layer": 0, "layer_name": "x", "stream": "scalar", "L": 0, "channel": c} for c in range(6)
    ]
    features = []
    for model in ("model_a", "model_b"):
        path = root / f"{model}.parquet"
        write_features(
            path, ids, rng.normal(size=(4, 6)), columns, {"model": model, "dataset": "mine"}
        )
        features.append(str(path))
    pcovr = pd.DataFrame(
        {
            "model": "model_a",
            "dataset": "mine",
            "target": "gap",
            "id": ids,
            "pcovr_1": rng.normal(size=4),
            "pcovr_2": rng.normal(size=4),
            "y": rng.normal(size=4),
        }
    )
    write_parquet(pcovr, root / "pcovr.parquet")
    registry = pd.DataFrame({"name": ["model_a", "model_b"], "label": ["Model A", "Model B"]})
    write_parquet(registry, root / "registry.parquet")
    inputs = {
        "structures": str(structures),
        "structure": features,
        "pcovr": str(root / "pcovr.parquet"),
        "registry": str(root / "registry.parquet"),
    }
    outputs = {"dataset": str(root / "mine.json.gz"), "viewer": str(root / "mine.html")}
    atlas(
        inputs,
        outputs,
        {"dataset": "mine", "layer": "last", "encoding": "fraction", "main_target": "gap"},
        1,
    )
    return root


def test_the_chemiscope_file_holds_every_structure_and_map(written):
    data = json.loads(gzip.decompress((written / "mine.json.gz").read_bytes()))
    assert len(data["structures"]) == 4
    properties = data["properties"]
    assert {
        "energy_t",
        "gap",
        "Model A: residual PC 1",
        "Model A: PCovR 2",
        "Model B: residual PC 2",
    } <= set(properties)
    assert "Model B: PCovR 1" not in properties  # no PCovR rows for model_b
    assert data["settings"]["map"]["x"]["property"] == "Model A: residual PC 1"
    assert (written / "mine.json.gz").read_bytes()[4:8] == b"\0\0\0\0"  # no gzip timestamp


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (CI: .ci/run installs it)")
def test_the_offline_page_shows_its_points_in_chromium(written, tmp_path):
    page = written / "mine.html"
    assert "https://" not in re.sub(r"<script>.*?</script>", "", page.read_text(), flags=re.S)
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body is not None, result.stderr[-2000:]
    assert 'data-loaded="true"' in body.group(1), (body.group(1), result.stderr[-2000:])
    assert 'data-points="4"' in body.group(1)
