"""The dataset registry: every entry of the config's ``data`` section is one dataset.

A dataset entry names its ``source``; the source decides the loader (the step that writes the
structure table ``results/data/{name}.parquet``), whether the structures are periodic, and which
targets the table has. Three kinds of source:

* ``qm9pack`` | ``archive``: QM9 molecules (:mod:`atomprobe.data.qm9`);
* ``offline`` | ``api``: Materials Project crystals (:mod:`atomprobe.data.mp`);
* ``file``: any structures ASE reads (extxyz, ASE db, a folder of CIFs, ...), molecules or
  periodic, targets taken from per-structure info keys (:mod:`atomprobe.data.files`).

An entry with a ``splits`` block is split into train/val/test/probe
(``results/data/{name}_splits.parquet``): models are trained on such a dataset, and its
``features.split`` rows are the ones probed; every row of any other dataset is probed.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atomprobe.data.splits import check_split_sizes
from atomprobe.errors import ConfigError

# source -> the loader module (imported only when its facts are needed, so that reading the
# config does not import pymatgen or mp-api); each defines PERIODIC and TARGETS
SOURCES: dict[str, str] = {
    "qm9pack": "atomprobe.data.qm9",
    "archive": "atomprobe.data.qm9",
    "offline": "atomprobe.data.mp",
    "api": "atomprobe.data.mp",
    "file": "atomprobe.data.files",
}


@dataclass(frozen=True)
class SourceKind:
    """What a dataset source implies.

    Attributes
    ----------
    periodic : bool or None
        Whether the structures are periodic; None: declared by the entry (``periodic``).
    targets : dict of str to str or None
        Target column -> unit; None: declared by the entry (``targets``).
    """

    periodic: bool | None
    targets: Mapping[str, str] | None


def source_kind(name: str, entry: Mapping[str, Any]) -> SourceKind:
    """The kind of dataset ``name``'s source; ConfigError naming the known sources otherwise."""
    source = entry.get("source")
    if source not in SOURCES:
        raise ConfigError(f"data.{name}.source: {source!r} is unknown; use one of {list(SOURCES)}")
    loader = importlib.import_module(SOURCES[source])
    return SourceKind(periodic=loader.PERIODIC, targets=loader.TARGETS)


def is_periodic(name: str, entry: Mapping[str, Any]) -> bool:
    """True if dataset ``name`` holds (or may hold) periodic structures: then only model
    families with periodic support are extracted on it."""
    declared = source_kind(name, entry).periodic
    return bool(entry["periodic"]) if declared is None else declared


def dataset_targets(name: str, entry: Mapping[str, Any]) -> dict[str, str]:
    """Target column -> unit of dataset ``name`` (what CPD, training and analyses may probe)."""
    known = source_kind(name, entry).targets
    if known is not None:
        return dict(known)
    return {target: spec["unit"] for target, spec in entry["targets"].items()}


def max_structures(name: str, entry: Mapping[str, Any]) -> int | None:
    """The most structures dataset ``name`` can hold, when known before its job runs.

    Parameters
    ----------
    name : str
        The dataset.
    entry : mapping
        Its config entry.

    Returns
    -------
    int or None
        QM9: its molecules (less the uncharacterised ones when excluded); a file dataset: its
        structures when cheap to count (:func:`atomprobe.data.files.count_structures`);
        Materials Project: ``size`` (fewer when fewer crystals meet the criteria); None when
        not known before the job.
    """
    source = entry["source"]
    if source in ("qm9pack", "archive"):
        from atomprobe.data import qm9

        excluded = len(qm9.uncharacterized_indices()) if entry["exclude_uncharacterized"] else 0
        return qm9.N_MOLECULES - excluded
    if source == "file":
        from atomprobe.data.files import count_structures

        return count_structures(entry)
    return int(entry["size"])


def has_splits(entry: Mapping[str, Any]) -> bool:
    """True if the dataset is split into train/val/test/probe."""
    return entry.get("splits") is not None


def check_targets(
    datasets: Mapping[str, Mapping[str, Any]], dataset: str, targets: list[str], key: str
) -> None:
    """ConfigError naming ``key`` unless ``dataset`` is configured and has every target."""
    if dataset not in datasets:
        raise ConfigError(f"{key}: dataset {dataset!r} is not in data; use one of {list(datasets)}")
    known = dataset_targets(dataset, datasets[dataset])
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise ConfigError(
            f"{key}: {unknown} are not targets of dataset {dataset!r}; its targets: {list(known)}"
        )


def configured_datasets(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The datasets of the config's ``data`` section, name -> entry, null entries left out.

    Parameters
    ----------
    config : mapping
        The whole validated config.

    Returns
    -------
    dict of str to dict
        Name -> dataset entry, in config order.

    Raises
    ------
    ConfigError
        When every dataset is null.
    """
    datasets = {name: dict(entry) for name, entry in config["data"].items() if entry is not None}
    if not datasets:
        raise ConfigError("data: every dataset is null; configure at least one")
    return datasets


# hex digits of each checksum algorithm the archive download accepts
CHECKSUM_DIGITS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


def check_dataset_entries(datasets: Mapping[str, Mapping[str, Any]]) -> None:
    """What the schema cannot see in the dataset entries, checked before any job.

    Parameters
    ----------
    datasets : mapping
        :func:`configured_datasets`.

    Raises
    ------
    ConfigError
        qm9pack asked to keep the uncharacterised molecules it lacks, a QM9 archive checksum
        whose digest has the wrong length for its algorithm (found only
        after an 86 MB download otherwise), a Materials Project ``offline_dir`` or a file
        dataset ``path`` or ``targets_file`` that does not exist, splits larger than the
        dataset (when its size is known: :func:`max_structures`; else the splits job says so).
    """
    for name, entry in datasets.items():
        source = entry["source"]
        if source in ("qm9pack", "archive"):
            from atomprobe.data.qm9 import check_exclusion

            check_exclusion(name, source, entry["exclude_uncharacterized"])
        if source == "archive":
            algorithm, _, digest = entry["archive"]["checksum"].partition(":")
            if len(digest) != CHECKSUM_DIGITS[algorithm]:
                raise ConfigError(
                    f"data.{name}.archive.checksum: a {algorithm} digest has "
                    f"{CHECKSUM_DIGITS[algorithm]} hex digits, not {len(digest)}"
                )
        if source == "offline" and entry.get("offline_dir"):
            if not Path(entry["offline_dir"]).is_dir():
                raise ConfigError(
                    f"data.{name}.offline_dir: {entry['offline_dir']} is not a folder; "
                    "fix it or use null (the copy shipped in the package)"
                )
        if source == "file":
            for key in ("path", "targets_file"):
                if entry.get(key) and not Path(entry[key]).exists():
                    raise ConfigError(f"data.{name}.{key}: {entry[key]} does not exist")
        splits = entry.get("splits")
        n_structures = max_structures(name, entry)
        if splits is not None and "train" in splits and n_structures is not None:
            check_split_sizes(n_structures, splits, splits["disjoint"], f"data.{name}.splits")


def check_config_targets(
    config: Mapping[str, Any], datasets: Mapping[str, Mapping[str, Any]]
) -> None:
    """Every target the config names is a target of its (configured) dataset.

    Checks ``cpd.targets``, ``cpd.nonlinear.targets``, ``reconstruction.pcovr.targets``,
    ``render.targets`` and a mapping ``render.routing.targets``: each dataset they name is a
    key of ``data`` (a dataset the default config lists but yours sets to null is simply not
    probed), and the targets of each configured one are its targets; a list
    ``render.routing.targets`` holds targets of ``render.dataset``; ``analyses.dataset``,
    ``render.dataset`` and ``render.crystal_dataset`` are configured datasets, with
    ``render.main_target`` a target of ``render.dataset`` and the targets of ``analyses``
    targets of ``analyses.dataset``.

    Parameters
    ----------
    config : mapping
        The whole validated config.
    datasets : mapping
        :func:`configured_datasets`.

    Raises
    ------
    ConfigError
        One line naming the key, the unknown targets and the dataset's targets.
    """
    routing = config["render"]["routing"]["targets"]
    for key, by_dataset in (
        ("cpd.targets", config["cpd"]["targets"]),
        ("cpd.nonlinear.targets", config["cpd"]["nonlinear"]["targets"]),
        ("reconstruction.pcovr.targets", config["reconstruction"]["pcovr"]["targets"]),
        ("render.targets", config["render"]["targets"]),
        *([("render.routing.targets", routing)] if isinstance(routing, Mapping) else []),
    ):
        unknown = [dataset for dataset in by_dataset if dataset not in config["data"]]
        if unknown:
            raise ConfigError(
                f"{key}: {unknown} are not datasets of data ({list(config['data'])}); "
                "fix the name or add the dataset"
            )
        for dataset, targets in by_dataset.items():
            if dataset in datasets:
                listed = [targets] if isinstance(targets, str) else list(targets)
                check_targets(datasets, dataset, listed, f"{key}.{dataset}")
    unknown = [
        d
        for d in config["reconstruction"]["intrinsic_dimension"]["datasets"]
        if d not in config["data"]
    ]
    if unknown:
        raise ConfigError(
            f"reconstruction.intrinsic_dimension.datasets: {unknown} are not datasets of data "
            f"({list(config['data'])}); fix the name or add the dataset"
        )
    render = config["render"]
    for key in ("dataset", "crystal_dataset"):
        if render[key] not in datasets:
            raise ConfigError(
                f"render.{key}: {render[key]!r} is not a configured dataset; "
                f"use one of {list(datasets)}"
            )
    check_targets(datasets, render["dataset"], [render["main_target"]], "render.main_target")
    if not isinstance(routing, Mapping):
        check_targets(
            datasets,
            render["dataset"],
            list(routing),
            f"render.routing.targets.{render['dataset']}",
        )
    analyses = config["analyses"]
    if analyses["dataset"] not in datasets:
        raise ConfigError(
            f"analyses.dataset: {analyses['dataset']!r} is not a configured dataset; "
            f"use one of {list(datasets)}"
        )
    for name in ("isomers", "sample_efficiency"):
        check_targets(
            datasets,
            analyses["dataset"],
            list(analyses[name]["targets"]),
            f"analyses.{name}.targets",
        )
