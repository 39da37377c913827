"""Composition projection: split features H into a linear-in-composition part and a residual.

With Ĉ = [1 | C] (n, k+1) and H (n, d), the composition part is H_comp = Ĉ B with
B = pinv(Ĉ) H (the least-squares fit of every feature column on the composition), and the
residual ("geometric" part) is H_geom = H − Ĉ B, orthogonal to every column of Ĉ on the rows B
was fitted on.

The composition travels with the features as the leading ``n_composition`` columns of X, so the
transformer works unchanged inside a scikit-learn ``Pipeline``: cross-validation then refits B on
each training fold (paper v2) and no test row ever touches it.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from atomprobe.cpd.checks import as_matrix
from atomprobe.errors import DataError, data_errors

Mode = Literal["ols", "qr_insample"]
Output = Literal["residual", "composition"]
MODES: tuple[str, ...] = ("ols", "qr_insample")
OUTPUTS: tuple[str, ...] = ("residual", "composition")


def join_composition(C: np.ndarray, H: np.ndarray) -> np.ndarray:
    """The X a CompositionProjector expects: ``[C | H]`` of shape (n, k + d), float64.

    Parameters
    ----------
    C : ndarray of shape (n_samples, n_elements)
        Composition (dimensionless).
    H : ndarray of shape (n_samples, n_features)
        Features (units of the model's features).

    Returns
    -------
    ndarray of shape (n_samples, n_elements + n_features)
        C and H side by side, float64.
    """
    return np.hstack([np.asarray(C, dtype=np.float64), np.asarray(H, dtype=np.float64)])


def _least_squares(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Minimum-norm least-squares solution of A W = B, as ``np.linalg.lstsq(A, B, rcond=None)``.

    From the thin SVD of the tall, narrow A (n, k): W = V diag(1/s) Uᵀ B over the singular
    values above lstsq's default cut-off (eps · max(n, k) · s_max). LAPACK's gelsd, behind
    lstsq, carries all d right-hand sides through its own bidiagonalisation; at 6,400 × 6 with
    256 columns it took 1.2 × the Gram matrix of the features, this 0.2 × (one thread,
    benchmarks/bench_cpd_solver.py).
    """
    U, s, Vt = scipy.linalg.svd(A, full_matrices=False, check_finite=False)
    keep = s > (s[0] if s.size else 0.0) * max(A.shape) * np.finfo(np.float64).eps
    return (Vt[keep].T / s[keep]) @ (U[:, keep].T @ B)


def _fingerprint(X: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest()


class CompositionProjector(TransformerMixin, BaseEstimator):
    """Remove (or keep only) the linear composition signal of H.

    Input ``X`` (n, k + d): composition C in the first ``n_composition`` columns, features H in
    the rest (build it with :func:`join_composition`); converted to float64. Output (n, d),
    float64: the residual H − Ĉ B (``output="residual"``) or the composition part Ĉ B
    (``output="composition"``).

    Modes:
        ``ols`` (paper v2): B = pinv(Ĉ_T) H_T on the rows T passed to ``fit``; ``transform``
            applies it to any rows. Inside a CV ``Pipeline`` this is the per-fold projection.
        ``qr_insample`` (paper v1): thin QR Ĉ = QR of the fitted rows, H_comp = QQᵀH. It is
            transductive: ``transform`` accepts only the very rows it was fitted on, so use it
            as ``fit_transform`` on all rows before splitting, which is what paper v1 did (and
            what lets test rows leak into the projection). A rank-deficient Ĉ (e.g. fractions
            plus intercept) is handled by a column-pivoted QR truncated at its numerical rank.

    A feature column that the composition explains exactly on the fitted rows (its residual
    there is at round-off level, below ``rtol`` × its spread) has no geometric part that the fit
    rows could show; its residual is set to 0 on every row. Otherwise a standardising probe
    would blow round-off up to unit variance and test rows up by 1/round-off (seen: a
    1,008-value AEV, whose rare-element columns are fixed by composition on a small fold, and
    crystals with more elements than training rows).

    Parameters
    ----------
    n_composition : int
        k, the number of leading columns of X that hold the composition C (e.g. element
        counts or fractions, one column per element); ≥ 1, and X must have ≥ k + 1 columns.
    mode : {"ols", "qr_insample"}, default="ols"
        ``ols``: B fitted on the rows passed to ``fit``, applicable to new rows (paper v2).
        ``qr_insample``: in-sample QR projection, transforms only the fitted rows (paper v1).
    fit_intercept : bool, default=True
        Prepend a column of ones to C (Ĉ = [1 | C]), so the mean of H counts as composition.
    output : {"residual", "composition"}, default="residual"
        What ``transform`` returns: H − Ĉ B (the geometric part) or Ĉ B.
    rtol : float, default=1e-8
        Relative threshold, dimensionless: a feature column whose residual spread on the
        fitted rows is ≤ ``rtol`` × its spread is explained exactly by the composition.

    Attributes
    ----------
    coef_ : ndarray of shape (k + 1, d), or (k, d) if ``fit_intercept=False``
        B, units of H per unit of C (the intercept row in units of H). In ``qr_insample``
        mode the rows of columns dropped from a rank-deficient Ĉ are 0.
    compositional_columns_ : ndarray of shape (d,), dtype bool
        Feature columns whose residual is set to 0.
    q_ : ndarray of shape (n_samples, rank)
        ``qr_insample`` only: orthonormal basis Q of the span of Ĉ on the fitted rows.
    fitted_rows_ : str
        ``qr_insample`` only: SHA-256 of the fitted X, to refuse other rows in ``transform``.
    n_features_in_ : int
        k + d, the number of columns of X seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of X, if X was a DataFrame with string column names.
    """

    def __init__(
        self,
        n_composition: int,
        mode: Mode = "ols",
        fit_intercept: bool = True,
        output: Output = "residual",
        rtol: float = 1e-8,
    ) -> None:
        self.n_composition = n_composition
        self.mode = mode
        self.fit_intercept = fit_intercept
        self.output = output
        self.rtol = rtol

    def _split(self, X: np.ndarray, reset: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Validated ``(X (n, k + d), Ĉ (n, k[+1]), H (n, d))`` from X = [C | H], float64.

        ``reset`` (fit) records the number of columns of X, otherwise it is checked.
        """
        if self.mode not in MODES:
            raise DataError(f"CompositionProjector mode {self.mode!r}: use one of {MODES}")
        if self.output not in OUTPUTS:
            raise DataError(f"CompositionProjector output {self.output!r}: use one of {OUTPUTS}")
        what = "CompositionProjector input [C | H]"
        with data_errors(what):
            X = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=False)
        X = as_matrix(X, what)
        k = int(self.n_composition)
        if not 1 <= k < X.shape[1]:
            raise DataError(
                f"CompositionProjector: X = [C | H] has {X.shape[1]} feature(s) (columns); "
                f"n_composition={k} must be ≥ 1 and leave ≥ 1 feature column of H"
            )
        C, H = X[:, :k], X[:, k:]
        if self.fit_intercept:
            C = np.hstack([np.ones((C.shape[0], 1)), C])
        return X, C, H

    def fit(self, X: np.ndarray, y: object = None) -> CompositionProjector:
        """Fit the composition coefficients B on the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_composition + n_features)
            ``[C | H]``: composition C (e.g. element counts) then features H (any units);
            finite.
        y : None
            Ignored.

        Returns
        -------
        self : CompositionProjector
            The fitted projector.
        """
        self._fit(X)
        return self

    def fit_transform(self, X: np.ndarray, y: object = None, **fit_params: object) -> np.ndarray:
        """Fit B on the rows of X and return their transform, computing Ĉ B only once.

        Same values as ``fit(X).transform(X)``, bit for bit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_composition + n_features)
            ``[C | H]`` as in ``fit``.
        y : None
            Ignored.
        **fit_params : dict
            Ignored (no fit parameters).

        Returns
        -------
        H_out : ndarray of shape (n_samples, n_features)
            As :meth:`transform` returns for the fitted rows; float64, units of H.
        """
        C_hat, residual = self._fit(X)
        if self.mode == "qr_insample":  # transform uses QQᵀH, not the Ĉ B of the fit
            return self.transform(X)
        if self.output == "composition":
            return C_hat @ self.coef_
        residual[:, self.compositional_columns_] = 0.0
        return residual

    def _fit(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fit B; return ``(Ĉ, H − Ĉ B)`` on the rows of X, (n, k[+1]) and (n, d)."""
        X, C_hat, H = self._split(X, reset=True)
        if self.mode == "ols":
            self.coef_ = _least_squares(C_hat, H)
        else:
            Q, R, pivot = scipy.linalg.qr(C_hat, mode="economic", pivoting=True)
            diagonal = np.abs(np.diag(R))
            rank = int(np.sum(diagonal > diagonal[0] * max(C_hat.shape) * np.finfo(float).eps))
            self.q_ = Q[:, :rank]
            coef = np.zeros((C_hat.shape[1], H.shape[1]))
            coef[pivot[:rank]] = scipy.linalg.solve_triangular(R[:rank, :rank], self.q_.T @ H)
            self.coef_ = coef
            self.fitted_rows_ = _fingerprint(X)
        residual = H - C_hat @ self.coef_
        self.compositional_columns_ = residual.std(axis=0) <= self.rtol * H.std(axis=0)
        return C_hat, residual

    def _composition_part(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(H_comp, H)``, both (n, d), of X = [C | H]."""
        check_is_fitted(self, "coef_")
        X, C_hat, H = self._split(X, reset=False)
        if self.mode == "qr_insample":
            if _fingerprint(X) != self.fitted_rows_:
                raise DataError(
                    "CompositionProjector(mode='qr_insample') is in-sample by definition and "
                    "transforms only the rows it was fitted on; use mode='ols' for new rows"
                )
            return self.q_ @ (self.q_.T @ H), H
        return C_hat @ self.coef_, H

    def composition_part(self, X: np.ndarray) -> np.ndarray:
        """The part of H linear in the composition, whatever ``output`` is set to.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_composition + n_features)
            ``[C | H]`` as in ``fit`` (in ``qr_insample`` mode: exactly the fitted rows).

        Returns
        -------
        H_comp : ndarray of shape (n_samples, n_features)
            Ĉ B (``qr_insample``: QQᵀH), float64, units of H.
        """
        return self._composition_part(X)[0]

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The residual or the composition part of H, as ``output`` says.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_composition + n_features)
            ``[C | H]`` as in ``fit`` (in ``qr_insample`` mode: exactly the fitted rows).

        Returns
        -------
        H_out : ndarray of shape (n_samples, n_features)
            :meth:`residual` if ``output="residual"``, else :meth:`composition_part`;
            float64, units of H.
        """
        return self.composition_part(X) if self.output == "composition" else self.residual(X)

    def residual(self, X: np.ndarray) -> np.ndarray:
        """The geometric part H − H_comp, whatever ``output`` is set to.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_composition + n_features)
            ``[C | H]`` as in ``fit`` (in ``qr_insample`` mode: exactly the fitted rows).

        Returns
        -------
        H_geom : ndarray of shape (n_samples, n_features)
            H − H_comp, float64, units of H; 0 in the columns the composition explains exactly
            on the fitted rows (``compositional_columns_``).
        """
        composition, H = self._composition_part(X)
        residual = H - composition
        residual[:, self.compositional_columns_] = 0.0
        return residual
