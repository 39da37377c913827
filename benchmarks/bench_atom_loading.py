"""Peak memory and time of reading per-atom features: whole tables vs only the rows kept.

GFRE/LFRE at atom level use ``train_size + test_size`` atoms shared by every model (paper.yaml:
51,000 of the ~360,000 atoms of the 20,000-molecule probe set). Before, the step read every
model's whole per-atom table through pandas and then kept the aligned rows (baseline below,
the code path that was replaced); :func:`atomprobe.analyses.feature_sets.align_atom_rows` reads
the index first and then only the kept rows, a few columns at a time. The cumulant step reads
one model's whole table: baseline pandas vs :func:`atomprobe.features.io.read_atom_features`.

Each method runs in its own process (peak resident memory = ``ru_maxrss`` of that process,
including Python, numpy and pyarrow, about 150 MiB); the results of both methods are compared
bitwise. Run on the per-atom files of a rehearsal at paper size, e.g.
``.venv/bin/python benchmarks/bench_atom_loading.py /tmp/atomprobe-scale/f1/results/features
--out benchmarks/results/atom_loading.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

METHODS = ("align_whole_tables", "align_atom_rows", "read_whole_pandas", "read_atom_features")


def baseline_align(paths: list[str], max_rows: int, seed: int) -> list[np.ndarray]:
    """The replaced path: every whole table through pandas, then the aligned rows."""
    from atomprobe.analyses.feature_sets import FeatureSet, align_rows, atom_keys
    from atomprobe.features.io import feature_columns
    from atomprobe.io import read_parquet

    group = []
    for path in paths:
        names = list(feature_columns(path)["name"])
        frame, meta = read_parquet(path, ["id", "atom", "Z", *names])
        values = frame[names].to_numpy(dtype=np.float32)
        group.append(FeatureSet(meta["model"], meta["dataset"], atom_keys(frame), values))
        del frame
    return align_rows(group, max_rows, seed)[1]


def widest_file(paths: list[str]) -> str:
    """The per-atom file with the most columns (what the cumulant step may meet)."""
    return max(paths, key=lambda p: len(pq.read_schema(p).names))


def run_method(method: str, paths: list[str], dataset: str, max_rows: int, seed: int) -> dict:
    """Run one method in this process: seconds, peak RSS (MiB) and a digest of the result."""
    from atomprobe.analyses.feature_sets import align_atom_rows
    from atomprobe.features.io import feature_columns, read_atom_features
    from atomprobe.io import read_parquet

    widest = widest_file(paths)
    start = time.perf_counter()
    if method == "align_whole_tables":
        matrices = baseline_align(paths, max_rows, seed)
    elif method == "align_atom_rows":
        matrices = align_atom_rows(paths, dataset, max_rows, seed)[1]
    elif method == "read_whole_pandas":
        names = list(feature_columns(widest)["name"])
        matrices = [read_parquet(widest, names)[0].to_numpy(dtype=np.float32)]
    else:
        matrices = [read_atom_features(widest)[1]]
    seconds = time.perf_counter() - start
    digest = hashlib.sha256()
    for matrix in matrices:  # no copy of the result: it would add to the peak measured
        digest.update(memoryview(np.ascontiguousarray(matrix)).cast("B"))
    return {
        "method": method,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "result_mib": round(sum(m.nbytes for m in matrices) / 2**20, 1),
        "shape": [list(m.shape) for m in matrices],
        "sha256": digest.hexdigest(),
    }


def main(argv: list[str] | None = None) -> None:
    """Run every method in a fresh process per repeat and write the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("features", type=Path, help="results/features of a run")
    parser.add_argument("--dataset", default="qm9")
    parser.add_argument("--max-rows", type=int, default=51_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    paths = sorted(str(p) for p in args.features.glob(f"*/{args.dataset}_atoms.parquet"))
    if args.one:
        print(json.dumps(run_method(args.one[0], paths, args.dataset, args.max_rows, args.seed)))
        return
    runs = []
    for _ in range(args.repeats):  # interleaved, so drift hits every method alike
        for method in METHODS:
            command = [sys.executable, __file__, str(args.features), "--dataset", args.dataset]
            command += ["--max-rows", str(args.max_rows), "--seed", str(args.seed)]
            out = subprocess.run(
                [*command, "--one", method], check=True, capture_output=True, text=True
            ).stdout
            runs.append(json.loads(out.splitlines()[-1]))
    summary = {}
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method]
        summary[method] = {
            "median_seconds": float(np.median([r["seconds"] for r in mine])),
            "median_peak_rss_mib": float(np.median([r["peak_rss_mib"] for r in mine])),
            "result_mib": mine[0]["result_mib"],
            "shape": mine[0]["shape"],
            "sha256": mine[0]["sha256"],
        }
    summary["align_identical"] = (
        summary["align_whole_tables"]["sha256"] == summary["align_atom_rows"]["sha256"]
    )
    summary["read_identical"] = (
        summary["read_whole_pandas"]["sha256"] == summary["read_atom_features"]["sha256"]
    )
    result = {
        "files": paths,
        "widest": widest_file(paths),
        "max_rows": args.max_rows,
        "summary": summary,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
