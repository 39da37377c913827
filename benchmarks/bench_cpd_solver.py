"""Benchmark: CPD ridge solver (projection + SharedRidgeCV) now against a baseline commit.

Workload (issue #16): the geom_v2 ridge of ``ridge_scores`` — per fold the composition
projection fitted on the training rows, then ``SharedRidgeCV`` (scale, one eigendecomposition,
leave-one-out alpha per target over the grid) and the test predictions — on the synthetic
features of ``bench_ridge_cv.py``. The baseline is ``projection.py`` and ``ridge.py`` of
``--baseline`` (default: the commit before issue #16) loaded from git, so both run in the same
process, interleaved, ``--repeats`` times; medians are reported. The reference cost is the Gram
matrix ZᵀZ of each fold's training matrix (one BLAS syrk). BLAS runs on ``--threads`` threads
(1 = what a pipeline rule with ``threads: 1`` gets). Asserts that both give the same chosen
alphas and the same test predictions to 1e-9 (relative to the largest prediction).

    .venv/bin/python benchmarks/bench_cpd_solver.py                       # N=8000, d=256
    .venv/bin/python benchmarks/bench_cpd_solver.py --n 32000 --d 1000 --repeats 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import tracemalloc
import types
from pathlib import Path

import numpy as np
import scipy.linalg  # noqa: F401  (loads scipy's BLAS before the thread limit below)
from threadpoolctl import threadpool_limits

from atomprobe.cpd import CompositionProjector, ProbeSettings, SharedRidgeCV, join_composition
from atomprobe.cpd.scores import make_splits

sys.path.insert(0, str(Path(__file__).parent))
from bench_ridge_cv import synthetic

#: The commit before issue #16: projection by lstsq, one matrix-vector product per alpha.
BASELINE = "f0aa2b6"


def baseline_module(ref: str, path: str, name: str) -> types.ModuleType:
    """Module ``name`` executed from ``path`` as it was at git revision ``ref``."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "-C", str(root), "show", f"{ref}:{path}"], check=True, capture_output=True
    ).stdout.decode()
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"{ref}:{path}", "exec"), module.__dict__)
    return module


def solver(projector_class, ridge_class, XC, Y, k, splits, alphas, fit_transform: bool):
    """Per fold: projection fitted on the training rows, ridge fit, test predictions.

    ``fit_transform``: project the training rows with ``fit_transform`` (current code) rather
    than ``fit`` then ``transform`` (the baseline's ``fold_matrices``). Returns the CPU seconds
    of the projection and of the ridge, the chosen alphas (folds, targets) and the test
    predictions (all folds' test rows, targets).
    """
    projection_cpu = ridge_cpu = 0.0
    chosen, predictions = [], []
    for _, _, train, test in splits:
        start = time.process_time()
        projector = projector_class(k)
        if fit_transform:
            X_train = projector.fit_transform(XC[train])
        else:
            X_train = projector.fit(XC[train]).transform(XC[train])
        X_test = projector.transform(XC[test])
        middle = time.process_time()
        model = ridge_class(alphas).fit(X_train, Y[train])
        predictions.append(model.predict(X_test))
        ridge_cpu += time.process_time() - middle
        projection_cpu += middle - start
        chosen.append(model.alpha_)
    return projection_cpu, ridge_cpu, np.array(chosen), np.concatenate(predictions)


def gram_cpu(XC, k, splits) -> float:
    """CPU seconds of ZᵀZ for every fold's (projected, standardised) training matrix."""
    total = 0.0
    for _, _, train, _ in splits:
        Z = CompositionProjector(k).fit_transform(XC[train])
        Z = (Z - Z.mean(axis=0)) / np.where(Z.std(axis=0) > 0, Z.std(axis=0), 1.0)
        start = time.process_time()
        Z.T @ Z
        total += time.process_time() - start
    return total


def peak_memory(run) -> float:
    """Traced peak memory (MiB) of ``run()``."""
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8_000)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the baseline")
    args = parser.parse_args()
    old_projection = baseline_module(args.baseline, "src/atomprobe/cpd/projection.py", "_old_p")
    old_ridge = baseline_module(args.baseline, "src/atomprobe/cpd/ridge.py", "_old_ridge")
    alphas = ProbeSettings().alphas
    H, C, Y = synthetic(args.n, args.d, args.targets)
    XC, k = join_composition(C, H), C.shape[1]
    del H
    splits = make_splits(args.n, ProbeSettings())
    old_args = (old_projection.CompositionProjector, old_ridge.SharedRidgeCV)
    new_args = (CompositionProjector, SharedRidgeCV)
    times: dict[str, list[float]] = {}
    with threadpool_limits(args.threads):
        for _ in range(args.repeats):  # interleaved: the machine's load hits both alike
            old = solver(*old_args, XC, Y, k, splits, alphas, False)
            new = solver(*new_args, XC, Y, k, splits, alphas, True)
            gram = gram_cpu(XC, k, splits)
            for label, (projection, ridge, *_) in (("old", old), ("new", new)):
                times.setdefault(f"{label} projection", []).append(projection)
                times.setdefault(f"{label} ridge", []).append(ridge)
                times.setdefault(f"{label} total", []).append(projection + ridge)
            times.setdefault("Gram ZᵀZ", []).append(gram)
        one_fold = splits[:1]
        old_peak = peak_memory(lambda: solver(*old_args, XC, Y, k, one_fold, alphas, False))
        new_peak = peak_memory(lambda: solver(*new_args, XC, Y, k, one_fold, alphas, True))
    median = {key: float(np.median(value)) for key, value in times.items()}
    print(
        f"N={args.n} d={args.d} targets={args.targets} folds={len(splits)} alphas={len(alphas)} "
        f"BLAS threads={args.threads}, {args.repeats} interleaved repeats (medians, CPU s)"
    )
    print(f"{'what':<20}{'CPU (s)':>10}{'× Gram':>9}")
    for key, value in median.items():
        print(f"{key:<20}{value:>10.3f}{value / median['Gram ZᵀZ']:>9.1f}")
    print(
        f"speed-up total {median['old total'] / median['new total']:.1f}×, ridge "
        f"{median['old ridge'] / median['new ridge']:.1f}×, projection "
        f"{median['old projection'] / median['new projection']:.1f}×"
    )
    print(f"traced peak memory, one fold: old {old_peak:.0f} MiB, new {new_peak:.0f} MiB")
    alpha_same = np.array_equal(old[2], new[2])
    difference = np.abs(old[3] - new[3]).max() / np.abs(old[3]).max()
    print(
        f"same chosen alphas: {alpha_same}; max |Δ prediction| / max |prediction| {difference:.1e}"
    )
    assert alpha_same and difference < 1e-9, "new solver disagrees with the baseline"


if __name__ == "__main__":
    main()
