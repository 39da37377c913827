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
from sklearn.utils.validation import check_is_fitted

from atomprobe.cpd.checks import as_matrix
from atomprobe.errors import DataError

Mode = Literal["ols", "qr_insample"]
Output = Literal["residual", "composition"]
MODES: tuple[str, ...] = ("ols", "qr_insample")
OUTPUTS: tuple[str, ...] = ("residual", "composition")


def join_composition(C: np.ndarray, H: np.ndarray) -> np.ndarray:
    """The X a CompositionProjector expects: ``[C | H]`` of shape (n, k + d), float64."""
    return np.hstack([np.asarray(C, dtype=np.float64), np.asarray(H, dtype=np.float64)])


def _fingerprint(X: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest()


class CompositionProjector(TransformerMixin, BaseEstimator):
    """Remove (or keep only) the linear composition signal of H.

    Input ``X`` (n, k + d): composition C in the first ``n_composition`` columns, features H in
    the rest (build it with :func:`join_composition`). Output (n, d): the residual
    H − Ĉ B (``output="residual"``) or the composition part Ĉ B (``output="composition"``).

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

    Attributes (after fit): ``coef_`` (k+1, d) or (k, d) without intercept: B;
    ``compositional_columns_`` (d,) bool: the columns whose residual is set to 0.
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

    def _split(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Validated ``(Ĉ (n, k[+1]), H (n, d))`` from X = [C | H]."""
        if self.mode not in MODES:
            raise DataError(f"CompositionProjector mode {self.mode!r}: use one of {MODES}")
        if self.output not in OUTPUTS:
            raise DataError(f"CompositionProjector output {self.output!r}: use one of {OUTPUTS}")
        X = as_matrix(X, "CompositionProjector input [C | H]")
        k = int(self.n_composition)
        if not 1 <= k < X.shape[1]:
            raise DataError(
                f"CompositionProjector: n_composition={k} must be ≥ 1 and leave ≥ 1 feature "
                f"column of the {X.shape[1]} columns of X = [C | H]"
            )
        C, H = X[:, :k], X[:, k:]
        if self.fit_intercept:
            C = np.hstack([np.ones((C.shape[0], 1)), C])
        return C, H

    def fit(self, X: np.ndarray, y: object = None) -> CompositionProjector:
        """Fit B on the rows of X = [C | H] (n, k + d); ``y`` is ignored."""
        C_hat, H = self._split(X)
        if self.mode == "ols":
            self.coef_ = np.linalg.lstsq(C_hat, H, rcond=None)[0]
        else:
            Q, R, pivot = scipy.linalg.qr(C_hat, mode="economic", pivoting=True)
            diagonal = np.abs(np.diag(R))
            rank = int(np.sum(diagonal > diagonal[0] * max(C_hat.shape) * np.finfo(float).eps))
            self.q_ = Q[:, :rank]
            coef = np.zeros((C_hat.shape[1], H.shape[1]))
            coef[pivot[:rank]] = scipy.linalg.solve_triangular(R[:rank, :rank], self.q_.T @ H)
            self.coef_ = coef
            self.fitted_rows_ = _fingerprint(np.asarray(X, dtype=np.float64))
        spread = H.std(axis=0)
        residual_spread = (H - C_hat @ self.coef_).std(axis=0)
        self.compositional_columns_ = residual_spread <= self.rtol * spread
        self.n_features_in_ = C_hat.shape[1] - int(self.fit_intercept) + H.shape[1]
        return self

    def composition_part(self, X: np.ndarray) -> np.ndarray:
        """H_comp (n, d): the part of H linear in the composition."""
        check_is_fitted(self, "coef_")
        C_hat, H = self._split(X)
        if self.mode == "qr_insample":
            if _fingerprint(np.asarray(X, dtype=np.float64)) != self.fitted_rows_:
                raise DataError(
                    "CompositionProjector(mode='qr_insample') is in-sample by definition and "
                    "transforms only the rows it was fitted on; use mode='ols' for new rows"
                )
            return self.q_ @ (self.q_.T @ H)
        return C_hat @ self.coef_

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Residual H − H_comp or H_comp (``output``), shape (n, d)."""
        return self.composition_part(X) if self.output == "composition" else self.residual(X)

    def residual(self, X: np.ndarray) -> np.ndarray:
        """H_geom = H − H_comp (n, d), whatever ``output`` is set to; 0 in the columns the
        composition explains exactly on the fitted rows (``compositional_columns_``)."""
        composition = self.composition_part(X)
        residual = np.asarray(X, dtype=np.float64)[:, int(self.n_composition) :] - composition
        residual[:, self.compositional_columns_] = 0.0
        return residual
