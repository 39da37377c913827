"""The ceiling of R²_geom: how much of the target the composition alone does not explain.

The target is never residualised, and the geometric residual H_geom is orthogonal to the span
of Ĉ = [1 | C] on the rows the projection was fitted on. A linear probe on H_geom (with its own
intercept) therefore explains at most the part of y outside that span: in-sample,
R²_geom ≤ 1 − R²(y | [1 | C]). The ceiling is that bound out of fold: per split, ordinary least
squares of each target on [1 | C] fitted on the training rows, R² on the test rows, and
ceiling = 1 − R². Out of fold both sides are estimates, so R²_geom can pass it by sampling noise.

OLS rather than the Ridge probe: the bound is about the span the projection removes, and the
projection is itself least squares on [1 | C] (:class:`~atomprobe.cpd.projection.
CompositionProjector`), the fit that explains the most of y within that span; a shrunk Ridge
would explain less and make the ceiling loose. The same minimum-norm solver serves a
rank-deficient Ĉ (fractions sum to 1, the intercept column; an element absent from a training
fold). The intercept is always there, whatever ``composition.intercept`` says: every probe has
its own, so the mean of y is never composition signal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from atomprobe.cpd.checks import check_probe_inputs
from atomprobe.cpd.projection import _least_squares
from atomprobe.cpd.scores import ProbeSettings, make_splits

CEILING_COLUMNS: dict[str, str] = {
    "target": "target column",
    "repeat": "repeat of the cross-validation (0-based)",
    "fold": "fold within the repeat (0-based)",
    "ceiling": "1 − out-of-fold R² of OLS of the target on [1 | C] on this fold's test rows "
    "(C in the composition encoding of the scores): the most R²_geom can reach, the target "
    "not being residualised",
}


def composition_ceiling(
    C: np.ndarray, Y: np.ndarray, target_names: Sequence[str], settings: ProbeSettings
) -> pd.DataFrame:
    """Per-split ceiling 1 − R²(y | [1 | C]) of every target, on the splits of ``settings``.

    Parameters
    ----------
    C : ndarray of shape (n_samples, n_elements)
        Composition in the encoding the projection uses (dimensionless).
    Y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Targets, in their own units.
    target_names : sequence of str
        Name of each target column (n_targets names).
    settings : ProbeSettings
        Fixes the splits (:func:`~atomprobe.cpd.scores.make_splits`): the same as the scores'.

    Returns
    -------
    DataFrame
        One row per (split, target) with the columns of :data:`CEILING_COLUMNS`; ``ceiling``
        is dimensionless (1 − R², so 1 where composition explains nothing on that fold).

    Raises
    ------
    DataError
        NaN/inf values, mismatched row counts, a constant target or too few rows.
    """
    C, _, Y = check_probe_inputs(C, C, Y, settings.min_rows, list(target_names))
    design = np.hstack([np.ones((C.shape[0], 1)), C])
    rows = []
    for repeat, fold, train, test in make_splits(C.shape[0], settings):
        coef = _least_squares(design[train], Y[train])
        r2 = r2_score(Y[test], design[test] @ coef, multioutput="raw_values")
        rows += [(name, repeat, fold, 1.0 - float(r2[j])) for j, name in enumerate(target_names)]
    return pd.DataFrame(rows, columns=list(CEILING_COLUMNS))
