"""Command-line entry point: ``atomprobe <step> --input k=PATH --output k=PATH --params JSON``.

Every Snakemake rule is a thin call into one *step*: a function
``step(inputs, outputs, params, threads) -> None`` where ``inputs``/``outputs`` map names to a
path (or a list of paths) and ``params`` is the config slice the rule depends on. Rules run it
through ``workflow/scripts/step.py`` (so ``conda:`` environments work); people run it with this
CLI. Steps are registered below as ``"module:function"`` so that importing the CLI stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from atomprobe.errors import AtomprobeError

Paths = Mapping[str, str | list[str]]
Step = Callable[[Paths, Paths, dict[str, Any], int], None]

# step name -> "module:function"; each stage's owner registers its steps here.
STEPS: dict[str, str] = {
    "qm9_archive": "atomprobe.data.qm9:qm9_archive",
    "qm9": "atomprobe.data.qm9:qm9",
    "qm9_splits": "atomprobe.data.splits:splits",
    "mp": "atomprobe.data.mp:mp",
    "train_model": "atomprobe.models.training:train_model",
    "model_table": "atomprobe.models.registry:model_table",
    "extract": "atomprobe.features.extract:extract",
    "extract_checkpoints": "atomprobe.features.extract:extract_checkpoints",
    "cpd": "atomprobe.cpd.steps:cpd",
    "cpd_layer_profile": "atomprobe.cpd.steps:cpd_layer_profile",
    "isomers": "atomprobe.cpd.steps:isomers",
    "control": "atomprobe.cpd.steps:control",
    "sample_efficiency_curve": "atomprobe.cpd.steps:sample_efficiency_curve",
    "combine_models": "atomprobe.cpd.steps:combine_models",
    "reconstruction": "atomprobe.analyses.reconstruction:reconstruction",
    "cumulants": "atomprobe.analyses.reconstruction:cumulants",
    "similarity": "atomprobe.analyses.similarity:similarity",
    "pcovr": "atomprobe.analyses.pcovr:pcovr",
    "convergence": "atomprobe.analyses.convergence:convergence",
    "render_table": "atomprobe.render.steps:render_table",
    "render_figure": "atomprobe.render.steps:render_figure",
    "reproduction_report": "atomprobe.render.steps:reproduction_report",
}

log = logging.getLogger("atomprobe")


def resolve_step(name: str) -> Step:
    """Import and return the function registered as step ``name``."""
    if name not in STEPS:
        known = ", ".join(sorted(STEPS))
        raise AtomprobeError(f"unknown step {name!r}; known steps: {known}")
    module_name, func_name = STEPS[name].split(":")
    return getattr(importlib.import_module(module_name), func_name)


def configure_logging(log_file: str | None) -> None:
    """Log INFO to stderr and, if given, to ``log_file``."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )


def run_step(
    name: str,
    inputs: Paths,
    outputs: Paths,
    params: dict[str, Any],
    threads: int = 1,
    log_file: str | None = None,
) -> None:
    """Run step ``name`` with logging set up; time it in the log."""
    configure_logging(log_file)
    func = resolve_step(name)
    start = time.perf_counter()
    log.info("step %s: inputs=%s outputs=%s", name, dict(inputs), dict(outputs))
    func(inputs, outputs, params, threads)
    log.info("step %s finished in %.1f s", name, time.perf_counter() - start)


def _key_paths(pairs: Sequence[str], flag: str) -> dict[str, str | list[str]]:
    mapping: dict[str, str | list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AtomprobeError(f"{flag} {pair!r}: expected NAME=PATH[,PATH...]")
        parts = value.split(",")
        mapping[key] = parts if len(parts) > 1 else value
    return mapping


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run one step, turn library errors into one-line messages."""
    parser = argparse.ArgumentParser(prog="atomprobe", description=__doc__.splitlines()[0])
    parser.add_argument("step", help="step name: " + ", ".join(sorted(STEPS)))
    parser.add_argument("--input", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--output", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--params", default="{}", help="JSON object, or @file.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log", default=None, help="also write the log here")
    args = parser.parse_args(argv)
    try:
        raw = Path(args.params[1:]).read_text() if args.params.startswith("@") else args.params
        params = json.loads(raw)
        run_step(
            args.step,
            _key_paths(args.input, "--input"),
            _key_paths(args.output, "--output"),
            params,
            args.threads,
            args.log,
        )
    except AtomprobeError as exc:
        print(f"atomprobe {args.step}: error: {exc}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as exc:
        print(f"atomprobe {args.step}: error: --params is not valid JSON ({exc})", file=sys.stderr)
        return 2
    return 0
