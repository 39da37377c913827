"""config/README.md is generated from the schemas (every key described once): the committed page
equals a fresh rendering, a changed description changes it, and every key has a description."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from atomprobe import config_reference
from atomprobe.config import SCHEMA_DIR

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "config.yaml"


def test_the_committed_reference_is_the_schemas_rendered():
    committed = (REPO / "config" / "README.md").read_text(encoding="utf-8")
    assert committed == config_reference.reference(SCHEMA_DIR, CONFIG), (
        "config/README.md is stale: run python -m atomprobe.config_reference"
    )


def test_a_changed_description_makes_the_reference_stale(tmp_path, monkeypatch):
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, schemas)
    path = schemas / "cpd.schema.yaml"
    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    schema["properties"]["scaling"]["description"] = "how the probes scale features (edited)"
    path.write_text(yaml.safe_dump(schema, sort_keys=False, allow_unicode=True), encoding="utf-8")
    edited = config_reference.reference(schemas, CONFIG)
    assert "how the probes scale features (edited)" in edited
    assert edited != (REPO / "config" / "README.md").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # --check in a tree whose config/README.md is stale
    (tmp_path / "config").mkdir()
    shutil.copy(CONFIG, tmp_path / "config" / "config.yaml")
    (tmp_path / "config" / "README.md").write_text("stale\n", encoding="utf-8")
    assert config_reference.main(["--check"]) == 1
    assert config_reference.main([]) == 0 and config_reference.main(["--check"]) == 0


def test_every_config_key_has_a_description():
    """Each setting of the default config is a row of the page: every leaf, and every mapping
    whose keys are names (datasets, targets, groups) as one row."""
    page = config_reference.reference(SCHEMA_DIR, CONFIG)
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    named = {
        "cpd.targets",
        "cpd.nonlinear.targets",
        "cpd.groups.layers",
        "cpd.groups.definitions",
        "render.targets",
        "render.routing.targets",
        "render.routing.groups",
        "reconstruction.pcovr.targets",
        "render.target_units",
    }

    def settings(node, section, prefix):
        for name, value in node.items():
            key = f"{prefix}{name}"
            if isinstance(value, dict) and f"{section}.{key}" not in named:
                yield from settings(value, section, f"{key}.")
            else:
                yield key

    sections = {k: v for k, v in config.items() if isinstance(v, dict) and k != "data"}
    missing = [
        f"{section}.{key}"
        for section, body in sections.items()
        for key in settings(body, section, "")
        if f"| `{key}` |" not in page
    ]
    assert missing == []
