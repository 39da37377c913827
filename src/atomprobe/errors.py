"""Exceptions whose message is a single line telling the user what to fix."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class AtomprobeError(Exception):
    """Base class: the message names the file, key or value and what to do."""


class ConfigError(AtomprobeError, ValueError):
    """A config or registry key is missing, unknown or has a wrong value.

    Also a ``ValueError``, so code that handles bad values generically catches it.
    """


class DataError(AtomprobeError, ValueError):
    """An input file or array is malformed (shape, NaN, missing column, ...).

    Also a ``ValueError``, as scikit-learn and numpy raise for bad input, so
    ``except ValueError`` (and scikit-learn's estimator checks) catch it.
    """


class DownloadError(AtomprobeError):
    """A download failed or its checksum did not match; nothing was left behind."""


@contextmanager
def data_errors(what: str) -> Iterator[None]:
    """Re-raise a ``ValueError`` of the enclosed validation call as a one-line DataError.

    The message is ``"{what}: "`` followed by the lines of the original message joined by
    "; ", without the array dumps (lines starting ``[`` or ``array=``) that scikit-learn's
    ``check_array`` adds to some messages.
    """
    try:
        yield
    except AtomprobeError:
        raise
    except ValueError as exc:
        lines = (line.strip() for line in str(exc).splitlines())
        kept = [line.rstrip(":") for line in lines if line and not line.startswith(("[", "array="))]
        raise DataError(f"{what}: {'; '.join(kept) or type(exc).__name__}") from exc
