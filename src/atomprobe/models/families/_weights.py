"""Weights shipped in wheels or named by the registry: checksums, source checks, and narrow
(``weights_only``) loading of torch files."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping, Sequence
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


def checkpoint_file(entry: Mapping[str, Any], family: str) -> tuple[Path, str]:
    """``(path, sha256)`` of a ``source: checkpoint`` entry; ConfigError if either is missing."""
    missing = [key for key in ("path", "sha256") if not entry.get(key)]
    if missing:
        raise ConfigError(f"{family} checkpoint: give {' and '.join(missing)} of the weight file")
    return Path(str(entry["path"])), str(entry["sha256"])


def _global_name(allowed: Any) -> str:
    """The pickle name under which an entry of ``torch.serialization.safe_globals`` is allowed."""
    if isinstance(allowed, tuple):
        return allowed[1]
    return f"{allowed.__module__}.{allowed.__qualname__}"


def load_weights_only(path: str | Path, key: str, safe_globals: Sequence[Any] = ()) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, allowing exactly ``safe_globals`` (data
    containers) besides torch's own defaults, for this one load.

    A file that pickles anything else (a class or function: code) is refused with a one-line
    ConfigError naming what it pickles; it is never unpickled with ``weights_only=False``.
    """
    import torch

    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = sorted(_pickled_globals(path) - {_global_name(item) for item in safe_globals})
        if not refused:
            raise ConfigError(
                f"{key}: {path} is not a torch checkpoint that loads with weights_only=True "
                f"({_unpickler_detail(exc)})"
            ) from None
        named = ", ".join(refused[:4]) + (
            f" and {len(refused) - 4} more" if len(refused) > 4 else ""
        )
        raise ConfigError(
            f"{key}: {path} pickles {named}, which atomprobe does not unpickle "
            "(only tensors and plain data containers are loaded, weights_only=True); re-save "
            "the checkpoint without them"
        ) from None
    except (RuntimeError, EOFError, OSError) as exc:
        detail = _one_line(exc)
        raise ConfigError(f"{key}: {path} is not a readable torch file ({detail})") from None


def _pickled_globals(path: str | Path) -> set[str]:
    """Globals in a torch file beyond torch's weights_only defaults (empty if unreadable)."""
    import torch

    try:
        return set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not a torch zip file: the caller reports the load error
        return set()


def _unpickler_detail(exc: BaseException) -> str:
    """The specific part of torch's multi-line weights_only error, on one line."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1].split("Check the documentation", 1)[0]
    return _one_line(text)


def _one_line(exc: BaseException | str) -> str:
    """An exception message with its whitespace (newlines included) collapsed."""
    return " ".join(str(exc).split()) or type(exc).__name__
