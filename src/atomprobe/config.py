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


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML keeps the last
    silently: a second ``schnet_gap:`` would replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file, with a one-line error naming the file (and line) if it is missing,
    broken, or gives a key twice in one mapping.

    Parameters
    ----------
    path : str or Path
        The YAML file.

    Returns
    -------
    Any
        The parsed document.

    Raises
    ------
    ConfigError
        One line naming the file, the line and what to fix.
    """
    try:
        with open(path) as handle:
            return yaml.load(handle, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a YAML file (binary, not UTF-8); fix the path") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}{where}: {problem}; fix it") from exc


# JSON Schema counts 64.0 as an integer; a config's integers (epochs, batch sizes, seeds) are
# used in range() and as sizes, so a float is refused here
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


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
    validator = _Validator(schema)
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
