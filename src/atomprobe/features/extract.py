"""Extract per-layer, per-irrep features of a model: forward hooks -> invariants -> pooling.

For every layer and irrep order (or stream) a family adapter returns per-atom features
(:class:`atomprobe.models.base.FeatureBlock`). L=0 channels are used as they are; L>=1 channels
(n_atoms, C, 2L+1) become invariant by the norm over their m-components (``invariant: norm``,
recorded in the metadata). They are then pooled per structure (mean by default; sum, max, or
cumulants of order K from :func:`atomprobe.features.pooling.cumulant_pool`): column
``invariant`` ``atom_norm``. The last layer's per-atom invariants are written too. Batched,
float32 by default, on CPU or CUDA.

Vector-aware pooling (``pooled_norm: true``, mean or sum pooling only): every L>=1 channel is
also pooled component by component over the atoms of its structure, then normed over m
(:func:`pooled_norm`), so a structure-level sum of vectors such as a dipole ``|Σ_i q_i r_i|``
is one column. Pooling commutes with a rotation (D(R) acts on m, the same for every atom), so
the norm is invariant; the max and the higher cumulants of m-components do not commute with
it, so they are refused. These columns (``invariant`` ``pooled_norm``) follow every
``atom_norm`` column, which keep their order and values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from atomprobe.data.progress import progress
from atomprobe.data.structures import load_structures
from atomprobe.errors import ConfigError, DataError
from atomprobe.features.io import (
    AtomFeatureWriter,
    column_name,
)
from atomprobe.features.pooling import check_vector_pooling, cumulant_pool
from atomprobe.io import read_parquet
from atomprobe.models.base import FeatureBlock, ModelAdapter, load_model
from atomprobe.models.families import get_family
from atomprobe.models.sources import source_of
from atomprobe.models.structures import Structures

POOLINGS = ("mean", "sum", "max", "cumulants")
INVARIANTS = ("norm",)
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def invariant(block: FeatureBlock, method: str = "norm") -> torch.Tensor:
    """Rotation-invariant channels of a block: (n_atoms, C); L>=1 by the norm over m."""
    if method not in INVARIANTS:
        raise ConfigError(f"features.invariant: {method!r} not in {INVARIANTS}")
    return block.values if block.L == 0 else block.values.norm(dim=-1)


def pool(
    values: torch.Tensor, index: torch.Tensor, n_structures: int, method: str, order: int = 4
) -> torch.Tensor:
    """Per-structure pooling of atom rows ``values`` (n_atoms, d) with structure ``index``
    (n_atoms,): (n_structures, d), or (n_structures, d * order) for ``cumulants``."""
    d = values.shape[1]
    if method in ("mean", "sum"):
        out = values.new_zeros(n_structures, d).index_add_(0, index, values)
        if method == "mean":
            out = out / torch.bincount(index, minlength=n_structures).unsqueeze(1)
        return out
    if method == "max":
        return values.new_zeros(n_structures, d).scatter_reduce_(
            0, index.unsqueeze(1).expand_as(values), values, "amax", include_self=False
        )
    if method == "cumulants":
        pooled = cumulant_pool(
            values.detach().cpu().double().numpy(), index.cpu().numpy(), n_structures, order
        )
        return torch.as_tensor(pooled, dtype=values.dtype, device=values.device)
    raise ConfigError(f"features.pooling: {method!r} not in {POOLINGS}")


def pooled_norm(
    block: FeatureBlock, index: torch.Tensor, n_structures: int, method: str
) -> torch.Tensor:
    """Vector-aware pooling of an L>=1 block: each channel's m-components pooled over the
    atoms of a structure, then the norm over m.

    Parameters
    ----------
    block : FeatureBlock
        Per-atom features with ``L >= 1``, values of shape (n_atoms, C, 2L+1).
    index : Tensor of shape (n_atoms,)
        Structure of each atom, 0 … n_structures − 1.
    n_structures : int
        Number of structures.
    method : {"mean", "sum"}
        Pooling over atoms (:data:`atomprobe.features.pooling.LINEAR_POOLINGS`).

    Returns
    -------
    Tensor of shape (n_structures, C)
        ``|pool_i x_i|`` per structure and channel (units of the features), rotation invariant.

    Raises
    ------
    ConfigError
        ``block.L == 0`` or a pooling that is not mean or sum.
    """
    check_vector_pooling(method)
    if block.L == 0:
        raise ConfigError(f"pooled_norm: layer {block.layer} block has L=0; pass L>=1 blocks")
    n_atoms, channels, components = block.values.shape
    flat = block.values.reshape(n_atoms, channels * components)
    pooled = pool(flat, index, n_structures, method)
    return pooled.reshape(n_structures, channels, components).norm(dim=-1)


def block_columns(
    block: FeatureBlock, n_columns: int, invariant: str = "atom_norm"
) -> list[dict[str, Any]]:
    """Column descriptions of one pooled block (``channel`` = column index within the block;
    for cumulant pooling, channel = (k - 1) * C + c for cumulant k of channel c); ``invariant``
    is the construction, ``atom_norm`` or ``pooled_norm``."""
    return [
        {
            "name": column_name(block.layer, block.stream, block.L, c, invariant),
            "layer": block.layer,
            "layer_name": block.layer_name,
            "stream": block.stream,
            "L": block.L,
            "channel": c,
            "invariant": invariant,
        }
        for c in range(n_columns)
    ]


@dataclass
class FeatureBatch:
    """Features of one batch of structures.

    Attributes
    ----------
    rows : ndarray of shape (n_batch,)
        Positions of the batch's structures in the :class:`Structures` extracted.
    pooled : ndarray of shape (n_batch, d)
        Pooled features of the layers asked for, float32: every ``atom_norm`` column, then the
        ``pooled_norm`` ones (if asked for).
    atoms : ndarray of shape (n_batch_atoms, d_last)
        Per-atom invariant features of the last layer, float32, structures in ``rows`` order.
    columns, atom_columns : list of dict
        Descriptions of the columns of ``pooled`` and ``atoms`` (see :mod:`atomprobe.features.io`).
    """

    rows: np.ndarray
    pooled: np.ndarray
    atoms: np.ndarray
    columns: list[dict]
    atom_columns: list[dict]


def iter_feature_batches(
    adapter: ModelAdapter,
    structures: Structures,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    pooling: str = "mean",
    cumulant_order: int = 4,
    invariant_method: str = "norm",
    dtype: torch.dtype = torch.float32,
    layers: str = "all",
    show_progress: bool = True,
    vector_pooling: bool = False,
) -> Iterator[FeatureBatch]:
    """Pooled features of every layer and per-atom features of the last layer, one batch of
    ``batch_size`` structures at a time, in order; ``layers="last"`` pools the last layer only;
    ``vector_pooling`` adds the ``pooled_norm`` columns of every L>=1 block (:func:`pooled_norm`).
    """
    if pooling not in POOLINGS:
        raise ConfigError(f"features.pooling: {pooling!r} not in {POOLINGS}")
    if vector_pooling:
        check_vector_pooling(pooling)
    module = adapter.module.to(device=device, dtype=dtype).eval()
    columns, atom_columns = None, None
    bar = progress(total=len(structures), enabled=show_progress, desc=f"extract {adapter.family}")
    try:
        with torch.no_grad():
            for rows, batch in structures.batches(batch_size):
                batch = batch.to(device, dtype)
                blocks = adapter.atom_features(batch)
                last = max(b.layer for b in blocks)
                if layers == "last":
                    blocks = [b for b in blocks if b.layer == last]
                invariants = [invariant(b, invariant_method) for b in blocks]
                parts = [
                    pool(v, batch.batch, batch.n_structures, pooling, cumulant_order)
                    for v in invariants
                ]
                vectors = [b for b in blocks if vector_pooling and b.L >= 1]
                vector_parts = [
                    pooled_norm(b, batch.batch, batch.n_structures, pooling) for b in vectors
                ]
                last_blocks = [
                    (b, v) for b, v in zip(blocks, invariants, strict=True) if b.layer == last
                ]
                if columns is None:
                    columns = [
                        c
                        for b, p in zip(blocks, parts, strict=True)
                        for c in block_columns(b, p.shape[1])
                    ] + [
                        c
                        for b, p in zip(vectors, vector_parts, strict=True)
                        for c in block_columns(b, p.shape[1], "pooled_norm")
                    ]
                    atom_columns = [c for b, v in last_blocks for c in block_columns(b, v.shape[1])]
                yield FeatureBatch(
                    rows,
                    torch.cat(parts + vector_parts, dim=1).float().cpu().numpy(),
                    torch.cat([v for _, v in last_blocks], dim=1).float().cpu().numpy(),
                    columns,
                    atom_columns,
                )
                bar.update(batch.n_structures)
    finally:
        bar.close()
        module.to(torch.float32)


def atom_index(structures: Structures, rows: np.ndarray) -> pd.DataFrame:
    """Per-atom index (``id``, ``atom`` 0-based within its structure, ``Z``) of the structures
    at positions ``rows``, in that order: the rows of their per-atom features."""
    sizes = [len(structures.numbers[i]) for i in rows]
    return pd.DataFrame(
        {
            "id": np.repeat(np.asarray(structures.ids)[rows], sizes),
            "atom": np.concatenate([np.arange(n) for n in sizes]),
            "Z": torch.cat([structures.numbers[i] for i in rows]).numpy(),
        }
    )


def extract_features(
    adapter: ModelAdapter, structures: Structures, **settings: Any
) -> tuple[np.ndarray, list[dict], pd.DataFrame, np.ndarray, list[dict]]:
    """Every batch of :func:`iter_feature_batches` (same settings) in memory at once.

    Returns ``(H (n_structures, d) float32, columns, atom_index DataFrame[id, atom, Z],
    F (n_atoms, d_last) float32, atom_columns)``.
    """
    batches = list(iter_feature_batches(adapter, structures, **settings))
    return (
        np.concatenate([b.pooled for b in batches]),
        batches[0].columns,
        atom_index(structures, np.arange(len(structures))),
        np.concatenate([b.atoms for b in batches]),
        batches[0].atom_columns,
    )


def load_adapter(entry: Mapping[str, Any], weights: str | None) -> ModelAdapter:
    """The model of a registry entry: a ``model.pt`` built here (trained or its random
    initialisation) or the family's own loader."""
    family = get_family(entry["family"])
    if source_of(entry).built_here:
        return load_model(weights, family)
    return family.load(entry)


def probe_structures(inputs: Mapping[str, Any], dataset: str, split: str) -> list[Structures]:
    """Structures to extract: the ``split`` rows of a split dataset (input ``splits``), all rows
    otherwise; molecules and periodic structures as separate parts (each batched on its own),
    in that order, and a single part when the dataset holds one kind."""
    ids = None
    if "splits" in inputs:
        splits, _ = read_parquet(inputs["splits"])
        ids = splits.loc[splits["split"] == split, "id"].tolist()
        if not ids:
            raise DataError(f"{inputs['splits']}: no '{split}' rows; set data.{dataset}.splits")
    frame = load_structures(inputs["structures"], ids)
    periodic = frame["pbc"].to_numpy(bool)
    return [
        Structures.from_frame(frame.loc[rows].reset_index(drop=True))
        for rows in (~periodic, periodic)
        if rows.any()
    ]


def extract_parts(
    adapter: ModelAdapter, parts: list[Structures], atoms: AtomFeatureWriter | None, **settings: Any
) -> tuple[list[str], np.ndarray, list[dict]]:
    """Pooled features of each part, stacked, rows in part order: ``(ids, H (n_structures, d)
    float32, columns)``; each batch's per-atom features go to ``atoms`` as they come (never
    all in memory), or nowhere when it is None."""
    pooled, columns = [], []
    for part in parts:
        for batch in iter_feature_batches(adapter, part, **settings):
            pooled.append(batch.pooled)
            columns = batch.columns
            if atoms is not None:
                index = atom_index(part, batch.rows)
                atoms.write(index["id"], index["atom"], index["Z"], batch.atoms, batch.atom_columns)
    return [sid for part in parts for sid in part.ids], np.concatenate(pooled), columns


def _settings(params: Mapping[str, Any]) -> dict[str, Any]:
    dtype = params.get("dtype", "float32")
    if dtype not in DTYPES:
        raise ConfigError(f"features.dtype: {dtype!r} not in {list(DTYPES)}")
    return {
        "batch_size": params.get("batch_size", 64),
        "pooling": params.get("pooling", "mean"),
        "cumulant_order": params.get("cumulant_order", 4),
        "invariant_method": params.get("invariant", "norm"),
        "dtype": DTYPES[dtype],
        "show_progress": params.get("progress", True),
        "vector_pooling": params.get("pooled_norm", False),
    }


def _metadata(params: Mapping[str, Any], adapter: ModelAdapter | None, note: str = "") -> dict:
    entry = params["entry"]
    meta = {
        "model": params["name"],
        "family": entry["family"],
        "dataset": params["dataset"],
        "pooling": params.get("pooling", "mean"),
        "invariant": params.get("invariant", "norm"),
        "pooled_norm": params.get("pooled_norm", False),
        "note": note,
    }
    if params.get("pooling") == "cumulants":
        meta["cumulant_order"] = params.get("cumulant_order", 4)
    if adapter is not None:
        meta["n_params"] = sum(p.numel() for p in adapter.module.parameters())
    return meta
