"""Where a run's CPU goes outside the jobs' own work: Snakemake's process against its jobs.

Runs the workflow on ``config/tiny.yaml`` from an empty working directory once per variant and
measures, exactly (``getrusage`` of a wrapper process that runs Snakemake's command line in
itself): the CPU of Snakemake's own process (scheduling, DAG updates, job-status polling and,
with ``benchmark:`` directives, their ``/proc`` sampling threads) and the CPU of everything it
started (the jobs, and the ILP scheduler's CBC solver). Beside them, the jobs' CPU as their
``logs/benchmarks`` records state it, and the most threads Snakemake's process held at once. A
variant is a checkout of the repository (its ``Snakefile`` and ``src/``), a Snakemake scheduler
(``ilp`` or ``greedy``) and optionally a ``--max-jobs-per-timespan`` (Snakemake's default
``100/1s``), so that code before and after a change, and the settings, are measured in one
session on one machine.

Run (idle machine; about 4 min per variant on 2 cores)::

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/snakemake_overhead.py \\
        --variant before:/tmp/before:ilp --variant after:.:ilp --variant greedy:.:greedy \\
        --variant greedy-10s:.:greedy:100/10s \\
        --out benchmarks/results/snakemake_overhead.csv
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stage_cpu import job_records  # a script beside this one

# Runs Snakemake's command line in this process, then prints its own and its children's CPU.
_WRAPPER = r"""
import json, os, resource, sys, threading, time
from snakemake.cli import main
peak_threads = 0
def count_threads():
    global peak_threads
    while True:
        peak_threads = max(peak_threads, len(os.listdir("/proc/self/task")))
        time.sleep(0.5)
threading.Thread(target=count_threads, daemon=True).start()
start = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
own = resource.getrusage(resource.RUSAGE_SELF)
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print("OVERHEAD " + json.dumps({
    "returncode": code, "wall_s": time.perf_counter() - start,
    "snakemake_user_s": own.ru_utime, "snakemake_system_s": own.ru_stime,
    "children_user_s": children.ru_utime, "children_system_s": children.ru_stime,
    "peak_threads": peak_threads,
}), file=sys.stderr)
"""


def run_variant(
    name: str, checkout: Path, scheduler: str, cores: int, rate_limit: str | None = None
) -> dict:
    """Run the tiny DAG with ``checkout``'s workflow and library; its CPU split, one row.
    ``rate_limit`` is Snakemake's ``--max-jobs-per-timespan`` (None: the profile's or its own)."""
    with tempfile.TemporaryDirectory(prefix=f"overhead-{name}-") as tmp:
        workdir = Path(tmp)
        (workdir / "config").symlink_to(checkout / "config", target_is_directory=True)
        env = {**os.environ, "PYTHONPATH": str(checkout / "src"), "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-c", _WRAPPER, "--snakefile", str(checkout / "Snakefile")]
        command += ["--directory", str(workdir), "--cores", str(cores), "--scheduler", scheduler]
        if rate_limit:
            command += ["--max-jobs-per-timespan", rate_limit]
        # --quiet all: no message class printed (its argument, not a target)
        command += ["--configfile", str(checkout / "config" / "tiny.yaml"), "--quiet", "all"]
        started = time.perf_counter()
        result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
        line = next((ln for ln in result.stderr.splitlines() if ln.startswith("OVERHEAD ")), None)
        if line is None or json.loads(line[len("OVERHEAD ") :])["returncode"] not in (0, None):
            raise SystemExit(f"variant {name}: the run failed\n{result.stderr[-3000:]}")
        row = json.loads(line[len("OVERHEAD ") :])
        jobs = job_records(workdir / "logs" / "benchmarks")
    row.pop("returncode")
    row["wall_s"] = time.perf_counter() - started
    return {
        "variant": name,
        "scheduler": scheduler,
        "max_jobs_per_timespan": rate_limit or "",
        "jobs": len(jobs),
        **row,
        "snakemake_cpu_s": row["snakemake_user_s"] + row["snakemake_system_s"],
        "children_cpu_s": row["children_user_s"] + row["children_system_s"],
        "job_records_cpu_s": float(jobs["cpu_s"].sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variant",
        action="append",
        required=True,
        metavar="NAME:CHECKOUT:SCHEDULER[:MAX_JOBS_PER_TIMESPAN]",
        help="a label, a checkout of the repository, ilp or greedy, and optionally a "
        "--max-jobs-per-timespan such as 100/10s (repeatable)",
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="CSV of the rows")
    args = parser.parse_args()
    rows = []
    for spec in args.variant:
        name, checkout, scheduler, *rate_limit = spec.split(":")
        rows.append(run_variant(name, Path(checkout).resolve(), scheduler, args.cores, *rate_limit))
        print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False, float_format="%.1f")
    columns = ["variant", "jobs", "wall_s", "snakemake_cpu_s", "children_cpu_s", "peak_threads"]
    print(table[[*columns, "job_records_cpu_s"]].to_markdown(index=False, floatfmt=".1f"))


if __name__ == "__main__":
    main()
