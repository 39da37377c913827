"""Command-line entry point: ``atomprobe <step> --input k=PATH --output k=PATH --params JSON``.

Runs one pipeline step by hand, exactly as the rule that names it does: ``<step>`` is the rule's
``params.step``, ``atomprobe.<module>:<function>`` (the ``atomprobe.`` prefix may be left out),
e.g. ``atomprobe cpd.steps:cpd --input features=... --input structures=... --output scores=...
--params @cfg.json``. The step contract is :mod:`atomprobe.runner`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from atomprobe.errors import AtomprobeError
from atomprobe.runner import run_step


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
    parser.add_argument(
        "step", help="the rule's params.step, e.g. atomprobe.cpd.steps:cpd (prefix optional)"
    )
    parser.add_argument("--input", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--output", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--params", default="{}", help="JSON object, or @file.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log", default=None, help="also write the log here")
    parser.add_argument(
        "--usage", default=None, help="write the job's wall/CPU seconds and peak memory here (TSV)"
    )
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
            args.usage,
        )
    except AtomprobeError as exc:
        print(f"atomprobe {args.step}: error: {exc}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as exc:
        print(f"atomprobe {args.step}: error: --params is not valid JSON ({exc})", file=sys.stderr)
        return 2
    return 0
