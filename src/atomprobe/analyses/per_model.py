"""What the per-model paper-A analysis steps share: their inputs, their output, combining them.

A per-model analysis step (isomers, control, sample-efficiency curve) reads one model's pooled
features (input ``features``) and the structure table (input ``structures``) at the configured
``layer``, and writes one table (output ``table``) with a ``model`` column in front;
:func:`atomprobe.analyses.steps.combine_models` concatenates the per-model tables into
results/analyses/{name}.parquet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from atomprobe.cpd.probe_data import ProbeData, load_probe_data
from atomprobe.errors import DataError
from atomprobe.io import Paths, read_parquet, write_parquet


def analysis_data(inputs: Paths, params: Mapping[str, Any], targets: Sequence[str]) -> ProbeData:
    """The model's features at ``params['layer']`` with composition and ``targets``."""
    return load_probe_data(
        str(inputs["features"]),
        str(inputs["structures"]),
        params["layer"],
        targets,
        params["composition"]["encoding"],
    )


def analysis_options(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """An analysis' config keys except ``targets``: they are its function's keyword arguments."""
    return {key: value for key, value in cfg.items() if key != "targets"}


def write_model_table(
    frame: pd.DataFrame,
    outputs: Paths,
    params: Mapping[str, Any],
    inputs: Paths,
    columns: Mapping[str, str],
    note: str = "",
) -> None:
    """Write one model's analysis table (output ``table``), ``model`` column first.

    Parameters
    ----------
    frame : DataFrame
        The analysis' rows for this model.
    outputs, params, inputs : mapping
        The step's arguments (output ``table``; params ``model``, ``dataset``, ``layer``).
    columns : mapping of str to str
        Column -> description (metadata ``columns``).
    note : str, default=""
        Why the table is empty, if it is (metadata ``note``).
    """
    frame.insert(0, "model", params["model"])
    metadata = {
        "model": params["model"],
        "dataset": params["dataset"],
        "layer": params["layer"],
        "columns": {"model": "model name (registry)", **columns},
    }
    if note:
        metadata["note"] = note
    write_parquet(
        frame,
        str(outputs["table"]),
        metadata,
        params,
        [str(inputs["features"]), str(inputs["structures"])],
    )


def concatenate_models(paths: Sequence[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-model tables stacked in input order, and their column descriptions."""
    loaded = [read_parquet(path) for path in paths]
    if not loaded:
        raise DataError("combine_models: no per-model tables; enable a model for this dataset")
    table = pd.concat([frame for frame, _ in loaded], ignore_index=True)
    return table, loaded[0][1]["columns"]
