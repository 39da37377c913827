"""Shared pieces of the e3nn-based families (MACE, SevenNet): safe imports, neighbour lists,
and splitting an e3nn irreps-laid-out feature tensor into per-L feature blocks.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import vesin

from atomprobe.models.base import AtomsBatch, FeatureBlock


def import_e3nn() -> None:
    """Import e3nn 0.4.4 under torch >= 2.6.

    e3nn 0.4.4 reads its own ``constants.pt`` at import with torch's default
    ``weights_only=True`` load, which refuses the pickled ``slice`` in that file. We allow
    exactly that one builtin, for the duration of the import only.
    """
    with torch.serialization.safe_globals([slice]):
        import e3nn.o3  # noqa: F401


def import_mace() -> None:
    """Import mace-torch without its global side effect on ``torch.load``.

    ``import mace`` sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the whole process, which
    would make every later default ``torch.load`` unpickle arbitrary code. We restore the
    variable's previous state right after the import.
    """
    key = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
    previous = os.environ.get(key)
    try:
        import_e3nn()
        import mace.modules
        import mace.tools  # noqa: F401
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


def radius_graph(batch: AtomsBatch, cutoff: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Directed edges within ``cutoff`` (Å), periodic images included when ``batch.pbc``.

    Returns ``edge_index`` (2, n_edges) int64 global atom indices (sender i, receiver j) and
    ``unit_shifts`` (n_edges, 3) float of integer cell shifts S, such that the edge vector is
    ``positions[j] - positions[i] + S @ cell`` (ASE/matscipy convention, used by mace-torch and
    sevenn). Computed on CPU with vesin; self-pairs at zero distance are excluded.
    """
    positions = batch.positions.detach().to("cpu", torch.float64).numpy()
    batch_index = batch.batch.detach().cpu().numpy()
    starts = np.searchsorted(batch_index, np.arange(batch.n_structures + 1))
    cells = None if batch.cell is None else batch.cell.detach().to("cpu", torch.float64).numpy()
    if batch.pbc and cells is None:
        raise ValueError("AtomsBatch.pbc is True but cell is None")
    calculator = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    senders, receivers, shifts = [], [], []
    for s in range(batch.n_structures):
        lo, hi = starts[s], starts[s + 1]
        box = cells[s] if batch.pbc else np.zeros((3, 3))
        i, j, shift = calculator.compute(
            points=positions[lo:hi], box=box, periodic=bool(batch.pbc), quantities="ijS"
        )
        senders.append(i.astype(np.int64) + lo)
        receivers.append(j.astype(np.int64) + lo)
        shifts.append(shift)
    device = batch.positions.device
    edge_index = torch.from_numpy(
        np.stack([np.concatenate(senders), np.concatenate(receivers)])
    ).to(device)
    unit_shifts = torch.from_numpy(np.concatenate(shifts).astype(np.float64)).to(
        device=device, dtype=batch.positions.dtype
    )
    return edge_index, unit_shifts


def edge_shifts(
    batch: AtomsBatch, edge_index: torch.Tensor, unit_shifts: torch.Tensor
) -> torch.Tensor:
    """Cartesian shifts S @ cell (n_edges, 3) Å of each edge; zeros for molecules."""
    if not batch.pbc or batch.cell is None:
        return torch.zeros_like(unit_shifts)
    cell_per_edge = batch.cell[batch.batch[edge_index[0]]]  # (n_edges, 3, 3)
    return torch.einsum("ek,ekl->el", unit_shifts, cell_per_edge.to(unit_shifts.dtype))


def irreps_feature_blocks(
    values: torch.Tensor, irreps, layer: int, layer_name: str
) -> list[FeatureBlock]:
    """Split an e3nn feature tensor (n_atoms, irreps.dim) into one FeatureBlock per L.

    e3nn lays out ``"32x0e+32x1o"`` as 32 scalars followed by 32 blocks of 3 m-components
    (channel-major). Irreps of the same L (e.g. ``0e`` and ``0o``) are concatenated along the
    channel axis in irreps order. L = 0 gives values (n_atoms, channels), stream "scalar";
    L >= 1 gives (n_atoms, channels, 2L+1) in e3nn's m order, stream "vector".
    """
    if values.shape[-1] != irreps.dim:
        raise ValueError(f"{layer_name}: feature width {values.shape[-1]} != irreps {irreps} dim")
    per_l: dict[int, list[torch.Tensor]] = {}
    offset = 0
    for mul, ir in irreps:
        width = mul * ir.dim
        chunk = values[:, offset : offset + width].reshape(values.shape[0], mul, ir.dim)
        per_l.setdefault(ir.l, []).append(chunk)
        offset += width
    blocks = []
    for ell in sorted(per_l):
        stacked = torch.cat(per_l[ell], dim=1)
        blocks.append(
            FeatureBlock(
                layer=layer,
                layer_name=layer_name,
                stream="scalar" if ell == 0 else "vector",
                L=ell,
                values=stacked[:, :, 0] if ell == 0 else stacked,
            )
        )
    return blocks


def join_irreps_blocks(blocks: list[FeatureBlock], irreps) -> torch.Tensor:
    """Inverse of :func:`irreps_feature_blocks` for one layer: (n_atoms, irreps.dim)."""
    by_l = {block.L: block.values for block in blocks}
    used: dict[int, int] = {}
    parts = []
    for mul, ir in irreps:
        start = used.get(ir.l, 0)
        chunk = by_l[ir.l][:, start : start + mul]
        parts.append(chunk.reshape(chunk.shape[0], mul * ir.dim))
        used[ir.l] = start + mul
    return torch.cat(parts, dim=1)
