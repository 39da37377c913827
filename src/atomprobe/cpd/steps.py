"""Pipeline step of the CPD score: ``cpd`` writes results/cpd/{model}/{dataset}.parquet.

A step is ``step(inputs, outputs, params, threads) -> None`` (:mod:`atomprobe.runner`); params
are the config slice documented in config/README.md (section ``cpd``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from atomprobe.cpd.groups import column_group_scores, group_layers
from atomprobe.cpd.probe_data import load_probe_data, probe_settings
from atomprobe.cpd.scores import SCORE_COLUMNS, cpd_scores
from atomprobe.io import write_parquet
from atomprobe.runner import Paths

log = logging.getLogger(__name__)

CPD_COLUMNS: dict[str, str] = {
    "model": "model name (registry)",
    "dataset": "dataset probed",
    "layer": "layer index of the pooled features",
    "group": "feature-column group (all = every column of the layer)",
    "n_columns": "feature columns in the group",
    **SCORE_COLUMNS,
}


def cpd(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """CPD scores of one model on one dataset: results/cpd/{model}/{dataset}.parquet.

    Ridge on every layer (group ``all``), column groups on the layers ``groups.layers`` names
    (:func:`~atomprobe.cpd.groups.group_layers`), nonlinear probes on the layers
    ``nonlinear.layers`` names for ``nonlinear.targets``.
    """
    features, structures = str(inputs["features"]), str(inputs["structures"])
    model, dataset, targets = params["model"], params["dataset"], list(params["targets"])
    settings = probe_settings(params, single_split=dataset in params["cv"]["single_split_datasets"])
    representations = list(params["representations"])
    data = load_probe_data(features, structures, None, targets, params["composition"]["encoding"])
    layers = sorted(int(layer) for layer in data.columns["layer"].unique())
    layers_of_group = group_layers(data.columns, params["groups"], layers)
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
            if layer in layers_of_group.get(name, ())
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
