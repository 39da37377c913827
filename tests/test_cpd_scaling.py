"""Probe feature scaling: FeatureScaler's round-off floor, GuardedScaler's clipping of test values
outside the training support (no blow-up of sparse columns, a bitwise no-op on dense ones), and
the three ``cpd.scaling`` modes guarded | standard | none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from sklearn.base import clone
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from atomprobe.config import load_yaml
from atomprobe.cpd import ProbeSettings, SharedRidgeCV, cpd_scores, pipeline_scores, ridge_scores
from atomprobe.cpd.scaling import SCALINGS, FeatureScaler, GuardedScaler, make_scaler
from atomprobe.cpd.scores import make_probe
from atomprobe.errors import ConfigError

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


# ------------------------------------------------------- cpd.scaling: guarded | standard | none


def sparse_support_features(seed: int = 0):
    """Train/test X, y with 8 informative columns and one sparse, resolvable column.

    Column 8 is non-zero (≈1e-3) in 5 of 300 training rows, so its spread (~1e-4) is tiny but
    far above the round-off floor; one test row has an ordinary value (1.0) there, which
    standardisation turns into ~1e4, as the ANI-2x AEV column of issue 11.
    """
    rng = np.random.default_rng(seed)
    n_train, n_test, d = 300, 60, 8
    X = rng.normal(size=(n_train + n_test, d + 1))
    y = X[:, :d] @ rng.normal(size=d) + 0.3 * rng.normal(size=n_train + n_test)
    X[:, d] = 0.0
    X[[5, 40, 77, 150, 222], d] = 1e-3 * (1.0 + rng.random(5))
    X[n_train + 3, d] = 1.0
    return X[:n_train], X[n_train:], y[:n_train], y[n_train:]


def dense_features(seed: int = 3, dtype=np.float64):
    """Dense train/test X (Gaussian, uniform, shifted and rescaled columns) and two targets."""
    rng = np.random.default_rng(seed)
    n, d = 400, 12
    X = rng.normal(size=(n, d)) * rng.uniform(1e-3, 1e3, size=d) + rng.normal(size=d) * 10.0
    X[:, :3] = rng.uniform(-2.0, 5.0, size=(n, 3))
    Y = (X[:, :4] / X[:, :4].std(axis=0)) @ rng.normal(size=(4, 2))
    Y += 0.5 * rng.normal(size=Y.shape)
    return X.astype(dtype), Y


def test_guard_stops_the_blow_up_of_a_sparse_column():
    X_train, X_test, y_train, y_test = sparse_support_features()
    r2 = {}
    for scaling in SCALINGS:
        fast = SharedRidgeCV(ALPHAS, scaling=scaling).fit(X_train, y_train)
        r2[scaling] = r2_score(y_test, fast.predict(X_test))
        settings = ProbeSettings(alphas=ALPHAS, scaling=scaling)
        reference = make_probe("ridge", settings).fit(X_train, y_train)
        assert abs(r2_score(y_test, reference.predict(X_test)) - r2[scaling]) < 1e-8
    without = SharedRidgeCV(ALPHAS).fit(X_train[:, :8], y_train)
    r2_without = r2_score(y_test, without.predict(X_test[:, :8]))
    assert r2_without > 0.9
    assert r2["standard"] < -10.0  # the test value standardises to ~1e4
    assert abs(r2["guarded"] - r2_without) < 0.01
    assert abs(r2["none"] - r2_without) < 0.01
    scaler = GuardedScaler().fit(X_train)
    assert not scaler.negligible_columns_.any()  # not a round-off column: the floor misses it
    assert np.argwhere(scaler.outside_support(X_test)).tolist() == [[3, 8]]
    assert StandardScaler().fit(X_train).transform(X_test)[3, 8] > 3e3
    assert scaler.transform(X_test)[3, 8] == pytest.approx(scaler.upper_[8])
    z_train = scaler.transform(X_train)[:, 8]
    span = z_train.max() - z_train.min()
    assert scaler.upper_[8] == pytest.approx(z_train.max() + span)
    assert scaler.lower_[8] == pytest.approx(z_train.min() - span)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_guard_is_a_bitwise_no_op_on_dense_features(dtype):
    X, Y = dense_features(dtype=dtype)
    train, test = np.arange(300), np.arange(300, 400)
    guarded, standard = GuardedScaler().fit(X[train]), FeatureScaler().fit(X[train])
    assert not guarded.outside_support(X[test]).any()
    for rows in (train, test):
        out = guarded.transform(X[rows])
        assert out.dtype == dtype
        assert np.array_equal(out, standard.transform(X[rows]))
    a = SharedRidgeCV(ALPHAS, "guarded").fit(X[train], Y[train])
    b = SharedRidgeCV(ALPHAS, "standard").fit(X[train], Y[train])
    assert np.array_equal(a.predict(X[test]), b.predict(X[test]))
    assert np.array_equal(a.alpha_, b.alpha_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_guard_leaves_dense_cpd_scores_bitwise_unchanged():
    X, Y = dense_features()
    rng = np.random.default_rng(5)
    C = rng.integers(0, 4, size=(X.shape[0], 3)).astype(float)
    frames = {}
    for scaling in ("guarded", "standard"):
        settings = ProbeSettings(
            n_folds=3, alphas=ALPHAS, mlp_hidden=(8,), mlp_max_iter=30, scaling=scaling
        )
        frames[scaling] = cpd_scores(
            X, C, Y, ["a", "b"], ("ridge", "mlp"), ("full", "geom_v2", "geom_v1"), settings
        )
    pd.testing.assert_frame_equal(frames["guarded"], frames["standard"], check_exact=True)


def test_no_scaling_fits_raw_features():
    X, Y = dense_features()
    train, test = np.arange(300), np.arange(300, 400)
    assert make_scaler("none") is None
    model = SharedRidgeCV(ALPHAS, "none").fit(X[train], Y[train])
    assert np.array_equal(model.scaler_.transform(X[test]), X[test])  # centring only (x_mean_)
    reference = make_probe("ridge", ProbeSettings(alphas=ALPHAS, scaling="none"))
    assert [name for name, _ in reference.steps] == ["ridgecv"]
    reference.fit(X[train], Y[train])
    np.testing.assert_allclose(model.predict(X[test]), reference.predict(X[test]), atol=1e-6)
    assert r2_score(Y[test], model.predict(X[test])) > 0.5
    rng = np.random.default_rng(6)
    C = rng.integers(0, 4, size=(X.shape[0], 3)).astype(float)
    settings = ProbeSettings(n_folds=3, alphas=ALPHAS, scaling="none")
    fast = ridge_scores(X, C, Y, ["a", "b"], ("full", "geom_v2"), settings)
    slow = pd.concat([pipeline_scores(X, C, Y, ["a", "b"], "ridge", ("full", "geom_v2"), settings)])
    key = ["representation", "target", "repeat", "fold"]
    merged = fast.merge(slow, on=key, suffixes=("_fast", "_slow"))
    np.testing.assert_allclose(merged["r2_fast"], merged["r2_slow"], atol=1e-6)


def test_unknown_scaling_is_a_config_error():
    """Validated once in the library, by the scaler's own factory, whichever probe asks."""
    with pytest.raises(ConfigError, match="scaling"):
        make_scaler("robust")
    for kind in ("ridge", "mlp"):
        with pytest.raises(ConfigError, match="scaling"):
            make_probe(kind, ProbeSettings(scaling="robust"))
    with pytest.raises(ConfigError, match="scaling"):
        SharedRidgeCV(scaling="robust").fit(np.eye(4), np.arange(4.0))
    cfg = load_yaml("config/config.yaml")["cpd"]
    assert cfg["scaling"] == "guarded"
    assert ProbeSettings.from_config(cfg, seed=0).scaling == "guarded"
    assert ProbeSettings.from_config({**cfg, "scaling": "none"}, seed=0).scaling == "none"


def test_guarded_scaler_fit_details():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(100, 3))
    whole = GuardedScaler(margin=0.0).fit(X)
    batched = GuardedScaler(margin=0.0).partial_fit(X[:40]).partial_fit(X[40:])
    np.testing.assert_allclose(batched.lower_, whole.lower_)
    np.testing.assert_array_equal(batched.data_max_, X.max(axis=0))
    z = whole.transform(X + 100.0)  # margin 0: clipped to the training range itself
    np.testing.assert_allclose(z.max(axis=0), whole.transform(X).max(axis=0))
    refit = GuardedScaler().fit(X[:10])  # a refit forgets earlier rows
    refit.fit(X[10:20])
    np.testing.assert_array_equal(refit.data_min_, X[10:20].min(axis=0))
    with pytest.raises(TypeError, match="dense"):
        GuardedScaler().fit(scipy.sparse.csr_matrix(X))
