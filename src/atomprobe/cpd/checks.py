"""Input validation at the library boundary: every problem becomes a one-line DataError."""

from __future__ import annotations

import numpy as np

from atomprobe.errors import DataError


def as_matrix(values: np.ndarray, what: str, n_rows: int | None = None) -> np.ndarray:
    """``values`` as a finite float64 matrix (n, m); a 1-D array becomes one column."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DataError(f"{what}: expected a 2-D array (rows, columns), got shape {array.shape}")
    if n_rows is not None and array.shape[0] != n_rows:
        raise DataError(
            f"{what}: has {array.shape[0]} rows but the features have {n_rows}; "
            "align the rows by structure id"
        )
    if array.shape[1] == 0:
        raise DataError(f"{what}: has no columns")
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"{what}: {int(bad.sum())} NaN/inf values (first at row {row}, column {col}); "
            "drop or repair those rows"
        )
    return array


def check_probe_inputs(
    H: np.ndarray,
    C: np.ndarray,
    Y: np.ndarray,
    min_rows: int,
    target_names: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate features H (n, d), composition C (n, k) and targets Y (n,) or (n, t).

    Returns float64 copies ``(H, C, Y)`` with Y always 2-D. Raises DataError for NaN/inf,
    mismatched row counts, a constant target, a target whose squared deviations overflow
    float64 (R² would be NaN), or fewer than ``min_rows`` rows.
    """
    H = as_matrix(H, "features H")
    n_rows = H.shape[0]
    if n_rows < min_rows:
        raise DataError(
            f"features H: {n_rows} rows but the cross-validation needs at least {min_rows}; "
            "use fewer folds or more structures"
        )
    C = as_matrix(C, "composition C", n_rows)
    Y = as_matrix(Y, "targets y", n_rows)
    names = target_names or [str(i) for i in range(Y.shape[1])]
    if len(names) != Y.shape[1]:
        raise DataError(f"targets y: {Y.shape[1]} columns but {len(names)} target names")
    constant = [name for name, column in zip(names, Y.T, strict=True) if np.ptp(column) == 0]
    if constant:
        raise DataError(f"targets {constant} are constant; R² is undefined, drop them")
    with np.errstate(over="ignore", invalid="ignore"):  # the check itself may overflow
        spread = np.square(Y - Y.mean(axis=0)).sum(axis=0)
    huge = [name for name, total in zip(names, spread, strict=True) if not np.isfinite(total)]
    if huge:
        raise DataError(
            f"targets {huge}: their squared deviations overflow float64 (values near "
            f"{np.abs(Y).max():.3g}); rescale them, e.g. change their unit"
        )
    return H, C, Y
