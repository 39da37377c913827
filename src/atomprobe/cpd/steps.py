"""Pipeline steps of paper A (CPD scores and its validation analyses), one per Snakemake rule.

Each step is ``step(inputs, outputs, params, threads) -> None`` (see ``atomprobe.cli``); params
are the config slices documented in config/README.md (sections ``cpd`` and ``analyses``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from atomprobe.analyses.control import compositional_control
from atomprobe.analyses.groups import column_group_scores, group_columns
from atomprobe.analyses.isomers import ISOMER_COLUMNS, isomer_benchmark
from atomprobe.analyses.layers import PROFILE_COLUMNS, layer_profile
from atomprobe.analyses.sample_efficiency import (
    CURVE_COLUMNS,
    RANKING_COLUMNS,
    learning_curve,
    ranking_agreement,
)
from atomprobe.cpd.scores import SCORE_COLUMNS, ProbeSettings, cpd_scores
from atomprobe.data.composition import composition_matrix
from atomprobe.data.structures import load_structures
from atomprobe.errors import ConfigError, DataError
from atomprobe.features.io import read_features
from atomprobe.io import read_parquet, write_parquet

log = logging.getLogger(__name__)


def _limit_threads(step: Callable[..., None]) -> Callable[..., None]:
    """Run a step with BLAS and OpenMP (tree probes) on the rule's ``threads`` cores."""

    @functools.wraps(step)
    def run(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
        with threadpool_limits(max(int(threads), 1)):
            step(inputs, outputs, params, threads)

    return run


Paths = Mapping[str, str | list[str]]
CPD_COLUMNS: dict[str, str] = {
    "model": "model name (registry)",
    "dataset": "dataset probed",
    "layer": "layer index of the pooled features",
    "group": "feature-column group (all = every column of the layer)",
    "n_columns": "feature columns in the group",
    **SCORE_COLUMNS,
}


@dataclass(frozen=True)
class ProbeData:
    """Features of one model and layer, aligned with composition and targets by structure id.

    H (n, d) float32 features; columns (d rows) their metadata; C (n, k) composition in the
    configured encoding; counts (n, k) element counts; elements (k,) atomic numbers labelling
    C's columns; Y (n, t) targets; formulas (n,) Hill formulas.
    """

    ids: np.ndarray
    H: np.ndarray
    columns: pd.DataFrame
    C: np.ndarray
    counts: np.ndarray
    elements: list[int]
    Y: np.ndarray
    target_names: list[str]
    formulas: np.ndarray


def load_probe_data(
    features_path: str,
    structures_path: str,
    layer: int | str | None,
    targets: Sequence[str],
    encoding: str,
) -> ProbeData:
    """Read one layer of pooled features and the matching structures; drop rows whose targets
    are missing (logged)."""
    ids, H, columns = read_features(features_path, layer=layer)
    structures = load_structures(structures_path, ids)
    absent = [t for t in targets if t not in structures.columns]
    if absent:
        raise ConfigError(
            f"targets {absent} are not columns of {structures_path}; "
            f"available: {sorted(structures.attrs['atomprobe'].get('targets', {}))}"
        )
    Y = structures[list(targets)].to_numpy(dtype=np.float64)
    keep = np.isfinite(Y).all(axis=1)
    if not keep.all():
        log.warning(
            "%s: %d structures without all targets %s dropped",
            structures_path,
            int((~keep).sum()),
            list(targets),
        )
    numbers = structures["numbers"].to_numpy()[keep]
    counts, elements = composition_matrix(numbers, encoding="counts")
    C = counts if encoding == "counts" else composition_matrix(numbers, elements, encoding)[0]
    return ProbeData(
        ids=ids[keep],
        H=H[keep],
        columns=columns,
        C=C,
        counts=counts,
        elements=elements,
        Y=Y[keep],
        target_names=list(targets),
        formulas=structures["formula"].to_numpy(dtype=str)[keep],
    )


def _settings(params: Mapping[str, Any], single_split: bool = False) -> ProbeSettings:
    return ProbeSettings.from_config(params, int(params["seed"]), single_split)


def _group_layers(
    columns: pd.DataFrame, groups: Mapping[str, Any], layers: Sequence[int]
) -> dict[str, set[int]]:
    """Layers on which each column group is probed.

    ``groups.layers: all``: every layer. ``last``: the deepest layer where the group is a proper,
    non-empty part of the layer's columns. A model's last layer may hold one kind of channel
    only (MACE's last interaction keeps just its L=0 scalars), so L=0 and L=1 are then compared
    on the deepest layer that has both.
    """
    definitions = groups["definitions"]
    if groups["layers"] == "all":
        return {name: set(layers) for name in definitions}
    deepest: dict[str, int] = {}
    for layer in layers:
        in_layer = columns[columns["layer"].to_numpy() == layer].reset_index(drop=True)
        for name in group_columns(in_layer, definitions):
            deepest[name] = layer
    return {name: {deepest[name]} for name in definitions if name in deepest}


@_limit_threads
def cpd(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """CPD scores of one model on one dataset: results/cpd/{model}/{dataset}.parquet.

    Ridge on every layer (group ``all``), column groups on the layers ``groups.layers`` names
    (:func:`_group_layers`), nonlinear probes on the layers ``nonlinear.layers`` names for
    ``nonlinear.targets``.
    """
    features, structures = str(inputs["features"]), str(inputs["structures"])
    model, dataset, targets = params["model"], params["dataset"], list(params["targets"])
    settings = _settings(params, single_split=dataset in params["cv"]["single_split_datasets"])
    representations = list(params["representations"])
    data = load_probe_data(features, structures, None, targets, params["composition"]["encoding"])
    layers = sorted(int(layer) for layer in data.columns["layer"].unique())
    group_layers = _group_layers(data.columns, params["groups"], layers)
    nonlinear = params["nonlinear"]
    nonlinear_targets = [t for t in nonlinear["targets"].get(dataset, []) if t in targets]
    frames = []
    for layer in layers:
        is_last = layer == layers[-1]
        positions = np.flatnonzero(data.columns["layer"].to_numpy() == layer)
        H, columns = data.H[:, positions], data.columns.iloc[positions].reset_index(drop=True)
        groups = {
            name: selector
            for name, selector in params["groups"]["definitions"].items()
            if layer in group_layers.get(name, ())
        }
        scores = column_group_scores(
            H, data.C, data.Y, targets, columns, groups, representations, settings
        )
        if nonlinear_targets and (nonlinear["layers"] == "all" or is_last):
            picked = [targets.index(t) for t in nonlinear_targets]
            extra = cpd_scores(
                H,
                data.C,
                data.Y[:, picked],
                nonlinear_targets,
                nonlinear["probes"],
                nonlinear["representations"],
                settings,
            )
            extra.insert(0, "group", "all")
            extra.insert(1, "n_columns", H.shape[1])
            scores = pd.concat([scores, extra], ignore_index=True)
        scores.insert(0, "layer", layer)
        frames.append(scores)
        log.info("%s/%s layer %d: %d scores", model, dataset, layer, len(scores))
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "model", model)
    table.insert(1, "dataset", dataset)
    metadata = {
        "model": model,
        "dataset": dataset,
        "elements": data.elements,
        "n_structures": int(data.H.shape[0]),
        "columns": CPD_COLUMNS,
    }
    write_parquet(
        table[list(CPD_COLUMNS)], str(outputs["scores"]), metadata, params, [features, structures]
    )


@_limit_threads
def cpd_layer_profile(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Layer profiles of every CPD score file: results/analyses/layer_profile.parquet."""
    paths = _as_list(inputs["scores"])
    scores = pd.concat([read_parquet(p)[0] for p in paths], ignore_index=True)
    profile = layer_profile(scores)
    write_parquet(profile, str(outputs["profile"]), {"columns": PROFILE_COLUMNS}, params, paths)


def _analysis_data(inputs: Paths, params: Mapping[str, Any], targets: Sequence[str]) -> ProbeData:
    return load_probe_data(
        str(inputs["features"]),
        str(inputs["structures"]),
        params["layer"],
        targets,
        params["composition"]["encoding"],
    )


def _options(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """An analysis' config keys except ``targets``: they are its function's keyword arguments."""
    return {key: value for key, value in cfg.items() if key != "targets"}


def _write_model_table(
    frame: pd.DataFrame,
    outputs: Paths,
    params: Mapping[str, Any],
    inputs: Paths,
    columns: Mapping[str, str],
) -> None:
    frame.insert(0, "model", params["model"])
    metadata = {
        "model": params["model"],
        "dataset": params["dataset"],
        "layer": params["layer"],
        "columns": {"model": "model name (registry)", **columns},
    }
    write_parquet(
        frame,
        str(outputs["table"]),
        metadata,
        params,
        [str(inputs["features"]), str(inputs["structures"])],
    )


@_limit_threads
def isomers(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Isomer benchmark of one model: results/analyses/isomers/{model}.parquet."""
    cfg = params["isomers"]
    data = _analysis_data(inputs, params, cfg["targets"])
    frame = isomer_benchmark(
        data.H,
        data.C,
        data.Y,
        data.target_names,
        data.formulas,
        settings=_settings(params),
        **_options(cfg),
    )
    _write_model_table(frame, outputs, params, inputs, ISOMER_COLUMNS)


@_limit_threads
def control(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Compositional control of one model: results/analyses/control/{model}.parquet."""
    cfg = params["control"]
    data = _analysis_data(inputs, params, [])
    frame = compositional_control(
        data.H,
        data.C,
        data.counts,
        data.elements,
        cfg["targets"],
        settings=_settings(params),
        **_options(cfg),
    )
    _write_model_table(frame, outputs, params, inputs, SCORE_COLUMNS)


@_limit_threads
def sample_efficiency_curve(
    inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int
) -> None:
    """Ridge learning curves of one model: results/analyses/sample_efficiency/{model}.parquet."""
    cfg = params["sample_efficiency"]
    data = _analysis_data(inputs, params, cfg["targets"])
    frame = learning_curve(
        data.H, data.C, data.Y, data.target_names, settings=_settings(params), **_options(cfg)
    )
    _write_model_table(frame, outputs, params, inputs, CURVE_COLUMNS)


@_limit_threads
def combine_models(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Concatenate per-model analysis tables into results/analyses/{name}.parquet; for learning
    curves also write the model-ranking agreement (output ``ranking``)."""
    paths = _as_list(inputs["tables"])
    loaded = [read_parquet(p) for p in paths]
    if not loaded:
        raise DataError("combine_models: no per-model tables; enable a model for this dataset")
    table = pd.concat([frame for frame, _ in loaded], ignore_index=True)
    columns = loaded[0][1]["columns"]
    write_parquet(table, str(outputs["table"]), {"columns": columns}, params, paths)
    if "ranking" in outputs:
        ranking = ranking_agreement(table)
        write_parquet(ranking, str(outputs["ranking"]), {"columns": RANKING_COLUMNS}, params, paths)


def _as_list(paths: str | list[str]) -> list[str]:
    return [paths] if isinstance(paths, str) else list(paths)
