"""FeatureScaler: StandardScaler on ordinary columns, no blow-up of round-off-level columns."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from atomprobe.cpd import SharedRidgeCV
from atomprobe.cpd.scaling import FeatureScaler

ALPHAS = (1e-3, 1e-1, 1.0, 10.0, 1e3)


def sparse_tail_features(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train/test X, y with 8 informative columns and one AEV-like cutoff-tail column.

    The tail column is 0 except in two training rows (1e-20) and in every test row (1e-8):
    values far below float32 round-off of O(1) features, as in ANI-2x AEVs of QM9.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 9))
    y = X[:, :8] @ rng.normal(size=8) + 0.3 * rng.normal(size=400)
    X[:, 8] = 0.0
    X[[3, 7], 8] = 1e-20
    X[300:, 8] = 1e-8
    return X[:300], X[300:], y[:300], y[300:]


def test_equals_standard_scaler_on_ordinary_columns():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 6)) * [1.0, 1e-3, 5.0, 1e2, 1.0, 0.2] + 4.0
    X[:, 4] = 3.0  # exactly constant: StandardScaler keeps scale 1 as well
    ours, reference = FeatureScaler().fit(X), StandardScaler().fit(X)
    assert np.array_equal(ours.scale_, reference.scale_)
    assert np.array_equal(ours.transform(X), reference.transform(X))
    assert ours.negligible_columns_.tolist() == [False, False, False, False, True, False]


def test_round_off_level_column_is_left_unscaled():
    X_train, X_test, _, _ = sparse_tail_features()
    scaler = FeatureScaler().fit(X_train)
    assert scaler.negligible_columns_.tolist() == [False] * 8 + [True]
    assert np.abs(scaler.transform(X_test)[:, 8]).max() < 1e-7
    # StandardScaler divides by the 1e-21 spread: the test column becomes ~1e13
    assert np.abs(StandardScaler().fit(X_train).transform(X_test)[:, 8]).min() > 1e12


def test_probes_on_round_off_column_match_probes_without_it():
    X_train, X_test, y_train, y_test = sparse_tail_features()
    without = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)).fit(X_train[:, :8], y_train)
    r2_without = r2_score(y_test, without.predict(X_test[:, :8]))
    assert r2_without > 0.9
    for probe in (
        make_pipeline(FeatureScaler(), RidgeCV(alphas=ALPHAS)),
        SharedRidgeCV(ALPHAS),
    ):
        probe.fit(X_train, y_train)
        assert abs(r2_score(y_test, probe.predict(X_test)) - r2_without) < 1e-6
    plain = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)).fit(X_train, y_train)
    assert r2_score(y_test, plain.predict(X_test)) < -1.0  # the failure FeatureScaler prevents


def test_threshold_is_relative_to_the_typical_column():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 4)) * 1e3
    X[:, 3] *= 1e-8  # spread 1e-5: ordinary in absolute terms, 1e-8 of the typical column
    X[:, 2] *= 1e-5  # 1e-5 of the typical column: above the floor, standardised
    scaler = FeatureScaler().fit(X)
    assert scaler.negligible_columns_.tolist() == [False, False, False, True]
    assert np.allclose(scaler.transform(X)[:, 2].std(), 1.0)
    assert clone(FeatureScaler(rtol=1e-3)).get_params()["rtol"] == 1e-3
