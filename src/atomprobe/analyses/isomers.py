"""Isomer benchmark: rank constitutional isomers (same formula) by a target.

Protocol (paper A v2 names the benchmark, not its settings; every choice is an option):

1. Formula groups: structures sharing a formula; only groups with ≥ ``min_group_size`` members
   contribute pairs, but every structure is used for training.
2. Folds over formulas (``GroupKFold``, shuffled with the seed): all isomers of a formula are
   held out together, so a prediction never benefits from a sibling isomer in training.
3. Per fold, the projection (per-fold OLS) and a ridge probe (alpha by leave-one-out on the
   training rows) are fitted on the training structures; each held-out structure gets an
   out-of-fold prediction from each representation.
4. Pairs: all pairs within each held-out group, or at most ``max_pairs_per_group`` drawn
   without replacement with the seed. Pairs whose targets differ by ≤ ``min_target_gap`` are
   skipped (no true order).
5. Pairwise accuracy: a pair is correct (1) when the predicted order matches the true one,
   0.5 when the two predictions are exactly equal, else 0.

H_comp is identical for isomers (same Ĉ row), so its predictions tie and its accuracy is 0.5
by construction; the residual's accuracy measures geometry-only ranking. The interval is a
percentile bootstrap over formula groups.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from atomprobe.analyses.per_model import analysis_data, analysis_options, write_model_table
from atomprobe.cpd.checks import check_probe_inputs
from atomprobe.cpd.probe_data import probe_settings
from atomprobe.cpd.ridge import SharedRidgeCV
from atomprobe.cpd.scores import DEFAULT_SETTINGS, ProbeSettings, fold_matrices
from atomprobe.errors import DataError
from atomprobe.runner import Paths

log = logging.getLogger(__name__)

ISOMER_COLUMNS: dict[str, str] = {
    "target": "target whose order is predicted",
    "representation": "geom_v2 (residual, per fold) | comp (H_comp, per fold) | full (H)",
    "n_groups": "formula groups that contributed at least one pair",
    "n_pairs": "isomer pairs scored",
    "accuracy": "fraction of pairs ordered correctly (exact prediction ties count 0.5)",
    "ci_low": "lower end of the bootstrap interval over formula groups",
    "ci_high": "upper end of the bootstrap interval over formula groups",
}


def out_of_fold_predictions(
    H: np.ndarray,
    C: np.ndarray,
    Y: np.ndarray,
    formulas: Sequence[str],
    representation: str,
    settings: ProbeSettings,
) -> np.ndarray:
    """Ridge predictions (n, t) for every structure from folds that hold out whole formulas."""
    folds = GroupKFold(n_splits=settings.n_folds, shuffle=True, random_state=settings.seed)
    prediction = np.empty_like(Y)
    for train, test in folds.split(H, groups=np.asarray(formulas)):
        X_train, X_test = fold_matrices(H, C, representation, train, test, settings.fit_intercept)
        model = SharedRidgeCV(settings.alphas, settings.scaling).fit(X_train, Y[train])
        prediction[test] = model.predict(X_test)
    return prediction


def isomer_pairs(
    formulas: Sequence[str],
    min_group_size: int = 2,
    max_pairs_per_group: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Isomer pairs: row indices of pairs of structures that share a formula.

    Parameters
    ----------
    formulas : sequence of str
        Formula of each structure (n_samples values; isomers share it).
    min_group_size : int, default=2
        Smallest formula group that contributes pairs.
    max_pairs_per_group : int or None, default=None
        At most this many pairs per group, drawn without replacement with ``seed``; None for all
        pairs.
    seed : int, default=0
        Seed of the pair subsampling.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2)
        Row indices of the two structures of each pair, int64.
    groups : ndarray of shape (n_pairs,)
        Index of each pair's formula group (position in the sorted distinct formulas), int64.
    """
    rng = np.random.default_rng(seed)
    codes, inverse = np.unique(np.asarray(formulas), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(codes.size + 1))
    pairs, group_of_pair = [], []
    for group in range(codes.size):
        members = order[bounds[group] : bounds[group + 1]]
        if members.size < min_group_size:
            continue
        candidates = np.array(list(combinations(members, 2)))
        if max_pairs_per_group is not None and len(candidates) > max_pairs_per_group:
            keep = rng.choice(len(candidates), size=max_pairs_per_group, replace=False)
            candidates = candidates[np.sort(keep)]
        pairs.append(candidates)
        group_of_pair.append(np.full(len(candidates), group))
    if not pairs:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(pairs), np.concatenate(group_of_pair)


def pairwise_accuracy(
    y: np.ndarray,
    prediction: np.ndarray,
    pairs: np.ndarray,
    groups: np.ndarray,
    min_target_gap: float = 0.0,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Pair-ordering accuracy with a bootstrap interval over groups (see module docstring).

    Pairs whose true targets differ by ≤ ``min_target_gap`` are skipped; a pair scores 1 when
    the predicted order is right, 0.5 when the two predictions are equal, else 0.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        True target of each structure (its own units).
    prediction : ndarray of shape (n_samples,)
        Predicted target of each structure (units of ``y``).
    pairs : ndarray of shape (n_pairs, 2)
        Row indices of the pairs (see :func:`isomer_pairs`).
    groups : ndarray of shape (n_pairs,)
        Formula group of each pair; the bootstrap resamples groups.
    min_target_gap : float, default=0.0
        Pairs with ``|y_i - y_j|`` at most this (units of ``y``) have no true order.
    n_bootstrap : int, default=1000
        Bootstrap resamples of the groups.
    level : float, default=0.95
        Confidence level of the percentile interval (dimensionless).
    seed : int, default=0
        Seed of the bootstrap.

    Returns
    -------
    dict of str to float
        ``n_groups`` and ``n_pairs`` (groups and pairs scored), ``accuracy`` (fraction of pairs
        ordered correctly) and ``ci_low``, ``ci_high`` (the bootstrap interval); dimensionless.

    Raises
    ------
    DataError
        No pair with distinct targets.
    """
    true_gap = y[pairs[:, 0]] - y[pairs[:, 1]]
    keep = np.abs(true_gap) > min_target_gap
    pairs, groups, true_gap = pairs[keep], groups[keep], true_gap[keep]
    if len(pairs) == 0:
        raise DataError("isomer benchmark: no isomer pairs with distinct targets; add structures")
    predicted_gap = prediction[pairs[:, 0]] - prediction[pairs[:, 1]]
    score = np.where(predicted_gap == 0, 0.5, (np.sign(predicted_gap) == np.sign(true_gap)) * 1.0)
    group_ids, group_index = np.unique(groups, return_inverse=True)
    correct = np.bincount(group_index, weights=score)
    counts = np.bincount(group_index).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, group_ids.size, size=(n_bootstrap, group_ids.size))
    boot = correct[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return {
        "n_groups": int(group_ids.size),
        "n_pairs": len(pairs),
        "accuracy": float(score.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
    }


def isomer_benchmark(
    H: np.ndarray,
    C: np.ndarray,
    Y: np.ndarray,
    target_names: Sequence[str],
    formulas: Sequence[str],
    representations: Iterable[str] = ("geom_v2", "comp", "full"),
    min_group_size: int = 2,
    max_pairs_per_group: int | None = None,
    min_target_gap: float = 0.0,
    settings: ProbeSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Pairwise isomer-ordering accuracy per target and representation (ISOMER_COLUMNS).

    Predictions are out of fold, from folds that hold out whole formulas (see the module
    docstring for the protocol).

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Features (units of the model's features).
    C : ndarray of shape (n_samples, n_elements)
        Composition (dimensionless).
    Y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Targets, in their own units.
    target_names : sequence of str
        Name of each target column.
    formulas : sequence of str
        Formula of each structure (n_samples values; isomers share it).
    representations : iterable of str, default=("geom_v2", "comp", "full")
        Representations whose ridge predictions are ranked.
    min_group_size : int, default=2
        Smallest formula group that contributes pairs.
    max_pairs_per_group : int or None, default=None
        At most this many pairs per group; None for all pairs.
    min_target_gap : float, default=0.0
        Pairs whose targets differ by at most this (units of the target) are skipped.
    settings : ProbeSettings, default=DEFAULT_SETTINGS
        Folds, seed, intercept and ridge penalty grid.

    Returns
    -------
    DataFrame
        One row per (representation, target) with the columns of ``ISOMER_COLUMNS``.

    Raises
    ------
    DataError
        Bad probe inputs, a formula count that does not match the rows, fewer distinct formulas
        than folds, or no isomer pair with distinct targets.
    """
    H, C, Y = check_probe_inputs(H, C, Y, settings.min_rows, list(target_names))
    if len(formulas) != H.shape[0]:
        raise DataError(f"isomer benchmark: {len(formulas)} formulas for {H.shape[0]} rows")
    if np.unique(np.asarray(formulas)).size < settings.n_folds:
        raise DataError(
            f"isomer benchmark: fewer distinct formulas than the {settings.n_folds} folds"
        )
    pairs, groups = isomer_pairs(formulas, min_group_size, max_pairs_per_group, settings.seed)
    rows = []
    for representation in representations:
        prediction = out_of_fold_predictions(H, C, Y, formulas, representation, settings)
        for j, name in enumerate(target_names):
            result = pairwise_accuracy(
                Y[:, j], prediction[:, j], pairs, groups, min_target_gap, seed=settings.seed
            )
            rows.append({"target": name, "representation": representation, **result})
    return pd.DataFrame(rows, columns=list(ISOMER_COLUMNS))


def isomers(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: isomer benchmark of one model, results/analyses/isomers/{model}.parquet.

    A dataset where no formula repeats (often so for crystals or your own structures) has no
    isomers to rank: the table is then empty and its metadata ``note`` says why.
    """
    cfg = params["isomers"]
    data = analysis_data(inputs, params, cfg["targets"])
    group_sizes = pd.Series(data.formulas).value_counts()
    if not (group_sizes >= max(cfg["min_group_size"], 2)).any():
        note = (
            f"no formula of dataset {params['dataset']} has {cfg['min_group_size']} or more "
            "structures: no isomers to rank"
        )
        log.warning(note)
        empty = pd.DataFrame(columns=list(ISOMER_COLUMNS))
        write_model_table(empty, outputs, params, inputs, ISOMER_COLUMNS, note)
        return
    frame = isomer_benchmark(
        data.H,
        data.C,
        data.Y,
        data.target_names,
        data.formulas,
        settings=probe_settings(params),
        **analysis_options(cfg),
    )
    write_model_table(frame, outputs, params, inputs, ISOMER_COLUMNS)
