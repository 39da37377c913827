"""The data section of config/config.yaml validates; a wrong key or type is one line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from atomprobe.config import SCHEMA_DIR, load_yaml, validate_against
from atomprobe.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = SCHEMA_DIR / "data.schema.yaml"


@pytest.fixture
def data_config() -> dict:
    return copy.deepcopy(load_yaml(ROOT / "config" / "config.yaml")["data"])


def test_default_data_section_is_valid(data_config):
    validate_against(data_config, SCHEMA, prefix="data")
    assert data_config["qm9"]["source"] == "qm9pack" and data_config["mp"]["source"] == "offline"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["qm9"].update(source="web"), r"data\.qm9\.source: 'web' is not one of"),
        (lambda c: c["qm9"]["splits"].update(trian=5), r"data\.qm9\.splits: Additional prop"),
        (lambda c: c["mp"].update(size="big"), r"data\.mp\.size: 'big' is not of type"),
        (lambda c: c["qm9"]["archive"].update(checksum="abc"), r"data\.qm9\.archive\.checksum"),
    ],
)
def test_wrong_key_or_type_is_one_line_error(data_config, edit, message):
    edit(data_config)
    with pytest.raises(ConfigError, match=message) as info:
        validate_against(data_config, SCHEMA, prefix="data")
    assert "\n" not in str(info.value)
