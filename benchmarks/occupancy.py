"""How many jobs a local Snakemake run kept running at once, over its wall time.

Reads the log Snakemake prints (stderr of ``snakemake --cores N``, its default verbosity): a
timestamp line ``[Sun Dec  6 16:09:04 2026]`` followed by ``rule X:``/``localrule X:`` starts a
job, followed by ``Finished jobid: N`` ends one. Prints the minutes spent with 0, 1, 2, ... jobs
running, between the first start and the last end: on a CPU-only machine with 2 cores, the time
with one job running is the time a core stood idle for want of a job Snakemake could start.

Run::

    .venv/bin/python benchmarks/occupancy.py run.log
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from datetime import datetime
from itertools import pairwise
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(local)?rule \w+:$")
END = re.compile(r"^Finished jobid: \d+")


def job_events(lines: list[str]) -> list[tuple[float, int]]:
    """(seconds since the epoch, +1 for a job start or -1 for a job end), in log order."""
    events, stamp = [], None
    for line in lines:
        match = STAMP.match(line)
        if match:
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
        elif stamp is not None and START.match(line):
            events.append((stamp, +1))
        elif stamp is not None and END.match(line):
            events.append((stamp, -1))
    return events


def occupancy(events: list[tuple[float, int]]) -> Counter:
    """Seconds spent with each count of running jobs, from the first event to the last."""
    seconds, running = Counter(), 0
    for (time, step), (next_time, _) in pairwise(events):
        running += step
        seconds[running] += next_time - time
    return seconds


def main() -> None:
    lines = Path(sys.argv[1]).read_text().splitlines()
    seconds = occupancy(job_events(lines))
    total = sum(seconds.values())
    for running in sorted(seconds):
        minutes = seconds[running] / 60
        print(f"{running} jobs running: {minutes:6.1f} min ({seconds[running] / total:.0%})")
    print(f"total: {total / 60:.1f} min")


if __name__ == "__main__":
    main()
