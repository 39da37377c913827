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
   skipped (no true order). All pairs are counted by sorting, never built
   (:func:`isomer_accuracy`; full QM9 has ~160 million); only drawn pairs are built.
5. Pairwise accuracy: a pair is correct (1) when the predicted order matches the true one,
   0.5 when the two predictions are exactly equal, else 0.

H_comp is identical for isomers (same Ĉ row), so its predictions tie and its accuracy is 0.5
by construction; the residual's accuracy measures geometry-only ranking. The interval is a
percentile bootstrap over formula groups.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from atomprobe.cpd.checks import check_probe_inputs
from atomprobe.cpd.ridge import SharedRidgeCV
from atomprobe.cpd.scores import DEFAULT_SETTINGS, ProbeSettings, fold_matrices
from atomprobe.errors import DataError

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


def _formula_groups(
    formulas: Sequence[str], min_group_size: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(group ids, members)``: index (in the sorted distinct formulas) and row indices, in
    row order, of every formula group with at least ``min_group_size`` structures."""
    codes, inverse = np.unique(np.asarray(formulas), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(codes.size + 1))
    ids = np.flatnonzero(np.diff(bounds) >= max(min_group_size, 2))
    return ids, [order[bounds[g] : bounds[g + 1]] for g in ids]


def _group_pairs(members: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Pairs (m, 2) of ``members`` in ``itertools.combinations`` order, or the ``cap`` of them
    drawn without replacement, in that order (same draws as choosing from the list of all).

    A drawn pair is found from its position k in the list in closed form, so only the drawn
    pairs are built.
    """
    n = members.size
    n_pairs = n * (n - 1) // 2
    if cap is None or n_pairs <= cap:
        first, second = np.triu_indices(n, 1)
        return np.column_stack([members[first], members[second]])
    rank = np.sort(rng.choice(n_pairs, size=cap, replace=False))
    first_of = np.arange(n)
    before = first_of * n - first_of * (first_of + 1) // 2  # pairs whose first index < a
    first = np.searchsorted(before, rank, side="right") - 1
    second = rank - before[first] + first + 1
    return np.column_stack([members[first], members[second]])


def isomer_pairs(
    formulas: Sequence[str],
    min_group_size: int = 2,
    max_pairs_per_group: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Isomer pairs: row indices of pairs of structures that share a formula.

    Materialises every pair (about 160 million for full QM9); :func:`isomer_accuracy` scores
    all pairs without building them.

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
        Row indices of the two structures of each pair (in ``itertools.combinations`` order of
        the group's rows), int64.
    groups : ndarray of shape (n_pairs,)
        Index of each pair's formula group (position in the sorted distinct formulas), int64.
    """
    rng = np.random.default_rng(seed)
    ids, members = _formula_groups(formulas, min_group_size)
    pairs = [_group_pairs(rows, max_pairs_per_group, rng) for rows in members]
    if not pairs:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64)
    groups = np.repeat(ids, [len(p) for p in pairs])
    return np.concatenate(pairs).astype(np.int64), groups.astype(np.int64)


def _pair_sums(
    y: np.ndarray,
    prediction: np.ndarray,
    pairs: np.ndarray,
    groups: np.ndarray,
    min_target_gap: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(group ids, score sums, pair counts)`` of explicit pairs, per group with a pair left
    after the gap filter."""
    true_gap = y[pairs[:, 0]] - y[pairs[:, 1]]
    keep = np.abs(true_gap) > min_target_gap
    pairs, groups, true_gap = pairs[keep], groups[keep], true_gap[keep]
    predicted_gap = prediction[pairs[:, 0]] - prediction[pairs[:, 1]]
    score = np.where(predicted_gap == 0, 0.5, (np.sign(predicted_gap) == np.sign(true_gap)) * 1.0)
    group_ids, group_index = np.unique(groups, return_inverse=True)
    correct = np.bincount(group_index, weights=score, minlength=group_ids.size)
    return group_ids, correct, np.bincount(group_index, minlength=group_ids.size).astype(float)


def _counted_sums(
    y: np.ndarray, prediction: np.ndarray, labels: np.ndarray, min_target_gap: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score sums and pair counts of ALL pairs within groups, counted without the pairs.

    ``labels`` (n,) is the group of each row (non-decreasing is not needed). Returns, per
    distinct label in sorted order, Σ score and the number of pairs with |Δy| > gap, exactly
    as scoring every pair would (module docstring), in O(n log² n) time and O(n) memory.

    Rows are sorted by (group, y). A pair is kept when fl(y_j − y_i) > gap ≥ 0, so its larger
    target is strict, and since fl(y_j − y_i) falls as y_i grows, the kept partners of row j are
    a prefix [s_j, e_j) of its group (found by bisection on that same float test, so the gap
    rule is applied bit for bit as today). Row j then adds #{i ∈ [s_j, e_j): p_i < p_j} correct
    pairs and half of #{p_i = p_j}. Those counts come from a merge-sort tree over the positions:
    prefix [0, e) splits into one aligned block per set bit of e, and within a block the count
    is a binary search in its sorted prediction ranks. Ranks are of (group, prediction), so a
    prefix count over [0, e_j) is s_j (every row of earlier groups) plus the count in the group.
    """
    n = y.size
    order = np.lexsort((y, labels))
    ys, ps, group = y[order], prediction[order], labels[order]
    start = np.searchsorted(group, group, side="left")
    low, high = start.copy(), np.arange(n)  # first j-partner failing the gap test, in [s, j]
    while (active := low < high).any():
        middle = (low + high) // 2
        kept = active & ((ys - ys[middle]) > min_target_gap)
        low = np.where(kept, middle + 1, low)
        high = np.where(active & ~kept, middle, high)
    end = low
    rank_order = np.lexsort((ps, group))
    distinct = np.ones(n, dtype=bool)
    distinct[1:] = (group[rank_order][1:] != group[rank_order][:-1]) | (
        ps[rank_order][1:] != ps[rank_order][:-1]
    )
    rank = np.empty(n, dtype=np.int64)
    rank[rank_order] = np.cumsum(distinct) - 1
    width = int(rank.max()) + 2 if n else 1
    below = np.zeros(n, dtype=np.int64)  # rows of [0, e_j) ranked below row j
    at_most = np.zeros(n, dtype=np.int64)  # ... ranked at most as row j
    keys = np.sort(np.arange(n) * width + rank)  # level 0: blocks of one row
    level = 0
    while (1 << level) <= n:
        has_block = (end >> level) & 1 == 1
        block = (end[has_block] >> level) - 1
        offset = block << level  # the block's first position in the sorted keys
        base = block * width + rank[has_block]
        below[has_block] += np.searchsorted(keys, base, side="left") - offset
        at_most[has_block] += np.searchsorted(keys, base + 1, side="left") - offset
        level += 1  # next level: blocks twice as long; each is two sorted runs (merge sort)
        keys = np.sort((keys // width >> 1) * width + keys % width, kind="stable")
    below -= start
    at_most -= start
    group_ids, group_index = np.unique(group, return_inverse=True)
    correct = np.bincount(group_index, weights=below + 0.5 * (at_most - below))
    counts = np.bincount(group_index, weights=end - start)
    return group_ids, correct, counts


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
    return _summary(
        *_pair_sums(y, prediction, pairs, groups, min_target_gap), n_bootstrap, level, seed
    )


def isomer_accuracy(
    y: np.ndarray,
    prediction: np.ndarray,
    formulas: Sequence[str],
    min_group_size: int = 2,
    max_pairs_per_group: int | None = None,
    min_target_gap: float = 0.0,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Pair-ordering accuracy over all isomer pairs, without building the pairs.

    The same dict, value for value, as ``pairwise_accuracy(y, prediction, *isomer_pairs(
    formulas, min_group_size, max_pairs_per_group, seed), min_target_gap, n_bootstrap, level,
    seed)``: every pair of a group is counted by sorting (O(n log² n) time, O(n) memory,
    instead of O(n²) pairs: 18.6 million for the 6,094 isomers of C7H10O2, 160 million for
    full QM9). Groups with more pairs than ``max_pairs_per_group`` draw that many pairs with
    ``seed``, as :func:`isomer_pairs` does, and score them one by one.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        True target of each structure (its own units); finite.
    prediction : ndarray of shape (n_samples,)
        Predicted target of each structure (units of ``y``); finite.
    formulas : sequence of str
        Formula of each structure (n_samples values; isomers share it).
    min_group_size : int, default=2
        Smallest formula group that contributes pairs.
    max_pairs_per_group : int or None, default=None
        At most this many pairs per group, drawn without replacement with ``seed``; None for
        all pairs.
    min_target_gap : float, default=0.0
        Pairs with ``|y_i - y_j|`` at most this (units of ``y``, ≥ 0) have no true order.
    n_bootstrap : int, default=1000
        Bootstrap resamples of the groups.
    level : float, default=0.95
        Confidence level of the percentile interval (dimensionless).
    seed : int, default=0
        Seed of the pair subsampling and of the bootstrap.

    Returns
    -------
    dict of str to float
        As :func:`pairwise_accuracy`.

    Raises
    ------
    DataError
        Lengths that differ, non-finite values, a negative gap, or no pair with distinct
        targets.
    """
    y, prediction = np.asarray(y, dtype=np.float64), np.asarray(prediction, dtype=np.float64)
    if not y.shape == prediction.shape == (len(formulas),):
        raise DataError(
            f"isomer accuracy: {y.shape} targets, {prediction.shape} predictions and "
            f"{len(formulas)} formulas; give one of each per structure"
        )
    if not (np.isfinite(y).all() and np.isfinite(prediction).all()):
        raise DataError("isomer accuracy: targets and predictions must be finite")
    if not min_target_gap >= 0:
        raise DataError(f"isomer accuracy: min_target_gap {min_target_gap} must be ≥ 0")
    rng = np.random.default_rng(seed)
    ids, members = _formula_groups(formulas, min_group_size)
    counted, counted_of, sampled, sampled_of = [], [], [], []
    for group, rows in zip(ids, members, strict=True):
        if max_pairs_per_group is None or rows.size * (rows.size - 1) // 2 <= max_pairs_per_group:
            counted.append(rows)
            counted_of.append(np.full(rows.size, group))
        else:  # drawn in group order, so the draws are those of isomer_pairs
            sampled.append(_group_pairs(rows, max_pairs_per_group, rng))
            sampled_of.append(np.full(max_pairs_per_group, group))
    sums = []
    if counted:
        rows = np.concatenate(counted)
        sums.append(
            _counted_sums(y[rows], prediction[rows], np.concatenate(counted_of), min_target_gap)
        )
    if sampled:
        sums.append(
            _pair_sums(
                y, prediction, np.concatenate(sampled), np.concatenate(sampled_of), min_target_gap
            )
        )
    group_ids, correct, counts = (
        (np.concatenate(part) for part in zip(*sums, strict=True)) if sums else (np.empty(0),) * 3
    )
    order = np.argsort(group_ids, kind="stable")
    return _summary(group_ids[order], correct[order], counts[order], n_bootstrap, level, seed)


def _summary(
    group_ids: np.ndarray,
    correct: np.ndarray,
    counts: np.ndarray,
    n_bootstrap: int,
    level: float,
    seed: int,
) -> dict[str, float]:
    """Accuracy and bootstrap interval over the groups with ≥ 1 pair (sorted group ids)."""
    scored = counts > 0
    group_ids, correct, counts = group_ids[scored], correct[scored], counts[scored]
    if group_ids.size == 0:
        raise DataError("isomer benchmark: no isomer pairs with distinct targets; add structures")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, group_ids.size, size=(n_bootstrap, group_ids.size))
    boot = correct[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return {
        "n_groups": int(group_ids.size),
        "n_pairs": int(counts.sum()),
        "accuracy": float(correct.sum() / counts.sum()),
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
    rows = []
    for representation in representations:
        prediction = out_of_fold_predictions(H, C, Y, formulas, representation, settings)
        for j, name in enumerate(target_names):
            result = isomer_accuracy(
                Y[:, j],
                prediction[:, j],
                formulas,
                min_group_size,
                max_pairs_per_group,
                min_target_gap,
                seed=settings.seed,
            )
            rows.append({"target": name, "representation": representation, **result})
    return pd.DataFrame(rows, columns=list(ISOMER_COLUMNS))
