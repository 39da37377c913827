"""Sample efficiency: ridge learning curves and how early the model ranking settles.

Protocol (paper A v2 reports the numbers, not the settings; every choice is an option):
a fixed test set (``test_fraction`` of the structures, drawn with the seed) and a training pool
(the rest). For each training size N and repeat r, N structures are drawn from the pool without
replacement (seeded by (seed, N, r)); the projection (per-fold OLS on those N rows) and a ridge
probe (alpha by leave-one-out on those N rows) are fitted and scored on the test set. The
whole pool is the last size (``is_full``). Across models, :func:`ranking_agreement` compares
each N's ranking of models (mean R² over repeats) with the full-pool ranking (Spearman ρ),
with a percentile bootstrap interval over the repeats (:func:`rho_interval`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from atomprobe.cpd.checks import check_probe_inputs
from atomprobe.cpd.ridge import SharedRidgeCV
from atomprobe.cpd.scores import DEFAULT_SETTINGS, ProbeSettings, fold_matrices
from atomprobe.errors import DataError

CURVE_COLUMNS: dict[str, str] = {
    "target": "target probed",
    "representation": "representation probed (geom_v2 = residual, projection fitted on the N rows)",
    "n_train": "training structures N drawn from the pool",
    "is_full": "True for the whole training pool (the reference ranking)",
    "repeat": "subsample repeat (0-based; one repeat for the full pool)",
    "r2": "R² on the fixed test set",
}
RANKING_COLUMNS: dict[str, str] = {
    "target": "target probed",
    "representation": "representation probed",
    "n_train": "training size N",
    "n_models": "models ranked",
    "spearman_rho": "Spearman ρ between the models' mean R² at N and on the full pool",
    "ci_low": "lower end of the bootstrap interval of ρ over the repeats at N",
    "ci_high": "upper end of the bootstrap interval of ρ over the repeats at N",
}


def learning_curve(
    H: np.ndarray,
    C: np.ndarray,
    Y: np.ndarray,
    target_names: Sequence[str],
    sizes: Iterable[int] = (50, 100, 200, 500, 1000, 2000),
    n_repeats: int = 5,
    test_fraction: float = 0.2,
    representations: Iterable[str] = ("geom_v2",),
    settings: ProbeSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Test R² (CURVE_COLUMNS) per training size, repeat, target and representation.

    Sizes larger than the training pool are skipped; the pool itself is always included.

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
    sizes : iterable of int, default=(50, 100, 200, 500, 1000, 2000)
        Training sizes N (structures, each ≥ 3) drawn from the pool.
    n_repeats : int, default=5
        Subsamples per size below the full pool.
    test_fraction : float, default=0.2
        Fraction of the structures in the fixed test set (dimensionless).
    representations : iterable of str, default=("geom_v2",)
        Representations to probe.
    settings : ProbeSettings, default=DEFAULT_SETTINGS
        Seed, intercept and ridge penalty grid.

    Returns
    -------
    DataFrame
        One row per (size, repeat, representation, target) with the columns of
        ``CURVE_COLUMNS``; ``r2`` is dimensionless.

    Raises
    ------
    DataError
        Bad probe inputs or a training size below 3.
    """
    H, C, Y = check_probe_inputs(H, C, Y, 4, list(target_names))
    pool, test = train_test_split(
        np.arange(H.shape[0]), test_size=test_fraction, random_state=settings.seed
    )
    pool = np.sort(pool)
    plan = [
        (int(n), r, False) for n in sorted(set(sizes)) if n < pool.size for r in range(n_repeats)
    ]
    plan.append((pool.size, 0, True))
    if min(n for n, _, _ in plan) < 3:
        raise DataError(f"learning curve sizes {sorted(sizes)}: each N must be ≥ 3 structures")
    rows = []
    for n_train, repeat, is_full in plan:
        rng = np.random.default_rng([settings.seed, n_train, repeat])
        train = pool if is_full else np.sort(rng.choice(pool, size=n_train, replace=False))
        for representation in representations:
            X_train, X_test = fold_matrices(
                H, C, representation, train, test, settings.fit_intercept
            )
            model = SharedRidgeCV(settings.alphas, settings.scaling).fit(X_train, Y[train])
            r2 = r2_score(Y[test], model.predict(X_test), multioutput="raw_values")
            rows += [
                {
                    "target": name,
                    "representation": representation,
                    "n_train": n_train,
                    "is_full": is_full,
                    "repeat": repeat,
                    "r2": float(r2[j]),
                }
                for j, name in enumerate(target_names)
            ]
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def rho_interval(
    r2: np.ndarray, full: np.ndarray, n_bootstrap: int, level: float, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of Spearman ρ(mean R² over repeats at N, full-pool R²).

    The repeats are resampled with replacement, the same draw for every model: repeat r of
    every model is fitted on the same N structures (seeded by (seed, N, r)), so models are
    paired within a repeat and the draw keeps that pairing.

    Parameters
    ----------
    r2 : ndarray (n_models, n_repeats)
        R² of each model on each repeat at one N.
    full : ndarray (n_models,)
        R² of each model on the full pool (the reference ranking).
    n_bootstrap : int
        Bootstrap replicates.
    level : float
        Interval level, e.g. 0.95.
    seed : int
        Seed of the draws.

    Returns
    -------
    low, high : float
        The interval; NaN when fewer than two models or two repeats.
    """
    n_models, n_repeats = r2.shape
    if n_models < 2 or n_repeats < 2 or n_bootstrap < 1:
        return float("nan"), float("nan")
    draws = np.random.default_rng(seed).integers(0, n_repeats, size=(n_bootstrap, n_repeats))
    means = r2[:, draws].mean(axis=2)  # (n_models, n_bootstrap)
    # Spearman ρ is Pearson's r of the ranks (average ranks for ties, as scipy's spearmanr)
    ranks = rankdata(means, axis=0) - (n_models + 1) / 2
    reference = rankdata(full) - (n_models + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ranks * reference[:, None]).sum(axis=0) / np.sqrt(
            (ranks**2).sum(axis=0) * (reference**2).sum()
        )
    rho = rho[np.isfinite(rho)]
    if rho.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(rho, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def ranking_agreement(
    curves: pd.DataFrame, n_bootstrap: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Spearman ρ of each N's model ranking vs the full-pool ranking (RANKING_COLUMNS).

    Parameters
    ----------
    curves : DataFrame
        Learning curves of several models (CURVE_COLUMNS plus ``model``).
    n_bootstrap : int, default=1000
        Bootstrap replicates of the interval over repeats (:func:`rho_interval`).
    level : float, default=0.95
        Interval level.
    seed : int, default=0
        Seed of the bootstrap draws.

    Returns
    -------
    DataFrame
        One row per (target, representation, training size) with the columns of
        ``RANKING_COLUMNS``; ``spearman_rho`` (dimensionless) is NaN when fewer than two models
        have both that size and the full pool; the interval is taken over the models that have
        every repeat at that size.

    Raises
    ------
    DataError
        ``curves`` lacks one of the required columns.
    """
    missing = {"model", *CURVE_COLUMNS} - set(curves.columns)
    if missing:
        raise DataError(f"learning curves lack columns {sorted(missing)}")
    keys = ["target", "representation", "n_train", "is_full", "model"]
    means = curves.groupby(keys)["r2"].mean().reset_index()
    rows = []
    for (target, representation), frame in means.groupby(["target", "representation"]):
        full = frame[frame["is_full"]].set_index("model")["r2"]
        sizes = curves.loc[
            (curves["target"] == target)
            & (curves["representation"] == representation)
            & ~curves["is_full"]
        ]
        for n_train, at_n in frame[~frame["is_full"]].groupby("n_train"):
            common = full.index.intersection(at_n["model"])
            rho = np.nan
            if common.size >= 2:
                rho = spearmanr(at_n.set_index("model")["r2"][common], full[common]).statistic
            per_repeat = (
                sizes.loc[sizes["n_train"] == n_train]
                .pivot_table(index="model", columns="repeat", values="r2")
                .reindex(common)
                .dropna()
            )
            low, high = rho_interval(
                per_repeat.to_numpy(dtype=float),
                full[per_repeat.index].to_numpy(dtype=float),
                n_bootstrap,
                level,
                seed,
            )
            rows.append(
                {
                    "target": target,
                    "representation": representation,
                    "n_train": int(n_train),
                    "n_models": int(common.size),
                    "spearman_rho": float(rho),
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows, columns=list(RANKING_COLUMNS))
