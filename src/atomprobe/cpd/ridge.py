"""Ridge probes that share one eigendecomposition across every alpha and every target.

``SharedRidgeCV`` is ``make_pipeline(scaler, RidgeCV(alphas, alpha_per_target=True))``, with the
scaler of its ``scaling`` mode (:func:`atomprobe.cpd.scaling.make_scaler`: guarded, standard or
none), computed from a single eigendecomposition ZᵀZ = V diag(λ) Vᵀ of the scaled, centred
training matrix Z (n, d), with P = ZV:

* ridge weights for alpha a and targets Y:  W_a = V diag(1/(λ+a)) Vᵀ Zᵀ(Y − ȳ)
* leave-one-out (GCV) residual, no penalty on the intercept:
  e_i = (y_i − ŷ_i) / (1 − h_ii),  h_ii = 1/n + Σ_j P_ij² / (λ_j + a)
* the alpha of each target minimises the mean squared LOO residual over the training rows
  (first alpha of the grid on ties), exactly scikit-learn's RidgeCV rule, so alpha selection
  never sees a test row.

When n < d the same quantities come from ZZᵀ = U diag(λ) Uᵀ (P = U diag(√λ)), O(n² d).
Cost per fit: two n×d×d matrix products and one d×d eigh, O(n d²), shared by all alphas and
targets; each extra alpha or target costs O(n d), and the leave-one-out errors of every alpha
and target come from two matrix products per block of rows (:func:`_loo_mse`). The Gram route
is the one scikit-learn's cholesky solver takes too; measured here (16,000 × 512, 2 busy cores)
it took 0.3 s against 10 s for a thin SVD of Z. ``benchmarks/bench_ridge_cv.py`` compares with
scikit-learn, ``benchmarks/bench_cpd_solver.py`` with the Gram matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from atomprobe.cpd.checks import as_matrix
from atomprobe.cpd.scaling import DEFAULT_SCALING, FeatureScaler, make_scaler
from atomprobe.errors import DataError, data_errors

DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 5, 17))


def alpha_grid(log10_min: float, log10_max: float, num: int) -> tuple[float, ...]:
    """Log-spaced ridge penalties ``10**log10_min … 10**log10_max`` (``num`` values).

    Parameters
    ----------
    log10_min : float
        Base-10 logarithm of the smallest penalty.
    log10_max : float
        Base-10 logarithm of the largest penalty.
    num : int
        Number of penalties.

    Returns
    -------
    tuple of float
        The ``num`` penalties, increasing (units of the standardised Gram matrix, see
        :class:`SharedRidgeCV`).
    """
    return tuple(float(a) for a in np.logspace(log10_min, log10_max, num))


#: Values per row block of the leave-one-out path: bounds its temporaries (basis rows and their
#: squares, fitted values for every alpha and target) to about 32 MiB, whatever the data size.
LOO_BLOCK_VALUES = 2**22


def _loo_mse(
    rows_of: np.ndarray,
    rotation: np.ndarray | None,
    basis_weight: np.ndarray,
    eigenvalues: np.ndarray,
    projected_targets: np.ndarray,
    Y_centred: np.ndarray,
    alphas: np.ndarray,
) -> np.ndarray:
    """Mean squared leave-one-out residual (n_alphas, n_targets), every alpha at once.

    The basis is ``rows_of @ rotation`` (primal: P = ZV, built one block of rows at a time, so
    only a block of P is held, not all n × d of it) or ``rows_of`` itself (dual: U). With
    g_a = basis_weight / (λ + a) (basis_weight 1 in the primal case, λ in the dual one), the
    fitted values are basis diag(g_a) Q and the leverages 1/n + basis² g_a. All alphas and
    targets are two matrix products per block of rows instead of a loop over alphas: at
    8,000 × 256 (5 folds), 17 alphas and 4 targets the loop of thin products cost 2.9 × the
    Gram matrix ZᵀZ, these block products 1.0 × (besides the rotation ZV, 1.6 ×; one thread,
    benchmarks/bench_cpd_solver.py).
    """
    n_rows, n_targets = Y_centred.shape
    n_eigen, n_alphas = eigenvalues.size, alphas.size
    inverse = 1.0 / (eigenvalues[:, None] + alphas[None, :])
    gain = basis_weight[:, None] * inverse
    shrunk = (gain[:, :, None] * projected_targets[:, None, :]).reshape(n_eigen, -1)
    total = np.zeros((n_alphas, n_targets))
    block = max(1, LOO_BLOCK_VALUES // (n_alphas * (n_targets + 1) + 2 * n_eigen))
    for start in range(0, n_rows, block):
        rows = rows_of[start : start + block]
        if rotation is not None:
            rows = rows @ rotation
        fitted = (rows @ shrunk).reshape(rows.shape[0], n_alphas, n_targets)
        leverage = 1.0 / n_rows + np.square(rows) @ gain
        loo = (Y_centred[start : start + block, None, :] - fitted) / (1.0 - leverage)[:, :, None]
        total += np.square(loo).sum(axis=0)
    return total / n_rows


class SharedRidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression with a per-target alpha chosen by leave-one-out, on scaled X.

    Scales X on the fitted rows as ``scaling`` says (:mod:`atomprobe.cpd.scaling`), then fits
    ridge with a per-target alpha chosen by leave-one-out.

    Same predictions as ``make_pipeline(make_scaler(scaling), RidgeCV(alphas,
    alpha_per_target=True))`` (to round-off; no scaler for ``none``), from one eigendecomposition
    shared by every alpha and every target (see the module docstring). Inputs are converted to
    float64.

    Parameters
    ----------
    alphas : sequence of float, default=DEFAULT_ALPHAS
        Ridge penalties to choose from (≥ 1 value, all > 0), in units of the scaled Gram
        matrix ZᵀZ (squared standardised features summed over rows; squared feature units for
        ``scaling="none"``); default 17 values log-spaced over 1e-3 … 1e5. On ties the first
        alpha of the grid wins.
    scaling : {"guarded", "standard", "none"}, default="guarded"
        Feature scaling: :class:`~atomprobe.cpd.scaling.GuardedScaler` (standardise, clip test
        values to the widened training range), :class:`~atomprobe.cpd.scaling.FeatureScaler`
        (standardise) or none (centre only).

    Attributes
    ----------
    alpha_ : ndarray of shape (n_targets,)
        Penalty chosen per target (an element of ``alphas``).
    loo_mse_ : ndarray of shape (n_alphas, n_targets)
        Mean squared leave-one-out residual on the fitted rows, units of y squared.
    coef_ : ndarray of shape (n_features, n_targets)
        Ridge weights at ``alpha_``, units of y per scaled feature (per unit of
        ``scaler_.transform(X)``).
    eigenvalues_ : ndarray of shape (n_features,), or (n_samples,) when n_samples < n_features
        Eigenvalues of ZᵀZ (of ZZᵀ in the dual case), clipped at 0; Z is the scaled,
        centred training matrix, so they are in squared scaled units.
    scaler_ : FeatureScaler
        Scaler fitted on the training rows (for ``scaling="none"`` a FeatureScaler that
        neither centres nor scales).
    x_mean_ : ndarray of shape (n_features,)
        Mean of the scaled training features (≈ 0, subtracted again to remove the
        round-off), scaled units.
    y_mean_ : ndarray of shape (n_targets,)
        Mean of each target on the training rows, units of y (the unpenalised intercept).
    projected_targets_ : ndarray of shape (n_eigenvalues, n_targets)
        Centred targets in the eigenbasis: (ZV)ᵀ(Y − ȳ) in the primal case, Uᵀ(Y − ȳ) in the
        dual one.
    coef_map_ : ndarray of shape (n_features, n_eigenvalues)
        Map from the eigenbasis to weights: V (primal) or ZᵀU (dual).
    n_features_in_ : int
        Number of columns of X seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of X, if X was a DataFrame with string column names.
    """

    def __init__(
        self, alphas: Sequence[float] = DEFAULT_ALPHAS, scaling: str = DEFAULT_SCALING
    ) -> None:
        self.alphas = alphas
        self.scaling = scaling

    def __sklearn_tags__(self):
        """scikit-learn tags: one model serves several targets (y may be 2-D)."""
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _features(self, X: np.ndarray, reset: bool) -> np.ndarray:
        """X as a finite float64 matrix; ``reset`` records (fit) or checks its columns."""
        with data_errors("ridge features X"):
            X = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=False)
        return as_matrix(X, "ridge features X")

    def fit(self, X: np.ndarray, y: np.ndarray) -> SharedRidgeCV:
        """Scale X, then fit the ridge path and choose an alpha per target by LOO.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training features, any units (scaled here); finite.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Training targets, any units; finite. ``predict`` returns the same number of
            dimensions.

        Returns
        -------
        self : SharedRidgeCV
            The fitted model.
        """
        alphas = np.asarray(self.alphas, dtype=np.float64)
        if alphas.ndim != 1 or alphas.size == 0 or (alphas <= 0).any():
            raise DataError(f"SharedRidgeCV alphas {self.alphas!r}: give ≥ 1 positive value")
        X = self._features(X, reset=True)
        if y is None:
            raise DataError("SharedRidgeCV requires y to be passed, but the target y is None")
        y = np.asarray(y)
        self._y_was_1d_ = y.ndim == 1
        Y = as_matrix(y, "ridge targets y", X.shape[0])
        n_rows = X.shape[0]
        scaler = make_scaler(self.scaling)
        if scaler is None:  # no scaling: an identity transformer (centred below)
            scaler = FeatureScaler(with_mean=False, with_std=False)
        self.scaler_ = scaler.fit(X)
        Z = self.scaler_.transform(X)
        self.x_mean_ = Z.mean(axis=0)
        Z -= self.x_mean_
        self.y_mean_ = Y.mean(axis=0)
        Y_centred = Y - self.y_mean_
        # driver evd (divide and conquer): all eigenvectors are needed, and it took 0.7 × the
        # time of the default evr at d = 256 and 0.9 × at d = 1,000 (one thread)
        if n_rows >= Z.shape[1]:  # primal: ZᵀZ = V diag(λ) Vᵀ, basis P = ZV
            eigenvalues, V = scipy.linalg.eigh(Z.T @ Z, check_finite=False, driver="evd")
            eigenvalues = np.clip(eigenvalues, 0.0, None)
            rows_of, rotation, basis_weight = Z, V, np.ones_like(eigenvalues)
            self.projected_targets_ = V.T @ (Z.T @ Y_centred)
            self.coef_map_ = V
        else:  # dual, cheaper when n < d: ZZᵀ = U diag(λ) Uᵀ, basis U
            eigenvalues, U = scipy.linalg.eigh(Z @ Z.T, check_finite=False, driver="evd")
            eigenvalues = np.clip(eigenvalues, 0.0, None)
            rows_of, rotation, basis_weight = U, None, eigenvalues
            self.projected_targets_ = U.T @ Y_centred
            self.coef_map_ = Z.T @ U
        self.eigenvalues_ = eigenvalues
        self.loo_mse_ = _loo_mse(
            rows_of, rotation, basis_weight, eigenvalues, self.projected_targets_, Y_centred, alphas
        )
        self.alpha_ = alphas[np.argmin(self.loo_mse_, axis=0)]
        self.coef_ = self._coefficients(self.alpha_)
        return self

    def _coefficients(self, alpha_per_target: np.ndarray) -> np.ndarray:
        """Ridge weights (d, t) in scaled units, one alpha per target."""
        inverse = 1.0 / (self.eigenvalues_[:, None] + alpha_per_target[None, :])
        return self.coef_map_ @ (inverse * self.projected_targets_)

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        """Z (n, d): X scaled and centred as the training rows were."""
        check_is_fitted(self, "coef_")
        X = self._features(X, reset=False)
        return self.scaler_.transform(X) - self.x_mean_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predict the targets at the chosen alphas.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, in the units of the training features; finite.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions in units of y; 1-D if the fitted y was 1-D.
        """
        # einsum, not matmul: BLAS's matrix-vector kernel (one target) sums the last rows of a
        # block in another order, so identical rows got predictions 1 ulp apart (seen: isomers
        # with identical H_comp, whose exact ties the isomer benchmark scores). einsum sums every
        # row alike; 0.10 s instead of 0.025 s at 26,000 × 1,000 and 5 targets (one thread).
        prediction = np.einsum("ij,jk->ik", self._standardise(X), self.coef_) + self.y_mean_
        return prediction[:, 0] if self._y_was_1d_ else prediction

    def predict_path(self, X: np.ndarray) -> np.ndarray:
        """Predict the targets at every alpha of the grid.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, in the units of the training features; finite.

        Returns
        -------
        y_path : ndarray of shape (n_alphas, n_samples, n_targets)
            Predictions in units of y, one slice per alpha of ``alphas`` (always 3-D).
        """
        Z = self._standardise(X)
        alphas = np.asarray(self.alphas, dtype=np.float64)
        n_eigen, n_targets = self.projected_targets_.shape
        inverse = 1.0 / (self.eigenvalues_[:, None] + alphas[None, :])
        shrunk = inverse[:, :, None] * self.projected_targets_[:, None, :]
        coef = self.coef_map_ @ shrunk.reshape(n_eigen, alphas.size * n_targets)
        path = (Z @ coef).reshape(Z.shape[0], alphas.size, n_targets) + self.y_mean_
        return np.ascontiguousarray(path.transpose(1, 0, 2))
