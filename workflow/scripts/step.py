"""Run the atomprobe step named after the calling rule (``params.step`` overrides)."""

import sys

from atomprobe.cli import run_step
from atomprobe.errors import AtomprobeError

sm = snakemake  # noqa: F821  (injected by Snakemake's script: directive)


def _paths(named) -> dict:
    return {k: (str(v) if isinstance(v, str) else [str(p) for p in v]) for k, v in named.items()}


params = dict(sm.params.items())
step = params.pop("step", sm.rule)
try:
    run_step(
        step,
        _paths(sm.input),
        _paths(sm.output),
        params.get("cfg", params),
        sm.threads,
        sm.log[0] if sm.log else None,
    )
except AtomprobeError as exc:
    print(f"atomprobe {step}: error: {exc}", file=sys.stderr)
    sys.exit(1)
