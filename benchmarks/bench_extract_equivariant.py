"""Forward throughput of the MACE, ANI-2x AEV, SevenNet-0 and CHGNet families: the model's bare
forward pass (``predict`` under ``no_grad``) against feature extraction (``atom_features`` with
hooks, then the mean over each structure's atoms), in the same run, on real structures.

    .venv/bin/python benchmarks/bench_extract_equivariant.py                 # QM9, 256 molecules
    .venv/bin/python benchmarks/bench_extract_equivariant.py --dataset mp --n 64 --threads 2

MACE is timed untrained (throughput does not depend on the weights) at the default size of the
registry and at MACE-MP-0 "medium" size (128x0e+128x1o, max_ell 3, correlation 3, r_max 6 Å),
which stands in for the MACE-MP-0 file we cannot download here. ANI-2x has no readout: its
"bare forward" is the AEV computation itself. Prints molecules (structures) per second and the
ratio extraction / bare (the issue asks for >= 0.8). Run on an idle machine for absolute
numbers; the ratios come from the same run.

Measured 2026-11-25 on the shared 2-core dev machine under load 10-14 (absolute rates are
several times too low; ratios from the same run), QM9, 128 molecules, batch 64, 2 threads:
MACE 32x0e+32x1o 13.8 vs 14.1 /s (1.02); MACE-MP-0-medium size 2.9 vs 3.1 (1.07); ANI-2x AEV
125.9 vs 130.5 (1.04); SevenNet-0 3.8 vs 3.4 (0.91); CHGNet 4.0 vs 3.1 (0.78; rerun, 1 thread:
19.6 vs 16.3, 0.83 — its extraction runs the very same forward pass plus hooks, so the gap is
load noise on a step dominated by CHGNet's per-structure graph conversion).
Rerun at load ~4.5, default registry sizes (MACE 16x0e+16x1o), 3 repeats: MACE 252.1 vs 216.6
(0.86); MACE-MP-0-medium size 12.5 vs 12.1 (0.97); ANI-2x 1934.6 vs 1991.9 (1.03); SevenNet-0
26.0 vs 35.4 (1.36); CHGNet 23.2 vs 33.3 (1.43) — ratios above 1 are the load falling during
the run, not a faster extraction.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from atomprobe.models.base import AtomsBatch, ModelAdapter, TrainingStats
from atomprobe.models.families import get_family

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

MACE_MP0_MEDIUM = {
    "hidden_irreps": "128x0e+128x1o",
    "max_ell": 3,
    "correlation": 3,
    "r_max": 6.0,
    "mlp_irreps": "16x0e",
    "radial_mlp": [64, 64, 64],
}


def batches_of(frame: pd.DataFrame, batch_size: int) -> list[AtomsBatch]:
    """The structure table as AtomsBatches of ``batch_size`` (cells kept for crystals)."""
    out = []
    for start in range(0, len(frame), batch_size):
        rows = frame.iloc[start : start + batch_size]
        numbers = [np.asarray(z, dtype=np.int64) for z in rows["numbers"]]
        pbc = bool(rows["pbc"].iloc[0])
        out.append(
            AtomsBatch(
                numbers=torch.from_numpy(np.concatenate(numbers)),
                positions=torch.tensor(
                    np.concatenate([np.stack(p) for p in rows["positions"]]), dtype=torch.float32
                ),
                batch=torch.repeat_interleave(
                    torch.arange(len(rows)), torch.tensor([len(z) for z in numbers])
                ),
                n_structures=len(rows),
                ids=list(rows["id"]),
                cell=torch.tensor(
                    np.stack([np.stack(c) for c in rows["cell"]]), dtype=torch.float32
                )
                if pbc
                else None,
                pbc=pbc,
            )
        )
    return out


def pooled_features(adapter: ModelAdapter, batch: AtomsBatch) -> list[torch.Tensor]:
    """What extraction computes: every block, mean over each structure's atoms."""
    counts = torch.bincount(batch.batch, minlength=batch.n_structures).to(torch.float32)
    out = []
    for block in adapter.atom_features(batch):
        values = block.values if block.L == 0 else block.values.norm(dim=-1)
        total = torch.zeros(batch.n_structures, values.shape[1]).index_add_(0, batch.batch, values)
        out.append(total / counts[:, None])
    return out


def rate(work: Callable[[AtomsBatch], object], batches: list[AtomsBatch], repeats: int) -> float:
    """Structures per second of ``work`` over ``batches`` (best of ``repeats``, after warm-up)."""
    work(batches[0])
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            work(batch)
        best = min(best, time.perf_counter() - start)
    return sum(b.n_structures for b in batches) / best


def adapters(dataset: str, elements: tuple[int, ...]) -> dict[str, ModelAdapter]:
    """The models timed, by label (periodic-capable ones only for Materials Project)."""
    stats = TrainingStats("gap", "eV", 0.0, 1.0, elements, 12.0)
    torch.manual_seed(0)
    models: dict[str, ModelAdapter] = {}
    models["mace (default, untrained)"] = get_family("mace").build({}, stats)
    models["mace (MP-0 medium size)"] = get_family("mace").build(MACE_MP0_MEDIUM, stats)
    if dataset == "qm9":
        models["ani2x_aev"] = get_family("ani2x_aev").load({"source": "builtin"})
    models["sevennet-0"] = get_family("sevennet").load({"source": "builtin"})
    models["chgnet 0.3.0"] = get_family("chgnet").load({"source": "builtin"})
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["qm9", "mp"], default="qm9")
    parser.add_argument("--n", type=int, default=256, help="structures timed")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="time only models whose label starts so")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frame = pd.read_parquet(f"results/data/{args.dataset}.parquet").iloc[: args.n]
    batches = batches_of(frame, args.batch_size)
    print(
        f"{args.dataset}: {len(frame)} structures, batch {args.batch_size}, {args.threads} threads"
    )
    print(f"{'model':28s} {'bare/s':>9s} {'extract/s':>10s} {'ratio':>6s}")
    elements = tuple(sorted({int(z) for numbers in frame["numbers"] for z in numbers}))
    for label, adapter in adapters(args.dataset, elements).items():
        if not label.startswith(args.only):
            continue
        adapter.module.eval()
        if label == "ani2x_aev":
            bare = rate(adapter.atom_features, batches, args.repeats)
        else:
            bare = rate(lambda b, a=adapter: _no_grad(a.predict, b), batches, args.repeats)
        extract = rate(lambda b, a=adapter: pooled_features(a, b), batches, args.repeats)
        print(f"{label:28s} {bare:9.1f} {extract:10.1f} {extract / bare:6.2f}", flush=True)


def _no_grad(function: Callable[[AtomsBatch], torch.Tensor], batch: AtomsBatch) -> torch.Tensor:
    with torch.no_grad():
        return function(batch)


if __name__ == "__main__":
    main()
