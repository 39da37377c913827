"""Parquet encoding of feature tables: dictionary on every column vs on non-float columns only.

pyarrow dictionary-encodes every column by default; feature columns are floats with few
repeated values, so their dictionary is overhead. For each given parquet file: bytes per
feature value on disk, write and read seconds (median of ``--repeats``, zstd either way), and
whether the table read back is identical.

Run: ``.venv/bin/python benchmarks/bench_parquet_encoding.py results/features/*/qm9_atoms.parquet``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from atomprobe.io import dictionary_columns


def measure(path: Path, repeats: int) -> dict:
    """Both encodings of one table: size per float value, write/read seconds, identical?"""
    table = pq.read_table(path)
    n_values = table.num_rows * sum(field.type == pa.float32() for field in table.schema)
    result: dict = {"file": str(path), "rows": table.num_rows, "columns": table.num_columns}
    for name, dictionary in (
        ("dictionary_everywhere", True),
        ("dictionary_non_float", dictionary_columns(table.schema)),
    ):
        writes, reads = [], []
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "table.parquet"
            for _ in range(repeats):
                start = time.perf_counter()
                pq.write_table(table, out, compression="zstd", use_dictionary=dictionary)
                writes.append(time.perf_counter() - start)
                start = time.perf_counter()
                back = pq.read_table(out)
                reads.append(time.perf_counter() - start)
            result[name] = {
                "bytes_per_float32_value": round(os.path.getsize(out) / max(n_values, 1), 3),
                "write_s": round(float(np.median(writes)), 3),
                "read_s": round(float(np.median(reads)), 3),
                "identical": back.equals(table),
            }
    return result


def main(argv: list[str] | None = None) -> None:
    """Print (and with ``--out`` write) one JSON record per file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    records = [measure(path, args.repeats) for path in args.files]
    text = json.dumps(records, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
