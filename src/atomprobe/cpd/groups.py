"""Column-group probing: CPD scores of named subsets of the feature columns.

A group is a selector over the feature-column metadata (see docs/formats.md), e.g.
``{"L": 1}`` (MACE L=1 channels) or ``{"stream": "vector"}`` (ViSNet vector stream); a value
may also be a list of accepted values. Group ``all`` is every ``atom_norm`` column (per-atom
invariants, then pooled: the only columns before vector-aware pooling), and a selector without
an ``invariant`` field selects among those too, so neither changes when a features file also
holds ``pooled_norm`` columns; those are probed only by groups that name them, e.g.
``{"L": 1, "invariant": "pooled_norm"}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from atomprobe.cpd.scores import DEFAULT_SETTINGS, REPRESENTATIONS, ProbeSettings, ridge_scores
from atomprobe.errors import ConfigError, DataError

DEFAULT_GROUPS: dict[str, dict[str, Any]] = {
    "L0": {"L": 0},
    "L1": {"L": 1},
    "L2": {"L": 2},
    "L3": {"L": 3},
    "scalar": {"stream": "scalar"},
    "vector": {"stream": "vector"},
}

#: Values of ``cpd.groups.layers`` for one model: the deepest layer that splits each group, or
#: every layer.
GROUP_LAYERS: tuple[str, ...] = ("last", "all")


def model_group_layers(setting: str | Mapping[str, str], model: str, family: str | None) -> str:
    """The ``cpd.groups.layers`` value (``last`` or ``all``) that applies to one model.

    ``setting`` is either one value for every model, or a mapping whose keys are registry model
    names, family names and ``default``: the model's own name wins over its family, the family
    over ``default``, and ``default`` (``last`` when absent) covers every other model. A
    per-family ``all`` suits a family whose last layer lacks the groups the tables route
    through (SevenNet: the last gate keeps 128 scalars only, so L1, L2 and L3 exist on inner
    layers alone), without scoring every layer of every other model.

    Parameters
    ----------
    setting : str or mapping of str to str
        ``cpd.groups.layers``: ``last``, ``all``, or ``{default | family | model: last | all}``.
    model : str
        Registry name of the model.
    family : str or None
        Its registry family; None for ``source: features`` entries.

    Returns
    -------
    str
        ``last`` or ``all``.
    """
    if isinstance(setting, str):
        return setting
    if model in setting:
        return setting[model]
    if family is not None and family in setting:
        return setting[family]
    return setting.get("default", "last")


def check_group_layers(
    setting: str | Mapping[str, str], families: Iterable[str], models: Iterable[str]
) -> None:
    """Every key of a per-model ``cpd.groups.layers`` mapping names something that exists.

    Parameters
    ----------
    setting : str or mapping of str to str
        ``cpd.groups.layers`` (a single value passes).
    families : iterable of str
        The known families.
    models : iterable of str
        Every registry entry name (enabled or not).

    Raises
    ------
    ConfigError
        A key that is not ``default``, a family or a registry model, in one line.
    """
    if isinstance(setting, str):
        return
    families, models = set(families), set(models)
    unknown = sorted(set(setting) - {"default"} - families - models)
    if unknown:
        raise ConfigError(
            f"cpd.groups.layers: {unknown} name neither a family nor a registry model; keys are "
            f"'default', a family ({sorted(families)}) or a model name"
        )


def group_columns(
    columns: pd.DataFrame, groups: Mapping[str, Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """Positions of the columns in each group: ``{"all": all, name: positions, ...}``.

    Groups that select no column, or the columns of ``all`` (nothing beyond it), are left out.

    Parameters
    ----------
    columns : DataFrame
        One row per feature column with the metadata fields (layer, stream, L, ...; an
        absent ``invariant`` field means every column is ``atom_norm``).
    groups : mapping of str to mapping
        Group name to selector ``{field: value or list of accepted values}``; a column belongs
        to the group when every field matches, and a selector without ``invariant`` means
        ``invariant: atom_norm``.

    Returns
    -------
    dict of str to ndarray
        Group name to the integer positions of its columns, ndarray of shape (n_group_columns,);
        ``"all"`` maps to the positions of every ``atom_norm`` column.

    Raises
    ------
    ConfigError
        A group named ``all``.
    DataError
        A selector field the column metadata does not have.
    """
    if "invariant" not in columns:
        columns = columns.assign(invariant="atom_norm")
    every = columns["invariant"].to_numpy() == "atom_norm"
    selected = {"all": np.flatnonzero(every)}
    for name, selector in groups.items():
        if name == "all":
            raise ConfigError("column group name 'all' is reserved for every column; rename it")
        mask = np.ones(len(columns), dtype=bool)
        for field, wanted in {"invariant": "atom_norm", **selector}.items():
            if field not in columns:
                raise DataError(
                    f"column group {name!r}: the feature columns have no field {field!r}; "
                    f"use one of {list(columns.columns)}"
                )
            accepted = wanted if isinstance(wanted, list) else [wanted]
            mask &= columns[field].isin(accepted).to_numpy()
        if mask.any() and not np.array_equal(mask, every):
            selected[name] = np.flatnonzero(mask)
    return selected


def column_group_scores(
    H: np.ndarray,
    C: np.ndarray,
    Y: np.ndarray,
    target_names: Sequence[str],
    columns: pd.DataFrame,
    groups: Mapping[str, Mapping[str, Any]] = DEFAULT_GROUPS,
    representations: Iterable[str] = REPRESENTATIONS,
    settings: ProbeSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Per-fold ridge R² for every column group (columns ``group``, ``n_columns`` + scores).

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Features whose columns are described by ``columns`` (units of the model's features).
    C : ndarray of shape (n_samples, n_elements)
        Composition (dimensionless).
    Y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Targets, in their own units.
    target_names : sequence of str
        Name of each target column.
    columns : DataFrame
        One row per feature column (n_features rows) with the metadata fields.
    groups : mapping of str to mapping, default=DEFAULT_GROUPS
        Group name to column selector (see :func:`group_columns`).
    representations : iterable of str, default=REPRESENTATIONS
        Representations to score.
    settings : ProbeSettings, default=DEFAULT_SETTINGS
        Splits, intercept and ridge penalty grid.

    Returns
    -------
    DataFrame
        The :func:`ridge_scores` frame of each group, stacked, preceded by the columns ``group``
        (group name, ``all`` included) and ``n_columns`` (its number of feature columns).

    Raises
    ------
    DataError
        ``columns`` does not describe every feature column, or bad inputs (see
        :func:`ridge_scores`).
    """
    if len(columns) != np.shape(H)[1]:
        raise DataError(f"{len(columns)} column descriptions for {np.shape(H)[1]} feature columns")
    representations = list(representations)
    frames = []
    for name, positions in group_columns(columns, groups).items():
        frame = ridge_scores(H[:, positions], C, Y, target_names, representations, settings)
        frame.insert(0, "group", name)
        frame.insert(1, "n_columns", positions.size)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def group_layers(
    columns: pd.DataFrame, groups: Mapping[str, Any], layers: Sequence[int]
) -> dict[str, set[int]]:
    """Layers on which each column group is probed.

    ``groups.layers: all``: every layer. ``last``: the deepest layer where the group is a proper,
    non-empty part of the layer's columns. A model's last layer may hold one kind of channel
    only (MACE's last interaction keeps just its L=0 scalars), so L=0 and L=1 are then compared
    on the deepest layer that has both.

    Parameters
    ----------
    columns : DataFrame
        One row per feature column with the metadata fields, ``layer`` included.
    groups : mapping
        The ``groups`` config: ``definitions`` (group name to selector) and ``layers``
        (``all`` or ``last``, already resolved for this model by :func:`model_group_layers`).
    layers : sequence of int
        The model's layers, shallowest first.

    Returns
    -------
    dict of str to set of int
        Group name to the layers it is probed on; with ``last``, groups found on no layer are
        left out.

    Raises
    ------
    ConfigError
        ``layers`` is not ``all`` or ``last`` (a per-model mapping not resolved first).
    """
    definitions = groups["definitions"]
    if groups["layers"] not in GROUP_LAYERS:
        raise ConfigError(
            f"cpd.groups.layers: {groups['layers']!r} is not one of {list(GROUP_LAYERS)}; "
            "resolve a per-model mapping with model_group_layers first"
        )
    if groups["layers"] == "all":
        return {name: set(layers) for name in definitions}
    deepest: dict[str, int] = {}
    for layer in layers:
        in_layer = columns[columns["layer"].to_numpy() == layer].reset_index(drop=True)
        for name in group_columns(in_layer, definitions):
            deepest[name] = layer
    return {name: {deepest[name]} for name in definitions if name in deepest}
