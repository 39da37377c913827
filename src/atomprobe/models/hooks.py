"""Forward hooks that record what chosen submodules receive and return during one forward pass."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch


@contextlib.contextmanager
def record_calls(modules: Sequence[torch.nn.Module]) -> Iterator[list[tuple[Any, Any]]]:
    """Record ``(inputs, output)`` of each module's latest call while the block runs.

    Yields a list, one slot per module, filled in by forward hooks (``None`` until called);
    the hooks are removed when the block exits, even on error.
    """
    calls: list[tuple[Any, Any]] = [None] * len(modules)  # type: ignore[list-item]

    def hook_for(slot: int):
        def hook(_module: torch.nn.Module, inputs: Any, output: Any) -> None:
            calls[slot] = (inputs, output)

        return hook

    handles = [m.register_forward_hook(hook_for(k)) for k, m in enumerate(modules)]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()
