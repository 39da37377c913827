"""Feature standardisation for the probes, with a floor at float32 round-off.

Paper A standardises each feature column on the training fold. scikit-learn's
``StandardScaler`` leaves an exactly constant column unscaled, but divides a column whose spread
is merely tiny by that spread. Atom features computed in float32 have an absolute round-off of
about eps32 (1.2e-7) times their typical magnitude, so a column that varies by less than that
carries no resolvable signal, yet dividing by its spread turns a 1e-8 test value into 1e12.
Measured on ANI-2x AEVs (1,008 columns) of 3,000 QM9 molecules: cutoff-tail columns with
spreads of 1e-28 to 1e-9 of the typical column on a 500-row training set gave test R² of −1e29
with ``StandardScaler``.
"""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval

#: Columns whose spread is at most this times the root-mean-square spread of all columns are
#: left unscaled: about 8 float32 ulps, the round-off of a float32 feature computation.
NEGLIGIBLE_SPREAD_RTOL = 1e-6


class FeatureScaler(StandardScaler):
    """``StandardScaler`` that also leaves columns of negligible spread unscaled.

    A column whose standard deviation on the fitted rows is ≤ ``rtol`` × the root-mean-square
    standard deviation of all columns keeps ``scale_ = 1`` (it is still centred), exactly as
    ``StandardScaler`` treats a constant column. Every other column is standardised as usual,
    so on ordinary features the two scalers are identical. The dtype of X (float32 or float64)
    is kept, as by ``StandardScaler``.

    Parameters
    ----------
    rtol : float, default=NEGLIGIBLE_SPREAD_RTOL (1e-6)
        Relative floor, dimensionless: a column whose spread is at most ``rtol`` times the
        root-mean-square spread of all columns is left unscaled.
    copy : bool, default=True
        As ``StandardScaler``: if False, try to scale in place.
    with_mean : bool, default=True
        As ``StandardScaler``: centre each column on its fitted mean.
    with_std : bool, default=True
        As ``StandardScaler``: divide each column by its fitted standard deviation (then the
        floor applies); if False, no column is scaled.

    Attributes
    ----------
    scale_ : ndarray of shape (n_features,) or None
        Per-column divisor, in the units of X; 1 for constant and negligible columns. None if
        ``with_std=False``.
    mean_ : ndarray of shape (n_features,) or None
        Per-column mean on the fitted rows, units of X. None if ``with_mean=False`` and
        ``with_std=False``.
    var_ : ndarray of shape (n_features,) or None
        Per-column variance on the fitted rows, units of X squared (before the floor). None
        if ``with_mean=False`` and ``with_std=False``.
    negligible_columns_ : ndarray of shape (n_features,), dtype bool
        Columns left unscaled because their spread is at or below the floor (all False if
        ``with_std=False``).
    n_samples_seen_ : int or ndarray of shape (n_features,)
        Rows seen per column, as ``StandardScaler``.
    n_features_in_ : int
        Number of columns of X seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of X, if X was a DataFrame with string column names.
    """

    _parameter_constraints: ClassVar[dict] = {
        **StandardScaler._parameter_constraints,
        "rtol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        rtol: float = NEGLIGIBLE_SPREAD_RTOL,
        copy: bool = True,
        with_mean: bool = True,
        with_std: bool = True,
    ) -> None:
        super().__init__(copy=copy, with_mean=with_mean, with_std=with_std)
        self.rtol = rtol

    def fit(
        self, X: np.ndarray, y: object = None, sample_weight: np.ndarray | None = None
    ) -> FeatureScaler:
        """Fit the column means and spreads on X, then floor the negligible spreads.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Features, any units; float32 stays float32.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row weights, as ``StandardScaler``.

        Returns
        -------
        self : FeatureScaler
            The fitted scaler.
        """
        return super().fit(X, y, sample_weight)  # StandardScaler.fit calls self.partial_fit

    def partial_fit(
        self, X: np.ndarray, y: object = None, sample_weight: np.ndarray | None = None
    ) -> FeatureScaler:
        """Update the column means and spreads with the rows of X, then floor them again.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Further rows of features, in the units of the earlier ones.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row weights, as ``StandardScaler``.

        Returns
        -------
        self : FeatureScaler
            The updated scaler.
        """
        super().partial_fit(X, y, sample_weight)
        if not self.with_std:
            self.negligible_columns_ = np.zeros(self.n_features_in_, dtype=bool)
            return self
        spread = np.sqrt(self.var_)
        reference = np.sqrt(np.mean(self.var_))
        self.negligible_columns_ = spread <= self.rtol * reference
        self.scale_ = np.where(self.negligible_columns_, 1.0, self.scale_)
        return self
