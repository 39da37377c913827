"""The step contract every Snakemake rule and the ``atomprobe`` CLI run through.

A *step* is a library function ``step(inputs, outputs, params, threads) -> None``: ``inputs`` and
``outputs`` map names to one path or a list of paths, ``params`` is the config slice the rule
depends on, ``threads`` the cores the rule declares. A rule names its step explicitly as
``"atomprobe.<module>:<function>"`` (its ``params.step``); :func:`run_step` imports it, sets up
logging and runs it on ``threads`` cores: BLAS and OpenMP pools are limited (threadpoolctl) and,
for a step that imports torch, so are torch's intra-op threads. No step limits threads itself.
It also writes the job's *usage record* (wall and CPU seconds, peak memory; :func:`write_usage`),
which Snakemake's ``benchmark:`` directive would otherwise poll for.
"""

from __future__ import annotations

import importlib
import json
import logging
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from atomprobe.errors import AtomprobeError
from atomprobe.io import Paths, as_path_list, remove_stale_temporaries, write_text

Step = Callable[[Paths, Paths, dict[str, Any], int], None]
PACKAGE = "atomprobe"

log = logging.getLogger(PACKAGE)


def resolve_step(reference: str) -> Step:
    """Import the step ``"atomprobe.<module>:<function>"``.

    The ``atomprobe.`` prefix may be left out, as in ``"cpd.steps:cpd"``.

    Parameters
    ----------
    reference : str
        Step reference ``"<module>:<function>"`` (a rule's ``params.step``).

    Returns
    -------
    callable
        The step function ``step(inputs, outputs, params, threads) -> None``.

    Raises
    ------
    AtomprobeError
        A malformed reference, a module that does not exist, or no such function in it.
    """
    module_name, sep, func_name = reference.partition(":")
    if not sep or not module_name or not func_name:
        raise AtomprobeError(
            f"step {reference!r} is not of the form 'atomprobe.<module>:<function>' "
            "(as in a rule's params.step, e.g. 'atomprobe.cpd.steps:cpd')"
        )
    if module_name != PACKAGE and not module_name.startswith(f"{PACKAGE}."):
        module_name = f"{PACKAGE}.{module_name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise AtomprobeError(f"step {reference!r}: no module {module_name!r}") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise AtomprobeError(f"step {reference!r}: {module_name} has no function {func_name!r}")
    return func


def configure_logging(log_file: str | None) -> None:
    """Log INFO to stderr and, if given, to ``log_file``.

    Parameters
    ----------
    log_file : str or None
        Log file, overwritten (its folder is created); None or empty for stderr only.
    """
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


# Columns of a usage record: those of Snakemake's benchmark files that getrusage measures exactly.
USAGE_COLUMNS = ("s", "h:m:s", "max_rss", "cpu_time", "cpu_user", "cpu_system")


def write_usage(path: str, wall_s: float) -> None:
    """Write this process's usage so far as a one-row TSV in Snakemake's benchmark format.

    CPU seconds (``cpu_time`` = ``cpu_user`` + ``cpu_system``) and peak resident memory
    (``max_rss``, MB) come from ``getrusage`` for this process and its finished children: exact
    totals since the interpreter started (imports included), where Snakemake's ``benchmark:``
    samples ``/proc`` every 30 s from a thread of its own process and misses the CPU a job spends
    after its last sample (docs/benchmarks.md compares the two).

    Parameters
    ----------
    path : str
        The record's file (written atomically; its folder is created).
    wall_s : float
        Wall seconds since the job started.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    user, system = own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime
    # ru_maxrss is in KiB on Linux and in bytes on macOS
    rss_unit = 1 if sys.platform == "darwin" else 1024
    max_rss_mb = max(own.ru_maxrss, children.ru_maxrss) * rss_unit / 2**20
    hours, rest = divmod(int(wall_s), 3600)
    values = (
        f"{wall_s:.4f}",
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}",
        f"{max_rss_mb:.2f}",
        f"{user + system:.2f}",
        f"{user:.2f}",
        f"{system:.2f}",
    )
    write_text(path, "\t".join(USAGE_COLUMNS) + "\n" + "\t".join(values) + "\n")


def run_step(
    reference: str,
    inputs: Paths,
    outputs: Paths,
    params: dict[str, Any],
    threads: int = 1,
    log_file: str | None = None,
    usage_file: str | None = None,
    started: float | None = None,
) -> None:
    """Run step ``reference`` (see :func:`resolve_step`) on ``threads`` cores, logged and timed.

    BLAS and OpenMP pools are limited to ``threads`` (threadpoolctl) and, if the step's module
    imported torch, so are torch's intra-op threads. Temporary files a killed attempt left
    beside the outputs are removed first (:func:`atomprobe.io.remove_stale_temporaries`).

    Parameters
    ----------
    reference : str
        Step reference ``"atomprobe.<module>:<function>"``.
    inputs : mapping of str to str or list of str
        Input names to one path or a list of paths.
    outputs : mapping of str to str or list of str
        Output names to one path or a list of paths.
    params : dict
        The config slice the rule depends on.
    threads : int, default=1
        Cores the rule declares (at least 1 is used).
    log_file : str or None, default=None
        Log file besides stderr.
    usage_file : str or None, default=None
        Where to write the job's usage record (:func:`write_usage`), also when the step fails.
    started : float or None, default=None
        ``time.perf_counter()`` when the job's process started (its wall time counts from
        there); None: from this call.

    Raises
    ------
    AtomprobeError
        The step cannot be resolved (see :func:`resolve_step`); the step's own errors pass
        through.
    """
    job_start = time.perf_counter() if started is None else started
    configure_logging(log_file)
    try:
        func = resolve_step(reference)
        threads = max(int(threads), 1)
        torch = sys.modules.get("torch")  # imported by the step's module if it runs a model
        if torch is not None:
            torch.set_num_threads(threads)
        start = time.perf_counter()
        log.info("step %s: params=%s", reference, json.dumps(params, sort_keys=True, default=str))
        log.info("inputs=%s outputs=%s", dict(inputs), dict(outputs))
        for path in (p for value in outputs.values() for p in as_path_list(value)):
            for leftover in remove_stale_temporaries(path):
                log.info("removed %s, left by a killed attempt", leftover)
        with threadpool_limits(threads):
            func(inputs, outputs, params, threads)
        log.info("step %s finished in %.1f s", reference, time.perf_counter() - start)
    finally:
        if usage_file:
            write_usage(usage_file, time.perf_counter() - job_start)
