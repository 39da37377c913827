"""Run the step a rule names in ``params.step`` ("atomprobe.<module>:<function>").

The rule's other param, ``cfg``, is the config slice the step receives; its ``log`` names the
log file (``log.log``) and the usage record (``log.usage``: wall and CPU seconds, peak memory;
see atomprobe.runner.write_usage), both from ``job_logs()`` in common.smk. Snakemake runs this
file through its ``script:`` directive, so each rule's ``conda:`` environment applies.
"""

import time

STARTED = time.perf_counter()  # before the imports: they are part of the job's cost

import sys  # noqa: E402

from atomprobe.errors import AtomprobeError  # noqa: E402
from atomprobe.runner import as_path_list, run_step  # noqa: E402

sm = snakemake  # noqa: F821  (injected by Snakemake's script: directive)


def _paths(named) -> dict:
    """Snakemake's named inputs/outputs as plain ``name -> path | [paths]``."""
    return {
        key: str(value) if isinstance(value, str) else [str(p) for p in as_path_list(value)]
        for key, value in named.items()
    }


logs = _paths(sm.log)
try:
    run_step(
        sm.params.step,
        _paths(sm.input),
        _paths(sm.output),
        sm.params.cfg,
        sm.threads,
        logs.get("log"),
        logs.get("usage"),
        STARTED,
    )
except AtomprobeError as exc:
    print(f"atomprobe {sm.params.step}: error: {exc}", file=sys.stderr)
    sys.exit(1)
