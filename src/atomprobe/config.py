"""Load and validate the pipeline config against the JSON schemas shipped in ``atomprobe/schemas``.

The top-level schema (``config.schema.yaml``) fixes the sections; each section has its own
schema file (``<section>.schema.yaml``). Every error is reported as one line naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from atomprobe.errors import ConfigError

# package data (pyproject.toml), so validation works from any install, not only a checkout
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
# section key in the config -> schema file stem in SCHEMA_DIR
SECTION_SCHEMAS = {
    "data": "data",
    "features": "features",
    "cpd": "cpd",
    "analyses": "analyses",
    "reconstruction": "reconstruction",
    "render": "render",
}


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file, with a one-line error naming the file if it is missing or broken."""
    try:
        with open(path) as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}; fix the syntax") from exc


def _key_path(error: jsonschema.ValidationError, prefix: str) -> str:
    parts = (
        [prefix, *(str(p) for p in error.absolute_path)]
        if prefix
        else list(map(str, error.absolute_path))
    )
    return ".".join(parts) or "<top level>"


def validate_against(
    document: Any, schema_path: str | Path, prefix: str = "", source: str = "config"
) -> None:
    """Validate ``document`` against a YAML JSON-schema; raise ConfigError with one line."""
    schema = load_yaml(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        key = _key_path(error, prefix)
        raise ConfigError(
            f"{source}: key {key}: {error.message}; fix it (every key is documented in "
            "config/README.md)"
        )


def validate_config(
    config: Mapping[str, Any], schema_dir: str | Path = SCHEMA_DIR, source: str = "config"
) -> None:
    """Validate the whole config: top-level keys, then each section against its own schema."""
    schema_dir = Path(schema_dir)
    validate_against(dict(config), schema_dir / "config.schema.yaml", source=source)
    for section, stem in SECTION_SCHEMAS.items():
        schema_path = schema_dir / f"{stem}.schema.yaml"
        if section in config and schema_path.exists():
            validate_against(config[section], schema_path, prefix=section, source=source)
