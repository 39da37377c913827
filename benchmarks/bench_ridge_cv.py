"""Benchmark: the shared-SVD ridge path against scikit-learn's obvious per-(alpha, target) loop.

Workload (issue #4): N structures × d features, t targets, 5 shuffled folds, the per-fold
composition projection (geom_v2), ridge R² at every alpha of the grid plus the R² at the alpha
chosen on the training rows by leave-one-out. Baselines, measured in the same run:

* grid:      cross_validate(make_pipeline(CompositionProjector, StandardScaler, Ridge(alpha)))
             looped over alphas and targets;
* selection: cross_validate(make_pipeline(CompositionProjector, StandardScaler,
             RidgeCV(alphas))) looped over targets (scikit-learn's own LOO/GCV).
The fast path produces both from one SVD per fold. Prints a table; asserts equal R² to 1e-8.

    .venv/bin/python benchmarks/bench_ridge_cv.py                 # N=20000, d=512, t=4
    .venv/bin/python benchmarks/bench_ridge_cv.py --full-scale    # + one fold at 130k × 1000
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from atomprobe.cpd import CompositionProjector, ProbeSettings, SharedRidgeCV, join_composition
from atomprobe.cpd.scores import make_splits


def synthetic(n: int, d: int, n_targets: int, seed: int = 0):
    """Composition counts C (n, 5), features H (n, d) with a decaying spectrum, targets Y."""
    rng = np.random.default_rng(seed)
    C = rng.poisson([9.0, 7.0, 1.0, 1.5, 0.1], size=(n, 5)).astype(np.float64)
    latent = rng.normal(size=(n, 64))
    H = (
        C @ rng.normal(size=(5, d))
        + (latent * np.geomspace(3, 0.03, 64)) @ rng.normal(size=(64, d))
        + 0.05 * rng.normal(size=(n, d))
    )
    Y = latent[:, :n_targets] + C[:, :n_targets] + 0.3 * rng.normal(size=(n, n_targets))
    return H, C, Y


def fast_path(XC, Y, k, splits, alphas):
    """Per fold: projection, one SVD; test R² for every (alpha, target) and at chosen alphas."""
    grid, chosen = [], []
    for _, _, train, test in splits:
        projector = CompositionProjector(k).fit(XC[train])
        model = SharedRidgeCV(alphas).fit(projector.transform(XC[train]), Y[train])
        X_test = projector.transform(XC[test])
        path = model.predict_path(X_test)
        grid.append([r2_score(Y[test], p, multioutput="raw_values") for p in path])
        chosen.append(r2_score(Y[test], model.predict(X_test), multioutput="raw_values"))
    return np.array(grid), np.array(chosen)  # (folds, alphas, targets), (folds, targets)


def baseline(XC, Y, k, splits, alphas):
    cv = [(train, test) for _, _, train, test in splits]
    grid = np.empty((len(cv), len(alphas), Y.shape[1]))
    for a, alpha in enumerate(alphas):
        for j in range(Y.shape[1]):
            pipe = make_pipeline(CompositionProjector(k), StandardScaler(), Ridge(alpha=alpha))
            grid[:, a, j] = cross_validate(pipe, XC, Y[:, j], cv=cv, scoring="r2")["test_score"]
    grid_done = time.perf_counter(), time.process_time()
    chosen = np.empty((len(cv), Y.shape[1]))
    for j in range(Y.shape[1]):
        pipe = make_pipeline(CompositionProjector(k), StandardScaler(), RidgeCV(alphas=alphas))
        chosen[:, j] = cross_validate(pipe, XC, Y[:, j], cv=cv, scoring="r2")["test_score"]
    return grid, chosen, grid_done


def full_scale_fold(n: int, d: int, n_targets: int, alphas) -> tuple[float, float, float]:
    """Wall time, CPU time (s) and traced peak memory (GiB) of one fold's projection, fit and
    predict at n rows × d columns (80% training rows)."""
    H, C, Y = synthetic(n, d, n_targets, seed=1)
    XC = join_composition(C, H)
    del H
    train = np.arange(int(0.8 * n))
    test = np.arange(int(0.8 * n), n)
    tracemalloc.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    projector = CompositionProjector(C.shape[1]).fit(XC[train])
    model = SharedRidgeCV(alphas).fit(projector.transform(XC[train]), Y[train])
    model.predict(projector.transform(XC[test]))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()
    return elapsed, cpu, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--full-scale", action="store_true", help="also time 130k × 1000")
    args = parser.parse_args()
    settings = ProbeSettings()
    alphas = settings.alphas
    H, C, Y = synthetic(args.n, args.d, args.targets)
    XC = join_composition(C, H)
    splits = make_splits(args.n, settings)

    start, cpu_start = time.perf_counter(), time.process_time()
    fast_grid, fast_chosen = fast_path(XC, Y, C.shape[1], splits, alphas)
    fast_time, fast_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(
        f"N={args.n} d={args.d} targets={args.targets} folds={len(splits)} "
        f"alphas={len(alphas)}  (geom_v2: per-fold projection + standardise + ridge)",
        flush=True,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    base_grid, base_chosen, (grid_wall, grid_cpu) = baseline(XC, Y, C.shape[1], splits, alphas)
    base_wall, base_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    grid_wall, grid_cpu = grid_wall - start, grid_cpu - cpu_start

    grid_diff = np.abs(fast_grid - base_grid).max()
    chosen_diff = np.abs(fast_chosen - base_chosen).max()
    rows = [
        ("sklearn Ridge loop over alphas × targets", grid_wall, grid_cpu),
        ("sklearn grid loop + RidgeCV per target", base_wall, base_cpu),
        ("atomprobe SharedRidgeCV (grid + chosen)", fast_time, fast_cpu),
    ]
    print(f"{'method':<44}{'wall (s)':>10}{'CPU (s)':>10}{'speed-up (CPU)':>16}")
    for name, wall, cpu in rows:
        print(f"{name:<44}{wall:>10.2f}{cpu:>10.2f}{cpu / fast_cpu:>16.1f}")
    print(f"max |ΔR²| grid {grid_diff:.2e}, chosen alpha {chosen_diff:.2e}")
    assert grid_diff < 1e-8 and chosen_diff < 1e-8, "fast path disagrees with scikit-learn"

    if args.full_scale:
        n, d = 130_831, 1000
        elapsed, cpu, peak = full_scale_fold(n, d, args.targets, alphas)
        per_fit = n * 0.8 * d * 8 / 2**30
        print(
            f"full scale, one fold of {n} × {d} (train 80%): wall {elapsed:.1f} s, CPU "
            f"{cpu:.1f} s, traced peak {peak:.1f} GiB ({peak / per_fit:.1f} × the training matrix)"
        )
        print(f"  ⇒ per (model, layer), 5 folds × 4 representations: ≈ {20 * cpu / 60:.0f} CPU min")


if __name__ == "__main__":
    main()
