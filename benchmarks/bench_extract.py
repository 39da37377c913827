"""Extraction throughput (molecules/s) per model vs the model's bare forward pass, same run.

    .venv/bin/python benchmarks/bench_extract.py [--models schnet_gap painn_gap ...]
        [--structures results/data/qm9.parquet] [--n 512] [--device auto]

Models are built from the registry's hparams with random weights (throughput does not depend
on training). "forward" is ``adapter.predict`` under ``torch.no_grad``; "extract" is
``extract_features`` (hooks on every layer, invariants, mean pooling, per-atom last layer,
copies to CPU). Goal: extract / forward >= 0.8.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from atomprobe.config import load_yaml
from atomprobe.data.datasets import configured_datasets
from atomprobe.data.structures import load_structures
from atomprobe.device import resolve_device
from atomprobe.features.extract import extract_features
from atomprobe.models.families import get_family
from atomprobe.models.registry import load_registry
from atomprobe.models.structures import Structures
from atomprobe.models.training import fit_stats

SAMPLE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "models" / "qm9_sample.parquet"
)


def best_rate(run, n_structures: int, repeats: int) -> float:
    """Highest molecules/s over ``repeats`` timed runs (after one warm-up run)."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return n_structures / min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default="config/models.yaml")
    parser.add_argument("--models", nargs="*", default=None, help="default: trainable entries")
    parser.add_argument(
        "--structures",
        default=None,
        help="default: results/data/qm9.parquet, else the 120-molecule test sample",
    )
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    path = args.structures or (
        "results/data/qm9.parquet" if Path("results/data/qm9.parquet").exists() else SAMPLE
    )
    frame = load_structures(path).head(args.n)
    data = Structures.from_frame(frame, "gap")
    datasets = configured_datasets(load_yaml("config/config.yaml"))
    registry = load_registry(args.registry, "all", datasets)
    names = args.models or [n for n, e in registry.items() if e["source"] == "train"]
    print(
        f"{len(data)} QM9 molecules from {path}, batch {args.batch_size}, device {device}, "
        f"{args.threads} thread(s)"
    )
    print(f"{'model':<16}{'forward mol/s':>15}{'extract mol/s':>15}{'ratio':>8}")
    for name in names:
        entry = registry[name]
        family = get_family(entry["family"])
        torch.manual_seed(0)
        stats = fit_stats(data, "gap", "eV", False, family.cutoff(entry["hparams"]))
        adapter = family.build(entry["hparams"], stats)
        adapter.module.to(device).eval()

        def forward(adapter=adapter):
            with torch.no_grad():
                for _, batch in data.batches(args.batch_size):
                    adapter.predict(batch.to(device)).cpu()

        def extract(adapter=adapter):
            extract_features(adapter, data, args.batch_size, device, show_progress=False)

        rate_forward = best_rate(forward, len(data), args.repeats)
        rate_extract = best_rate(extract, len(data), args.repeats)
        print(
            f"{name:<16}{rate_forward:>15.1f}{rate_extract:>15.1f}"
            f"{rate_extract / rate_forward:>8.2f}"
        )


if __name__ == "__main__":
    main()
