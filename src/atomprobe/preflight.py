"""Everything checkable before the first job: config files, the config, datasets, the registry
and the feature files of ``source: features`` entries.

The workflow runs these while Snakemake parses it (:func:`check_config` in the Snakefile,
:func:`check_data_and_models` in ``workflow/rules/common.smk``), so a wrong key, value, target,
file or checksum stops the run with one line before any job starts; ``tests/test_preflight.py``
runs :func:`check_run` on a corpus of malformed inputs. Checks that belong to the machine a job
runs on (a GPU for ``device: cuda``, ``MP_API_KEY``) stay in the job, as one line too.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from atomprobe.config import load_yaml, validate_config
from atomprobe.cpd.groups import check_group_layers
from atomprobe.cpd.scores import MLP_MIN_TRAINING_ROWS, ProbeSettings
from atomprobe.data.datasets import (
    check_config_targets,
    check_dataset_entries,
    configured_datasets,
    max_structures,
)
from atomprobe.errors import AtomprobeError, ConfigError
from atomprobe.features.imported import check_brought_file
from atomprobe.features.io import check_feature_ids
from atomprobe.features.pooling import check_vector_pooling
from atomprobe.models.families import FAMILIES, family_info
from atomprobe.models.registry import brought_features_path, load_registry
from atomprobe.models.sources import Source, source_of

Datasets = dict[str, dict[str, Any]]
Registry = dict[str, dict[str, Any]]


def check_config(config: Mapping[str, Any], config_files: Sequence[str | Path] = ()) -> None:
    """The config files parse (no key given twice) and the merged config fits the schemas.

    Parameters
    ----------
    config : mapping
        The merged config (default config with the overlays over it).
    config_files : sequence of str or Path, default=()
        The files it was merged from, named in messages.

    Raises
    ------
    ConfigError
        One line naming the file (and line) or the key.
    """
    source = " + ".join(map(str, config_files)) or "config"
    for path in config_files:
        load_yaml(path)
    if "resources" in config:
        raise ConfigError(
            f"{source}: key resources is gone: what a rule's jobs ask for is Snakemake's own "
            "setting now; move it to `set-resources: {RULE: {mem_mb: N, runtime: MINUTES}}` "
            "and `set-threads: {RULE: N}` in a profile (profiles/paper/config.yaml does so) or "
            "pass --set-resources RULE:mem_mb=N"
        )
    validate_config(config, source=source)


def check_data_and_models(
    config: Mapping[str, Any], structures_dir: str | Path = "results/data"
) -> tuple[Datasets, Registry]:
    """The datasets, the targets the config names, vector-aware pooling's pooling method, the
    registry, the per-model keys of ``cpd.groups.layers`` and your feature files.

    Parameters
    ----------
    config : mapping
        The validated config.
    structures_dir : str or Path, default="results/data"
        Where the structure tables are: a features entry's ids are checked against its
        dataset's table when that exists already.

    Returns
    -------
    datasets : dict
        The configured datasets (null entries left out).
    registry : dict
        The validated registry entries.

    Raises
    ------
    AtomprobeError
        One line naming the file, the entry or key, and the fix.
    """
    datasets = configured_datasets(config)
    check_dataset_entries(datasets)
    check_config_targets(config, datasets)
    if config["features"]["pooled_norm"]:
        check_vector_pooling(config["features"]["pooling"])
    check_routing_groups(config)
    check_probe_sizes(config, datasets)
    registry = load_registry(config["registry"], config["models"], datasets)
    check_group_layers(
        config["cpd"]["groups"]["layers"], FAMILIES, load_yaml(config["registry"])["models"]
    )
    for name, entry in registry.items():
        if source_of(entry) is not Source.FEATURES:
            continue
        for dataset in entry["paths"]:
            for key in ("paths", "atom_paths"):
                path = brought_features_path(entry, dataset, atoms=key == "atom_paths")
                if path is None:
                    continue
                try:
                    check_brought_file(path, name, dataset, atoms=key == "atom_paths")
                    table = Path(structures_dir) / f"{dataset}.parquet"
                    if table.exists() and Path(path).suffix.lower() == ".parquet":
                        check_feature_ids(path, table)
                except AtomprobeError as exc:
                    raise ConfigError(
                        f"{config['registry']}: models.{name}.{key}.{dataset}: {exc}"
                    ) from exc
    return datasets, registry


def check_routing_groups(config: Mapping[str, Any]) -> None:
    """``render.routing.groups`` names model families and CPD column groups that exist.

    Parameters
    ----------
    config : mapping
        The validated config.

    Raises
    ------
    ConfigError
        One line naming the family or the groups and what exists.
    """
    defined = list(config["cpd"]["groups"]["definitions"])
    for family, groups in config["render"]["routing"]["groups"].items():
        try:
            family_info(family)
        except ConfigError as exc:
            raise ConfigError(f"render.routing.groups: {exc}") from exc
        unknown = [g for g in groups if g not in defined]
        if unknown:
            raise ConfigError(
                f"render.routing.groups.{family}: {unknown} are not column groups of "
                f"cpd.groups.definitions ({defined}); define them there or fix the names"
            )


def _probed_rows(name: str, entry: Mapping[str, Any], split: str) -> tuple[int | None, str]:
    """Structures probed on a dataset (None when not known before its jobs) and the key that
    sets their number."""
    splits = entry.get("splits")
    if splits is not None and "train" in splits:
        return int(splits[split]), f"data.{name}.splits.{split}"
    if splits is not None:  # splits read from the structures: known after the data job
        return None, f"data.{name}"
    key = "size" if "size" in entry else "path"
    return max_structures(name, entry), f"data.{name}.{key}"


def check_probe_sizes(config: Mapping[str, Any], datasets: Datasets) -> None:
    """Each probed dataset has the structures its probes need.

    The CPD probes of a dataset (Ridge, and the nonlinear probes where it has nonlinear
    targets) and, on ``analyses.dataset``, the compositional-control probes, each split by
    ``cpd.cv``: every split needs two test and two training rows, an early-stopping MLP 11
    training rows (:meth:`atomprobe.cpd.scores.ProbeSettings.rows_needed`).

    Parameters
    ----------
    config : mapping
        The validated config.
    datasets : dict
        The configured datasets.

    Raises
    ------
    ConfigError
        One line naming the key that sets the number of probed structures, the number the
        probes need, and the fix.
    """
    cpd, analyses = config["cpd"], config["analyses"]
    needs: list[tuple[str, list[str], bool, str]] = []
    for name in (d for d in cpd["targets"] if d in datasets):
        nonlinear = cpd["nonlinear"]["probes"] if cpd["nonlinear"]["targets"].get(name) else []
        single = name in cpd["cv"]["single_split_datasets"]
        needs.append((name, ["ridge", *nonlinear], single, "CPD probes"))
    needs.append((analyses["dataset"], list(analyses["control"]["probes"]), False, "control"))
    for name, probes, single, what in needs:
        n_rows, key = _probed_rows(name, datasets[name], config["features"]["split"])
        settings = ProbeSettings.from_config(cpd, config["seed"], single_split=single)
        needed = settings.rows_needed(probes)
        if n_rows is None or n_rows >= needed:
            continue
        split = (
            f"a {settings.test_fraction} test split" if single else f"{settings.n_folds}-fold CV"
        )
        mlp = (
            f", {MLP_MIN_TRAINING_ROWS} training rows per split for the early-stopping MLP"
            if needed > settings.min_rows
            else ""
        )
        knob = "cpd.cv.test_fraction" if single else "cpd.cv.n_folds"
        raise ConfigError(
            f"{key}: {n_rows} structures are probed, but the {what} ({', '.join(probes)}; "
            f"{split}{mlp}) need at least {needed}; raise it or lower {knob}"
        )


def check_resource_rules(overridden: Iterable[str], rule_names: Sequence[str]) -> None:
    """Every rule that Snakemake's ``set-resources``/``set-threads`` names is a rule of the
    workflow (Snakemake itself ignores a name that is not, leaving the rule's own declaration).

    Parameters
    ----------
    overridden : iterable of str
        The rule names under ``set-resources`` and ``set-threads`` (profile keys or
        command-line flags).
    rule_names : sequence of str
        The workflow's rules.

    Raises
    ------
    ConfigError
        A name that is not a rule, with the closest rule name if there is one.
    """
    for name in overridden:
        if name not in rule_names:
            close = difflib.get_close_matches(name, rule_names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"set-resources/set-threads: {name!r} is not a rule of this workflow; {hint}"
                "the rule names are in workflow/rules/*.smk (`snakemake --list-rules`)"
            )


def check_run(
    config: Mapping[str, Any], config_files: Sequence[str | Path] = ()
) -> tuple[Datasets, Registry]:
    """Every check the workflow runs before its first job, in its order.

    Parameters
    ----------
    config : mapping
        The merged config.
    config_files : sequence of str or Path, default=()
        The files it was merged from.

    Returns
    -------
    datasets, registry : dict
        As :func:`check_data_and_models`.

    Raises
    ------
    AtomprobeError
        The first problem, in one line.
    """
    check_config(config, config_files)
    return check_data_and_models(config)
