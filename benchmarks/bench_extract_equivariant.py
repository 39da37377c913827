r"""Forward throughput of the MACE and ANI-2x AEV families and of the six shipped universal models
(SevenNet-0 11Jul2024 and 22May2024, SevenNet-l3i5; CHGNet 0.3.0, 0.2.0, r2scan): the model's
bare forward pass (``predict`` under ``no_grad``) against feature extraction as the pipeline runs
it (:func:`atomprobe.features.extract.extract_features`: hooks on every layer, invariants, mean
pooling, per-atom last layer, copies to CPU), on the same real structures.

    .venv/bin/python benchmarks/bench_extract_equivariant.py                 # QM9, 256 molecules
    .venv/bin/python benchmarks/bench_extract_equivariant.py --dataset mp --n 64 --threads 2
    .venv/bin/python benchmarks/bench_extract_equivariant.py --only sevennet chgnet --n 200 \
        --splits results/data/qm9_splits.parquet     # the first 200 QM9 probe molecules

Bare and extraction runs of every model are interleaved (bare, extract, next model, ...) and
repeated; the script prints the median rate of each and the median of the per-repeat ratios
extraction / bare (the issue asks for >= 0.8), so that load changing during a run on a shared
machine hits both sides alike. MACE is timed untrained (throughput does not depend on the
weights) at the default size of the registry and at MACE-MP-0 "medium" size (128x0e+128x1o,
max_ell 3, correlation 3, r_max 6 Å), which stands in for the MACE-MP-0 file we cannot download
here. ANI-2x has no readout: its "bare forward" is the AEV computation itself.

Measured 2026-11-25 on the shared 2-core dev machine under load 10-14 (absolute rates are
several times too low; ratios from the same run), QM9, 128 molecules, batch 64, 2 threads, best
of 2, hooks + pooling only: MACE 32x0e+32x1o 13.8 vs 14.1 /s (1.02); MACE-MP-0-medium size 2.9
vs 3.1 (1.07); ANI-2x AEV 125.9 vs 130.5 (1.04); SevenNet-0 3.8 vs 3.4 (0.91); CHGNet 4.0 vs 3.1
(0.78; rerun, 1 thread: 19.6 vs 16.3, 0.83).
Measured 2026-11-29, same machine under load 7-10, the first 200 QM9 probe molecules of the
default splits, batch 64, 1 thread, median of 4 interleaved runs, extract_features (bare vs
extract /s, median ratio): SevenNet-0 11Jul2024 9.3 vs 10.0 (0.98); 22May2024 23.8 vs 24.0
(0.99); SevenNet-l3i5 9.1 vs 9.1 (0.97); CHGNet 0.3.0 34.8 vs 34.9 (1.02); 0.2.0 32.6 vs 33.6
(1.07); r2scan 32.4 vs 33.6 (0.99).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import pandas as pd
import torch

from atomprobe.features.extract import extract_features
from atomprobe.models.base import ModelAdapter, TrainingStats
from atomprobe.models.families import family_info, get_family
from atomprobe.models.structures import Structures

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


def probe_frame(path: str, splits: str | None, n: int) -> pd.DataFrame:
    """The first ``n`` structures of ``path``; with ``splits``, of its ``probe`` rows only."""
    frame = pd.read_parquet(path)
    if splits is not None:
        table = pd.read_parquet(splits)
        frame = frame.loc[frame["id"].isin(table.loc[table["split"] == "probe", "id"])]
    return frame.iloc[:n].reset_index(drop=True)


def loaders(dataset: str, elements: tuple[int, ...]) -> dict[str, Callable[[], ModelAdapter]]:
    """The models timed, by label, each loaded only when timed (periodic-capable ones only for
    Materials Project)."""
    stats = TrainingStats("gap", "eV", 0.0, 1.0, elements, 12.0)

    def mace(hparams: dict) -> Callable[[], ModelAdapter]:
        def build() -> ModelAdapter:
            torch.manual_seed(0)
            return get_family("mace").build(hparams, stats)

        return build

    def builtin(family: str, weights: str | None = None) -> Callable[[], ModelAdapter]:
        entry = {"source": "builtin"} | ({"weights": weights} if weights else {})
        return lambda: get_family(family).load(entry)

    models = {
        "mace (default, untrained)": mace({}),
        "mace (MP-0 medium size)": mace(MACE_MP0_MEDIUM),
    }
    if dataset == "qm9":
        models["ani2x_aev"] = builtin("ani2x_aev")
    for weights in family_info("sevennet").builtin_weights:
        models[f"sevennet {weights}"] = builtin("sevennet", weights)
    for weights in family_info("chgnet").builtin_weights:
        models[f"chgnet {weights}"] = builtin("chgnet", weights)
    return models


def interleaved(
    works: dict[str, Callable[[], object]], n_structures: int, repeats: int
) -> dict[str, list[float]]:
    """Structures per second of each work, ``repeats`` times, the works taking turns (after one
    warm-up run of each)."""
    for work in works.values():
        work()
    rates: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeats):
        for name, work in works.items():
            start = time.perf_counter()
            work()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            rates[name].append(n_structures / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["qm9", "mp"], default="qm9")
    parser.add_argument("--structures", default=None, help="default results/data/<dataset>.parquet")
    parser.add_argument("--splits", default=None, help="splits table: time its probe rows only")
    parser.add_argument("--n", type=int, default=256, help="structures timed")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="*", default=[], help="labels starting so (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = args.structures or f"results/data/{args.dataset}.parquet"
    frame = probe_frame(path, args.splits, args.n)
    data = Structures.from_frame(frame)
    print(
        f"{args.dataset}: {len(data)} structures from {path}, batch {args.batch_size}, "
        f"{args.threads} threads, device {args.device}, median of {args.repeats} interleaved runs"
    )
    print(f"{'model':32s} {'bare/s':>9s} {'extract/s':>10s} {'ratio':>6s}")
    elements = tuple(sorted({int(z) for numbers in frame["numbers"] for z in numbers}))
    for label, load in loaders(args.dataset, elements).items():
        if args.only and not any(label.startswith(prefix) for prefix in args.only):
            continue
        adapter = load()
        adapter.module.to(args.device).eval()

        def bare(adapter: ModelAdapter = adapter, label: str = label) -> None:
            with torch.no_grad():
                for _, batch in data.batches(args.batch_size):
                    batch = batch.to(args.device)
                    if label == "ani2x_aev":
                        adapter.atom_features(batch)
                    else:
                        adapter.predict(batch).cpu()

        def extract(adapter: ModelAdapter = adapter) -> None:
            extract_features(adapter, data, args.batch_size, args.device, show_progress=False)

        rates = interleaved({"bare": bare, "extract": extract}, len(data), args.repeats)
        ratios = [e / b for e, b in zip(rates["extract"], rates["bare"], strict=True)]
        print(
            f"{label:32s} {statistics.median(rates['bare']):9.1f} "
            f"{statistics.median(rates['extract']):10.1f} {statistics.median(ratios):6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
