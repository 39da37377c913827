"""Extraction cost per model: CPU time and peak memory per 10,000 molecules, per-atom file sizes.

Reads a finished run (its ``results/features`` and Snakemake's benchmark files under
``logs/benchmarks/features``) and writes one row per extraction job: molecules and atoms
extracted, per-atom columns, CPU seconds and peak resident memory of the job, CPU seconds per
10,000 structures, bytes on disk per atom of the per-atom parquet (zstd) and what a per-atom
parquet of all of QM9 (``--qm9-atoms`` atoms, features.split: all) would take on disk and as a
float32 matrix in memory. ``--compare`` adds the peak memory of the same jobs from another run
(a TSV with ``job``, ``max_rss_mib`` and optionally ``cpu_s``, e.g. one measured before a
change or on an idle machine) beside it.

Run: ``.venv/bin/python benchmarks/extraction_cost.py . --out benchmarks/results/extraction``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

QM9_ATOMS = 2_359_210  # atoms in the 130,831 QM9 molecules qm9pack ships


def job_costs(run: Path, qm9_atoms: int) -> pd.DataFrame:
    """One row per extraction job of ``run`` (not the checkpoint extractions)."""
    rows = []
    for bench in sorted((run / "logs" / "benchmarks" / "features").glob("*.tsv")):
        if bench.stem.endswith("_checkpoints"):
            continue
        model, dataset = bench.stem.rsplit("_", 1)
        atoms_file = run / "results" / "features" / model / f"{dataset}_atoms.parquet"
        pooled_file = run / "results" / "features" / model / f"{dataset}.parquet"
        if not atoms_file.exists():
            continue
        stats = pd.read_csv(bench, sep="\t").iloc[-1]
        meta = pq.ParquetFile(atoms_file).metadata
        n_structures = pq.ParquetFile(pooled_file).metadata.num_rows
        n_atoms, n_columns = meta.num_rows, meta.num_columns - 3  # id, atom, Z
        bytes_per_atom = atoms_file.stat().st_size / max(n_atoms, 1)
        rows.append(
            {
                "model": model,
                "dataset": dataset,
                "structures": n_structures,
                "atoms": n_atoms,
                "atom_columns": n_columns,
                "cpu_s": float(stats["cpu_time"]),
                "cpu_s_per_10k": float(stats["cpu_time"]) * 10_000 / n_structures,
                "peak_rss_mib": float(stats["max_rss"]),
                "disk_bytes_per_atom": bytes_per_atom,
                "full_qm9_atoms_parquet_gb": bytes_per_atom * qm9_atoms / 1e9,
                "full_qm9_atoms_in_memory_gb": 4 * n_columns * qm9_atoms / 1e9,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Write ``extraction_cost.csv`` and ``extraction_cost.md`` to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="working directory of a finished run")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--qm9-atoms", type=int, default=QM9_ATOMS)
    parser.add_argument("--compare", type=Path, help="TSV: job, max_rss_mib of another run")
    parser.add_argument("--compare-label", default="other run")
    args = parser.parse_args(argv)
    costs = job_costs(args.run, args.qm9_atoms)
    if args.compare:
        other = pd.read_csv(args.compare, sep="\t").set_index("job")
        jobs = costs["model"] + "_" + costs["dataset"]
        costs.insert(8, "peak_rss_mib_compare", jobs.map(other["max_rss_mib"]))
        if "cpu_s" in other:
            per_10k = jobs.map(other["cpu_s"]) * 10_000 / costs["structures"]
            costs.insert(7, "cpu_s_per_10k_compare", per_10k)
    args.out.mkdir(parents=True, exist_ok=True)
    costs.to_csv(args.out / "extraction_cost.csv", index=False)
    header = {
        "peak_rss_mib": "peak MiB",
        "peak_rss_mib_compare": f"peak MiB ({args.compare_label})",
        "cpu_s_per_10k_compare": f"CPU s / 10k ({args.compare_label})",
        "cpu_s_per_10k": "CPU s / 10k",
        "disk_bytes_per_atom": "disk B/atom",
        "full_qm9_atoms_parquet_gb": "all-QM9 atoms file GB",
        "full_qm9_atoms_in_memory_gb": "all-QM9 atoms in memory GB",
    }
    shown = costs.drop(columns=["cpu_s"]).rename(columns=header)
    (args.out / "extraction_cost.md").write_text(shown.to_markdown(index=False, floatfmt=".1f"))
    print(shown.to_string(index=False))


if __name__ == "__main__":
    main()
