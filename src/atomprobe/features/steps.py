"""The features stage's steps that run a model (workflow/rules/features.smk): extraction of
pooled and per-atom features, and per-checkpoint extraction.

Each reads only its inputs and writes only its outputs (contract: :mod:`atomprobe.runner`). The
import of features you bring runs in the light ``data`` environment, without torch, so it lives
with the file readers (:func:`atomprobe.features.imported.import_features`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from atomprobe.data.progress import progress
from atomprobe.device import resolve_device
from atomprobe.errors import DataError
from atomprobe.features.extract import (
    _metadata,
    _settings,
    extract_parts,
    load_adapter,
    probe_structures,
)
from atomprobe.features.io import (
    AtomFeatureWriter,
    write_atom_features,
    write_features,
)
from atomprobe.io import Paths, write_parquet
from atomprobe.models.base import load_model
from atomprobe.models.families import family_info, get_family

log = logging.getLogger(__name__)


def extract(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: pooled features (every layer) and per-atom last-layer features of one model on
    one dataset. params: name, entry, dataset, device, and the ``features`` config section."""
    entry, dataset = params["entry"], params["dataset"]
    parts = probe_structures(inputs, dataset, params.get("split", "probe"))
    sources = [str(p) for k, p in inputs.items() if k in ("structures", "splits", "model")]
    periodic = any(part.cells is not None for part in parts)
    if periodic and not family_info(entry["family"]).supports_periodic:
        note = f"family {entry['family']} has no periodic support: not extracted on {dataset}"
        log.warning(note)
        write_features(outputs["features"], [], np.zeros((0, 0)), [], _metadata(params, None, note))
        write_atom_features(
            outputs["atoms"], [], [], [], np.zeros((0, 0)), [], _metadata(params, None, note)
        )
        return
    adapter = load_adapter(entry, inputs.get("model"))
    device = resolve_device(params.get("device", "auto"))
    meta = _metadata(params, adapter)
    with AtomFeatureWriter(outputs["atoms"], {**meta, "layer": "last"}, params, sources) as atoms:
        ids, H, columns = extract_parts(adapter, parts, atoms, device=device, **_settings(params))
    write_features(outputs["features"], ids, H, columns, meta, params, sources)


def extract_checkpoints(
    inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int
) -> None:
    """Step: pooled last-layer features of every kept training checkpoint of a trained model.

    Output columns: ``epoch``, ``id``, then the ``atom_norm`` feature columns (metadata
    ``columns``; ``pooled_norm`` is for the probes of the final model only)."""
    parts = probe_structures(inputs, params["dataset"], params.get("split", "probe"))
    family = get_family(params["entry"]["family"])
    device = resolve_device(params.get("device", "auto"))
    settings = {**_settings(params), "show_progress": False, "vector_pooling": False}
    files = sorted(Path(inputs["checkpoints"]).glob("epoch_*.pt"))
    if not files:
        raise DataError(f"{inputs['checkpoints']}: no checkpoints; retrain with checkpoint_every")
    frames, columns = [], None
    for path in progress(files, params.get("progress", True), desc="checkpoints"):
        adapter = load_model(path, family)
        ids, H, columns = extract_parts(
            adapter, parts, None, device=device, layers="last", **settings
        )
        epoch = int(path.stem.split("_")[1])
        frames.append(
            pd.concat(
                [
                    pd.DataFrame({"epoch": epoch, "id": ids}),
                    pd.DataFrame(H, columns=[c["name"] for c in columns]),
                ],
                axis=1,
            )
        )
    meta = {
        **_metadata({**params, "pooled_norm": False}, adapter),
        "columns": columns,
        "epochs": [int(p.stem.split("_")[1]) for p in files],
    }
    write_parquet(
        pd.concat(frames, ignore_index=True),
        outputs["features"],
        meta,
        params,
        [inputs["structures"], *files],
    )
