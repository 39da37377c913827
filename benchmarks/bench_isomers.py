"""Benchmark: isomer pair accuracy counted by sorting against scoring materialised pairs.

Workload (issue #16): the pairwise ordering accuracy of one (target, representation) of the
isomer benchmark. Baseline: ``isomer_pairs`` + ``pairwise_accuracy`` of ``--baseline`` (default:
the commit before issue #16) loaded from git, which build every same-formula pair
(``itertools.combinations``) and score them one by one. New: :func:`isomer_accuracy`, which
counts them (O(n log² n), no pairs). Cases:

* one formula group of n isomers, n up to 6,094 (C7H10O2, the largest group of QM9);
* every formula group of full QM9 (130,831 molecules from qm9pack, ~160 million pairs), with
  ``--qm9``; the baseline runs only where its pairs fit in ``--max-old-pairs``.

Targets are rounded to 1 meV so that they tie as real ones do; predictions are target + noise,
rounded likewise. Both give the same dict (asserted, ==). CPU time: median of ``--repeats``
interleaved runs; peak memory: tracemalloc, one separate run each. One thread.

    .venv/bin/python benchmarks/bench_isomers.py
    .venv/bin/python benchmarks/bench_isomers.py --qm9 --max-old-pairs 20000000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import tracemalloc
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.csv as pa_csv
from threadpoolctl import threadpool_limits

from atomprobe.analyses.isomers import isomer_accuracy
from atomprobe.data.qm9 import qm9pack_files

#: The commit before issue #16: every pair materialised.
BASELINE = "f0aa2b6"


def baseline_module(ref: str) -> types.ModuleType:
    """``atomprobe.analyses.isomers`` as it was at git revision ``ref``."""
    root = Path(__file__).resolve().parent.parent
    path = "src/atomprobe/analyses/isomers.py"
    source = subprocess.run(
        ["git", "-C", str(root), "show", f"{ref}:{path}"], check=True, capture_output=True
    ).stdout.decode()
    module = types.ModuleType("_old_isomers")
    sys.modules[module.__name__] = module
    exec(compile(source, f"{ref}:{path}", "exec"), module.__dict__)
    return module


def qm9_formulas() -> list[str]:
    """Formula (element counts) of every qm9pack molecule, from its element list."""
    formulas = []
    for path in qm9pack_files():
        options = pa_csv.ConvertOptions(include_columns=["Elements"])
        for elements in pa_csv.read_csv(path, convert_options=options)["Elements"].to_pylist():
            counts = Counter(token.strip("[]' ") for token in elements.split(","))
            formulas.append("".join(f"{e}{c}" for e, c in sorted(counts.items())))
    return formulas


def case(formulas: list[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Targets (eV-like, 1 meV resolution, so some tie) and noisy predictions."""
    rng = np.random.default_rng(seed)
    y = np.round(rng.normal(6.0, 1.3, size=len(formulas)), 3)
    return y, np.round(y + rng.normal(0.0, 0.6, size=y.size), 3)


def measure(run) -> tuple[float, dict]:
    """CPU seconds and result of ``run()``."""
    start = time.process_time()
    result = run()
    return time.process_time() - start, result


def peak(run) -> float:
    """Traced peak memory (MiB) of ``run()``."""
    tracemalloc.start()
    run()
    value = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000, 6094])
    parser.add_argument("--qm9", action="store_true", help="also every formula group of QM9")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-old-pairs", type=int, default=20_000_000)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the baseline")
    args = parser.parse_args()
    old = baseline_module(args.baseline)
    cases = [(f"one group of {n:,}", ["C7H10O2"] * n) for n in args.sizes]
    if args.qm9:
        cases.append(("full QM9, every formula group", qm9_formulas()))
    print(
        f"{'case':<32}{'pairs':>13}{'old CPU s':>11}{'new CPU s':>11}{'speed-up':>10}"
        f"{'old MiB':>9}{'new MiB':>9}"
    )
    with threadpool_limits(1):
        for name, formulas in cases:
            y, prediction = case(formulas)
            sizes = np.array(list(Counter(formulas).values()))
            n_pairs = int((sizes * (sizes - 1) // 2).sum())

            def new():
                return isomer_accuracy(y, prediction, formulas)  # noqa: B023

            def baseline():
                pairs = old.isomer_pairs(formulas)  # noqa: B023
                return old.pairwise_accuracy(y, prediction, *pairs)  # noqa: B023

            run_old = n_pairs <= args.max_old_pairs
            old_times, new_times = [], []
            for _ in range(args.repeats):  # interleaved: the machine's load hits both alike
                if run_old:
                    elapsed, old_result = measure(baseline)
                    old_times.append(elapsed)
                elapsed, new_result = measure(new)
                new_times.append(elapsed)
            new_cpu, new_peak = float(np.median(new_times)), peak(new)
            if run_old:
                assert old_result == new_result, (old_result, new_result)
                old_cpu, old_peak = float(np.median(old_times)), peak(baseline)
                columns = f"{old_cpu:>11.2f}{new_cpu:>11.3f}{old_cpu / new_cpu:>9.0f}×"
                columns += f"{old_peak:>9.0f}{new_peak:>9.1f}"
            else:
                columns = f"{'not run':>11}{new_cpu:>11.3f}{'':>10}{'':>9}{new_peak:>9.1f}"
            print(f"{name:<32}{n_pairs:>13,}{columns}", flush=True)
            print(
                f"  accuracy {new_result['accuracy']:.6f} [{new_result['ci_low']:.4f}, "
                f"{new_result['ci_high']:.4f}], {new_result['n_groups']} groups, "
                f"{new_result['n_pairs']:,} pairs scored; identical to baseline: "
                f"{'yes' if run_old else 'baseline not run'}",
                flush=True,
            )


if __name__ == "__main__":
    main()
