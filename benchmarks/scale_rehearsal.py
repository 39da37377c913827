"""Scale rehearsal: every stage's cost at growing data sizes, and its growth exponent.

Runs the whole workflow on ``config/paper.yaml`` + ``config/scale.yaml`` (paper-scale data sizes
and analysis settings, the cheapest models) at fractions ``f`` of the paper's data sizes, each
in its own working directory, from an empty ``results/``. Scaled with ``f``: the QM9 probe set
(20,000 molecules at f = 1; every paper-A analysis and the structure-level paper-B analyses
work on it), the GFRE/LFRE training atoms (50,000), the CKA/kNN samples (10,000) and the
cumulant structures (20,000). Fixed, as paper.yaml fixes them: CV folds and repeats, learning-
curve sizes and repeats, test-set sizes, model sizes and training.

Per rule, from Snakemake's benchmark files: jobs, wall time, CPU time and peak resident memory
(the largest job). The growth exponent b of CPU time ∝ N^b (N = probe molecules) is the slope of
a least-squares line through log(CPU) against log(N) over the fractions; with three fractions
it is a measurement of the local growth, stated with the range of N it covers.

Run (idle machine; about 2 × the time of the largest fraction; ``--reuse`` keeps the finished
fractions of an earlier call):
``.venv/bin/python benchmarks/scale_rehearsal.py --fractions 0.015625 0.03125 0.0625
--workdir /tmp/atomprobe-scale --out benchmarks/results/scale --reuse``

Writes ``scale.csv`` (rule × fraction), ``exponents.csv`` and ``scale.md`` (the table for the
README) and ``scale.png`` (log-log cost curves) to ``--out``.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
LINKED = ("Snakefile", "workflow", "config", "profiles", "envs")
PAPER_SIZES = {  # what f scales, at f = 1 (config/paper.yaml)
    ("data", "qm9", "splits", "probe"): 20_000,
    ("reconstruction", "atom", "train_size"): 50_000,
    ("reconstruction", "similarity", "n_samples"): 10_000,
    ("reconstruction", "cumulants", "max_structures"): 20_000,
}
JOB_HEADER = re.compile(r"^(?:local)?rule (\w+):$")


def overlay(fraction: float) -> dict:
    """Config overlay with every scaled size at ``fraction`` of paper.yaml's."""
    config: dict = {}
    for keys, size in PAPER_SIZES.items():
        node = config
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = max(1, round(size * fraction))
    return config


def finished_wall(workdir: Path, fraction: float) -> float | None:
    """Wall seconds of a finished earlier run of ``fraction`` in ``workdir``, else None."""
    wall_file, sizes = workdir / "wall_seconds.txt", workdir / "scale_fraction.yaml"
    if not (wall_file.exists() and sizes.exists()):
        return None
    if yaml.safe_load(sizes.read_text()) != overlay(fraction):
        return None
    return float(wall_file.read_text())


def run_fraction(fraction: float, workdir: Path, cores: int) -> float:
    """Run the rehearsal at ``fraction`` in ``workdir`` (emptied first); wall seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = workdir / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    for produced in ("results", "logs", "figures", ".snakemake"):
        subprocess.run(["rm", "-rf", str(workdir / produced)], check=True)
    sizes = workdir / "scale_fraction.yaml"
    sizes.write_text(yaml.safe_dump(overlay(fraction), sort_keys=False))
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "--cores",
        str(cores),
        "--configfile",
        "config/paper.yaml",
        "config/scale.yaml",
        str(sizes),
    ]
    start = time.perf_counter()
    with open(workdir / "snakemake.out", "w") as out:
        subprocess.run(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - start
    (workdir / "wall_seconds.txt").write_text(f"{wall:.1f}\n")
    return wall


def rule_of_benchmarks(workdir: Path) -> dict[str, str]:
    """Benchmark file -> rule name, from Snakemake's logs of the run (a run resumed after an
    interruption has one log per part; the working directory holds this rehearsal only)."""
    mapping, rule = {}, None
    for log in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log")):
        for line in log.read_text().splitlines():
            header = JOB_HEADER.match(line.strip())
            if header:
                rule = header.group(1)
            elif line.strip().startswith("benchmark:") and rule is not None:
                mapping[line.split(":", 1)[1].strip()] = rule
    return mapping


def stage_costs(workdir: Path, fraction: float) -> pd.DataFrame:
    """Per rule: jobs, wall and CPU seconds summed over its jobs, the largest job's peak MiB."""
    rows = []
    for path, rule in rule_of_benchmarks(workdir).items():
        if not (workdir / path).exists():  # a job still running (or killed): no numbers
            continue
        bench = pd.read_csv(workdir / path, sep="\t")
        rows.append(
            {
                "rule": rule,
                "wall_s": float(bench["s"].iloc[0]),
                "cpu_s": float(bench["cpu_time"].iloc[0]),
                "max_rss_mib": float(bench["max_rss"].iloc[0]),
            }
        )
    frame = pd.DataFrame(rows).groupby("rule", as_index=False)
    costs = frame.agg(
        jobs=("wall_s", "size"),
        wall_s=("wall_s", "sum"),
        cpu_s=("cpu_s", "sum"),
        max_rss_mib=("max_rss_mib", "max"),
    )
    costs.insert(1, "fraction", fraction)
    costs.insert(2, "n_probe", overlay(fraction)["data"]["qm9"]["splits"]["probe"])
    return costs


def growth_exponents(costs: pd.DataFrame) -> pd.DataFrame:
    """Per rule, the slope b of log CPU time against log N (CPU ∝ N^b) over all fractions, and
    between the two largest (the growth a projection beyond them should use)."""
    rows = []
    for rule, group in costs.groupby("rule"):
        group = group.loc[group["cpu_s"] > 0].sort_values("n_probe")
        exponent = last_step = math.nan
        if group["n_probe"].nunique() >= 2:
            exponent = float(np.polyfit(np.log(group["n_probe"]), np.log(group["cpu_s"]), deg=1)[0])
            (n0, c0), (n1, c1) = group[["n_probe", "cpu_s"]].to_numpy()[-2:]
            last_step = math.log(c1 / c0) / math.log(n1 / n0)
        largest = group.iloc[-1] if len(group) else None
        rows.append(
            {
                "rule": rule,
                "exponent": exponent,
                "exponent_last_step": last_step,
                "cpu_s_largest": float(largest["cpu_s"]) if largest is not None else math.nan,
                "max_rss_mib_largest": (
                    float(largest["max_rss_mib"]) if largest is not None else math.nan
                ),
                "n_range": f"{group['n_probe'].min()}–{group['n_probe'].max()}",
            }
        )
    return pd.DataFrame(rows).sort_values("cpu_s_largest", ascending=False)


def markdown(exponents: pd.DataFrame, walls: dict[float, float]) -> str:
    """The README table: rule, growth exponent, CPU s and peak memory at the largest size."""
    lines = [
        "| rule | CPU ∝ N^b: b (all sizes) | b (two largest sizes) | CPU s (largest N) "
        "| peak MiB (largest job) |",
        "|---|---|---|---|---|",
    ]
    for row in exponents.itertuples():
        b, b_last = (
            "—" if math.isnan(value) else f"{value:.2f}"
            for value in (row.exponent, row.exponent_last_step)
        )
        lines.append(
            f"| {row.rule} | {b} | {b_last} | {row.cpu_s_largest:.1f} "
            f"| {row.max_rss_mib_largest:.0f} |"
        )
    runs = ", ".join(f"f = {f:g}: {w / 60:.1f} min" for f, w in sorted(walls.items()))
    lines.append(f"\nWall time of each whole run (from an empty results/): {runs}.")
    return "\n".join(lines) + "\n"


def figure(costs: pd.DataFrame, path: Path) -> None:
    """Log-log CPU time against N for every rule whose jobs cost 5 s of CPU or more at some N
    (below that, Python start-up dominates)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    shown = [rule for rule, group in costs.groupby("rule") if group["cpu_s"].max() >= 5.0]
    for i, rule in enumerate(shown):  # ten colours, then the next line style
        group = costs.loc[costs["rule"] == rule].sort_values("n_probe")
        style = ("-", "--", ":")[i // 10 % 3]
        ax.plot(group["n_probe"], group["cpu_s"], marker="o", linestyle=style, label=rule)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("QM9 probe molecules N (other sizes scale with it)")
    ax.set_ylabel("CPU time of the rule's jobs (s)")
    ax.legend(fontsize=7, ncols=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Run the rehearsal at each fraction and write the tables and figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.015625, 0.03125, 0.0625])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/atomprobe-scale"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep a fraction's finished run in --workdir instead of running it again",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    walls, frames = {}, []
    for fraction in sorted(args.fractions):
        workdir = args.workdir / f"f{fraction:g}"
        earlier = finished_wall(workdir, fraction) if args.reuse else None
        walls[fraction] = earlier or run_fraction(fraction, workdir, args.cores)
        frames.append(stage_costs(workdir, fraction))
        print(f"f = {fraction:g}: {walls[fraction]:.0f} s", flush=True)
    costs = pd.concat(frames, ignore_index=True)
    exponents = growth_exponents(costs)
    costs.to_csv(args.out / "scale.csv", index=False)
    exponents.to_csv(args.out / "exponents.csv", index=False)
    (args.out / "scale.md").write_text(markdown(exponents, walls))
    figure(costs, args.out / "scale.png")
    print(markdown(exponents, walls))


if __name__ == "__main__":
    main()
