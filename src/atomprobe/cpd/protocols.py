"""R²_geom under other protocols than ours, shown beside ours and never deciding a verdict.

One target and one layer (the main target, the last layer) of one model. Unshuffled folds are
contiguous blocks of the probe set in dataset order (the row order of the structure table: QM9
by its index, so a fold holds similar molecules); shuffled folds are those of the CPD scores. The
target is never residualised. Protocols (column ``protocol``):

``ours``
    Our v2 reading: composition (``cpd.composition``) projected out by OLS fitted on each
    training fold, the Ridge probe with alpha by leave-one-out (:class:`SharedRidgeCV`), our
    shuffled splits (:func:`~atomprobe.cpd.scores.make_splits`): the numbers of results/cpd
    ``geom_v2``.
``ours_unshuffled``
    ``ours`` on the toolkit's unshuffled folds (contiguous blocks of dataset order).
``formula_grouped``
    ``ours`` on formula-grouped folds: ``GroupKFold`` by formula with shuffled groups, so no
    formula is in both the training and the test rows of a fold.
``toolkit``
    The author's toolkit, matscope 0.2.0 (``CompositionProjectionDecomposition.decompose``,
    linear probe): fractional composition over the elements present, standardised on all rows;
    Ridge(α=1) from it to H fitted on all rows (in-sample) and the residual H − Ĥ kept; probe
    ``StandardScaler + Ridge(α=1)`` in ``cross_validate(cv=5)``, i.e. unshuffled ``KFold(5)``
    in the order of the rows; R² the mean of the per-fold test R².
``toolkit_shuffled``
    ``toolkit`` on our shuffled splits, so toolkit − toolkit_shuffled is what fold order alone
    moves (on index-ordered QM9 the unshuffled folds are blocks of similar molecules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from atomprobe.cpd.ridge import SharedRidgeCV
from atomprobe.cpd.scores import ProbeSettings, Split, fold_matrices, make_splits
from atomprobe.errors import DataError

PROTOCOLS: tuple[str, ...] = (
    "ours",
    "ours_unshuffled",
    "formula_grouped",
    "toolkit",
    "toolkit_shuffled",
)
#: Representation of each protocol's residual (``geom_toolkit``: the toolkit's in-sample
#: Ridge(α) residual on standardised fractions).
PROTOCOL_REPRESENTATION: dict[str, str] = {
    "ours": "geom_v2",
    "ours_unshuffled": "geom_v2",
    "formula_grouped": "geom_v2",
    "toolkit": "geom_toolkit",
    "toolkit_shuffled": "geom_toolkit",
}
PROTOCOL_COLUMNS: dict[str, str] = {
    "model": "model name (registry)",
    "dataset": "dataset probed",
    "layer": "layer index of the pooled features (the model's last layer)",
    "protocol": "ours | ours_unshuffled | formula_grouped | toolkit | toolkit_shuffled "
    "(atomprobe.cpd.protocols)",
    "target": "target column probed (never residualised)",
    "representation": "geom_v2 = H − Ĉ B per fold (ours); geom_toolkit = H − Ridge(α) "
    "prediction from standardised fractions, fitted on all rows (the toolkit)",
    "probe": "ridge",
    "repeat": "repeat of the splits (0-based; unshuffled folds have one)",
    "fold": "fold within the repeat (0-based)",
    "r2": "out-of-fold R² of the probe on the fold's test rows",
    "alpha": "ridge penalty: chosen by leave-one-out on the training rows (ours), fixed (toolkit)",
    "n_train": "training rows of the fold",
    "n_test": "test rows of the fold",
    "test_formula_seen": "share of the fold's test rows whose formula occurs in its training rows "
    "(0 under formula_grouped)",
}


@dataclass(frozen=True)
class ToolkitSettings:
    """The toolkit protocol's settings (matscope 0.2.0 defaults).

    Parameters
    ----------
    composition_alpha : float, default=1.0
        Ridge penalty of the composition → H fit (standardised fractions, all rows).
    probe_alpha : float, default=1.0
        Ridge penalty of the probe (standardised residual features).
    n_folds : int, default=5
        Unshuffled K-fold folds of the probe.
    """

    composition_alpha: float = 1.0
    probe_alpha: float = 1.0
    n_folds: int = 5


def unshuffled_splits(dataset_position: np.ndarray, n_folds: int) -> list[Split]:
    """Unshuffled ``KFold(n_folds)`` over the rows in dataset order, as row positions.

    Parameters
    ----------
    dataset_position : ndarray of shape (n_samples,)
        Position of each row in the dataset (structure-table row); distinct integers.
    n_folds : int
        Folds.

    Returns
    -------
    list of tuple of (int, int, ndarray, ndarray)
        ``(0, fold, train_rows, test_rows)``: fold k tests the k-th contiguous block of the rows
        sorted by ``dataset_position`` (positions into the given rows).
    """
    order = np.argsort(dataset_position, kind="stable")
    return [
        (0, fold, np.sort(order[train]), np.sort(order[test]))
        for fold, (train, test) in enumerate(KFold(n_folds).split(order))
    ]


def formula_splits(formulas: np.ndarray, n_folds: int, n_repeats: int, seed: int) -> list[Split]:
    """``GroupKFold`` by formula: no formula in both the training and the test rows of a fold.

    Parameters
    ----------
    formulas : ndarray of shape (n_samples,)
        Formula of each row (str).
    n_folds : int
        Folds per repeat (at most the number of distinct formulas).
    n_repeats : int
        Repeats, each with its own shuffle of the formulas over the folds.
    seed : int
        Seed of repeat 0; repeat r uses ``seed + r``.

    Returns
    -------
    list of tuple of (int, int, ndarray, ndarray)
        ``(repeat, fold, train_rows, test_rows)``.

    Raises
    ------
    DataError
        Fewer distinct formulas than folds.
    """
    n_formulas = np.unique(formulas).size
    if n_formulas < n_folds:
        raise DataError(
            f"{n_formulas} distinct formulas cannot fill {n_folds} formula-grouped folds"
        )
    rows = np.zeros((len(formulas), 1))
    return [
        (repeat, fold, train, test)
        for repeat in range(n_repeats)
        for fold, (train, test) in enumerate(
            GroupKFold(n_folds, shuffle=True, random_state=seed + repeat).split(
                rows, groups=formulas
            )
        )
    ]


def toolkit_residual(H: np.ndarray, fractions: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """The toolkit's composition residual: H − Ridge(α) prediction, fitted on all rows.

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Features (units of the model's features).
    fractions : ndarray of shape (n_samples, n_elements)
        Element fractions (dimensionless; rows sum to 1), standardised here on all rows.
    alpha : float, default=1.0
        Ridge penalty (standardised composition units).

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        H minus its in-sample Ridge prediction from the composition, float64, units of H.
    """
    H = np.asarray(H, dtype=np.float64)
    scaled = StandardScaler().fit_transform(np.asarray(fractions, dtype=np.float64))
    return H - Ridge(alpha=alpha).fit(scaled, H).predict(scaled)


def formula_seen(formulas: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Share of the test rows whose formula occurs among the training rows (0 … 1)."""
    return float(np.isin(formulas[test], formulas[train]).mean())


def _row(protocol: str, split: Split, r2: float, alpha: float, seen: float) -> dict[str, Any]:
    repeat, fold, train, test = split
    return {
        "protocol": protocol,
        "representation": PROTOCOL_REPRESENTATION[protocol],
        "probe": "ridge",
        "repeat": repeat,
        "fold": fold,
        "r2": r2,
        "alpha": alpha,
        "n_train": train.size,
        "n_test": test.size,
        "test_formula_seen": seen,
    }


def protocol_scores(
    H: np.ndarray,
    C: np.ndarray,
    fractions: np.ndarray,
    y: np.ndarray,
    formulas: np.ndarray,
    dataset_position: np.ndarray,
    settings: ProbeSettings,
    toolkit: ToolkitSettings = ToolkitSettings(),
) -> pd.DataFrame:
    """Per-fold R²_geom of one target under every protocol of :data:`PROTOCOLS`.

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Features of one layer (units of the model's features).
    C : ndarray of shape (n_samples, n_elements)
        Composition in the configured encoding (ours; dimensionless).
    fractions : ndarray of shape (n_samples, n_elements)
        Element fractions over the elements present (the toolkit's encoding).
    y : ndarray of shape (n_samples,)
        Target (its own units), never residualised.
    formulas : ndarray of shape (n_samples,)
        Formula of each row (str), the groups of ``formula_grouped``.
    dataset_position : ndarray of shape (n_samples,)
        Row of each structure in the dataset: the order of the unshuffled folds.
    settings : ProbeSettings
        Our splits, intercept, alpha grid and scaling (K-fold, not single splits).
    toolkit : ToolkitSettings, default=ToolkitSettings()
        The toolkit's penalties and folds.

    Returns
    -------
    DataFrame
        One row per (protocol, repeat, fold) with the columns ``protocol, representation,
        probe, repeat, fold, r2, alpha, n_train, n_test, test_formula_seen``.

    Raises
    ------
    DataError
        Mismatched row counts, or fewer formulas than folds.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    n = y.size
    if len({n, len(H), len(C), len(fractions), len(formulas), len(dataset_position)}) > 1:
        raise DataError(
            "protocol_scores: H, C, fractions, y, formulas and positions differ in rows"
        )
    shuffled = make_splits(n, settings)
    splits = {
        "ours": shuffled,
        "ours_unshuffled": unshuffled_splits(dataset_position, toolkit.n_folds),
        "formula_grouped": formula_splits(
            formulas, settings.n_folds, settings.n_repeats, settings.seed
        ),
        "toolkit": unshuffled_splits(dataset_position, toolkit.n_folds),
        "toolkit_shuffled": shuffled,
    }
    residual = toolkit_residual(H, fractions, toolkit.composition_alpha)
    rows = []
    for protocol in PROTOCOLS:
        for split in splits[protocol]:
            _, _, train, test = split
            if protocol.startswith("toolkit"):
                probe = make_pipeline(StandardScaler(), Ridge(alpha=toolkit.probe_alpha))
                probe.fit(residual[train], y[train])
                r2, alpha = r2_score(y[test], probe.predict(residual[test])), toolkit.probe_alpha
            else:
                X_train, X_test = fold_matrices(
                    H, C, "geom_v2", train, test, settings.fit_intercept
                )
                model = SharedRidgeCV(settings.alphas, settings.scaling).fit(X_train, y[train])
                r2, alpha = r2_score(y[test], model.predict(X_test)), float(model.alpha_[0])
            rows.append(
                _row(protocol, split, float(r2), alpha, formula_seen(formulas, train, test))
            )
    return pd.DataFrame(rows)
