"""Run the step a rule names in ``params.step`` ("atomprobe.<module>:<function>").

The rule's other param, ``cfg``, is the config slice the step receives. Snakemake runs this file
through its ``script:`` directive, so each rule's ``conda:`` environment applies.
"""

import sys

from atomprobe.errors import AtomprobeError
from atomprobe.runner import as_path_list, run_step

sm = snakemake  # noqa: F821  (injected by Snakemake's script: directive)


def _paths(named) -> dict:
    """Snakemake's named inputs/outputs as plain ``name -> path | [paths]``."""
    return {
        key: str(value) if isinstance(value, str) else [str(p) for p in as_path_list(value)]
        for key, value in named.items()
    }


try:
    run_step(
        sm.params.step,
        _paths(sm.input),
        _paths(sm.output),
        sm.params.cfg,
        sm.threads,
        sm.log[0] if sm.log else None,
    )
except AtomprobeError as exc:
    print(f"atomprobe {sm.params.step}: error: {exc}", file=sys.stderr)
    sys.exit(1)
