"""The CPD estimators follow scikit-learn's conventions: its estimator checks, ValueErrors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from atomprobe.cpd.projection import CompositionProjector
from atomprobe.cpd.ridge import SharedRidgeCV
from atomprobe.cpd.scaling import FeatureScaler, GuardedScaler
from atomprobe.errors import AtomprobeError, ConfigError, DataError

# The checks feed X with 1 to a few columns; with n_composition=1 the first column is the
# composition C and the rest are features H, so every check applies to CompositionProjector.
ESTIMATORS = [
    FeatureScaler(),
    FeatureScaler(with_std=False),
    GuardedScaler(),
    GuardedScaler(margin=0.0, with_mean=False),
    SharedRidgeCV(),
    SharedRidgeCV(alphas=(0.1, 10.0)),
    SharedRidgeCV(scaling="standard"),
    SharedRidgeCV(scaling="none"),
    CompositionProjector(1),
    CompositionProjector(1, fit_intercept=False, output="composition"),
    CompositionProjector(1, mode="qr_insample"),
]

# qr_insample (paper v1) is transductive by design: transform() accepts only the exact rows
# (same values, same order) that fit() saw and raises DataError otherwise, so these checks,
# which fit on some rows and transform others, cannot apply to it.
QR_INSAMPLE_FAILURES = {
    "check_methods_subset_invariance": "transform() on row subsets of the fitted X: "
    "qr_insample transforms only the exact fitted rows",
    "check_methods_sample_order_invariance": "transform() on the fitted rows shuffled: "
    "qr_insample transforms only the exact fitted rows, in the fitted order",
    "check_fit_idempotent": "fits on training rows and transforms test rows: qr_insample "
    "transforms only the fitted rows",
}


def expected_failed_checks(estimator) -> dict[str, str]:
    """Checks that cannot apply to an estimator, with the reason (see QR_INSAMPLE_FAILURES)."""
    if isinstance(estimator, CompositionProjector) and estimator.mode == "qr_insample":
        return QR_INSAMPLE_FAILURES
    return {}


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS on one thread: the CI machine has two shared cores."""
    with threadpool_limits(1):
        yield


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=expected_failed_checks, xfail_strict=True
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_data_and_config_errors_are_value_errors():
    for error in (DataError, ConfigError):
        assert issubclass(error, ValueError)
        assert issubclass(error, AtomprobeError)
    with pytest.raises(ValueError, match="NaN/inf"):
        SharedRidgeCV().fit(np.full((5, 2), np.nan), np.arange(5.0))


@pytest.mark.parametrize(
    ("X_new", "message"),
    [
        (np.ones(3), "Expected 2D array"),
        (np.ones((4, 2)), "X has 2 features, but SharedRidgeCV is expecting 3"),
        (np.ones((4, 3)) + 1j, "Complex data not supported"),
        (np.ones((0, 3)), "0 sample"),
    ],
)
def test_validation_errors_are_one_line_data_errors(X_new, message):
    rng = np.random.default_rng(0)
    model = SharedRidgeCV().fit(rng.normal(size=(20, 3)), rng.normal(size=20))
    with pytest.raises(DataError, match=message) as info:
        model.predict(X_new)
    assert str(info.value).startswith("ridge features X: ")
    assert "\n" not in str(info.value)


def test_projector_needs_a_feature_column_after_the_composition():
    with pytest.raises(DataError, match=r"3 feature\(s\).*n_composition=3") as info:
        CompositionProjector(3).fit(np.ones((10, 3)))
    assert "\n" not in str(info.value)


def test_scaler_partial_fit_keeps_the_floor():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3))
    X[:, 2] = 1e-12 * rng.normal(size=200)  # negligible spread
    batched = FeatureScaler().partial_fit(X[:100]).partial_fit(X[100:])
    whole = FeatureScaler().fit(X)
    assert batched.negligible_columns_.tolist() == whole.negligible_columns_.tolist()
    assert batched.negligible_columns_.tolist() == [False, False, True]
    assert batched.scale_[2] == 1.0
    np.testing.assert_allclose(batched.scale_, whole.scale_)


def test_scaler_rejects_negative_rtol():
    with pytest.raises(ValueError, match="rtol"):
        FeatureScaler(rtol=-1.0).fit(np.ones((3, 2)))
