"""tqdm progress bars that stay readable in Snakemake logs and CI output."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

TERMINAL_REFRESH_S = 0.5
LOG_REFRESH_S = 30.0  # stderr redirected to a file or pipe: one line every 30 s, not hundreds


def progress(iterable: Iterable[Any] | None = None, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar (``kwargs`` as for tqdm) that refreshes rarely when stderr is not a terminal."""
    interval = TERMINAL_REFRESH_S if sys.stderr.isatty() else LOG_REFRESH_S
    kwargs.setdefault("mininterval", interval)
    return tqdm(iterable, disable=not enabled, **kwargs)
