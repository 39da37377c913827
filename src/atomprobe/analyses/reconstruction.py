"""Global and local feature reconstruction errors (GFRE, LFRE) between feature spaces.

Definitions follow paper B (arXiv 2512.05717) and their reference implementation,
``skmatter.metrics.global_reconstruction_error`` / ``local_reconstruction_error`` with its
default scaler and estimator:

* X and Y are scaled separately on the training rows: centre every column, then divide by one
  scalar so that the total variance is 1 (``skmatter.preprocessing.StandardFlexibleScaler``).
* A linear map W (no intercept) is fitted by ``skmatter.linear_model.Ridge2FoldCV`` with
  relative alphas and truncated-SVD ("cutoff") regularisation: singular values of X at or below
  ``alpha · s_max`` are dropped; alpha is chosen by a 2-fold split (KFold, shuffled with
  skmatter's seed ``0x5F3759DF``) minimising the output-averaged RMSE. The alphas default to
  the authors' ``geomspace(1e-9, 1, 20)`` (config ``reconstruction.relative_alphas``);
  skmatter's own default is ``geomspace(1e-9, 0.9, 20)``. Alpha 1 keeps no singular value in
  the cross-validation (it is the "predict the mean" candidate); skmatter 0.4.1's estimator
  refuses alphas >= 1, the arithmetic here is the same for them.
* GFRE(X→Y) = ‖Y_test − X_test W‖_F / sqrt(n_test): 0 = Y is a linear function of X,
  ≈ 1 = nothing of Y is reconstructed (it can exceed 1).
* LFRE(X→Y): for each test point the same ridge is fitted on its k nearest training points in
  scaled X, centred on their local means; LFRE is the RMS of the pointwise errors
  ``‖y_i − (ȳ + (x_i − x̄) W_i)‖``. Paper B uses k = min(dim X, dim Y).

This module reimplements the estimator so that work is shared: every SVD depends on X only, so
one decomposition serves every target Y (all models, all cumulant orders), and LFRE solves its
per-point problems as stacked (batched) SVDs instead of a Python loop. ``benchmarks/bench_lfre.py``
measures it against skmatter (5,000 train x 256 features, 1 thread, same run: LFRE 3.4x faster
for one target, 9.9x for ten targets from one source; GFRE 2.0x / 4.9x; max |difference| of the
pointwise errors 3e-16); ``tests/test_reconstruction_metrics.py`` checks equality.
Everything is computed in float64 (skmatter would keep float32 inputs in float32, with a
float32 machine-precision cutoff); the equality holds for float64 inputs.

One principle differs from skmatter on purpose (the precision floor, see
:class:`BatchedCutoffRidgeSolver`): a direction of X resolved only at the rounding level of the
stored features is not information, so no fit may extrapolate along it. Singular values at or
below ``max(n, d) · eps · s_max`` (eps of the stored dtype: float32 features 1.19e-7) are
dropped in the cross-validation and in the final fit. Symmetry-equivalent atoms of a crystal
are one point of a model's features up to float32 rounding; where another model separates
them, skmatter fits a slope ``|Δy| / |Δx|`` ~ 10³ along the rounding difference and one test
atom's local error reaches ~100 (LFRE CHGNet → SevenNet-0 22May2024 on MP: 6.5 on the
2-core dev machine, 66.8 in the run issue 22 reports, skmatter on the float32 values 56.9; 0.19
with the floor).

Note: with k = min(d_x, d_y) the k centred neighbours span at most k − 1 dimensions, so even
LFRE(X→X) is not 0 when k = d_x (the local map cannot be the identity); GFRE(X→X) is ≈ 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import KFold

from atomprobe.errors import DataError

RELATIVE_ALPHAS = np.geomspace(1e-9, 1.0, 20)  # paper B's authors' grid (skmatter: 0.9 top)
CV_RANDOM_STATE = 0x5F3759DF  # skmatter's seed for the 2-fold alpha selection
ZERO_VARIANCE = 1e-12  # total variance below this cannot be scaled (skmatter's atol)


def check_features(X: np.ndarray, what: str, n_rows: int | None = None) -> np.ndarray:
    """``X`` as a finite float64 (n, d) array; one-line DataError otherwise.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        Feature matrix, any numeric dtype.
    what : str
        Name of the matrix in error messages (e.g. ``"source X"``).
    n_rows : int or None, default=None
        Required number of rows (those of the source); None to accept any.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        ``X`` as float64 (not copied if already float64).

    Raises
    ------
    DataError
        ``X`` is not 2-D, has no columns, the wrong number of rows, or NaN/inf/non-numeric values.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] == 0:
        raise DataError(f"{what}: expected a 2-D array (n_samples, n_features), got {X.shape}")
    if n_rows is not None and X.shape[0] != n_rows:
        raise DataError(
            f"{what}: has {X.shape[0]} rows but the source has {n_rows}; rows must be the "
            "same samples in the same order"
        )
    if not np.issubdtype(X.dtype, np.number) or not np.isfinite(X).all():
        raise DataError(f"{what}: contains NaN, inf or non-numeric values; fix the features")
    return X.astype(np.float64, copy=False)


def train_test_indices(n_samples: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split: ``(train_idx, test_idx)``, both sorted; training = the rest.

    Parameters
    ----------
    n_samples : int
        Number of samples to split.
    n_test : int
        Test samples; at least two samples must remain for training.
    seed : int
        Seed of the permutation.

    Returns
    -------
    train_idx : ndarray of shape (n_samples - n_test,)
        Sorted integer indices of the training samples.
    test_idx : ndarray of shape (n_test,)
        Sorted integer indices of the test samples.

    Raises
    ------
    DataError
        ``n_test`` is not positive or leaves fewer than two training samples.
    """
    if not 0 < n_test <= n_samples - 2:
        raise DataError(
            f"test size {n_test} needs at least {n_test + 2} samples, got {n_samples}; "
            "lower the test size in the config"
        )
    permutation = np.random.default_rng(seed).permutation(n_samples)
    return np.sort(permutation[n_test:]), np.sort(permutation[:n_test])


def structure_test_indices(
    structures: np.ndarray, n_test: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of atoms by structure: ``(train_idx, test_idx)``, both sorted.

    Structures are drawn in a seeded random order until their atoms reach ``n_test``; every atom
    of a drawn structure is a test atom and every other atom trains, so no structure has atoms
    on both sides (the test set may exceed ``n_test`` by the last structure's other atoms).

    Parameters
    ----------
    structures : ndarray of shape (n_atoms,)
        Structure id of each atom (any hashable values).
    n_test : int
        Test atoms wanted; at least two atoms must remain for training.
    seed : int
        Seed of the order in which structures are drawn.

    Returns
    -------
    train_idx : ndarray of shape (n_atoms - n_test_atoms,)
        Sorted indices of the training atoms.
    test_idx : ndarray of shape (n_test_atoms,)
        Sorted indices of the test atoms (``n_test_atoms`` >= ``n_test``).

    Raises
    ------
    DataError
        ``n_test`` is not positive, or the drawn structures leave fewer than two training atoms.
    """
    _, group = np.unique(np.asarray(structures), return_inverse=True)
    if n_test < 1:
        raise DataError(f"test size {n_test} must be positive; raise the test size in the config")
    sizes = np.bincount(group)
    order = np.random.default_rng(seed).permutation(len(sizes))
    n_drawn = int(np.searchsorted(np.cumsum(sizes[order]), n_test)) + 1
    is_test = np.isin(group, order[:n_drawn])
    if (~is_test).sum() < 2:
        raise DataError(
            f"test size {n_test}: whole structures leave {(~is_test).sum()} of {len(group)} atoms "
            "to train; lower the test size in the config"
        )
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def alpha_grid(low: float, high: float, n: int) -> np.ndarray:
    """Relative alphas ``geomspace(low, high, n)`` (config ``reconstruction.relative_alphas``).

    Parameters
    ----------
    low, high : float
        Smallest and largest relative alpha, ``0 < low <= high <= 1`` (fractions of the largest
        singular value).
    n : int
        Number of alphas, at least 1.

    Returns
    -------
    ndarray of shape (n,)
        The grid, dimensionless.

    Raises
    ------
    DataError
        The bounds are out of order or outside (0, 1], or ``n`` < 1.
    """
    if not 0 < low <= high <= 1 or n < 1:
        raise DataError(
            f"reconstruction.relative_alphas: low={low}, high={high}, n={n}; "
            "need 0 < low <= high <= 1 and n >= 1 (paper B: 1e-9, 1, 20)"
        )
    return np.geomspace(low, high, n)


def capped_test_size(n_samples: int, requested: int) -> int:
    """The configured test size, capped so that at least half of the samples train.

    Parameters
    ----------
    n_samples : int
        Number of samples.
    requested : int
        Test size from the config.

    Returns
    -------
    int
        ``min(requested, n_samples // 2)``.
    """
    return min(requested, n_samples // 2)


def scale_total_variance(
    train: np.ndarray, test: np.ndarray, what: str = "features"
) -> tuple[np.ndarray, np.ndarray]:
    """Centre on the training mean, divide by sqrt(total training variance) (population).

    Same scaling as ``skmatter.preprocessing.StandardFlexibleScaler``: afterwards the training
    columns have mean 0 and their variances sum to 1.

    Parameters
    ----------
    train : ndarray of shape (n_train, n_features)
        Training rows; the mean and scale are computed on them.
    test : ndarray of shape (n_test, n_features)
        Test rows, scaled with the training mean and scale.
    what : str, default="features"
        Name of the matrix in error messages.

    Returns
    -------
    train_scaled : ndarray of shape (n_train, n_features)
        Scaled training rows (dimensionless).
    test_scaled : ndarray of shape (n_test, n_features)
        Scaled test rows (dimensionless).

    Raises
    ------
    DataError
        The total training variance is below ``ZERO_VARIANCE`` (all columns constant).
    """
    mean = train.mean(axis=0)
    total_variance = ((train - mean) ** 2).mean(axis=0).sum()
    if total_variance < ZERO_VARIANCE:
        raise DataError(f"{what}: all columns are constant on the training rows; cannot scale")
    scale = np.sqrt(total_variance)
    return (train - mean) / scale, (test - mean) / scale


class BatchedCutoffRidgeSolver:
    """Stacked skmatter ``Ridge2FoldCV`` (relative alphas, cutoff) for b problems of one shape.

    Stacked ``skmatter.linear_model.Ridge2FoldCV(alpha_type="relative",
    regularization_method="cutoff")`` for b independent problems of the same shape.
    The SVDs of X and of its two folds are computed once, here; then
    :meth:`predict` fits any number of targets Y (b, n, d_y), choosing alpha per problem and per
    target exactly as skmatter does (including its quirk of truncating the final fit at
    ``s > alpha·s_max`` without the machine-precision cutoff used during cross-validation).

    One deliberate difference, the precision floor: singular values at or below
    ``max(n, d) · eps · s_max`` of the matrix they belong to (each fold in the cross-validation,
    the full X in the final fit), with ``eps`` the machine precision of the *stored* features,
    are rounding noise and are dropped everywhere (the numerical rank of
    ``numpy.linalg.matrix_rank``). skmatter drops only values below an absolute
    ``max(n, d) · eps`` during cross-validation and none in the final fit, and our inputs are
    float32 features computed in float64. Without the floor, two training points that X rounds
    to the same point but Y separates give a slope ``|Δy| / |Δx|`` of 10³ along their rounding
    noise, and any query off that noise direction is mapped far away (the LFRE outlier of
    CHGNet → SevenNet-0 on MP crystals, whose symmetry-equivalent atoms are such pairs). For
    float64 inputs the floor is ~1e-14 · s_max and the results equal skmatter's.

    Parameters
    ----------
    X : ndarray of shape (n_problems, n_samples, n_features)
        Inputs of the b problems, float64; at least 4 samples (2 per CV fold).
    alphas : ndarray of shape (n_alphas,), default=RELATIVE_ALPHAS
        Relative penalties: singular values at or below ``alpha · s_max`` are dropped
        (dimensionless).
    random_state : int, default=CV_RANDOM_STATE
        Seed of the shuffled 2-fold split (skmatter's ``0x5F3759DF``).
    eps : float, default=float64 machine epsilon
        Machine precision of the stored features X was computed from (float32: 1.19e-7).

    Attributes
    ----------
    folds : tuple of tuple of ndarray
        The two ``(fitted rows, held-out rows)`` index pairs of the 2-fold split.
    fold_svds : list of tuple of ndarray
        ``(u, s, vt)`` of X restricted to each fold's fitted rows.
    fold_floors : list of ndarray of shape (n_problems,)
        Each fold's cutoff during cross-validation: the larger of skmatter's absolute
        ``max(n, d) · eps(float64)`` and the precision floor.
    held_out_projections : list of ndarray
        Each fold's held-out rows projected on the fitted rows' right singular vectors,
        divided by the singular values, shape (n_problems, n_held_out, n_components).
    thresholds : ndarray of shape (n_problems, n_alphas)
        Absolute singular-value cutoffs ``alpha · s_max`` per problem.
    svd : tuple of ndarray
        ``(u, s, vt)`` of the full X, used for the final fit.
    floor : ndarray of shape (n_problems,)
        Precision floor of the full X in the final fit.

    Raises
    ------
    DataError
        Fewer than 4 samples.
    """

    def __init__(
        self,
        X: np.ndarray,
        alphas: np.ndarray = RELATIVE_ALPHAS,
        random_state: int = CV_RANDOM_STATE,
        eps: float = float(np.finfo(np.float64).eps),
    ) -> None:
        _, n_samples, n_features = X.shape
        if n_samples < 4:
            raise DataError(f"ridge: {n_samples} samples cannot be split into 2 CV folds of 2")
        fold_a, fold_b = next(
            KFold(2, shuffle=True, random_state=random_state).split(np.empty((n_samples, 1)))
        )
        self.folds = ((fold_a, fold_b), (fold_b, fold_a))  # (fitted rows, held-out rows)
        rcond = max(n_samples, n_features) * np.finfo(np.float64).eps  # skmatter's, absolute
        tolerance = max(n_samples, n_features) * eps  # relative to s_max: the precision floor
        self.fold_svds = [
            np.linalg.svd(X[:, fitted], full_matrices=False) for fitted, _ in self.folds
        ]
        self.fold_floors = [np.maximum(rcond, tolerance * s[:, 0]) for _, s, _ in self.fold_svds]
        # held-out rows projected on the fitted fold's right singular vectors, divided by s
        self.held_out_projections = [
            X[:, held] @ np.swapaxes(vt, 1, 2) / np.where(s > 0, s, 1.0)[:, None, :]
            for (_, held), (_, s, vt) in zip(self.folds, self.fold_svds, strict=True)
        ]
        s_max = np.maximum(self.fold_svds[0][1][:, 0], self.fold_svds[1][1][:, 0])
        self.thresholds = np.asarray(alphas)[None, :] * s_max[:, None]  # (b, n_alphas)
        self.svd = np.linalg.svd(X, full_matrices=False)
        self.floor = tolerance * self.svd[1][:, 0]

    def _cv_losses(self, problem: int, Y: np.ndarray) -> np.ndarray:
        """Mean 2-fold RMSE for every alpha: (n_alphas,)."""
        directions = []
        for (fitted, held), (u, s, _), projection, floor in zip(
            self.folds, self.fold_svds, self.held_out_projections, self.fold_floors, strict=True
        ):
            s = s[problem]
            n_valid = int((s > floor[problem]).sum())
            ranks = np.minimum(n_valid, (s[None, :] > self.thresholds[problem][:, None]).sum(1))
            coefficients = u[problem][:, :n_valid].T @ Y[problem][fitted]  # (n_valid, d_y)
            loss_at_rank = _rmse_by_rank(
                projection[problem][:, :n_valid], coefficients, Y[problem][held], ranks
            )
            directions.append(np.array([loss_at_rank[r] for r in ranks]))
        return (directions[0] + directions[1]) / 2

    def predict(self, Y: np.ndarray, X_query: np.ndarray) -> np.ndarray:
        """Fit Y (b, n, d_y) on X, predict at X_query (b, q, d): (b, q, d_y).

        Alpha is chosen per problem by the 2-fold CV (lowest output-averaged RMSE).

        Parameters
        ----------
        Y : ndarray of shape (n_problems, n_samples, n_targets)
            Targets of the b problems, rows matching X.
        X_query : ndarray of shape (n_problems, n_queries, n_features)
            Points at which to predict, in the units of X.

        Returns
        -------
        ndarray of shape (n_problems, n_queries, n_targets)
            Predictions, in the units of Y.
        """
        u, s, vt = self.svd
        predictions = np.empty((Y.shape[0], X_query.shape[1], Y.shape[2]))
        for problem in range(Y.shape[0]):
            best = int(np.argmin(self._cv_losses(problem, Y)))
            cutoff = max(self.thresholds[problem, best], self.floor[problem])
            rank = int((s[problem] > cutoff).sum())
            query_scores = (X_query[problem] @ vt[problem][:rank].T) / s[problem][:rank]
            left = u[problem][:, :rank].T
            if X_query.shape[1] < Y.shape[2]:  # few queries (LFRE): never form W
                predictions[problem] = (query_scores @ left) @ Y[problem]
            else:
                predictions[problem] = query_scores @ (left @ Y[problem])
        return predictions


def _rmse_by_rank(
    projection: np.ndarray, coefficients: np.ndarray, Y_held: np.ndarray, ranks: np.ndarray
) -> dict[int, float]:
    """Output-averaged RMSE on held-out rows of the rank-r truncated fit, for each r in ranks.

    ``projection`` (m, r_max) = X_held V / s, ``coefficients`` (r_max, d_y) = Uᵀ Y_fitted: the
    rank-r prediction is ``projection[:, :r] @ coefficients[:r]``, built up incrementally.
    """
    prediction = np.zeros_like(Y_held)
    done = 0
    losses = {}
    for rank in np.unique(ranks):
        prediction += projection[:, done:rank] @ coefficients[done:rank]
        done = rank
        losses[int(rank)] = float(np.mean(np.sqrt(np.mean((Y_held - prediction) ** 2, axis=0))))
    return losses


def _prepare(
    X: np.ndarray, Ys: Sequence[np.ndarray], train_idx: np.ndarray, test_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]], float]:
    """Validate, split and scale the source and every target; also the machine precision of
    the stored source (float32 features: 1.19e-7; any non-float32 dtype: float64's)."""
    eps = float(np.finfo(np.float32 if np.asarray(X).dtype == np.float32 else np.float64).eps)
    X = check_features(X, "source X")
    targets = [check_features(Y, f"target Y[{i}]", X.shape[0]) for i, Y in enumerate(Ys)]
    train_idx, test_idx = np.asarray(train_idx), np.asarray(test_idx)
    if test_idx.size == 0 or train_idx.size == 0:
        raise DataError(
            f"{train_idx.size} training and {test_idx.size} test rows: both must be non-empty"
        )
    if np.intersect1d(train_idx, test_idx).size:
        raise DataError("train and test indices overlap; pass disjoint index sets")
    X_train, X_test = scale_total_variance(X[train_idx], X[test_idx], "source X")
    scaled = [
        scale_total_variance(Y[train_idx], Y[test_idx], f"target Y[{i}]")
        for i, Y in enumerate(targets)
    ]
    return X_train, X_test, scaled, eps


def pointwise_gfre(
    X: np.ndarray,
    Ys: Sequence[np.ndarray],
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    alphas: np.ndarray = RELATIVE_ALPHAS,
) -> np.ndarray:
    """Pointwise global errors ‖y_i − x_i W‖ of each target: (n_targets, n_test).

    X and each Y are scaled to unit total variance on the training rows (see the module
    docstring); one SVD set serves all targets.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
        Source features.
    Ys : sequence of ndarray of shape (n_samples, n_features_y)
        Target feature matrices, with the same rows as X (their widths may differ).
    train_idx : ndarray of shape (n_train,)
        Integer indices of the training rows.
    test_idx : ndarray of shape (n_test,)
        Integer indices of the test rows, disjoint from ``train_idx``.
    alphas : ndarray of shape (n_alphas,), default=RELATIVE_ALPHAS
        Relative alphas of the ridge (see :class:`BatchedCutoffRidgeSolver`).

    Returns
    -------
    ndarray of shape (n_targets, n_test)
        Euclidean reconstruction error of each test point, in units of the scaled target
        (dimensionless; 1 = the target's total standard deviation).

    Raises
    ------
    DataError
        Invalid features, mismatched rows, overlapping indices, constant features or too few
        training rows.
    """
    X_train, X_test, scaled, eps = _prepare(X, Ys, train_idx, test_idx)
    ridge = BatchedCutoffRidgeSolver(X_train[None], alphas, eps=eps)
    return np.stack(
        [
            np.linalg.norm(Y_test - ridge.predict(Y_train[None], X_test[None])[0], axis=1)
            for Y_train, Y_test in scaled
        ]
    )


def default_n_neighbors(d_x: int, d_y: int, n_train: int) -> int:
    """Paper B's k = min(d_x, d_y), capped at the number of training points.

    Parameters
    ----------
    d_x : int
        Number of source features.
    d_y : int
        Number of target features.
    n_train : int
        Number of training points.

    Returns
    -------
    int
        ``min(d_x, d_y, n_train)``.
    """
    return min(d_x, d_y, n_train)


def pointwise_lfre(
    X: np.ndarray,
    Ys: Sequence[np.ndarray],
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    n_neighbors: int | None = None,
    batch_size: int = 32,
    alphas: np.ndarray = RELATIVE_ALPHAS,
) -> np.ndarray:
    """Pointwise local errors of each target: (n_targets, n_test).

    Test points are processed ``batch_size`` at a time as stacked SVDs of their (k, d_x)
    neighbourhoods, each shared by every target with the same k.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
        Source features.
    Ys : sequence of ndarray of shape (n_samples, n_features_y)
        Target feature matrices, with the same rows as X (their widths may differ).
    train_idx : ndarray of shape (n_train,)
        Integer indices of the training rows.
    test_idx : ndarray of shape (n_test,)
        Integer indices of the test rows, disjoint from ``train_idx``.
    n_neighbors : int or None, default=None
        k, the training points around each test point (nearest in scaled X). Default (paper B):
        min(d_x, d_y) per target, capped at the number of training points — a wide descriptor
        such as the 1,008-value AEV on a small probe set would otherwise ask for more neighbours
        than exist; an explicit k larger than that is an error.
    batch_size : int, default=32
        Test points processed together.
    alphas : ndarray of shape (n_alphas,), default=RELATIVE_ALPHAS
        Relative alphas of each local ridge (see :class:`BatchedCutoffRidgeSolver`).

    Returns
    -------
    ndarray of shape (n_targets, n_test)
        Euclidean local reconstruction error of each test point, in units of the scaled target
        (dimensionless).

    Raises
    ------
    DataError
        Invalid features, mismatched rows, overlapping indices, constant features, or k larger
        than the number of training points.
    """
    if n_neighbors is not None and n_neighbors < 1:
        raise DataError(
            f"LFRE: n_neighbors must be at least 1 (or None for paper B's k), got {n_neighbors}"
        )
    X_train, X_test, scaled, eps = _prepare(X, Ys, train_idx, test_idx)
    ks = [
        n_neighbors or default_n_neighbors(X_train.shape[1], Y_train.shape[1], len(X_train))
        for Y_train, _ in scaled
    ]
    if max(ks) > X_train.shape[0]:
        raise DataError(f"LFRE: k={max(ks)} neighbours > {X_train.shape[0]} training points")
    errors = np.empty((len(scaled), X_test.shape[0]))
    train_sq_norms = (X_train**2).sum(axis=1)
    for start in range(0, X_test.shape[0], batch_size):
        query = X_test[start : start + batch_size]
        sq_dist = train_sq_norms + (query**2).sum(axis=1)[:, None] - 2 * query @ X_train.T
        for k in sorted(set(ks)):
            nearest = np.argpartition(sq_dist, k - 1, axis=1)[:, :k]
            nearest = np.take_along_axis(
                nearest, np.argsort(np.take_along_axis(sq_dist, nearest, 1), axis=1), 1
            )
            local_X = X_train[nearest]  # (b, k, d_x), nearest first
            local_X_mean = local_X.mean(axis=1, keepdims=True)
            ridge = BatchedCutoffRidgeSolver(local_X - local_X_mean, alphas, eps=eps)
            for t, (Y_train, Y_test) in enumerate(scaled):
                if ks[t] != k:
                    continue
                local_Y = Y_train[nearest]
                local_Y_mean = local_Y.mean(axis=1, keepdims=True)
                predicted = local_Y_mean + ridge.predict(
                    local_Y - local_Y_mean, query[:, None, :] - local_X_mean
                )
                errors[t, start : start + len(query)] = np.linalg.norm(
                    Y_test[start : start + len(query)] - predicted[:, 0], axis=1
                )
    return errors


def root_mean_square(pointwise: np.ndarray) -> np.ndarray:
    """GFRE/LFRE from pointwise errors (..., n_test): sqrt(mean of squares) over the last axis.

    Parameters
    ----------
    pointwise : ndarray of shape (..., n_test)
        Pointwise errors (dimensionless, see :func:`pointwise_gfre`).

    Returns
    -------
    ndarray of shape (...)
        Root mean square over the last axis (dimensionless).
    """
    return np.sqrt(np.mean(np.square(pointwise), axis=-1))


def gfre(
    X: np.ndarray,
    Y: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    alphas: np.ndarray = RELATIVE_ALPHAS,
) -> float:
    """GFRE(X→Y) of one pair (see the module docstring).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
        Source features.
    Y : ndarray of shape (n_samples, n_features_y)
        Target features, with the same rows as X.
    train_idx : ndarray of shape (n_train,)
        Integer indices of the training rows.
    test_idx : ndarray of shape (n_test,)
        Integer indices of the test rows, disjoint from ``train_idx``.
    alphas : ndarray of shape (n_alphas,), default=RELATIVE_ALPHAS
        Relative alphas of the ridge.

    Returns
    -------
    float
        GFRE, dimensionless: 0 = Y is a linear function of X, ≈ 1 = nothing of Y is
        reconstructed (it can exceed 1).

    Raises
    ------
    DataError
        Invalid features or indices (see :func:`pointwise_gfre`).
    """
    return float(root_mean_square(pointwise_gfre(X, [Y], train_idx, test_idx, alphas))[0])


def lfre(
    X: np.ndarray,
    Y: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    n_neighbors: int | None = None,
    alphas: np.ndarray = RELATIVE_ALPHAS,
) -> float:
    """LFRE(X→Y) of one pair; k = ``n_neighbors`` or :func:`default_n_neighbors`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features_x)
        Source features.
    Y : ndarray of shape (n_samples, n_features_y)
        Target features, with the same rows as X.
    train_idx : ndarray of shape (n_train,)
        Integer indices of the training rows.
    test_idx : ndarray of shape (n_test,)
        Integer indices of the test rows, disjoint from ``train_idx``.
    n_neighbors : int or None, default=None
        Neighbourhood size k; None for paper B's ``min(d_x, d_y)``.
    alphas : ndarray of shape (n_alphas,), default=RELATIVE_ALPHAS
        Relative alphas of each local ridge.

    Returns
    -------
    float
        LFRE, dimensionless (RMS of the pointwise local errors in units of the scaled Y).

    Raises
    ------
    DataError
        Invalid features or indices, or k larger than the training set (see
        :func:`pointwise_lfre`).
    """
    pointwise = pointwise_lfre(X, [Y], train_idx, test_idx, n_neighbors, alphas=alphas)
    return float(root_mean_square(pointwise)[0])
