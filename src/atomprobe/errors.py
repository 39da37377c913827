"""Exceptions whose message is a single line telling the user what to fix."""


class AtomprobeError(Exception):
    """Base class: the message names the file, key or value and what to do."""


class ConfigError(AtomprobeError):
    """A config or registry key is missing, unknown or has a wrong value."""


class DataError(AtomprobeError):
    """An input file or array is malformed (shape, NaN, missing column, ...)."""


class DownloadError(AtomprobeError):
    """A download failed or its checksum did not match; nothing was left behind."""
