"""Time, peak memory and size on disk of building the full QM9 structure table.

Each case runs in a fresh Python process that reports its own wall time, CPU time (user +
system, including imports; the fairer number on a shared machine) and peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``):

* ``atomprobe qm9``: the pipeline step with the default config (source qm9pack, uncharacterised
  molecules excluded): read qm9pack's CSVs, parse, convert units, write the parquet table;
* ``qm9pack.get_data()``: the obvious baseline, just loading qm9pack's CSVs into one DataFrame.

Run: ``.venv/bin/python benchmarks/bench_qm9.py [--out results/bench/qm9.parquet]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
start = time.perf_counter()
{body}
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
peak_mib = usage.ru_maxrss / 1024
print(json.dumps({{"wall_s": wall, "cpu_s": cpu, "peak_mib": peak_mib, "rows": rows}}))
"""

BUILD = """
from atomprobe.data.steps import qm9
from atomprobe.io import read_metadata
params = {{"source": "qm9pack", "exclude_uncharacterized": True}}
qm9({{}}, {{"structures": {out!r}}}, params, 1)
rows = read_metadata({out!r})["n_rows"]
"""

BASELINE = """
import qm9pack
rows = len(qm9pack.get_data("qm9"))
"""


def run_case(body: str) -> dict[str, float]:
    """Run ``body`` in a fresh interpreter; return its wall time, peak RSS and row count."""
    code = CHILD.format(body=body)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="where to write the table (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "qm9.parquet"
        build = run_case(BUILD.format(out=str(out)))
        baseline = run_case(BASELINE)
        size_mib = out.stat().st_size / 2**20
    from atomprobe.data.qm9 import qm9pack_files

    csv_mib = sum(p.stat().st_size for p in qm9pack_files()) / 2**20
    print(f"{'case':<24}{'rows':>9}{'wall s':>9}{'CPU s':>8}{'peak MiB':>10}{'disk MiB':>10}")
    for name, case, disk in (
        ("atomprobe qm9 (parquet)", build, size_mib),
        ("qm9pack.get_data() CSV", baseline, csv_mib),
    ):
        print(
            f"{name:<24}{case['rows']:>9}{case['wall_s']:>9.1f}{case['cpu_s']:>8.1f}"
            f"{case['peak_mib']:>10.0f}{disk:>10.1f}"
        )
    print(
        f"ratio build/baseline: CPU {build['cpu_s'] / baseline['cpu_s']:.2f}x, "
        f"peak memory {build['peak_mib'] / baseline['peak_mib']:.2f}x, "
        f"disk {size_mib / csv_mib:.3f}x"
    )


if __name__ == "__main__":
    main()
