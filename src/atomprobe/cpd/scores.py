"""Cross-validated CPD scores: R² of probes on H, H_comp and the residual H_geom.

Representations (all fitted on training rows only, except ``geom_v1`` by definition):
    ``full``     H itself
    ``comp``     H_comp = Ĉ B, B fitted on each training fold
    ``geom_v2``  H − Ĉ B, B fitted on each training fold (paper v2)
    ``geom_v1``  H − QQᵀH, projection on all rows before splitting (paper v1; leaks test rows)
Probes: ``ridge`` (scale + ridge, alpha per target by leave-one-out on the training rows),
``mlp`` (scale + one hidden layer, target standardised on the training rows),
``gbt`` (histogram gradient-boosted trees, library defaults). The target is never residualised.
Feature scaling is :attr:`ProbeSettings.scaling` (``guarded`` by default: standardise, and clip
test values to the widened training range; see :mod:`atomprobe.cpd.scaling`).

Two implementations give the same ridge numbers: :func:`pipeline_scores` (a scikit-learn
``Pipeline`` inside ``cross_validate``, any probe) and :func:`ridge_scores` (one SVD per fold and
representation shared by every alpha and every target). Tests check they agree to 1e-8.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import RepeatedKFold, ShuffleSplit, cross_validate
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from atomprobe.cpd.checks import check_probe_inputs
from atomprobe.cpd.projection import CompositionProjector, join_composition
from atomprobe.cpd.ridge import DEFAULT_ALPHAS, SharedRidgeCV, alpha_grid
from atomprobe.cpd.scaling import DEFAULT_SCALING, make_scaler
from atomprobe.errors import ConfigError
from atomprobe.stats import median_and_blow_ups, t_interval

REPRESENTATIONS: tuple[str, ...] = ("full", "comp", "geom_v2", "geom_v1")
PROBES: tuple[str, ...] = ("ridge", "mlp", "gbt")
#: Training rows an early-stopping MLP probe needs: scikit-learn holds out a tenth (rounded up)
#: for validation and refuses fewer than two validation rows.
MLP_MIN_TRAINING_ROWS = 11
SCORE_COLUMNS: dict[str, str] = {
    "target": "target column probed (never residualised)",
    "representation": "full = H; comp = H_comp (per fold); geom_v2 = H − H_comp per fold; "
    "geom_v1 = H − QQᵀH in-sample (paper v1)",
    "probe": "ridge | mlp | gbt",
    "repeat": "repeat of the shuffled cross-validation (0-based)",
    "fold": "fold within the repeat (0-based)",
    "r2": "out-of-fold R² of the probe on the fold's test rows",
    "alpha": "ridge penalty chosen on the training rows (NaN for other probes)",
}


@dataclass(frozen=True)
class ProbeSettings:
    """Everything that fixes a CPD score besides the data (defaults = config defaults).

    ``test_fraction`` None: repeated shuffled K-fold (``n_folds`` × ``n_repeats``); a number:
    ``n_repeats`` shuffled single train/test splits with that test fraction (paper v1 on MP).

    Parameters
    ----------
    n_folds : int, default=5
        Folds per repeat of the shuffled K-fold (ignored when ``test_fraction`` is set).
    n_repeats : int, default=1
        Repeats of the K-fold, or number of single train/test splits.
    test_fraction : float or None, default=None
        Fraction of the rows in the test set of a single split (dimensionless, 0 … 1); None for
        repeated K-fold.
    seed : int, default=0
        Seed of the splits and of the MLP and GBT probes.
    fit_intercept : bool, default=True
        Whether the composition projection Ĉ = [C | 1] has an intercept column.
    alphas : tuple of float, default=DEFAULT_ALPHAS
        Ridge penalties the ridge probe chooses from, per target (see :func:`alpha_grid`).
    mlp_hidden : tuple of int, default=(128,)
        Hidden-layer sizes of the MLP probe.
    mlp_max_iter : int, default=300
        Maximum training epochs of the MLP probe.
    mlp_early_stopping : bool, default=True
        Whether the MLP probe stops early on an internal validation split.
    gbt_max_iter : int, default=100
        Boosting iterations of the gradient-boosted-trees probe.
    scaling : {"guarded", "standard", "none"}, default="guarded"
        Feature scaling of the ridge and MLP probes (:mod:`atomprobe.cpd.scaling`): standardise
        and clip test values to the widened training range, standardise only, or no scaling.

    Attributes
    ----------
    min_rows : int
        Fewest rows a split can work with (see :attr:`min_rows`; :meth:`rows_needed` for the
        probes that will run).
    """

    n_folds: int = 5
    n_repeats: int = 1
    test_fraction: float | None = None
    seed: int = 0
    fit_intercept: bool = True
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    mlp_hidden: tuple[int, ...] = (128,)
    mlp_max_iter: int = 300
    mlp_early_stopping: bool = True
    gbt_max_iter: int = 100
    scaling: str = DEFAULT_SCALING

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], seed: int, single_split: bool = False):
        """Settings from the ``cpd`` config section (see config/README.md).

        Parameters
        ----------
        cfg : mapping
            The ``cpd`` config section, with the keys ``cv``, ``ridge``, ``mlp``, ``gbt``,
            ``composition`` and ``scaling``, as the schema validated them.
        seed : int
            Seed of the splits and of the stochastic probes.
        single_split : bool, default=False
            Use ``n_repeats`` single train/test splits of ``cv.test_fraction`` (paper v1 on MP)
            instead of repeated K-fold.

        Returns
        -------
        ProbeSettings
            The settings.
        """
        cv, ridge, mlp, gbt = cfg["cv"], cfg["ridge"], cfg["mlp"], cfg["gbt"]
        return cls(
            n_folds=int(cv["n_folds"]),
            n_repeats=int(cv["n_repeats"]),
            test_fraction=float(cv["test_fraction"]) if single_split else None,
            seed=int(seed),
            fit_intercept=bool(cfg["composition"]["intercept"]),
            alphas=alpha_grid(*ridge["log10_alpha_range"], int(ridge["n_alphas"])),
            mlp_hidden=tuple(int(h) for h in mlp["hidden"]),
            mlp_max_iter=int(mlp["max_iter"]),
            mlp_early_stopping=bool(mlp["early_stopping"]),
            gbt_max_iter=int(gbt["max_iter"]),
            scaling=str(cfg["scaling"]),
        )

    @property
    def min_rows(self) -> int:
        """Fewest rows a split can work with (two training rows per fold at least).

        Returns
        -------
        int
            4 for single splits, ``2 * max(n_folds, 2)`` for K-fold.
        """
        return 4 if self.test_fraction is not None else max(self.n_folds, 2) * 2

    def smallest_training_split(self, n_rows: int) -> int:
        """Training rows of the smallest split of ``n_rows`` rows (:func:`make_splits`).

        Parameters
        ----------
        n_rows : int
            Rows to split.

        Returns
        -------
        int
            ``n_rows`` less the largest test fold (K-fold) or the test split (single splits).
        """
        if self.test_fraction is not None:
            return n_rows - math.ceil(self.test_fraction * n_rows)
        return n_rows - math.ceil(n_rows / self.n_folds)

    def rows_needed(self, probes: Iterable[str]) -> int:
        """Fewest rows every split works with for ``probes``.

        Parameters
        ----------
        probes : iterable of str
            The probes that will run, from ``ridge``, ``mlp`` and ``gbt``.

        Returns
        -------
        int
            :attr:`min_rows`; with an early-stopping MLP, enough rows that each training split
            holds :data:`MLP_MIN_TRAINING_ROWS` (its validation tenth needs two rows).
        """
        n_rows = self.min_rows
        if "mlp" in probes and self.mlp_early_stopping:
            while self.smallest_training_split(n_rows) < MLP_MIN_TRAINING_ROWS:
                n_rows += 1
        return n_rows


DEFAULT_SETTINGS = ProbeSettings()
Split = tuple[int, int, np.ndarray, np.ndarray]


def make_splits(n_rows: int, settings: ProbeSettings) -> list[Split]:
    """Shuffled, seeded splits as ``(repeat, fold, train_rows, test_rows)``.

    Parameters
    ----------
    n_rows : int
        Number of rows (structures) to split.
    settings : ProbeSettings
        Fixes the kind of split (K-fold or single splits), the counts and the seed.

    Returns
    -------
    list of tuple of (int, int, ndarray, ndarray)
        One ``(repeat, fold, train_rows, test_rows)`` per split: 0-based repeat and fold, and
        the integer row positions of the training and test rows, ndarray of shape (n_train,)
        and (n_test,).
    """
    if settings.test_fraction is not None:
        splitter = ShuffleSplit(
            n_splits=settings.n_repeats,
            test_size=settings.test_fraction,
            random_state=settings.seed,
        )
        folds_per_repeat = 1
    else:
        splitter = RepeatedKFold(
            n_splits=settings.n_folds, n_repeats=settings.n_repeats, random_state=settings.seed
        )
        folds_per_repeat = settings.n_folds
    return [
        (i // folds_per_repeat, i % folds_per_repeat, train, test)
        for i, (train, test) in enumerate(splitter.split(np.zeros((n_rows, 1))))
    ]


def make_probe(name: str, settings: ProbeSettings) -> Any:
    """An unfitted scikit-learn regressor for probe ``name`` (ridge: the reference path)."""
    scaler = make_scaler(settings.scaling)
    scaling_steps = [] if scaler is None else [scaler]
    if name == "ridge":
        return make_pipeline(*scaling_steps, RidgeCV(alphas=settings.alphas, alpha_per_target=True))
    if name == "mlp":
        mlp = MLPRegressor(
            hidden_layer_sizes=settings.mlp_hidden,
            max_iter=settings.mlp_max_iter,
            early_stopping=settings.mlp_early_stopping,
            random_state=settings.seed,
        )
        return make_pipeline(
            *scaling_steps,
            TransformedTargetRegressor(regressor=mlp, transformer=StandardScaler()),
        )
    if name == "gbt":
        return HistGradientBoostingRegressor(
            max_iter=settings.gbt_max_iter, random_state=settings.seed
        )
    raise ConfigError(f"probe {name!r} is unknown; use one of {PROBES}")


def representation_input(
    H: np.ndarray, C: np.ndarray, representation: str, fit_intercept: bool = True
) -> tuple[np.ndarray, list[Any]]:
    """``(X, steps)``: the matrix to cross-validate on and the steps to fit per fold before the
    probe, for one representation."""
    k = C.shape[1]
    if representation == "full":
        return H, []
    if representation in ("comp", "geom_v2"):
        output = "composition" if representation == "comp" else "residual"
        projector = CompositionProjector(k, "ols", fit_intercept, output)
        return join_composition(C, H), [projector]
    if representation == "geom_v1":
        in_sample = CompositionProjector(k, "qr_insample", fit_intercept)
        return in_sample.fit_transform(join_composition(C, H)), []
    raise ConfigError(f"representation {representation!r} is unknown; use {REPRESENTATIONS}")


def probe_pipeline(steps: Sequence[Any], probe: str, settings: ProbeSettings) -> Pipeline:
    """``Pipeline(steps + probe)``; steps are fitted on each training fold by cross_validate."""
    return make_pipeline(*steps, make_probe(probe, settings))


def _rows(
    target_names: Sequence[str],
    representation: str,
    probe: str,
    split: Split,
    r2: np.ndarray,
    alpha: np.ndarray,
) -> list[dict[str, Any]]:
    repeat, fold = split[0], split[1]
    return [
        {
            "target": name,
            "representation": representation,
            "probe": probe,
            "repeat": repeat,
            "fold": fold,
            "r2": float(r2[j]),
            "alpha": float(alpha[j]),
        }
        for j, name in enumerate(target_names)
    ]


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def pipeline_scores(
    H: np.ndarray,
    C: np.ndarray,
    Y: np.ndarray,
    target_names: Sequence[str],
    probe: str,
    representations: Iterable[str] = REPRESENTATIONS,
    settings: ProbeSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Per-fold R² of any probe by ``cross_validate`` over a fitted-per-fold Pipeline.

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Features, one row per structure (units of the model's features).
    C : ndarray of shape (n_samples, n_elements)
        Composition (element counts, fractions or presence; dimensionless).
    Y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Targets, in their own units; never residualised.
    target_names : sequence of str
        Name of each target column (n_targets names).
    probe : {"ridge", "mlp", "gbt"}
        Probe to cross-validate.
    representations : iterable of str, default=REPRESENTATIONS
        Representations to score, from ``full``, ``comp``, ``geom_v2`` and ``geom_v1``.
    settings : ProbeSettings, default=DEFAULT_SETTINGS
        Splits and probe hyper-parameters.

    Returns
    -------
    DataFrame
        Tidy frame, one row per (representation, target, repeat, fold), with the columns of
        ``SCORE_COLUMNS``; ``r2`` is dimensionless and ``alpha`` is NaN (the reference path does
        not report it).

    Raises
    ------
    DataError
        NaN/inf values, mismatched row counts, a constant target or too few rows.
    ConfigError
        An unknown probe or representation.
    """
    H, C, Y = check_probe_inputs(H, C, Y, settings.rows_needed([probe]), list(target_names))
    splits = make_splits(H.shape[0], settings)
    cv = [(train, test) for _, _, train, test in splits]
    rows: list[dict[str, Any]] = []
    for representation in representations:
        X, steps = representation_input(H, C, representation, settings.fit_intercept)
        for j, name in enumerate(target_names):
            pipeline = probe_pipeline(steps, probe, settings)
            result = cross_validate(pipeline, X, Y[:, j], cv=cv, scoring="r2", n_jobs=1)
            for split, r2 in zip(splits, result["test_score"], strict=True):
                rows += _rows(
                    [name], representation, probe, split, np.array([r2]), np.array([np.nan])
                )
    return _frame(rows)


def fold_matrices(
    H: np.ndarray,
    C: np.ndarray,
    representation: str,
    train: np.ndarray,
    test: np.ndarray,
    fit_intercept: bool = True,
    in_sample_residual: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Training and test matrices (rows ``train``, ``test``) of one representation of H.

    The projection is fitted on the training rows only, except for ``geom_v1`` whose
    in-sample residual over all rows is computed here unless passed in.

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Features (units of the model's features).
    C : ndarray of shape (n_samples, n_elements)
        Composition (dimensionless).
    representation : {"full", "comp", "geom_v2", "geom_v1"}
        Representation of H to build.
    train : ndarray of shape (n_train,)
        Integer positions of the training rows.
    test : ndarray of shape (n_test,)
        Integer positions of the test rows.
    fit_intercept : bool, default=True
        Whether the composition projection has an intercept column.
    in_sample_residual : ndarray of shape (n_samples, n_features) or None, default=None
        The ``geom_v1`` residual H − QQᵀH over all rows, if already computed.

    Returns
    -------
    X_train : ndarray of shape (n_train, n_features)
        The representation on the training rows (units of the features).
    X_test : ndarray of shape (n_test, n_features)
        The representation on the test rows.

    Raises
    ------
    ConfigError
        An unknown representation.
    """
    if representation == "full":
        return H[train], H[test]
    if representation == "geom_v1":
        if in_sample_residual is None:
            in_sample_residual = representation_input(H, C, "geom_v1", fit_intercept)[0]
        return in_sample_residual[train], in_sample_residual[test]
    if representation not in REPRESENTATIONS:
        raise ConfigError(f"representation {representation!r} is unknown; use {REPRESENTATIONS}")
    output = "composition" if representation == "comp" else "residual"
    projector = CompositionProjector(C.shape[1], "ols", fit_intercept, output)
    X_train = projector.fit_transform(join_composition(C[train], H[train]))
    return X_train, projector.transform(join_composition(C[test], H[test]))


def ridge_scores(
    H: np.ndarray,
    C: np.ndarray,
    Y: np.ndarray,
    target_names: Sequence[str],
    representations: Iterable[str] = REPRESENTATIONS,
    settings: ProbeSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Per-fold ridge R² for every target and representation: the fast path.

    Same numbers as ``pipeline_scores(..., probe="ridge")``, but one SVD per (fold,
    representation) serves every alpha of the grid and every target.

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Features, one row per structure (units of the model's features).
    C : ndarray of shape (n_samples, n_elements)
        Composition (element counts, fractions or presence; dimensionless).
    Y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Targets, in their own units; never residualised.
    target_names : sequence of str
        Name of each target column (n_targets names).
    representations : iterable of str, default=REPRESENTATIONS
        Representations to score, from ``full``, ``comp``, ``geom_v2`` and ``geom_v1``.
    settings : ProbeSettings, default=DEFAULT_SETTINGS
        Splits, intercept and ridge penalty grid.

    Returns
    -------
    DataFrame
        Tidy frame, one row per (repeat, fold, representation, target), with the columns of
        ``SCORE_COLUMNS`` (``r2`` dimensionless, ``alpha`` the penalty chosen on the training rows).

    Raises
    ------
    DataError
        NaN/inf values, mismatched row counts, a constant target or too few rows.
    ConfigError
        An unknown representation.
    """
    H, C, Y = check_probe_inputs(H, C, Y, settings.min_rows, list(target_names))
    representations = list(representations)
    unknown = set(representations) - set(REPRESENTATIONS)
    if unknown:
        raise ConfigError(f"representations {sorted(unknown)} unknown; use {REPRESENTATIONS}")
    in_sample = None
    if "geom_v1" in representations:
        in_sample = representation_input(H, C, "geom_v1", settings.fit_intercept)[0]
    rows: list[dict[str, Any]] = []
    for split in make_splits(H.shape[0], settings):
        _, _, train, test = split
        for representation in representations:
            X_train, X_test = fold_matrices(
                H, C, representation, train, test, settings.fit_intercept, in_sample
            )
            model = SharedRidgeCV(settings.alphas, settings.scaling).fit(X_train, Y[train])
            r2 = r2_score(Y[test], model.predict(X_test), multioutput="raw_values")
            rows += _rows(target_names, representation, "ridge", split, r2, model.alpha_)
    return _frame(rows)


def cpd_scores(
    H: np.ndarray,
    C: np.ndarray,
    Y: np.ndarray,
    target_names: Sequence[str],
    probes: Iterable[str] = PROBES,
    representations: Iterable[str] = REPRESENTATIONS,
    settings: ProbeSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Per-fold R² of every probe on every representation (ridge via the fast path).

    Ridge scores come from :func:`ridge_scores`, the other probes from :func:`pipeline_scores`.

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Features, one row per structure (units of the model's features).
    C : ndarray of shape (n_samples, n_elements)
        Composition (element counts, fractions or presence; dimensionless).
    Y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Targets, in their own units; never residualised.
    target_names : sequence of str
        Name of each target column (n_targets names).
    probes : iterable of str, default=PROBES
        Probes to run, from ``ridge``, ``mlp`` and ``gbt``.
    representations : iterable of str, default=REPRESENTATIONS
        Representations to score, from ``full``, ``comp``, ``geom_v2`` and ``geom_v1``.
    settings : ProbeSettings, default=DEFAULT_SETTINGS
        Splits and probe hyper-parameters.

    Returns
    -------
    DataFrame
        Tidy frame with the columns of ``SCORE_COLUMNS``, the probes one after the other (empty,
        with those columns, when ``probes`` is empty).

    Raises
    ------
    DataError
        NaN/inf values, mismatched row counts, a constant target or too few rows.
    ConfigError
        An unknown probe or representation.
    """
    representations = list(representations)
    frames = [
        ridge_scores(H, C, Y, target_names, representations, settings)
        if probe == "ridge"
        else pipeline_scores(H, C, Y, target_names, probe, representations, settings)
        for probe in probes
    ]
    return pd.concat(frames, ignore_index=True) if frames else _frame([])


def summarize(
    scores: pd.DataFrame,
    method: str = "t",
    level: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean, median and confidence interval of R² per score (all but repeat/fold/r2/alpha).

    ``method="t"`` (default, the interval every table and figure shows): Student-t over the
    per-fold (× repeat) values, :func:`atomprobe.stats.t_interval`; ``"bootstrap"``: percentile
    interval of the mean over the per-fold values resampled
    with replacement; ``"repeats"``: percentile interval of the per-repeat means (needs
    several CV repeats). Folds share training rows, so either interval is approximate. The
    median and the count of folds with R² < −1 sit beside the mean, so one blown-up fold (a
    probe extrapolating far outside its training rows) cannot hide in it.

    Parameters
    ----------
    scores : DataFrame
        Per-fold scores with the columns ``repeat``, ``fold``, ``r2`` and ``alpha`` (as from
        :func:`cpd_scores`) plus any key columns (a ``ceiling`` column, as in the score files,
        is not a key).
    method : {"t", "bootstrap", "repeats"}, default="t"
        How the confidence interval is computed.
    level : float, default=0.95
        Confidence level (dimensionless, strictly between 0 and 1).
    n_bootstrap : int, default=2000
        Bootstrap resamples (``method="bootstrap"`` only).
    seed : int, default=0
        Seed of the bootstrap; each group gets its own generator with this seed.

    Returns
    -------
    DataFrame
        One row per group of the key columns, with those columns and ``r2_mean``, ``r2_std``
        (ddof 1, NaN for a single score), ``ci_low``, ``ci_high``, ``r2_median`` (median over
        folds × repeats; all dimensionless R²), ``n_below_minus_one`` (folds × repeats with
        R² < −1) and ``n_scores``.

    Raises
    ------
    ConfigError
        An unknown method, or ``"repeats"`` with fewer than two CV repeats.
    """
    if method not in ("t", "bootstrap", "repeats"):
        raise ConfigError(f"confidence interval method {method!r}: use t, bootstrap or repeats")
    keys = [c for c in scores.columns if c not in ("repeat", "fold", "r2", "alpha", "ceiling")]
    tail = (1.0 - level) / 2.0
    records = []
    for key, group in scores.groupby(keys, sort=False, dropna=False):
        values = group["r2"].to_numpy()
        if method == "t":
            _, low, high, _ = t_interval(values, level)
        else:
            if method == "bootstrap":
                # a generator per group: adding a model never shifts another model's interval
                rng = np.random.default_rng(seed)
                draws = rng.choice(values, size=(n_bootstrap, values.size)).mean(axis=1)
            else:
                draws = group.groupby("repeat")["r2"].mean().to_numpy()
                if draws.size < 2:
                    raise ConfigError("confidence interval 'repeats' needs cv.n_repeats ≥ 2")
            low, high = np.quantile(draws, [tail, 1.0 - tail])
        median, n_below = median_and_blow_ups(values)
        records.append(
            {
                **dict(zip(keys, key, strict=True)),
                "r2_mean": values.mean(),
                "r2_std": values.std(ddof=1) if values.size > 1 else np.nan,
                "ci_low": low,
                "ci_high": high,
                "r2_median": median,
                "n_below_minus_one": n_below,
                "n_scores": values.size,
            }
        )
    return pd.DataFrame(records)
