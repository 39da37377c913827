"""Neighbour graphs for the torch-geometric models, without pyg-lib or torch-sparse.

torch-geometric 2.8.1 builds its radius graphs with ``radius_graph`` (needs ``pyg-lib``, not on
PyPI) and DimeNet++'s triplets with ``SparseTensor`` (``torch-sparse``, sdist only). This module
is the one place that replaces both: neighbour pairs come from ``vesin`` and triplets from a
sort-based enumeration. The models keep their own graph step; only the pair search changes:

* SchNet: :class:`RadiusInteractionGraph` is passed as its ``interaction_graph``;
* ViSNet: :class:`RadiusDistance` replaces ``representation_model.distance``;
* DimeNet++: :func:`radius_graph` and :func:`triplets` feed its blocks (see ``families.pyg``).

Edges follow torch-geometric's convention: ``edge_index[0]`` is the neighbour (source j),
``edge_index[1]`` the centre (target i); lists are full (both directions) and uncapped (PyG's
``max_num_neighbors`` never binds for QM9 molecules at 5 Å: at most 28 neighbours).
Molecules only (no periodic images): these families do not support periodic cells.
"""

from __future__ import annotations

import numpy as np
import torch
import vesin

__all__ = ["RadiusDistance", "RadiusInteractionGraph", "radius_graph", "triplets"]


def radius_graph(
    pos: torch.Tensor, batch: torch.Tensor, cutoff: float, loop: bool = False
) -> torch.Tensor:
    """Directed pairs of atoms of the same structure closer than ``cutoff`` (Å).

    pos: (n_atoms, 3) Å; batch: (n_atoms,) structure index, sorted. Returns edge_index
    (2, n_edges) int64 on ``pos.device``, sorted by (centre, neighbour); ``loop`` adds (i, i).
    """
    positions = pos.detach().to("cpu", torch.float64).numpy()
    batch_index = batch.detach().cpu().numpy()
    if np.any(np.diff(batch_index) < 0):
        raise ValueError("radius_graph: batch must be sorted (atoms of a structure contiguous)")
    bounds = np.flatnonzero(np.diff(batch_index)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [len(batch_index)]])
    calculator = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    no_box = np.zeros((3, 3))
    centres, neighbours = [], []
    for lo, hi in zip(starts, stops, strict=True):
        i, j = calculator.compute(points=positions[lo:hi], box=no_box, periodic=False)
        centres.append(i.astype(np.int64) + lo)
        neighbours.append(j.astype(np.int64) + lo)
    if loop:
        self_index = np.arange(len(batch_index), dtype=np.int64)
        centres.append(self_index)
        neighbours.append(self_index)
    centre, neighbour = np.concatenate(centres), np.concatenate(neighbours)
    order = np.lexsort((neighbour, centre))
    edge_index = np.stack([neighbour[order], centre[order]])
    return torch.from_numpy(edge_index).to(pos.device)


def triplets(edge_index: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, ...]:
    """All pairs of edges k->j, j->i with k != i, as torch-geometric's DimeNet ``triplets``.

    Returns ``(i, j, idx_i, idx_j, idx_k, idx_kj, idx_ji)``: i, j the edge targets/sources
    (n_edges,); per triplet the node indices and the indices of its two edges (n_triplets,).
    """
    j, i = edge_index  # edge e points from j (source) to i (target)
    order = torch.argsort(i, stable=True)  # edges grouped by their target node
    in_degree = torch.bincount(i, minlength=num_nodes)
    first_in = torch.cumsum(in_degree, 0) - in_degree
    # for edge ji: every edge kj into node j
    n_per_edge = in_degree[j]
    idx_ji = torch.repeat_interleave(torch.arange(len(j), device=j.device), n_per_edge)
    offset = torch.arange(len(idx_ji), device=j.device) - torch.repeat_interleave(
        torch.cumsum(n_per_edge, 0) - n_per_edge, n_per_edge
    )
    idx_kj = order[first_in[j[idx_ji]] + offset]
    idx_i, idx_j, idx_k = i[idx_ji], j[idx_ji], j[idx_kj]
    keep = idx_i != idx_k
    return i, j, idx_i[keep], idx_j[keep], idx_k[keep], idx_kj[keep], idx_ji[keep]


class RadiusInteractionGraph(torch.nn.Module):
    """SchNet's ``interaction_graph``: ``(pos, batch) -> (edge_index, edge_weight Å)``."""

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = cutoff

    def forward(self, pos: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        edge_index = radius_graph(pos, batch, self.cutoff)
        source, target = edge_index
        return edge_index, (pos[source] - pos[target]).norm(dim=-1)


class RadiusDistance(torch.nn.Module):
    """ViSNet's ``distance`` module: ``(pos, batch) -> (edge_index, edge_weight, edge_vec)``
    with self-loops (zero length), as torch-geometric's ``visnet.Distance``."""

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = cutoff

    def forward(self, pos: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        edge_index = radius_graph(pos, batch, self.cutoff, loop=True)
        edge_vec = pos[edge_index[0]] - pos[edge_index[1]]
        not_loop = edge_index[0] != edge_index[1]
        edge_weight = torch.zeros(len(edge_vec), dtype=pos.dtype, device=pos.device)
        edge_weight[not_loop] = edge_vec[not_loop].norm(dim=-1)
        return edge_index, edge_weight, edge_vec
