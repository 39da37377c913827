"""Weights shipped in wheels or named by the registry: checksums and source checks."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atomprobe.errors import ConfigError


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str, key: str) -> None:
    """Raise a one-line ConfigError unless ``path`` exists and has sha256 ``expected``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{key}: weight file {path} does not exist; put the file there or fix the path"
        )
    actual = sha256_of(path)
    if actual != expected.lower():
        raise ConfigError(
            f"{key}: sha256 of {path} is {actual}, expected {expected}; "
            "replace the file or update the checksum if you trust it"
        )


def require_builtin(entry: Mapping[str, Any], family: str, why: str) -> None:
    """ConfigError unless the registry entry's source is ``builtin``."""
    if entry.get("source") != "builtin":
        raise ConfigError(f"{family}: source must be builtin ({why}), not {entry.get('source')!r}")
