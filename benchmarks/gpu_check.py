"""CUDA check of feature extraction (CPU vs CUDA) and GPU throughput for config/paper.yaml.

    # once, where results/data holds qm9.parquet, qm9_splits.parquet and mp.parquet:
    .venv/bin/python benchmarks/gpu_check.py prepare --source results/data
    # then, on a GPU machine (CUDA parts are skipped, with a message, where there is none):
    python benchmarks/gpu_check.py run --out DIR

``prepare`` writes ``.gpu/gpu_check_structures.parquet``: 200 QM9 molecules of the probe split
and 100 MP crystals (the equivalence check) and 2,048 QM9 molecules of the train split (the
throughput runs), seeded, with the structure-table columns the models need.

``run`` has two parts, each model on its own (a model whose package is missing is skipped and
the reason recorded), the JSON rewritten after every model so that a run cut short keeps what
it measured:

1. ``equivalence``: every model of ``--models`` extracts pooled (all layers, mean pooling) and
   per-atom (last layer) features through atomprobe's own path
   (:func:`atomprobe.features.extract.extract_features`, devices from
   :func:`atomprobe.device.resolve_device`), float32, batch 64, first on the CPU, then on
   CUDA; reported: max |CPU - CUDA|, that over max |CPU| and the largest elementwise relative
   difference (entries with |CPU| >= 1e-3 max |CPU|), and the model's predictions on both
   (energies for the pretrained models). Pretrained: SevenNet-0 (11Jul2024), SevenNet-l3i5,
   CHGNet 0.3.0 (molecules and crystals); built at config/models_paper.yaml's hparams with
   seed 0, random weights: MACE (molecules and crystals), SchNet, PaiNN, ViSNet, DimeNet++
   (molecules: no periodic support).
2. ``throughput``: per trained family at config/models_paper.yaml's hparams (random weights),
   structures/s of extraction (``extract_features``, batch 64 as config/config.yaml's
   ``features.batch_size``) and of training steps (``adapter.predict`` + MSE of the
   standardised target, backward, Adam step: the loop of :mod:`atomprobe.models.training`,
   batch 32 as ``train_defaults.batch_size``), on ``--throughput-device``.

DimeNet++ derives its basis with sympy when built (minutes at num_spherical 7/num_radial 6):
``--dimenet-basis-cache`` stores torch-geometric's symbolic forms (``bessel_basis``,
``real_sph_harm``) after the first build and reuses them; the model is then identical.

On a bare GPU machine without the model packages (python 3.12, torch with CUDA, numpy, pandas,
pyarrow, scipy, sympy, torch-geometric, pytorch-lightning present), bring them as wheels in an
ignored folder ``.whl``
(py3.12 manylinux: ase, vesin, e3nn 0.4.4, sevenn 0.10.4, matscipy, braceexpand, chgnet 0.4.2,
nvidia-ml-py3 (chgnet imports nvidia_smi; sdist only: build its wheel with pip wheel),
pymatgen-core,
pymatgen, monty, ruamel.yaml, spglib, uncertainties, palettable, bibtexparser,
orjson, mace-torch 0.3.16, torch-ema, prettytable, wcwidth, configargparse, lmdb,
python-hostlist, GitPython, gitdb, smmap, graph-pes 1.0.2, dacite, locache, load-atoms (imports
pydantic, IPython and ipywidgets: pydantic, pydantic-core, annotated-types, typing-inspection,
typing-extensions, ipython and its dependencies, ipywidgets, comm, widgetsnbextension,
jupyterlab-widgets), data2objects, jsonschema, referencing, rpds-py,
jsonschema-specifications; 54 MB, under the 64 MiB a device call carries, once the sevenn
wheel drops the 22May2024 checkpoint and the D3 sources and the chgnet wheel keeps only 0.3.0,
RECORD updated) and ``.gpu`` (the prepared table), and run, from the repository root::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \\
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1
    python3 benchmarks/gpu_check.py run --out "$OUT" --budget-s 330
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".gpu" / "gpu_check_structures.parquet"
BASIS_CACHE = ROOT / ".gpu" / "dimenet_basis.pkl"

# name -> (registry entry, datasets); trained families take config/models_paper.yaml's hparams
PRETRAINED = {
    "sevennet0": {"family": "sevennet", "source": "builtin", "weights": "SevenNet-0_11Jul2024"},
    "sevennet_l3i5": {"family": "sevennet", "source": "builtin", "weights": "SevenNet-l3i5"},
    "chgnet": {"family": "chgnet", "source": "builtin", "weights": "0.3.0"},
}
TRAINED = {  # model name in config/models_paper.yaml -> supports periodic cells
    "mace_gap": True,
    "schnet_gap": False,
    "painn_gap": False,
    "visnet_gap": False,
    "dimenetpp_gap": False,
}
DEFAULT_EQUIVALENCE = [*PRETRAINED, *TRAINED]
DEFAULT_THROUGHPUT = list(TRAINED)


def log(message: str) -> None:
    """Print with the elapsed time since start (flushed)."""
    print(f"[{time.perf_counter() - START:7.1f}s] {message}", flush=True)


START = time.perf_counter()


# ------------------------------------------------------------------------------ preparation
def prepare(source: Path, out: Path, seed: int = 0) -> None:
    """Write the small structure table the check reads (see the module docstring)."""
    from atomprobe.data.structures import load_structures
    from atomprobe.io import read_parquet

    rng = np.random.default_rng(seed)
    splits, _ = read_parquet(source / "qm9_splits.parquet")
    qm9 = load_structures(source / "qm9.parquet").set_index("id", drop=False)
    cols = ["id", "numbers", "positions", "cell", "pbc"]
    parts = []
    for name, split, n in (("qm9_check", "probe", 200), ("qm9_train", "train", 2048)):
        ids = splits.loc[splits["split"] == split, "id"].to_numpy()
        rows = qm9.loc[rng.choice(ids, min(n, len(ids)), replace=False), [*cols, "gap"]]
        parts.append(rows.reset_index(drop=True).assign(set=name))
    mp = load_structures(source / "mp.parquet")
    rows = mp.sample(min(100, len(mp)), random_state=seed)[cols]
    parts.append(rows.reset_index(drop=True).assign(set="mp_check", gap=np.nan))
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out)
    print(f"{out}: {frame.groupby('set').size().to_dict()}, {out.stat().st_size} bytes")


def load_sets(path: Path) -> dict[str, Any]:
    """{set name: Structures} from the prepared table."""
    from atomprobe.models.structures import Structures

    frame = pd.read_parquet(path)
    return {
        name: Structures.from_frame(
            rows.reset_index(drop=True), "gap" if name.startswith("qm9") else None
        )
        for name, rows in frame.groupby("set", sort=False)
    }


# ------------------------------------------------------------------------------------ models
@contextlib.contextmanager
def dimenet_basis_cache(path: Path | None) -> Iterator[None]:
    """Reuse torch-geometric's symbolic DimeNet basis forms from ``path`` (write them there
    after a first build); the forms, hence the model, are unchanged."""
    if path is None:
        yield
        return
    from torch_geometric.nn.models import dimenet_utils

    originals = (dimenet_utils.bessel_basis, dimenet_utils.real_sph_harm)
    try:
        cache = pickle.loads(path.read_bytes()) if path.exists() else {}
    except Exception as exc:  # another sympy version: derive again
        log(f"dimenet basis cache {path} unreadable ({exc}); deriving with sympy")
        cache = {}
    dirty = False

    def cached(name: str, fn: Callable) -> Callable:
        def wrapper(*args: Any) -> Any:
            nonlocal dirty
            key = f"{name}{args}"
            if key not in cache:
                cache[key], dirty = fn(*args), True
            return cache[key]

        return wrapper

    dimenet_utils.bessel_basis = cached("bessel_basis", originals[0])
    dimenet_utils.real_sph_harm = cached("real_sph_harm", originals[1])
    try:
        yield
    finally:
        dimenet_utils.bessel_basis, dimenet_utils.real_sph_harm = originals
        if dirty:
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(pickle.dumps(cache))


def paper_entry(name: str) -> dict[str, Any]:
    """Registry entry ``name`` of config/models_paper.yaml."""
    doc = yaml.safe_load((ROOT / "config" / "models_paper.yaml").read_text())
    return {**doc["models"][name], "train_defaults": doc["train_defaults"]}


def build_trained(name: str, train_set: Any, elements: list[int], basis_cache: Path | None):
    """A model of a trained family at paper hparams, random weights (seed 0): (adapter,
    entry, stats, build seconds)."""
    from atomprobe.models.base import TrainingStats
    from atomprobe.models.families import get_family
    from atomprobe.models.training import fit_stats

    entry = paper_entry(name)
    family = get_family(entry["family"])
    stats = fit_stats(train_set, entry["target"], "eV", False, family.cutoff(entry["hparams"]))
    stats = TrainingStats(**{**stats.__dict__, "elements": tuple(sorted(elements))})
    torch.manual_seed(entry.get("seed", 0))
    start = time.perf_counter()
    with dimenet_basis_cache(basis_cache if entry["family"] == "dimenetpp" else None):
        adapter = family.build(entry["hparams"], stats)
    return adapter, entry, stats, time.perf_counter() - start


def load_model(name: str, sets: dict[str, Any], basis_cache: Path | None):
    """(adapter, entry, datasets it is checked on, load/build seconds)."""
    if name in PRETRAINED:
        from atomprobe.models.families import get_family

        entry = PRETRAINED[name]
        start = time.perf_counter()
        adapter = get_family(entry["family"]).load(entry)
        return adapter, entry, ["qm9_check", "mp_check"], time.perf_counter() - start
    if name not in TRAINED:
        raise KeyError(f"unknown model {name!r}; known: {DEFAULT_EQUIVALENCE}")
    elements = sorted({int(z) for s in sets.values() for n in s.numbers for z in n.tolist()})
    if not TRAINED[name]:
        elements = sorted({int(z) for n in sets["qm9_train"].numbers for z in n.tolist()})
    adapter, entry, _, seconds = build_trained(name, sets["qm9_train"], elements, basis_cache)
    datasets = ["qm9_check", "mp_check"] if TRAINED[name] else ["qm9_check"]
    return adapter, entry, datasets, seconds


# ------------------------------------------------------------------------------- comparison
def difference(ref: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    """max |ref - other|, that over max |ref|, and the largest elementwise relative difference
    over entries with |ref| >= 1e-3 max |ref| (float64 arithmetic)."""
    ref, other = np.asarray(ref, np.float64), np.asarray(other, np.float64)
    if ref.shape != other.shape:
        return {"error": f"shapes differ: {ref.shape} vs {other.shape}"}
    diff = np.abs(ref - other)
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    big = np.abs(ref) >= 1e-3 * scale
    return {
        "shape": list(ref.shape),
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "max_abs_ref": scale,
        "max_abs_over_scale": float(diff.max() / scale) if scale > 0 else 0.0,
        "max_rel_elementwise": float((diff[big] / np.abs(ref[big])).max()) if big.any() else 0.0,
        "n_nonfinite": int((~np.isfinite(other)).sum() + (~np.isfinite(ref)).sum()),
    }


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def extract_on(adapter: Any, data: Any, device: torch.device, batch_size: int):
    """(pooled H, per-atom F, (wall, process CPU) seconds, predictions, predict seconds) on
    ``device``, after a warm-up on the first 16 structures."""
    from atomprobe.features.extract import extract_features
    from atomprobe.models.training import predict

    run = {"batch_size": batch_size, "device": device, "show_progress": False}
    extract_features(adapter, data.subset(range(min(16, len(data)))), **run)
    sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    H, _columns, _atoms, F, _ = extract_features(adapter, data, **run)
    sync(device)
    seconds = (time.perf_counter() - start, time.process_time() - cpu_start)
    start = time.perf_counter()
    y = predict(adapter, data, batch_size, device)
    sync(device)
    return H, F, seconds, y, time.perf_counter() - start


def equivalence(name: str, sets: dict[str, Any], cuda: torch.device | None, args) -> dict:
    """CPU vs CUDA features and predictions of one model on its datasets."""
    from atomprobe.device import resolve_device

    cpu = resolve_device("cpu")
    adapter, entry, datasets, load_s = load_model(name, sets, args.dimenet_basis_cache)
    result: dict[str, Any] = {
        "entry": {k: v for k, v in entry.items() if k != "train_defaults"},
        "weights": "pretrained" if name in PRETRAINED else "random init (seed 0), paper hparams",
        "n_params": sum(p.numel() for p in adapter.module.parameters()),
        "load_or_build_s": round(load_s, 2),
    }
    for dataset in datasets:
        data = sets[dataset]
        if args.n_check:
            data = data.subset(range(min(args.n_check, len(data))))
        adapter.module.to(cpu)
        H0, F0, t0, y0, p0 = extract_on(adapter, data, cpu, args.batch_size)
        item: dict[str, Any] = {
            "n_structures": len(data),
            "n_atoms": int(sum(len(z) for z in data.numbers)),
            "cpu": {
                "extract_s": round(t0[0], 3),
                "extract_process_cpu_s": round(t0[1], 3),
                "extract_structures_per_s": round(len(data) / t0[0], 2),
                "predict_s": round(p0, 3),
                "prediction_mean": float(np.mean(y0)),
                "prediction_first5": [float(v) for v in y0[:5]],
            },
        }
        if cuda is None:
            item["cuda"] = "skipped: no CUDA device"
        else:
            adapter.module.to(cuda)
            H1, F1, t1, y1, p1 = extract_on(adapter, data, cuda, args.batch_size)
            adapter.module.to(cpu)
            item["cuda"] = {
                "extract_s": round(t1[0], 3),
                "extract_process_cpu_s": round(t1[1], 3),
                "extract_structures_per_s": round(len(data) / t1[0], 2),
                "predict_s": round(p1, 3),
                "prediction_mean": float(np.mean(y1)),
                "prediction_first5": [float(v) for v in y1[:5]],
            }
            item["diff_pooled"] = difference(H0, H1)
            item["diff_atoms_last_layer"] = difference(F0, F1)
            item["diff_prediction"] = difference(y0, y1)
        result[dataset] = item
        log(f"{name} {dataset}: {json.dumps({k: v for k, v in item.items() if k != 'cpu'})}")
    if cuda is not None:
        torch.cuda.empty_cache()
    return result


# ------------------------------------------------------------------------------- throughput
def throughput(name: str, sets: dict[str, Any], device: torch.device, args) -> dict:
    """Extraction and training-step structures/s of one trained family at paper hparams."""
    from atomprobe.features.extract import extract_features
    from atomprobe.models.training import training_step

    train_set = sets["qm9_train"]
    elements = sorted({int(z) for n in train_set.numbers for z in n.tolist()})
    adapter, entry, _stats, build_s = build_trained(
        name, train_set, elements, args.dimenet_basis_cache
    )
    cfg = entry["train_defaults"]
    batch_size = int(entry.get("training", {}).get("batch_size", cfg["batch_size"]))
    module = adapter.module.to(device)
    n_extract = min(len(train_set), args.n_extract or (2048 if device.type == "cuda" else 128))
    data = train_set.subset(range(n_extract))
    run = {"batch_size": args.batch_size, "device": device, "show_progress": False}
    extract_features(adapter, data.subset(range(min(64, n_extract))), **run)
    sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    extract_features(adapter, data, **run)
    sync(device)
    extract_s = time.perf_counter() - start
    extract_cpu_s = time.process_time() - cpu_start

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    optimizer = torch.optim.Adam(module.parameters(), lr=cfg["lr"])
    y_train = torch.tensor(train_set.y, dtype=torch.float32)
    n_warm, n_steps = 2, args.train_steps or (30 if device.type == "cuda" else 3)
    batches = train_set.batches(batch_size, rng)
    module.train()
    times, cpu_times = [], []
    for step in range(n_warm + n_steps):
        try:
            rows, batch = next(batches)
        except StopIteration:
            batches = train_set.batches(batch_size, rng)
            rows, batch = next(batches)
        sync(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        batch = batch.to(device)
        y = y_train[rows].to(device)
        loss = training_step(adapter, optimizer, batch, y)
        loss_value = loss.item()  # the training loop reads it every step, too
        sync(device)
        if step >= n_warm:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    module.eval()
    train_rate = batch_size * len(times) / sum(times)
    extract_rate = n_extract / extract_s
    result = {
        "hparams": entry["hparams"],
        "n_params": sum(p.numel() for p in module.parameters()),
        "build_s": round(build_s, 2),
        "device": str(device),
        "extract": {
            "n_structures": n_extract,
            "batch_size": args.batch_size,
            "seconds": round(extract_s, 3),
            "process_cpu_s": round(extract_cpu_s, 3),
            "structures_per_s": round(extract_rate, 2),
        },
        "train": {
            "batch_size": batch_size,
            "timed_steps": len(times),
            "warmup_steps": n_warm,
            "step_s_median": round(float(np.median(times)), 4),
            "process_cpu_s_per_step": round(float(np.mean(cpu_times)), 4),
            "structures_per_s": round(train_rate, 2),
            "last_loss": loss_value,
        },
        # config/paper.yaml: train 100,000, val 5,000, probe 20,000 QM9 molecules
        "projection": {
            "epoch_s (100k train + 5k val)": round(100_000 / train_rate + 5_000 / extract_rate, 1),
            "probe_extract_s (20k)": round(20_000 / extract_rate, 1),
        },
    }
    if device.type == "cuda":
        result["max_memory_allocated_GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        torch.cuda.reset_peak_memory_stats()
    log(f"{name} throughput on {device}: extract {extract_rate:.1f}/s, train {train_rate:.1f}/s")
    del adapter, module, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


# ------------------------------------------------------------------------------------- run
def environment() -> dict[str, Any]:
    """Versions, threads and devices of this process."""
    from importlib import metadata

    versions = {}
    for name in (
        "torch",
        "numpy",
        "e3nn",
        "torch-geometric",
        "sevenn",
        "chgnet",
        "mace-torch",
        "graph-pes",
        "pymatgen-core",
        "vesin",
        "ase",
        "sympy",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions,
        "cuda_available": torch.cuda.is_available(),
        "torch_cuda": torch.version.cuda,
        "default_dtype": str(torch.get_default_dtype()),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def imported_distributions() -> list[str]:
    """Distributions whose modules this process imported (what a bare machine needs)."""
    from importlib import metadata

    owners = metadata.packages_distributions()
    top = {m.split(".")[0] for m in list(sys.modules)}
    return sorted({d for t in top for d in owners.get(t, [])})


def run(args) -> dict[str, Any]:
    """Both parts; the JSON at ``args.out`` is rewritten after every model."""
    from atomprobe.device import resolve_device
    from atomprobe.errors import ConfigError

    torch.set_num_threads(args.threads or torch.get_num_threads())
    out = Path(args.out) / "gpu_check.json" if Path(args.out).suffix != ".json" else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "environment": environment(),
        "settings": {k: str(v) for k, v in vars(args).items() if k != "func"},
        "equivalence": {},
        "throughput": {},
        "skipped": {},
    }

    def save() -> None:
        report["elapsed_s"] = round(time.perf_counter() - START, 1)
        report["imported_distributions"] = imported_distributions()
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1, default=str))
        tmp.replace(out)

    try:
        cuda = resolve_device("cuda")
    except ConfigError as exc:
        cuda = None
        report["skipped"]["cuda"] = f"CUDA parts skipped: {exc}"
        log(report["skipped"]["cuda"])
    sets = load_sets(Path(args.data))
    log(f"structures: { {k: len(v) for k, v in sets.items()} }; env {report['environment']}")
    save()

    def over_budget(what: str) -> bool:
        if args.budget_s and time.perf_counter() - START > args.budget_s:
            report["skipped"][what] = f"time budget {args.budget_s} s spent"
            log(report["skipped"][what])
            return True
        return False

    for name in args.equivalence if args.part in ("all", "equivalence") else []:
        if over_budget(f"equivalence {name}"):
            continue
        log(f"equivalence {name}")
        try:
            report["equivalence"][name] = equivalence(name, sets, cuda, args)
        except Exception as exc:  # one model's failure (a missing package...) is reported
            report["skipped"][f"equivalence {name}"] = f"{type(exc).__name__}: {exc}"
            log(traceback.format_exc())
        save()
    if args.part in ("all", "throughput"):
        if args.throughput_device == "cuda" and cuda is None:
            report["skipped"]["throughput"] = "no CUDA device (use --throughput-device cpu)"
        else:
            device = resolve_device(args.throughput_device)
            for name in args.throughput:
                if over_budget(f"throughput {name}"):
                    continue
                log(f"throughput {name} on {device}")
                try:
                    report["throughput"][name] = throughput(name, sets, device, args)
                except Exception as exc:
                    report["skipped"][f"throughput {name}"] = f"{type(exc).__name__}: {exc}"
                    log(traceback.format_exc())
                save()
    save()
    log(f"wrote {out}")
    return report


def main() -> None:
    """Command line: ``prepare`` or ``run``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="write the small structure table")
    p.add_argument("--source", default="results/data", help="folder of the structure tables")
    p.add_argument("--out", default=str(DATA))
    r = sub.add_parser("run", help="equivalence and throughput checks")
    r.add_argument("--data", default=str(DATA))
    r.add_argument("--out", default=os.environ.get("OUT", "benchmarks/out"))
    r.add_argument("--part", choices=("all", "equivalence", "throughput"), default="all")
    r.add_argument("--equivalence", nargs="*", default=DEFAULT_EQUIVALENCE)
    r.add_argument("--throughput", nargs="*", default=DEFAULT_THROUGHPUT)
    r.add_argument("--throughput-device", default="cuda", help="cuda or cpu")
    r.add_argument("--n-check", type=int, default=0, help="structures per check set (0: all)")
    r.add_argument("--batch-size", type=int, default=64, help="extraction batch size")
    r.add_argument("--n-extract", type=int, default=0, help="0: 2048 on CUDA, 128 on CPU")
    r.add_argument("--train-steps", type=int, default=0, help="0: 30 on CUDA, 3 on CPU")
    r.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    r.add_argument("--budget-s", type=float, default=0, help="skip models after this (0: none)")
    r.add_argument("--dimenet-basis-cache", type=Path, default=BASIS_CACHE)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(Path(args.source), Path(args.out))
    else:
        run(args)


if __name__ == "__main__":
    main()
