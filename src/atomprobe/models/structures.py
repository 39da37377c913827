"""Structures as tensors, and the batches a model sees: shared by training and extraction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from atomprobe.data.structures import check_atomic_numbers, check_positions
from atomprobe.errors import ConfigError, DataError
from atomprobe.models.base import AtomsBatch


@dataclass(frozen=True)
class Structures:
    """Structures as tensors: numbers[i] (n_i,) int64, positions[i] (n_i, 3) Å float32,
    y (n,) float64 target values, ids (n,); cells (n, 3, 3) Å float32 for periodic structures
    (all periodic), None for molecules."""

    ids: list[str]
    numbers: list[torch.Tensor]
    positions: list[torch.Tensor]
    y: np.ndarray
    cells: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, target: str | None = None) -> Structures:
        """From a structure table (docs/formats.md); ``y`` is NaN when ``target`` is None."""
        if target is not None and target not in frame.columns:
            raise ConfigError(f"target {target!r} is not a column of the structure table")
        numbers, positions = [], []  # one pass: each structure checked, then converted
        for sid, z, xyz in zip(frame["id"], frame["numbers"], frame["positions"], strict=True):
            z, xyz = np.asarray(z), np.stack(xyz)
            check_atomic_numbers(z, f"structure {sid}")
            check_positions(xyz.astype(np.float64, copy=False), f"structure {sid}")
            numbers.append(torch.as_tensor(z.astype(np.int64)))
            positions.append(torch.as_tensor(xyz, dtype=torch.float32))
        periodic = frame["pbc"].to_numpy(bool)
        if periodic.any() and not periodic.all():
            raise DataError("structure table mixes periodic and non-periodic rows")
        return cls(
            ids=[str(i) for i in frame["id"]],
            numbers=numbers,
            positions=positions,
            y=(
                frame[target].to_numpy(np.float64)
                if target is not None
                else np.full(len(frame), np.nan)
            ),
            cells=(
                torch.as_tensor(np.stack([np.stack(c) for c in frame["cell"]]), dtype=torch.float32)
                if periodic.all() and len(frame)
                else None
            ),
        )

    def subset(self, rows: Sequence[int]) -> Structures:
        """The structures at ``rows``, in that order."""
        return Structures(
            ids=[self.ids[r] for r in rows],
            numbers=[self.numbers[r] for r in rows],
            positions=[self.positions[r] for r in rows],
            y=self.y[np.asarray(rows, dtype=int)],
            cells=None if self.cells is None else self.cells[np.asarray(rows, dtype=int)],
        )

    def batch(self, rows: Sequence[int]) -> AtomsBatch:
        """Rows ``rows`` as one :class:`AtomsBatch` (molecules, no cell)."""
        sizes = torch.tensor([len(self.numbers[r]) for r in rows])
        return AtomsBatch(
            numbers=torch.cat([self.numbers[r] for r in rows]),
            positions=torch.cat([self.positions[r] for r in rows]),
            batch=torch.repeat_interleave(torch.arange(len(rows)), sizes),
            n_structures=len(rows),
            ids=[self.ids[r] for r in rows],
            cell=None if self.cells is None else self.cells[np.asarray(rows, dtype=int)],
            pbc=self.cells is not None,
        )

    def batches(
        self, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, AtomsBatch]]:
        """(row indices, batch) in order, or shuffled by ``rng``."""
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        for start in range(0, len(self), batch_size):
            rows = order[start : start + batch_size]
            yield rows, self.batch(rows)
