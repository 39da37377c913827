"""Pipeline steps of the CPD score: ``cpd`` writes results/cpd/{model}/{dataset}.parquet,
``cpd_sensitivity`` writes results/cpd_sensitivity/{model}/{dataset}.parquet (Ridge R² of one
target on the last layer under every feature scaling and composition encoding, for the
sensitivity table) and ``cpd_protocols`` writes results/cpd_protocols/{model}/{dataset}.parquet
(R²_geom of the main target under the author's toolkit protocol and our fold variants,
:mod:`atomprobe.cpd.protocols`). Every score row carries the ceiling of its fold
(:mod:`atomprobe.cpd.ceiling`).

A step is ``step(inputs, outputs, params, threads) -> None`` (:mod:`atomprobe.runner`); params
are the config slice documented in config/README.md (section ``cpd``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from atomprobe.cpd.ceiling import composition_ceiling
from atomprobe.cpd.columns import (
    CPD_COLUMNS,
    SENSITIVITY_COLUMNS,
    SENSITIVITY_ENCODINGS,
    SENSITIVITY_REPRESENTATIONS,
)
from atomprobe.cpd.groups import (
    column_group_scores,
    group_columns,
    group_layers,
    model_group_layers,
)
from atomprobe.cpd.probe_data import load_probe_data, probe_settings
from atomprobe.cpd.protocols import PROTOCOL_COLUMNS, ToolkitSettings, protocol_scores
from atomprobe.cpd.scaling import SCALINGS, GuardedScaler
from atomprobe.cpd.scores import (
    ProbeSettings,
    cpd_scores,
    fold_matrices,
    make_splits,
    representation_input,
    ridge_scores,
)
from atomprobe.data.composition import encode_counts
from atomprobe.io import Paths, read_metadata, read_parquet, write_parquet

log = logging.getLogger(__name__)

#: Metadata keys of both score files: the encoding of C (``auto`` resolved), its pooling.
ENCODING_METADATA = "composition_encoding"
POOLING_METADATA = "pooling"


def cpd(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """CPD scores of one model on one dataset: results/cpd/{model}/{dataset}.parquet.

    Ridge on every layer (group ``all``: its ``atom_norm`` columns), column groups on the
    layers ``groups.layers`` names for this model
    (:func:`~atomprobe.cpd.groups.model_group_layers`, with the family the features file
    records; :func:`~atomprobe.cpd.groups.group_layers`; ``pooled_norm`` columns only in the
    groups that name them), nonlinear probes (group ``all``) on the layers ``nonlinear.layers``
    names for ``nonlinear.targets``.
    """
    features, structures = str(inputs["features"]), str(inputs["structures"])
    model, dataset, targets = params["model"], params["dataset"], list(params["targets"])
    settings = probe_settings(params, single_split=dataset in params["cv"]["single_split_datasets"])
    representations = list(params["representations"])
    data = load_probe_data(
        features, structures, None, targets, params["composition"]["encoding"], invariant=None
    )
    layers = sorted(int(layer) for layer in data.columns["layer"].unique())
    # the workflow passes this model's own value; a per-model mapping is resolved here with the
    # family the features file records (absent for your own features: then model or default)
    family = read_metadata(features).get("family")
    groups = {
        **params["groups"],
        "layers": model_group_layers(params["groups"]["layers"], model, family),
    }
    layers_of_group = group_layers(data.columns, groups, layers)
    nonlinear = params["nonlinear"]
    nonlinear_targets = [t for t in nonlinear["targets"].get(dataset, []) if t in targets]
    frames = []
    for layer in layers:
        is_last = layer == layers[-1]
        positions = np.flatnonzero(data.columns["layer"].to_numpy() == layer)
        H, columns = data.H[:, positions], data.columns.iloc[positions].reset_index(drop=True)
        probed = {
            name: selector
            for name, selector in groups["definitions"].items()
            if layer in layers_of_group.get(name, ())
        }
        scores = column_group_scores(
            H, data.C, data.Y, targets, columns, probed, representations, settings
        )
        if nonlinear_targets and (nonlinear["layers"] == "all" or is_last):
            picked = [targets.index(t) for t in nonlinear_targets]
            every = H[:, columns["invariant"].to_numpy() == "atom_norm"]
            extra = cpd_scores(
                every,
                data.C,
                data.Y[:, picked],
                nonlinear_targets,
                nonlinear["probes"],
                nonlinear["representations"],
                settings,
            )
            extra.insert(0, "group", "all")
            extra.insert(1, "n_columns", every.shape[1])
            scores = pd.concat([scores, extra], ignore_index=True)
        scores.insert(0, "layer", layer)
        frames.append(scores)
        log.info("%s/%s layer %d: %d scores", model, dataset, layer, len(scores))
    ceiling = composition_ceiling(data.C, data.Y, targets, settings)
    table = pd.concat(frames, ignore_index=True).merge(
        ceiling, on=["target", "repeat", "fold"], how="left"
    )
    table.insert(0, "model", model)
    table.insert(1, "dataset", dataset)
    metadata = {
        "model": model,
        "dataset": dataset,
        "elements": data.elements,
        ENCODING_METADATA: data.encoding,
        POOLING_METADATA: data.pooling,
        "n_structures": int(data.H.shape[0]),
        "columns": CPD_COLUMNS,
    }
    write_parquet(
        table[list(CPD_COLUMNS)], str(outputs["scores"]), metadata, params, [features, structures]
    )


def guard_clipping(
    H: np.ndarray, C: np.ndarray, representations: list[str], settings: ProbeSettings
) -> pd.DataFrame:
    """How many test values the guarded scaler clips, per split and representation.

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Features (units of the model's features).
    C : ndarray of shape (n_samples, n_elements)
        Composition (dimensionless).
    representations : list of str
        Representations to check, as in :func:`~atomprobe.cpd.scores.fold_matrices`.
    settings : ProbeSettings
        Splits and composition intercept (the same splits as the scores).

    Returns
    -------
    DataFrame
        Columns ``representation, repeat, fold, n_clipped`` (count of test values outside the
        training support that :class:`~atomprobe.cpd.scaling.GuardedScaler` clips).
    """
    in_sample = None
    if "geom_v1" in representations:
        in_sample = representation_input(H, C, "geom_v1", settings.fit_intercept)[0]
    rows = []
    for repeat, fold, train, test in make_splits(H.shape[0], settings):
        for representation in representations:
            X_train, X_test = fold_matrices(
                H, C, representation, train, test, settings.fit_intercept, in_sample
            )
            X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)
            outside = GuardedScaler().fit(X_train).outside_support(X_test)
            rows.append((representation, repeat, fold, int(np.count_nonzero(outside))))
    return pd.DataFrame(rows, columns=["representation", "repeat", "fold", "n_clipped"])


def cpd_sensitivity(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Ridge R² of one target under every feature scaling and composition encoding:
    results/cpd_sensitivity/….parquet.

    The last layer, group ``all``, scalings :data:`~atomprobe.cpd.scaling.SCALINGS`, on the
    same splits as the ``cpd`` step; the other probe settings are those of ``cpd`` (``params``
    is its config slice plus ``target``). Under the encoding the ``cpd`` step uses, the
    representations :data:`SENSITIVITY_REPRESENTATIONS` (these rows are the ``cpd`` step's
    own Ridge numbers under its scaling); under each other encoding of
    :data:`SENSITIVITY_ENCODINGS`, the residuals geom_v1 and geom_v2.
    """
    features, structures = str(inputs["features"]), str(inputs["structures"])
    model, dataset, target = params["model"], params["dataset"], str(params["target"])
    settings = probe_settings(params, single_split=dataset in params["cv"]["single_split_datasets"])
    data = load_probe_data(features, structures, None, [target], params["composition"]["encoding"])
    layer = int(data.columns["layer"].max())
    positions = np.flatnonzero(data.columns["layer"].to_numpy() == layer)
    H = data.H[:, positions]
    encodings = [data.encoding, *(e for e in SENSITIVITY_ENCODINGS if e != data.encoding)]
    parts = []
    for encoding in encodings:
        main = encoding == data.encoding
        C = data.C if main else encode_counts(data.counts, encoding)
        representations = [
            r for r in SENSITIVITY_REPRESENTATIONS if main or r in ("geom_v1", "geom_v2")
        ]
        frames = []
        for scaling in SCALINGS:
            scores = ridge_scores(
                H,
                C,
                data.Y,
                [target],
                representations,
                dataclasses.replace(settings, scaling=scaling),
            )
            scores.insert(0, "scaling", scaling)
            frames.append(scores)
            log.info(
                "%s/%s layer %d, encoding %s, scaling %s: %d scores",
                model,
                dataset,
                layer,
                encoding,
                scaling,
                len(scores),
            )
        clipped = guard_clipping(H, C, representations, settings)
        ceiling = composition_ceiling(C, data.Y, [target], settings)
        part = (
            pd.concat(frames, ignore_index=True)
            .merge(clipped, on=["representation", "repeat", "fold"], how="left")
            .merge(ceiling, on=["target", "repeat", "fold"], how="left")
        )
        part.insert(0, "encoding", encoding)
        part.insert(1, "main", main)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    table.insert(0, "model", model)
    table.insert(1, "dataset", dataset)
    table.insert(2, "layer", layer)
    metadata = {
        "model": model,
        "dataset": dataset,
        "elements": data.elements,
        ENCODING_METADATA: data.encoding,
        POOLING_METADATA: data.pooling,
        "n_structures": int(data.H.shape[0]),
        "columns": SENSITIVITY_COLUMNS,
    }
    write_parquet(
        table[list(SENSITIVITY_COLUMNS)],
        str(outputs["scores"]),
        metadata,
        params,
        [features, structures],
    )


def _dataset_positions(structures_path: str, ids: Sequence[str]) -> np.ndarray:
    """Row of each id in the structure table (its dataset order: QM9 by index).

    Parameters
    ----------
    structures_path : str
        Structure table results/data/{dataset}.parquet.
    ids : sequence of str
        Structure ids (n_samples).

    Returns
    -------
    ndarray of shape (n_samples,)
        Integer row positions.
    """
    table, _ = read_parquet(structures_path, columns=["id"])
    position = pd.Series(np.arange(len(table)), index=table["id"].to_numpy())
    return position.loc[list(ids)].to_numpy()


def cpd_protocols(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """R²_geom of the main target under every protocol: results/cpd_protocols/….parquet.

    ``params``: the ``cpd`` probe settings (``composition``, ``cv``, ``scaling``, ``ridge``,
    ``seed``), ``model``, ``dataset``, ``target`` and ``protocols.toolkit``.
    """
    features, structures = str(inputs["features"]), str(inputs["structures"])
    model, dataset, target = params["model"], params["dataset"], str(params["target"])
    settings = probe_settings(params)
    toolkit = ToolkitSettings(**params["protocols"]["toolkit"])
    data = load_probe_data(
        features, structures, "last", [target], params["composition"]["encoding"]
    )
    layer = int(data.columns["layer"].max())
    H = data.H[:, group_columns(data.columns, {})["all"]]  # the columns of results/cpd's ``all``
    fractions = data.counts / data.counts.sum(axis=1, keepdims=True)
    position = _dataset_positions(structures, data.ids)
    table = protocol_scores(
        H, data.C, fractions, data.Y[:, 0], data.formulas, position, settings, toolkit
    )
    table.insert(0, "model", model)
    table.insert(1, "dataset", dataset)
    table.insert(2, "layer", layer)
    table.insert(4, "target", target)
    means = table.groupby("protocol", sort=False)["r2"].mean()
    log.info("%s/%s %s layer %d: %s", model, dataset, target, layer, means.round(3).to_dict())
    metadata = {
        "model": model,
        "dataset": dataset,
        "elements": data.elements,
        "n_structures": int(data.H.shape[0]),
        "row_order": "dataset order (structure-table rows; QM9 by index)",
        "toolkit": {"package": "matscope 0.2.0", **dataclasses.asdict(toolkit)},
        "columns": PROTOCOL_COLUMNS,
    }
    write_parquet(
        table[list(PROTOCOL_COLUMNS)],
        str(outputs["scores"]),
        metadata,
        params,
        [features, structures],
    )
