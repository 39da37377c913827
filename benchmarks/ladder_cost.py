"""What each rung of a training-budget ladder cost: core-hours and peak memory, model by model.

A ladder's trainings run in pieces (killed, then resumed from their last epoch), and a job's
usage record (``logs/benchmarks/models/train_<model>.tsv``) covers only its last piece. The
training time therefore comes from the learning curve, whose ``seconds`` run on across resumes
(the wall time of a one-thread job: a core-second per second when the job has its core to
itself). Every other job of a model (extraction, checkpoint features, CPD, its sweeps) is read
from its usage record. Cross-model analyses belong to no rung and are left out. Usage, from a
ladder's working directory::

    python benchmarks/ladder_cost.py [--registry config/models_ladder.yaml] [--csv out.csv]

prints one Markdown row per rung (models finished of those configured, molecule passes, training
core-hours, the other jobs' CPU hours, the largest job's peak memory) and writes a row per model
with ``--csv``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from atomprobe.config import load_yaml
from atomprobe.models.registry import load_registry
from atomprobe.models.resume import STATE_FILE
from atomprobe.models.sources import Source, source_of

# a model's own jobs besides training, as the rules name their usage records (job_logs stems)
MODEL_STEMS = (
    "models/init_{model}",
    "features/{model}_{dataset}",
    "features/{model}_{dataset}_checkpoints",
    "cpd/{model}/{dataset}",
    "cpd_sensitivity/{model}/{dataset}",
    "cpd_protocols/{model}/{dataset}",
)


def usage_record(path: Path) -> dict[str, float] | None:
    """The last line of a usage record (a rerun appends): cpu_s and max_rss_mb; None if absent
    or empty (a job still running)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    record = pd.read_csv(path, sep="\t").iloc[-1]
    return {"cpu_s": float(record["cpu_time"]), "max_rss_mb": float(record["max_rss"])}


def training_curve(folder: Path) -> pd.DataFrame | None:
    """The learning curve of a finished training, else the epochs a running or killed one has
    saved in its resume state; None before its first epoch."""
    if (folder / "learning_curve.parquet").exists():
        return pd.read_parquet(folder / "learning_curve.parquet")
    state = folder / "resume" / STATE_FILE
    if state.exists():
        curve = torch.load(state, map_location="cpu", weights_only=True)["curve"]
        return pd.DataFrame(curve) if curve else None
    return None


def model_cost(
    root: Path, name: str, entry: Mapping[str, Any], datasets: list[str]
) -> dict[str, Any]:
    """One model's cost: rung, status, epochs and molecule passes run, training seconds (from
    the learning curve, across resumes), the other jobs' CPU seconds and the peak memory (MB)
    of any of its jobs."""
    folder = root / "results" / "models" / name
    curve = training_curve(folder)
    training = entry["training"] if source_of(entry) == Source.TRAIN else {}
    records = [usage_record(root / "logs" / "benchmarks" / "models" / f"train_{name}.tsv")]
    records += [
        usage_record(root / "logs" / "benchmarks" / f"{stem.format(model=name, dataset=d)}.tsv")
        for stem in MODEL_STEMS
        for d in datasets
    ]
    others = [r for r in records[1:] if r is not None]
    done = (folder / "metrics.json").exists()
    epochs = len(curve) if curve is not None else 0
    status = "finished" if done else (f"epoch {epochs} of {training['epochs']}" if epochs else "")
    return {
        "model": name,
        "rung": int(entry.get("rung", 0)),
        "source": str(source_of(entry)),
        "status": status or "not started",
        "n_train": training.get("n_train"),
        "epochs_run": epochs,
        "molecule_passes": epochs * int(training.get("n_train") or 0),
        "train_s": float(curve["seconds"].iloc[-1]) if epochs else 0.0,
        "test_mae": json.loads((folder / "metrics.json").read_text())["test_mae"] if done else None,
        "other_cpu_s": sum(r["cpu_s"] for r in others),
        "peak_mb": max((r["max_rss_mb"] for r in records if r is not None), default=0.0),
    }


def ladder_costs(
    root: Path, registry: Mapping[str, Mapping[str, Any]], datasets: list[str]
) -> pd.DataFrame:
    """:func:`model_cost` of every model built here (trained or untrained twin), a row each."""
    costs = pd.DataFrame(
        [
            model_cost(root, name, entry, datasets)
            for name, entry in registry.items()
            if source_of(entry).built_here
        ]
    )
    return costs.astype({"n_train": "Int64"})


def rung_table(costs: pd.DataFrame) -> str:
    """Markdown: per rung the models finished (of those configured), molecule passes, training
    core-hours, the other jobs' CPU hours and the largest job's peak memory."""
    lines = [
        "| rung | models finished | molecule passes | training core-h | other CPU h | peak GiB |",
        "|---|---|---|---|---|---|",
    ]
    for rung, part in costs.groupby("rung"):
        lines.append(
            f"| {rung} | {(part['status'] == 'finished').sum()} of {len(part)} "
            f"| {part['molecule_passes'].sum():,.0f} | {part['train_s'].sum() / 3600:.2f} "
            f"| {part['other_cpu_s'].sum() / 3600:.2f} | {part['peak_mb'].max() / 1024:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the ladder's working dir")
    parser.add_argument("--registry", default="config/models_ladder.yaml")
    parser.add_argument("--config", default="config/config.yaml", help="for its data section")
    parser.add_argument("--csv", type=Path, help="write one row per model here")
    args = parser.parse_args()
    data = {k: v for k, v in load_yaml(args.root / args.config)["data"].items() if v}
    registry = load_registry(args.root / args.registry, "all", data)
    costs = ladder_costs(args.root, registry, list(data))
    if args.csv:
        costs.to_csv(args.csv, index=False)
    print(rung_table(costs))


if __name__ == "__main__":
    main()
