"""GFRE / LFRE: atomprobe's implementation vs scikit-matter's reference, in the same run.

    .venv/bin/python benchmarks/bench_lfre.py                       # 5,000 train x 256 features
    .venv/bin/python benchmarks/bench_lfre.py --n-test 200 --targets 4

Synthetic features (a nonlinear map of a Gaussian source plus noise), 1 BLAS thread. For each
case it prints the wall time of both implementations, the ratio, and the largest absolute
difference of the pointwise errors. ``--targets T`` reconstructs T different target spaces from
one source, as the pipeline does for every model pair: atomprobe reuses the SVDs of the source
for every target, skmatter recomputes them per target. Both run skmatter's default relative
alphas (its estimator refuses the authors' grid, which ends at 1).

Measured 2026-11-25 on the shared 2-core dev machine (load ~10, so absolute times are inflated;
the ratios come from the same run): 5,000 x 256, 1,000 test points, 1 target: GFRE 2.5 s vs
1.25 s (2.0x), LFRE 273.8 s vs 79.7 s (3.4x); 100 test points, 10 targets: GFRE 4.9x, LFRE
251.4 s vs 25.3 s (9.9x); max |diff| 3.3e-16.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time

import numpy as np
from skmatter.metrics import (
    pointwise_global_reconstruction_error,
    pointwise_local_reconstruction_error,
)

from atomprobe.analyses.reconstruction import (
    pointwise_gfre,
    pointwise_lfre,
    train_test_indices,
)

SKMATTER_ALPHAS = np.geomspace(1e-9, 0.9, 20)  # skmatter's default grid


def synthetic(n: int, d: int, n_targets: int, seed: int = 0) -> tuple[np.ndarray, list]:
    """Source X (n, d) and targets tanh(X A_t) + noise (n, d)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d)
    targets = [
        np.tanh(X @ rng.normal(size=(d, d)) / np.sqrt(d)) + 0.1 * rng.normal(size=(n, d))
        for _ in range(n_targets)
    ]
    return X, targets


def timed(func):
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--targets", type=int, default=1)
    args = parser.parse_args()

    n = args.n_train + args.n_test
    X, targets = synthetic(n, args.features, args.targets)
    train_idx, test_idx = train_test_indices(n, args.n_test, seed=0)
    k = args.features

    print(
        f"n_train={args.n_train} n_test={args.n_test} d={args.features} k={k} "
        f"targets={args.targets} (1 thread)"
    )
    header = ("metric", "skmatter s", "atomprobe s", "speed-up", "max |diff|")
    print("{:<6} {:>11} {:>12} {:>9} {:>11}".format(*header))
    cases = {
        "GFRE": (
            lambda: np.stack(
                [
                    pointwise_global_reconstruction_error(
                        X, Y, train_idx=train_idx, test_idx=test_idx
                    )
                    for Y in targets
                ]
            ),
            lambda: pointwise_gfre(X, targets, train_idx, test_idx, SKMATTER_ALPHAS),
        ),
        "LFRE": (
            lambda: np.stack(
                [
                    pointwise_local_reconstruction_error(
                        X, Y, k, train_idx=train_idx, test_idx=test_idx
                    )
                    for Y in targets
                ]
            ),
            lambda: pointwise_lfre(X, targets, train_idx, test_idx, alphas=SKMATTER_ALPHAS),
        ),
    }
    for name, (reference, ours) in cases.items():
        expected, t_reference = timed(reference)
        got, t_ours = timed(ours)
        diff = np.abs(expected - got).max()
        print(
            f"{name:<6} {t_reference:>11.2f} {t_ours:>12.2f} {t_reference / t_ours:>8.1f}x "
            f"{diff:>11.1e}"
        )


if __name__ == "__main__":
    main()
