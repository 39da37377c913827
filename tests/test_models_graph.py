"""The graph shim against brute force: radius-graph edges and DimeNet triplets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from atomprobe.models.graph import RadiusDistance, RadiusInteractionGraph, radius_graph, triplets

torch.set_num_threads(1)


def random_molecules(seed: int = 0, sizes: tuple[int, ...] = (5, 1, 12, 9)):
    """Random clouds of atoms (Å), concatenated: positions (n, 3), batch (n,)."""
    rng = np.random.default_rng(seed)
    pos = np.concatenate([rng.uniform(-2.5, 2.5, (n, 3)) for n in sizes])
    batch = np.repeat(np.arange(len(sizes)), sizes)
    return torch.tensor(pos, dtype=torch.float64), torch.tensor(batch)


def brute_force_pairs(pos: torch.Tensor, batch: torch.Tensor, cutoff: float) -> set:
    """{(neighbour j, centre i)}: same structure, i != j, |r_i - r_j| < cutoff."""
    d = torch.cdist(pos, pos)
    same = batch[:, None] == batch[None, :]
    ii, jj = torch.nonzero(same & (d < cutoff) & ~torch.eye(len(pos), dtype=bool), as_tuple=True)
    return {(int(j), int(i)) for i, j in zip(ii, jj, strict=True)}


@pytest.mark.parametrize("cutoff", [1.5, 3.0, 10.0])
def test_radius_graph_equals_brute_force(cutoff):
    pos, batch = random_molecules()
    edge_index = radius_graph(pos, batch, cutoff)
    edges = [tuple(e) for e in edge_index.T.tolist()]
    assert len(edges) == len(set(edges))
    assert set(edges) == brute_force_pairs(pos, batch, cutoff)


def test_radius_graph_self_loops_and_unsorted_batch():
    pos, batch = random_molecules(1)
    loops = radius_graph(pos, batch, 2.0, loop=True)
    n_loops = int((loops[0] == loops[1]).sum())
    assert n_loops == len(pos)
    with pytest.raises(ValueError, match="sorted"):
        radius_graph(pos, batch.flip(0), 2.0)


def test_triplets_equal_brute_force_enumeration():
    pos, batch = random_molecules(2)
    edge_index = radius_graph(pos, batch, 3.0)
    i, j, idx_i, idx_j, idx_k, idx_kj, idx_ji = triplets(edge_index, len(pos))
    source, target = edge_index.tolist()
    edge_id = {(s, t): e for e, (s, t) in enumerate(zip(source, target, strict=True))}
    expected = {
        (edge_id[(k, jj)], edge_id[(jj, ii)])
        for (k, jj), (jj2, ii) in itertools.product(edge_id, edge_id)
        if jj == jj2 and k != ii
    }
    found = set(zip(idx_kj.tolist(), idx_ji.tolist(), strict=True))
    assert len(found) == len(idx_kj) and found == expected
    assert torch.equal(i, edge_index[1]) and torch.equal(j, edge_index[0])
    # node indices agree with the edges they come from
    assert torch.equal(idx_k, edge_index[0, idx_kj]) and torch.equal(idx_j, edge_index[1, idx_kj])
    assert torch.equal(idx_j, edge_index[0, idx_ji]) and torch.equal(idx_i, edge_index[1, idx_ji])


def test_graph_modules_return_lengths_and_vectors():
    pos, batch = random_molecules(3)
    edge_index, weight = RadiusInteractionGraph(2.5)(pos, batch)
    assert torch.allclose(weight, (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1))
    edge_index, weight, vec = RadiusDistance(2.5)(pos, batch)
    loop = edge_index[0] == edge_index[1]
    assert torch.all(weight[loop] == 0) and torch.allclose(weight, vec.norm(dim=-1))
