"""Feature scaling of the probes: ``guarded`` (default), ``standard`` or ``none``.

``cpd.scaling`` (config) and :attr:`~atomprobe.cpd.scores.ProbeSettings.scaling` choose how every
probe that is sensitive to feature scale (Ridge and MLP; trees are not) sees its features:

``standard``
    :class:`FeatureScaler`: standardise each column on the training rows (paper A's toolkit),
    with a floor at float32 round-off (below).
``guarded``
    :class:`GuardedScaler`: ``standard``, and each standardised test value is clipped to the
    training rows' support of its column, widened on each side by ``margin`` (default 1) times
    the width of that support.
``none``
    No scaling: the probes see the raw features (Ridge still centres them, as any ridge with an
    unpenalised intercept does; the ridge penalty is then in raw feature units).

**The guard and its principle.** A linear probe learns one weight per column from the values
that column took on the training rows, and nothing constrains its contribution outside that
support: a test value far beyond every training value is an extrapolation the fit never saw.
Standardisation makes this acute for a sparse column: an ANI-2x AEV column non-zero in 9 of
~2,400 training molecules, with spread 2e-7, standardises an ordinary test value to ~1e4, and
two such test molecules carried 98.6 % of the squared error of a fold (R² −10). The guard
therefore bounds every test column to what its training rows span, with a margin of one span on
each side so that ordinary sampling of the extremes is left alone: a new value of a Gaussian
column lands outside [min − span, max + span] of its n training values with probability about
1e-9 for n = 100 and 4e-13 for n = 300 (averaged over training sets, simulated), so on dense
features no value is clipped and ``guarded`` is bitwise ``standard``. The rule uses the training
rows only (their minimum and maximum), leaves the training rows themselves unchanged, never
depends on the target and was not tuned to any result. A column with a single training value
(span 0) is bounded to that value, as a constant column carries no information to extrapolate.

**The round-off floor** (both scaled modes). scikit-learn's ``StandardScaler`` leaves an exactly
constant column unscaled, but divides a column whose spread is merely tiny by that spread. Atom
features computed in float32 have an absolute round-off of about eps32 (1.2e-7) times their
typical magnitude, so a column that varies by less than that carries no resolvable signal, yet
dividing by its spread turns a 1e-8 test value into 1e12. Measured on ANI-2x AEVs (1,008
columns) of 3,000 QM9 molecules: cutoff-tail columns with spreads of 1e-28 to 1e-9 of the
typical column on a 500-row training set gave test R² of −1e29 with ``StandardScaler``. The floor
does not catch the sparse columns above (their spread is small but resolvable); the guard does.
"""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
import scipy.sparse
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted

from atomprobe.errors import ConfigError

#: Columns whose spread is at most this times the root-mean-square spread of all columns are
#: left unscaled: about 8 float32 ulps, the round-off of a float32 feature computation.
NEGLIGIBLE_SPREAD_RTOL = 1e-6

#: Feature scalings a probe can use (``cpd.scaling``), the default first.
SCALINGS: tuple[str, ...] = ("guarded", "standard", "none")
DEFAULT_SCALING = "guarded"

#: Width of the allowed extrapolation on each side of a column's training range, in units of
#: that range (see the module docstring).
GUARD_MARGIN = 1.0


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


class GuardedScaler(FeatureScaler):
    """:class:`FeatureScaler` that clips test values to the training support of each column.

    After standardising as :class:`FeatureScaler`, each column of ``transform``'s output is
    clipped to ``[lo − margin·(hi − lo), hi + margin·(hi − lo)]``, where ``lo`` and ``hi`` are
    the smallest and largest standardised values of that column on the fitted rows (the
    principle is in the module docstring). Values inside those bounds, among them every fitted
    row, are returned bit for bit as :class:`FeatureScaler` returns them, so on features with no
    value outside the bounds the two scalers are identical. Dense input only.

    Parameters
    ----------
    margin : float, default=GUARD_MARGIN (1.0)
        Allowed extrapolation on each side of a column's training range, in units of that range
        (dimensionless, ≥ 0; 0 clips to the training range itself).
    rtol : float, default=NEGLIGIBLE_SPREAD_RTOL (1e-6)
        Round-off floor, as :class:`FeatureScaler`.
    copy : bool, default=True
        As ``StandardScaler``: if False, try to scale in place.
    with_mean : bool, default=True
        As ``StandardScaler``: centre each column on its fitted mean.
    with_std : bool, default=True
        As ``StandardScaler``: divide each column by its fitted standard deviation.

    Attributes
    ----------
    data_min_ : ndarray of shape (n_features,)
        Smallest value of each column on the fitted rows, units of X (NaN ignored).
    data_max_ : ndarray of shape (n_features,)
        Largest value of each column on the fitted rows, units of X (NaN ignored).
    lower_ : ndarray of shape (n_features,)
        Lower clipping bound of each column, in standardised units (−inf for a column with no
        finite fitted value).
    upper_ : ndarray of shape (n_features,)
        Upper clipping bound of each column, in standardised units (+inf likewise).
    scale_, mean_, var_, negligible_columns_, n_samples_seen_, n_features_in_ : see FeatureScaler
        As :class:`FeatureScaler`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of X, if X was a DataFrame with string column names.
    """

    _parameter_constraints: ClassVar[dict] = {
        **FeatureScaler._parameter_constraints,
        "margin": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        margin: float = GUARD_MARGIN,
        rtol: float = NEGLIGIBLE_SPREAD_RTOL,
        copy: bool = True,
        with_mean: bool = True,
        with_std: bool = True,
    ) -> None:
        super().__init__(rtol=rtol, copy=copy, with_mean=with_mean, with_std=with_std)
        self.margin = margin

    def __sklearn_tags__(self):
        """scikit-learn tags: as StandardScaler, but dense input only."""
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    def fit(
        self, X: np.ndarray, y: object = None, sample_weight: np.ndarray | None = None
    ) -> GuardedScaler:
        """Fit the column means, spreads and training ranges on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, any units; float32 stays float32. Dense only.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row weights of the means and spreads; the ranges span the rows of positive
            weight.

        Returns
        -------
        self : GuardedScaler
            The fitted scaler.
        """
        for name in ("data_min_", "data_max_"):  # a refit forgets the earlier rows, as fit does
            if hasattr(self, name):
                delattr(self, name)
        return super().fit(X, y, sample_weight)

    def partial_fit(
        self, X: np.ndarray, y: object = None, sample_weight: np.ndarray | None = None
    ) -> GuardedScaler:
        """Update the column means, spreads and training ranges with the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Further rows of features, in the units of the earlier ones. Dense only.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row weights of the means and spreads; the ranges span the rows of positive
            weight.

        Returns
        -------
        self : GuardedScaler
            The updated scaler.
        """
        if scipy.sparse.issparse(X):
            raise TypeError(
                "GuardedScaler takes dense X only (a sparse matrix has no per-column range "
                "without its implicit zeros); use FeatureScaler for sparse input"
            )
        super().partial_fit(X, y, sample_weight)  # validates X: finite or NaN, never ±inf
        # no second finiteness pass and no NaN-for-inf copy: fmin/fmax skip NaN, and these two
        # passes over X cost 0.2 × the ridge's Gram matrix (benchmarks/bench_cpd_solver.py)
        X = check_array(X, dtype=FLOAT_DTYPES, ensure_all_finite=False)
        if sample_weight is not None:  # a row of weight 0 is a row not seen
            X = X[np.asarray(sample_weight).reshape(-1) > 0]
        with np.errstate(invalid="ignore"):
            low = np.fmin.reduce(X, axis=0).astype(np.float64)
            high = np.fmax.reduce(X, axis=0).astype(np.float64)
        if hasattr(self, "data_min_"):
            low, high = np.fmin(self.data_min_, low), np.fmax(self.data_max_, high)
        self.data_min_, self.data_max_ = low, high
        self.lower_, self.upper_ = self._bounds()
        return self

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Clipping bounds in standardised units (±inf where a column has no finite value)."""
        mean = self.mean_ if self.with_mean and self.mean_ is not None else 0.0
        scale = self.scale_ if self.scale_ is not None else 1.0
        low = (self.data_min_ - mean) / scale
        high = (self.data_max_ - mean) / scale
        width = float(self.margin) * (high - low)
        lower = np.where(np.isnan(low), -np.inf, low - width)
        upper = np.where(np.isnan(high), np.inf, high + width)
        return lower, upper

    def transform(self, X: np.ndarray, copy: bool | None = None) -> np.ndarray:
        """Standardise X as :class:`FeatureScaler`, then clip each column to its bounds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, in the units of the fitted ones. Dense only.
        copy : bool or None, default=None
            As ``StandardScaler.transform``.

        Returns
        -------
        X_scaled : ndarray of shape (n_samples, n_features)
            Standardised features, each column within ``[lower_, upper_]`` (NaN kept).
        """
        check_is_fitted(self, "lower_")
        if scipy.sparse.issparse(X):
            raise TypeError("GuardedScaler takes dense X only; use FeatureScaler for sparse input")
        Z = super().transform(X, copy=copy)
        values = np.asarray(Z)
        lower, upper = self.lower_.astype(values.dtype), self.upper_.astype(values.dtype)
        if not ((values < lower) | (values > upper)).any():
            return Z  # nothing outside the bounds: exactly FeatureScaler's output
        if isinstance(Z, np.ndarray):
            return np.clip(Z, lower, upper, out=Z)  # in-range values are kept bit for bit
        return np.clip(values, lower, upper)  # a DataFrame output: set_output wraps it again

    def outside_support(self, X: np.ndarray) -> np.ndarray:
        """Which values of X ``transform`` clips.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, in the units of the fitted ones.

        Returns
        -------
        mask : ndarray of shape (n_samples, n_features), dtype bool
            True where the standardised value lies outside ``[lower_, upper_]``.
        """
        check_is_fitted(self, "lower_")
        values = np.asarray(FeatureScaler.transform(self, X))
        lower, upper = self.lower_.astype(values.dtype), self.upper_.astype(values.dtype)
        return (values < lower) | (values > upper)


def make_scaler(scaling: str) -> FeatureScaler | None:
    """The unfitted feature scaler of one ``cpd.scaling`` mode.

    Parameters
    ----------
    scaling : {"guarded", "standard", "none"}
        ``guarded``: :class:`GuardedScaler`; ``standard``: :class:`FeatureScaler`; ``none``: no
        scaler.

    Returns
    -------
    FeatureScaler or None
        A new scaler, or None for ``none`` (the probe sees the raw features).

    Raises
    ------
    ConfigError
        An unknown mode.
    """
    if scaling == "guarded":
        return GuardedScaler()
    if scaling == "standard":
        return FeatureScaler()
    if scaling == "none":
        return None
    raise ConfigError(f"feature scaling {scaling!r} is unknown; use one of {SCALINGS}")
