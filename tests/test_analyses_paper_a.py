"""Paper-A analyses: column groups, compositional control, isomers, sample efficiency, layers."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats import entropy
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict
from threadpoolctl import threadpool_limits

from atomprobe.analyses import (
    control_target,
    isomer_accuracy,
    isomer_benchmark,
    isomer_pairs,
    layer_profile,
    learning_curve,
    pairwise_accuracy,
    ranking_agreement,
)
from atomprobe.analyses.control import compositional_control
from atomprobe.cpd import ProbeSettings, column_group_scores, group_columns, summarize
from atomprobe.errors import ConfigError, DataError

SETTINGS = ProbeSettings(n_folds=4, seed=2)


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS and OpenMP (trees) on one thread: the CI machine has two shared cores."""
    with threadpool_limits(1):
        yield


def isomer_data(
    n_formulas: int = 60, per_formula: int = 4, d: int = 12, comp_weight: float = 1.0, seed: int = 0
):
    """Formulas with several isomers each; H = composition part + geometry; y from geometry."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 8, size=(n_formulas, 3)).astype(float)
    formula_of_row = np.repeat(np.arange(n_formulas), per_formula)
    C = counts[formula_of_row]
    geometry = rng.normal(size=(len(C), 3))
    H = C @ rng.normal(size=(3, d)) * 2 + geometry @ rng.normal(size=(3, d))
    y = (
        geometry @ np.array([1.0, -0.5, 0.3])
        + 0.05 * rng.normal(size=len(C))
        + comp_weight * C[:, 0]
    )
    formulas = np.array([f"F{i}" for i in formula_of_row])
    return H, C, y, formulas


def test_group_columns_select_by_metadata_and_skip_empty_or_total_groups():
    columns = pd.DataFrame(
        {
            "layer": [0, 0, 0, 0],
            "stream": ["scalar", "scalar", "vector", "vector"],
            "L": [0, 0, 1, 1],
        }
    )
    groups = {
        "L0": {"L": 0},
        "L2": {"L": 2},
        "layer0": {"layer": 0},
        "both": {"stream": ["scalar", "vector"], "L": [1]},
    }
    selected = group_columns(columns, groups)
    assert list(selected) == ["all", "L0", "both"]
    assert selected["L0"].tolist() == [0, 1] and selected["both"].tolist() == [2, 3]
    with pytest.raises(DataError, match="no field"):
        group_columns(columns, {"x": {"irrep": 1}})
    with pytest.raises(ConfigError, match="reserved"):
        group_columns(columns, {"all": {"L": 0}})


def test_column_groups_find_where_the_signal_lives():
    rng = np.random.default_rng(1)
    n = 400
    C = rng.integers(0, 5, size=(n, 2)).astype(float)
    signal = rng.normal(size=(n, 2))
    H = np.c_[rng.normal(size=(n, 4)), signal @ rng.normal(size=(2, 4))]
    y = signal.sum(axis=1)
    columns = pd.DataFrame({"layer": 0, "stream": "s", "L": [0] * 4 + [1] * 4})
    scores = column_group_scores(
        H, C, y, ["y"], columns, {"L0": {"L": 0}, "L1": {"L": 1}}, ("geom_v2",), SETTINGS
    )
    r2 = summarize(scores).set_index("group")["r2_mean"]
    assert r2["L1"] > 0.99 and r2["all"] > 0.99 and r2["L0"] < 0.05
    assert set(scores["n_columns"]) == {8, 4}


def test_control_targets_match_hand_computation():
    counts = np.array([[4.0, 1.0, 0.0], [6.0, 2.0, 1.0]])  # CH4, C2H6O with elements H, C, O
    elements = [1, 6, 8]
    assert np.allclose(
        control_target(counts, elements, "composition_entropy"),
        [entropy([0.8, 0.2]), entropy([6 / 9, 2 / 9, 1 / 9])],
    )
    assert np.allclose(control_target(counts, elements, "heavy_atom_fraction"), [0.2, 3 / 9])
    assert np.allclose(control_target(counts, elements, "log_n_atoms"), np.log([5, 9]))
    with pytest.raises(ConfigError, match="unknown"):
        control_target(counts, elements, "mass")


def test_isomer_pairs_are_counted_and_capped():
    formulas = ["A", "B", "A", "C", "A", "B", "D"]
    pairs, groups = isomer_pairs(formulas)
    assert len(pairs) == 3 + 1  # C(3,2) for A, C(2,2) for B; C and D have no isomer
    assert sorted(map(tuple, pairs.tolist())) == [(0, 2), (0, 4), (1, 5), (2, 4)]
    assert groups.tolist() == [0, 0, 0, 1]  # formula groups "A", "B" in sorted order
    capped, _ = isomer_pairs(formulas, max_pairs_per_group=1)
    assert len(capped) == 2
    assert len(isomer_pairs(formulas, min_group_size=3)[0]) == 3


def test_pairwise_accuracy_scores_order_and_ties():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pairs = np.array([[0, 1], [2, 3], [0, 3]])
    groups = np.array([0, 1, 1])
    right_wrong_tie = np.array([6.0, 7.0, 5.0, 5.0])  # pair 1 right, pair 2 tied, pair 3 wrong
    result = pairwise_accuracy(y, right_wrong_tie, pairs, groups)
    assert result["accuracy"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert (result["n_pairs"], result["n_groups"]) == (3, 2)


def brute_force_pairs(formulas, min_group_size=2, max_pairs_per_group=None, seed=0):
    """Reference: every pair from itertools.combinations, then the seeded draw of a capped
    group's pairs, from the full list (the protocol of the module docstring)."""
    rng = np.random.default_rng(seed)
    pairs, groups = [], []
    for group, formula in enumerate(sorted(set(formulas))):
        members = [i for i, f in enumerate(formulas) if f == formula]
        if len(members) < min_group_size:
            continue
        candidates = list(combinations(members, 2))
        if max_pairs_per_group is not None and len(candidates) > max_pairs_per_group:
            keep = rng.choice(len(candidates), size=max_pairs_per_group, replace=False)
            candidates = [candidates[k] for k in sorted(keep)]
        pairs += candidates
        groups += [group] * len(candidates)
    return np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(groups, dtype=np.int64)


def brute_force_accuracy(y, prediction, formulas, min_group_size=2, cap=None, gap=0.0, seed=0):
    """Reference: score pair by pair (1 right order, 0.5 tied prediction, 0 wrong), skip pairs
    with |Δy| ≤ gap, bootstrap the groups."""
    pairs, groups = brute_force_pairs(formulas, min_group_size, cap, seed)
    correct, count = {}, {}
    for (a, b), group in zip(pairs.tolist(), groups.tolist(), strict=True):
        true, predicted = y[a] - y[b], prediction[a] - prediction[b]
        if abs(true) <= gap:
            continue
        score = 0.5 if predicted == 0 else float(np.sign(predicted) == np.sign(true))
        correct[group] = correct.get(group, 0.0) + score
        count[group] = count.get(group, 0) + 1
    if not count:
        raise DataError("no isomer pairs with distinct targets")
    ids = sorted(count)
    correct_of, count_of = np.array([correct[g] for g in ids]), np.array([count[g] for g in ids])
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(1000, len(ids)))
    boot = correct_of[draws].sum(axis=1) / count_of[draws].sum(axis=1)
    tail = (1.0 - 0.95) / 2.0  # not 0.025: the level is given as 0.95
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    total = int(count_of.sum())
    return {
        "n_groups": len(ids),
        "n_pairs": total,
        "accuracy": float(correct_of.sum() / total),
        "ci_low": float(low),
        "ci_high": float(high),
    }


def random_isomer_case(rng):
    """Formula groups of random sizes; targets and predictions on coarse grids (many ties)."""
    n = int(rng.integers(2, 70))
    formulas = [f"F{k}" for k in rng.integers(0, int(rng.integers(1, 7)), size=n)]
    y = rng.integers(0, 6, size=n) * float(rng.choice([0.1, 0.3, 1.0]))
    prediction = rng.integers(0, 4, size=n) * 0.7 if rng.random() < 0.5 else rng.normal(size=n)
    return y, prediction, formulas


@pytest.mark.parametrize("seed", range(8))
def test_isomer_accuracy_equals_brute_force_pairs_with_ties_gaps_and_caps(seed):
    """Counting by sorting gives the pair-by-pair dict exactly (==, no tolerance), whether the
    gap falls between target values, on them (0.3 vs 0.1 · 3 in floats) or nowhere."""
    rng = np.random.default_rng(seed)
    for _ in range(25):
        y, prediction, formulas = random_isomer_case(rng)
        gap = float(rng.choice([0.0, 0.1, 0.3, 0.2999999999, 1.0]))
        min_size = int(rng.integers(2, 4))
        cap = rng.choice([None, 1, 4, 30])
        cap = None if cap is None else int(cap)
        try:
            expected = brute_force_accuracy(y, prediction, formulas, min_size, cap, gap, seed)
        except DataError:
            with pytest.raises(DataError, match="no isomer pairs"):
                isomer_accuracy(y, prediction, formulas, min_size, cap, gap, seed=seed)
            continue
        assert isomer_accuracy(y, prediction, formulas, min_size, cap, gap, seed=seed) == expected
        pairs, groups = isomer_pairs(formulas, min_size, cap, seed)
        reference_pairs, reference_groups = brute_force_pairs(formulas, min_size, cap, seed)
        assert np.array_equal(pairs, reference_pairs)
        assert np.array_equal(groups, reference_groups)
        assert pairwise_accuracy(y, prediction, pairs, groups, gap, seed=seed) == expected


def test_isomer_accuracy_adversarial_cases():
    formulas = ["A"] * 5 + ["B"] * 2
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0])
    tied_predictions = np.full(7, 3.0)
    result = isomer_accuracy(y, tied_predictions, formulas)
    assert (result["accuracy"], result["n_pairs"], result["n_groups"]) == (0.5, 11, 2)
    with pytest.raises(DataError, match="no isomer pairs"):  # every target tied
        isomer_accuracy(np.ones(7), y, formulas)
    with pytest.raises(DataError, match="no isomer pairs"):  # the gap excludes every pair
        isomer_accuracy(y, y, formulas, min_target_gap=4.0)
    only_a = isomer_accuracy(y, y, formulas, min_target_gap=1.5)  # B's only pair differs by 1
    assert (only_a["n_groups"], only_a["n_pairs"], only_a["accuracy"]) == (1, 6, 1.0)
    one_pair = isomer_accuracy(np.array([2.0, 1.0]), np.array([0.0, 1.0]), ["X", "X"])
    assert (one_pair["n_pairs"], one_pair["accuracy"], one_pair["ci_high"]) == (1, 0.0, 0.0)
    with pytest.raises(DataError, match="≥ 0"):
        isomer_accuracy(y, y, formulas, min_target_gap=-1.0)
    with pytest.raises(DataError, match="finite"):
        isomer_accuracy(y, np.r_[y[:-1], np.nan], formulas)


def test_isomer_benchmark_residual_ranks_composition_part_is_chance():
    H, C, y, formulas = isomer_data()
    result = isomer_benchmark(H, C, y, ["y"], formulas, settings=SETTINGS)
    accuracy = result.set_index("representation")["accuracy"]
    assert accuracy["comp"] == 0.5  # identical H_comp within a formula: every pair tied
    assert accuracy["geom_v2"] > 0.9
    assert (result["n_groups"] == 60).all() and (result["n_pairs"] == 60 * 6).all()
    assert (result["ci_low"] <= result["accuracy"]).all()


def test_learning_curve_improves_and_ranking_agreement():
    H, C, y, _ = isomer_data(n_formulas=150, per_formula=2, d=30, comp_weight=0.0)
    curve = learning_curve(H, C, y, ["y"], sizes=(20, 80, 10_000), n_repeats=3, settings=SETTINGS)
    means = curve.groupby("n_train")["r2"].mean()
    assert list(means.index) == [20, 80, 240]  # 10,000 > pool is skipped; pool = 240 rows
    assert means[20] < means[80] < means[240] + 1e-9
    assert curve["is_full"].sum() == 1
    frames = []
    for model, quality in {"good": 1.0, "mid": 0.5, "bad": 0.1}.items():
        frame = curve.copy()
        frame["model"] = model
        frame["r2"] = quality * frame["r2"].where(frame["n_train"] != 20, 1.0 - frame["r2"])
        frames.append(frame)
    ranking = ranking_agreement(pd.concat(frames)).set_index("n_train")["spearman_rho"]
    assert ranking[80] == pytest.approx(1.0)
    assert ranking[20] == pytest.approx(1.0)  # positive scaling keeps the order at every N
    frames[0]["r2"] = -frames[0]["r2"].where(frames[0]["n_train"] == 80, -frames[0]["r2"])
    flipped = ranking_agreement(pd.concat(frames)).set_index("n_train")["spearman_rho"]
    assert flipped[80] == pytest.approx(-0.5)


def test_layer_profile_marks_best_and_last_layer():
    scores = pd.DataFrame(
        {
            "model": "m",
            "dataset": "qm9",
            "target": "gap",
            "group": "all",
            "representation": "geom_v2",
            "probe": "ridge",
            "layer": [0, 0, 1, 1, 2, 2],
            "r2": [0.1, 0.3, 0.7, 0.9, 0.5, 0.5],
        }
    )
    profile = layer_profile(scores).set_index("layer")
    assert profile["r2_mean"].tolist() == pytest.approx([0.2, 0.8, 0.5])
    assert profile["is_best"].tolist() == [False, True, False]
    assert profile["is_last"].tolist() == [False, False, True]


def _curves(r2_at_n: np.ndarray, full: np.ndarray) -> pd.DataFrame:
    """Learning curves of len(full) models: R² per (model, repeat) at N=50, and the full pool."""
    rows = []
    for m, (repeats, reference) in enumerate(zip(r2_at_n, full, strict=True)):
        for r, value in enumerate(repeats):
            rows.append((f"m{m}", 50, False, r, value))
        rows.append((f"m{m}", 500, True, 0, reference))
    frame = pd.DataFrame(rows, columns=["model", "n_train", "is_full", "repeat", "r2"])
    return frame.assign(target="y", representation="geom_v2")


def test_ranking_rho_interval_matches_a_loop_over_scipy():
    rng = np.random.default_rng(3)
    full = np.linspace(0.1, 0.6, 6)
    r2 = full[:, None] + rng.normal(0, 0.08, size=(6, 5))
    row = ranking_agreement(_curves(r2, full), n_bootstrap=400, seed=7).iloc[0]
    draws = np.random.default_rng(7).integers(0, 5, size=(400, 5))
    rhos = [stats.spearmanr(r2[:, d].mean(axis=1), full).statistic for d in draws]
    low, high = np.quantile(rhos, [0.025, 0.975])
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert row["ci_low"] <= row["spearman_rho"] <= row["ci_high"]


def test_ranking_rho_interval_is_narrow_when_repeats_agree_and_wide_when_they_do_not():
    full = np.linspace(0.1, 0.6, 6)
    steady = full[:, None] + np.random.default_rng(0).normal(0, 0.001, size=(6, 5))
    tight = ranking_agreement(_curves(steady, full)).iloc[0]
    assert tight["ci_low"] == pytest.approx(1.0) and tight["ci_high"] == pytest.approx(1.0)
    # each repeat ranks the models at random: the mean ranking may look right, the interval
    # must say it is not settled
    noisy = np.random.default_rng(1).permutation(np.tile(full, (5, 1)).T.ravel()).reshape(6, 5)
    wide = ranking_agreement(_curves(noisy, full)).iloc[0]
    assert wide["ci_high"] - wide["ci_low"] > 0.5


def test_control_ceiling_is_the_room_composition_leaves_a_linear_probe():
    """heavy_atom_fraction is linear in fractions (no room: ceiling ≈ 0); with counts it is
    not, and the ceiling equals 1 − R² of an independent out-of-fold OLS on the same folds."""
    rng = np.random.default_rng(0)
    counts = np.column_stack([rng.integers(1, 12, 300), rng.integers(1, 8, 300)]).astype(float)
    elements = [1, 6]
    fractions = counts / counts.sum(axis=1, keepdims=True)
    H = rng.normal(size=(300, 6))
    settings = ProbeSettings(n_folds=5, seed=3)
    kwargs = {"control_targets": ["heavy_atom_fraction"], "probes": ["ridge"]}
    linear = compositional_control(H, fractions, counts, elements, settings=settings, **kwargs)
    assert linear["ceiling"].max() < 1e-9
    frame = compositional_control(H, counts, counts, elements, settings=settings, **kwargs)
    y = control_target(counts, elements, "heavy_atom_fraction")
    folds = KFold(5, shuffle=True, random_state=3)
    predicted = cross_val_predict(LinearRegression(), counts, y, cv=folds)
    per_fold = [1 - r2_score(y[test], predicted[test]) for _, test in folds.split(counts)]
    ceiling = frame.drop_duplicates("fold").sort_values("fold")["ceiling"].to_numpy()
    assert ceiling == pytest.approx(per_fold)
    assert 0.01 < ceiling.mean() < 1
