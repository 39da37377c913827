"""Config validation: the shipped configs are valid; a wrong key or type gives one line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from atomprobe.config import load_yaml, validate_config
from atomprobe.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _merge(base: dict, overlay: dict) -> dict:
    """Recursive merge, as Snakemake applies --configfile overlays."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture
def default_config() -> dict:
    return load_yaml(ROOT / "config" / "config.yaml")


def test_default_config_is_valid(default_config):
    validate_config(default_config, source="config/config.yaml")


@pytest.mark.parametrize("overlay", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_overlays_are_valid(default_config, overlay):
    if overlay.name in {"config.yaml"} or overlay.name.startswith("models"):
        pytest.skip("not an overlay")
    validate_config(_merge(default_config, load_yaml(overlay)), source=overlay.name)


def test_unknown_top_level_key_is_one_line(default_config):
    default_config["sed"] = 1
    with pytest.raises(ConfigError) as err:
        validate_config(default_config, source="my.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert "my.yaml" in message and "sed" in message


def test_wrong_type_names_the_key(default_config):
    default_config["device"] = "tpu"
    with pytest.raises(ConfigError, match=r"key device: 'tpu' is not one of"):
        validate_config(default_config)


def test_broken_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 0\ndevice: [auto\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML \(line \d+\)"):
        load_yaml(path)
