"""Compositional control: probe a target that is a function of the composition alone.

After the linear composition signal is projected out of H, a linear probe should find nothing
of a compositional target (R² ≈ 0), while nonlinear probes (MLP, trees) can still decode it from
whatever nonlinear composition information the residual keeps (paper A: R² 0.68–0.95). The
gap shows how much "geometric" signal a nonlinear probe would wrongly claim.

Control targets, all computed from element counts (n_e = atoms of element e, N = Σ n_e):
    ``composition_entropy`` (default)  −Σ_e (n_e/N) ln(n_e/N), nats
    ``heavy_atom_fraction``            Σ_{e ≠ H} n_e / N
    ``log_n_atoms``                    ln N
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.special import xlogy

from atomprobe.cpd.ceiling import CEILING_COLUMNS, composition_ceiling
from atomprobe.cpd.scores import DEFAULT_SETTINGS, SCORE_COLUMNS, ProbeSettings, cpd_scores
from atomprobe.errors import ConfigError, DataError

CONTROL_COLUMNS = {**SCORE_COLUMNS, "ceiling": CEILING_COLUMNS["ceiling"]}


def _entropy(counts: np.ndarray, elements: Sequence[int]) -> np.ndarray:
    fractions = counts / counts.sum(axis=1, keepdims=True)
    return -xlogy(fractions, fractions).sum(axis=1)


def _heavy_fraction(counts: np.ndarray, elements: Sequence[int]) -> np.ndarray:
    heavy = np.asarray(elements) != 1
    return counts[:, heavy].sum(axis=1) / counts.sum(axis=1)


def _log_atoms(counts: np.ndarray, elements: Sequence[int]) -> np.ndarray:
    return np.log(counts.sum(axis=1))


CONTROL_TARGETS: dict[str, Callable[[np.ndarray, Sequence[int]], np.ndarray]] = {
    "composition_entropy": _entropy,
    "heavy_atom_fraction": _heavy_fraction,
    "log_n_atoms": _log_atoms,
}


def control_target(counts: np.ndarray, elements: Sequence[int], name: str) -> np.ndarray:
    """Control target (n,) from element counts (n, k) whose columns are ``elements`` (Z).

    Parameters
    ----------
    counts : ndarray of shape (n_samples, n_elements)
        Atoms of each element per structure (≥ 0, at least one atom per structure).
    elements : sequence of int
        Atomic number Z of each column of ``counts`` (n_elements values; Z = 1 is hydrogen).
    name : {"composition_entropy", "heavy_atom_fraction", "log_n_atoms"}
        Control target (see the module docstring).

    Returns
    -------
    ndarray of shape (n_samples,)
        The target, float64: composition entropy in nats, heavy-atom fraction (dimensionless)
        or ln of the number of atoms (dimensionless).

    Raises
    ------
    ConfigError
        An unknown target name.
    DataError
        ``counts`` does not match ``elements``, has negative counts or a structure without atoms.
    """
    if name not in CONTROL_TARGETS:
        raise ConfigError(f"control target {name!r} is unknown; use one of {list(CONTROL_TARGETS)}")
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[1] != len(elements):
        raise DataError(f"element counts of shape {counts.shape} do not match elements {elements}")
    if (counts < 0).any() or (counts.sum(axis=1) <= 0).any():
        raise DataError("element counts must be ≥ 0 with at least one atom per structure")
    return CONTROL_TARGETS[name](counts, elements)


def compositional_control(
    H: np.ndarray,
    C: np.ndarray,
    counts: np.ndarray,
    elements: Sequence[int],
    control_targets: Iterable[str] = ("composition_entropy",),
    probes: Iterable[str] = ("ridge", "mlp", "gbt"),
    representations: Iterable[str] = ("full", "geom_v2"),
    settings: ProbeSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Per-fold R² of each probe for each control target (the ``target`` column names it).

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Features (units of the model's features).
    C : ndarray of shape (n_samples, n_composition)
        The composition the projection removes, in any encoding (dimensionless).
    counts : ndarray of shape (n_samples, n_elements)
        Element counts the control targets are computed from.
    elements : sequence of int
        Atomic number Z of each column of ``counts``.
    control_targets : iterable of str, default=("composition_entropy",)
        Control targets to probe (see :func:`control_target`).
    probes : iterable of str, default=("ridge", "mlp", "gbt")
        Probes to run.
    representations : iterable of str, default=("full", "geom_v2")
        Representations to score.
    settings : ProbeSettings, default=DEFAULT_SETTINGS
        Splits and probe hyper-parameters.

    Returns
    -------
    DataFrame
        Per-fold scores with the columns of ``CONTROL_COLUMNS``: those of
        :func:`atomprobe.cpd.cpd_scores` and the fold's ``ceiling`` 1 − R²(control | [1 | C])
        (:mod:`atomprobe.cpd.ceiling`: how much room the composition encoding leaves a linear
        probe of the residual); ``r2`` and ``ceiling`` are dimensionless.

    Raises
    ------
    ConfigError
        An unknown control target, probe or representation.
    DataError
        Bad element counts or probe inputs.
    """
    names = list(control_targets)
    Y = np.column_stack([control_target(counts, elements, name) for name in names])
    scores = cpd_scores(H, C, Y, names, list(probes), list(representations), settings)
    ceiling = composition_ceiling(C, Y, names, settings)
    return scores.merge(ceiling, on=["target", "repeat", "fold"], how="left")
