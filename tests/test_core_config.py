"""Config validation: the shipped configs are valid; a wrong key or type gives one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from atomprobe.config import load_yaml, validate_config
from atomprobe.errors import ConfigError
from conftest import merge_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def default_config() -> dict:
    return load_yaml(ROOT / "config" / "config.yaml")


def test_default_config_is_valid(default_config):
    validate_config(default_config, source="config/config.yaml")


@pytest.mark.parametrize("overlay", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_overlays_are_valid(default_config, overlay):
    if overlay.name in {"config.yaml"} or overlay.name.startswith("models"):
        pytest.skip("not an overlay")
    validate_config(merge_config(default_config, load_yaml(overlay)), source=overlay.name)


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
    with pytest.raises(ConfigError, match=r"bad\.yaml \(line 3\): expected ',' or ']'"):
        load_yaml(path)


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    """PyYAML keeps the last of two equal keys: a second model entry would replace the first."""
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  schnet_gap: {label: a}\n  painn: {label: b}\n  schnet_gap: {}\n")
    with pytest.raises(
        ConfigError, match=r"models\.yaml \(line 4\): key 'schnet_gap' appears twice"
    ):
        load_yaml(path)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("features", "batch_size", 64.0), ("data", "qm9", None), ("cpd", "cv", None)],
)
def test_integers_given_as_floats_are_refused(default_config, section, key, value):
    """JSON Schema counts 64.0 as an integer; range(64.0) would crash a job later."""
    if value is None:  # a nested integer: the CV folds, the QM9 split sizes
        target = default_config[section][key]
        target = target["splits"] if "splits" in target else target
        name = "train" if "train" in target else "n_folds"
        target[name] = float(target[name])
    else:
        default_config[section][key] = value
    with pytest.raises(ConfigError, match=r"\.0 is not of type 'integer'"):
        validate_config(default_config)
