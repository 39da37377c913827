"""Compare the outputs of two pipeline runs value for value (a refactor must change no number).

    python tools/compare_runs.py BEFORE_DIR AFTER_DIR [--tables]

Reads every parquet under ``BEFORE_DIR/results`` and its namesake under ``AFTER_DIR/results``
and compares the frames exactly (same columns, same dtypes, same values, NaN equal to NaN;
row order as written); provenance metadata (versions, hashes, paths) and wall-clock timings are
not compared. Trained
weights (``model.pt`` and kept checkpoints) are compared tensor by tensor, and with ``--tables``
the rendered CSV tables and ``results/reproduction.csv`` too. Prints one line per difference and
a summary; exits 1 if anything differs or is missing on one side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

# wall-clock measurements (learning-curve seconds, training time): never equal between two runs
TIMINGS = frozenset({"seconds", "train_seconds"})


def tables_equal(before: pa.Table, after: pa.Table) -> str | None:
    """None if equal, else a one-line description of the first difference (NaN equals NaN);
    timing columns (:data:`TIMINGS`) are left out."""
    if before.column_names != after.column_names:
        return f"columns {before.column_names} vs {after.column_names}"
    if before.num_rows != after.num_rows:
        return f"{before.num_rows} vs {after.num_rows} rows"
    for name in (n for n in before.column_names if n not in TIMINGS):
        a, b = before[name], after[name]
        if a.type != b.type:
            return f"column {name}: type {a.type} vs {b.type}"
        if pa.types.is_floating(a.type):
            x, y = a.to_numpy(), b.to_numpy()
            same = (x == y) | (np.isnan(x) & np.isnan(y))
            if not same.all():
                row = int((~same).argmax())
                return f"column {name}: row {row}: {x[row]!r} vs {y[row]!r}"
        elif not a.equals(b):  # exact; lists of floats hold no NaN in these tables
            return f"column {name}: values differ"
    return None


def objects_equal(a: object, b: object, where: str = "") -> str | None:
    """None if two loaded checkpoints hold the same tensors and values, recursively."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
        return None if same else f"tensor {where} differs"
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"keys of {where or 'the file'} differ"
        for key in (k for k in a if k not in TIMINGS):
            problem = objects_equal(a[key], b[key], f"{where}.{key}" if where else str(key))
            if problem:
                return problem
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            problem = objects_equal(x, y, f"{where}[{i}]")
            if problem:
                return problem
        return None
    return None if a == b else f"{where}: {a!r} vs {b!r}"


def weights_equal(before: Path, after: Path) -> str | None:
    """None if two saved models (or checkpoints) are identical, tensor by tensor."""
    load = {"map_location": "cpu", "weights_only": True}
    return objects_equal(torch.load(before, **load), torch.load(after, **load))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--tables", action="store_true", help="also the rendered CSV tables")
    args = parser.parse_args()
    differences, compared = [], 0
    pairs = []
    for pattern in ("results/**/*.parquet", "results/models/**/*.pt"):
        pairs += [(p, args.after / p.relative_to(args.before)) for p in args.before.glob(pattern)]
    if args.tables:
        for pattern in ("figures/tables/*.csv", "results/reproduction.csv"):
            found = args.before.glob(pattern)
            pairs += [(p, args.after / p.relative_to(args.before)) for p in found]
    for before, after in sorted(pairs):
        name = before.relative_to(args.before)
        if not after.exists():
            differences.append(f"{name}: missing in {args.after}")
            continue
        if before.suffix == ".pt":
            problem = weights_equal(before, after)
        elif before.suffix == ".csv":
            a, b = (
                pa.Table.from_pandas(pd.read_csv(p), preserve_index=False) for p in (before, after)
            )
            problem = tables_equal(a, b)
        else:
            problem = tables_equal(pq.read_table(before), pq.read_table(after))
        compared += 1
        if problem:
            differences.append(f"{name}: {problem}")
    extra = [
        p.relative_to(args.after)
        for p in args.after.glob("results/**/*.parquet")
        if not (args.before / p.relative_to(args.after)).exists()
    ]
    differences += [f"{name}: missing in {args.before}" for name in extra]
    for line in differences:
        print(line)
    print(f"{compared} files compared, {len(differences)} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
