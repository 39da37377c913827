"""Features of one model, aligned with composition and targets: what every probe step reads."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from atomprobe.cpd.scores import ProbeSettings
from atomprobe.data.composition import (
    AUTO,
    DEFAULT_POOLING,
    composition_matrix,
    encode_counts,
    resolve_encoding,
)
from atomprobe.data.structures import load_structures
from atomprobe.errors import ConfigError
from atomprobe.features.io import read_features
from atomprobe.io import read_metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeData:
    """Features of one model and layer, aligned with composition and targets by structure id.

    H (n, d) float32 features; columns (d rows) their metadata; C (n, k) composition in
    ``encoding``; counts (n, k) element counts; elements (k,) atomic numbers labelling C's
    columns; Y (n, t) targets; formulas (n,) Hill formulas; encoding the encoding of C (the
    configured one, ``auto`` resolved); pooling the pooling the features file records (None if
    it records none).
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
    encoding: str
    pooling: str | None


def load_probe_data(
    features_path: str,
    structures_path: str,
    layer: int | str | None,
    targets: Sequence[str],
    encoding: str,
    invariant: str | None = "atom_norm",
) -> ProbeData:
    """Read one layer of pooled features and the matching structures; drop rows whose targets
    are missing (logged). ``encoding`` ``auto`` is resolved from the pooling the features file
    records (:func:`~atomprobe.data.composition.resolve_encoding`). ``invariant`` selects the
    columns' invariant construction (:func:`~atomprobe.features.io.read_features`; None for
    every column)."""
    pooling = read_metadata(features_path).get("pooling")
    resolved = resolve_encoding(encoding, pooling)
    if encoding == AUTO:
        log.info(
            "%s: pooling %s -> composition encoding %s",
            features_path,
            pooling if pooling is not None else f"not recorded (taken as {DEFAULT_POOLING})",
            resolved,
        )
    ids, H, columns = read_features(features_path, layer=layer, invariant=invariant)
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
    C = encode_counts(counts, resolved)
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
        encoding=resolved,
        pooling=pooling,
    )


def probe_settings(params: Mapping[str, Any], single_split: bool = False) -> ProbeSettings:
    """Probe settings from a rule's config slice (keys of ``cpd``, and ``seed``)."""
    return ProbeSettings.from_config(params, int(params["seed"]), single_split)
