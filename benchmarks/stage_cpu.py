"""CPU time and peak memory of a run's jobs, stage by stage, from Snakemake's benchmark files.

Every rule writes ``logs/benchmarks/<stage>/.../<job>.tsv`` (Snakemake's ``benchmark:``: wall
seconds, max RSS in MB, CPU seconds, ...). This sums them per stage (the first folder below
``logs/benchmarks``) and prints a Markdown table: jobs, CPU seconds, wall seconds and the
largest job by CPU and by memory. Usage, from a run's working directory::

    python benchmarks/stage_cpu.py [logs/benchmarks]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def job_records(root: Path) -> pd.DataFrame:
    """One row per job: stage, job (path below the stage), wall_s, cpu_s, max_rss_mb."""
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        record = pd.read_csv(path, sep="\t").iloc[-1]  # a rerun appends: the last line counts
        relative = path.relative_to(root)
        rows.append(
            {
                "stage": relative.parts[0] if len(relative.parts) > 1 else "other",
                "job": str(relative.with_suffix("")),
                "wall_s": float(record["s"]),
                "cpu_s": float(record["cpu_time"]),
                "max_rss_mb": float(record["max_rss"]),
            }
        )
    return pd.DataFrame(rows)


def stage_table(jobs: pd.DataFrame) -> str:
    """Markdown: per stage the jobs, CPU and wall seconds, and the largest jobs."""
    lines = [
        "| stage | jobs | CPU s | wall s | most CPU | most memory |",
        "|---|---|---|---|---|---|",
    ]
    for stage, part in jobs.groupby("stage", sort=False):
        cpu, rss = part.loc[part["cpu_s"].idxmax()], part.loc[part["max_rss_mb"].idxmax()]
        memory = f"{rss['job']} {rss['max_rss_mb'] / 1024:.1f} GiB"
        lines.append(
            f"| {stage} | {len(part)} | {part['cpu_s'].sum():,.0f} | {part['wall_s'].sum():,.0f} "
            f"| {cpu['job']} {cpu['cpu_s']:,.0f} s | {memory} |"
        )
    lines.append(
        f"| all | {len(jobs)} | {jobs['cpu_s'].sum():,.0f} | {jobs['wall_s'].sum():,.0f} | | |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=Path("logs/benchmarks"))
    root = parser.parse_args().root
    jobs = job_records(root)
    if jobs.empty:
        parser.error(f"{root}: no benchmark records (*.tsv); run it from a run's working directory")
    print(stage_table(jobs))
