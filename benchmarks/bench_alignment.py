"""Cost of the alignment measures against the number of structures compared.

Each measure of the similarity and intrinsic-dimension analyses runs on one pair of synthetic
feature spaces (Gaussian, 64 columns, the second a noisy linear map of the first) at growing
numbers of rows n, as the analyses call them: per model once (distance ranks, CKNNA's kernel
neighbourhood, TwoNN with its bootstrap) and per pair (the imbalance from two rank tables,
CKNNA from two neighbourhoods, mutual kNN, linear CKA). Median of ``--repeats`` runs per size;
the growth exponent b of time ∝ n^b is the least-squares slope of log time against log n. The
memory a measure holds per model is stated from its arrays (n × n ranks in int32, kernel in
float64, neighbour mask in bool), the number that limits n.

Run (idle machine, about a minute)::

    .venv/bin/python benchmarks/bench_alignment.py --sizes 500 1000 2000 4000 \\
        --out benchmarks/results/alignment.csv
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from atomprobe.analyses.intrinsic_dimension import two_nn_dimension
from atomprobe.analyses.similarity import (
    KernelNeighbours,
    cknna_of,
    distance_ranks,
    information_imbalance,
    linear_cka,
    mutual_knn,
)

N_FEATURES = 64
K = 10


def _measures(X: np.ndarray, Y: np.ndarray) -> dict[str, Callable[[], object]]:
    """Each measure as the analyses call it, on rows X and Y (per model, or per pair)."""
    ranks_x, ranks_y = distance_ranks(X), distance_ranks(Y)
    hood_x, hood_y = KernelNeighbours.of(X, K), KernelNeighbours.of(Y, K)
    return {
        "distance ranks (per model)": lambda: distance_ranks(X),
        "information imbalance (per ordered pair)": lambda: information_imbalance(ranks_x, ranks_y),
        "CKNNA neighbourhood (per model)": lambda: KernelNeighbours.of(X, K),
        "CKNNA (per pair)": lambda: cknna_of(hood_x, hood_y),
        "mutual kNN (per pair)": lambda: mutual_knn(X, Y, K),
        "linear CKA (per pair)": lambda: linear_cka(X, Y),
        "TwoNN + 20 bootstrap draws (per model and layer)": lambda: two_nn_dimension(X, 20),
    }


def _memory_mb(n: int) -> dict[str, float]:
    """MB a measure keeps per model at n rows (its n × n arrays)."""
    return {
        "distance ranks (per model)": n * n * 4 / 1e6,
        "CKNNA neighbourhood (per model)": n * n * (8 + 1) / 1e6,
    }


def _median_seconds(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="CSV of measure × size")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    with threadpool_limits(1):  # one core, as each analysis job runs
        for n in args.sizes:
            X = rng.standard_normal((n, N_FEATURES))
            Y = X @ rng.standard_normal((N_FEATURES, N_FEATURES)) + 0.5 * rng.standard_normal(
                (n, N_FEATURES)
            )
            memory = _memory_mb(n)
            for name, call in _measures(X, Y).items():
                seconds = _median_seconds(call, args.repeats)
                rows.append({"measure": name, "n": n, "seconds": seconds, "mb": memory.get(name)})
                print(f"{name:50s} n={n:6d} {seconds:8.3f} s", flush=True)
    table = pd.DataFrame(rows)
    exponents = {
        name: float(np.polyfit(np.log(part["n"]), np.log(part["seconds"]), 1)[0])
        for name, part in table.groupby("measure", sort=False)
    }
    table["growth_exponent"] = table["measure"].map(exponents)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False, float_format="%.4g")
    wide = table.pivot(index="measure", columns="n", values="seconds").loc[list(exponents)]
    wide["exponent b"] = pd.Series(exponents)
    print(wide.to_markdown(floatfmt=".3g"))


if __name__ == "__main__":
    main()
