"""CPD core: projection identities, leakage, planted-signal answers, fast ridge == scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from atomprobe.cpd import (
    CompositionProjector,
    ProbeSettings,
    SharedRidgeCV,
    cpd_scores,
    join_composition,
    make_splits,
    pipeline_scores,
    ridge_scores,
    summarize,
)
from atomprobe.cpd.scores import fold_matrices
from atomprobe.errors import ConfigError, DataError

FAST = ProbeSettings(n_folds=5, n_repeats=1, seed=3, mlp_max_iter=200, gbt_max_iter=60)


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS and OpenMP (trees) on one thread: the CI machine has two shared cores."""
    with threadpool_limits(1):
        yield


def planted(n: int = 2000, d: int = 30, m: int = 5, tau: float = 0.5, seed: int = 0):
    """H = composition part + geometric part Z M + small noise; y = Zβ + ε with |β| = 1.

    Z is independent of C, so the best possible R² of y from H_geom is 1 / (1 + τ²).
    """
    rng = np.random.default_rng(seed)
    C = rng.poisson([6.0, 4.0, 1.0], size=(n, 3)).astype(float)
    Z = rng.normal(size=(n, m))
    H = (
        C @ rng.normal(size=(3, d)) * 3
        + Z @ rng.normal(size=(m, d))
        + 0.01 * rng.normal(size=(n, d))
    )
    beta = rng.normal(size=m)
    beta /= np.linalg.norm(beta)
    y_geom = Z @ beta + tau * rng.normal(size=n)
    y_comp = C @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=n)
    return H, C, np.c_[y_geom, y_comp], 1.0 / (1.0 + tau**2)


def polynomial_control(n: int = 700, seed: int = 1):
    """A compositional target orthogonal to every cubic in the count c, and features that hold
    c, c², c³ (nonlinear in composition) plus unrelated noise columns.

    The linear part of H in c is projected out; what is left spans only {c², c³} up to linear
    terms, orthogonal to y, so a linear probe gets R² ≈ 0 while trees invert c from it.
    """
    rng = np.random.default_rng(seed)
    support = np.arange(7.0)
    vandermonde = np.vander(support, 5, increasing=True)
    q, _ = np.linalg.qr(vandermonde)  # orthonormal polynomials under the uniform measure
    c = rng.integers(0, 7, size=n)
    y = q[c, 4] * 10 + 0.01 * rng.normal(size=n)
    powers = np.c_[c, c**2, c**3].astype(float)
    H = np.c_[powers @ rng.normal(size=(3, 6)), rng.normal(size=(n, 4))]
    return H, c[:, None].astype(float), y


def test_projector_residual_is_orthogonal_to_composition_on_fit_rows():
    H, C, _, _ = planted(n=300)
    XC = join_composition(C, H)
    for mode in ("ols", "qr_insample"):
        residual = CompositionProjector(3, mode).fit_transform(XC)
        C_hat = np.c_[np.ones(len(C)), C]
        assert np.abs(C_hat.T @ residual).max() < 1e-8 * np.abs(C_hat.T @ H).max()
    ols = CompositionProjector(3, "ols").fit(XC)
    qr = CompositionProjector(3, "qr_insample").fit(XC)
    assert np.allclose(ols.transform(XC), qr.transform(XC), atol=1e-9)
    assert np.allclose(ols.composition_part(XC) + ols.residual(XC), H)


def test_projector_handles_rank_deficient_fractions():
    H, C, _, _ = planted(n=200)
    fractions = C / C.sum(axis=1, keepdims=True).clip(min=1)  # rows sum to 1 = intercept
    fractions[fractions.sum(axis=1) == 0, 0] = 1.0
    XC = join_composition(fractions, H)
    residual = CompositionProjector(3, "qr_insample").fit_transform(XC)
    assert np.allclose(residual, CompositionProjector(3, "ols").fit_transform(XC), atol=1e-8)


def test_in_sample_projection_refuses_new_rows():
    H, C, _, _ = planted(n=100)
    XC = join_composition(C, H)
    projector = CompositionProjector(3, "qr_insample").fit(XC[:80])
    with pytest.raises(DataError, match="qr_insample"):
        projector.transform(XC[80:])


def test_isomers_get_identical_composition_part():
    H, C, _, _ = planted(n=200)
    C[1] = C[0]  # rows 0 and 1: same formula, different geometry (different H)
    XC = join_composition(C, H)
    for mode in ("ols", "qr_insample"):
        comp = CompositionProjector(3, mode, output="composition").fit_transform(XC)
        assert not np.allclose(H[0], H[1])
        assert np.allclose(comp[0], comp[1], atol=1e-10)


def test_per_fold_projection_never_sees_test_rows():
    H, C, _, _ = planted(n=200)
    _, _, train, test = make_splits(len(H), FAST)[0]
    perturbed = H.copy()
    perturbed[test] += np.random.default_rng(0).normal(scale=50, size=(len(test), H.shape[1]))
    for representation in ("comp", "geom_v2"):
        before = fold_matrices(H, C, representation, train, test)[0]
        after = fold_matrices(perturbed, C, representation, train, test)[0]
        assert np.array_equal(before, after)
    in_sample = fold_matrices(H, C, "geom_v1", train, test)[0]
    in_sample_perturbed = fold_matrices(perturbed, C, "geom_v1", train, test)[0]
    # the paper-v1 in-sample projection does move the training rows: the leak this guards
    assert not np.allclose(in_sample, in_sample_perturbed)


def test_shared_ridge_equals_sklearn_pipeline():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(150, 12)) @ rng.normal(size=(12, 12)) + 3.0
    X[:, 4] = 2.0  # a constant column: scaled like scikit-learn does
    Y = X[:, :3] @ rng.normal(size=(3, 2)) + rng.normal(size=(150, 2))
    alphas = (1e-3, 1e-1, 1.0, 10.0, 1e3)
    fast = SharedRidgeCV(alphas).fit(X[:120], Y[:120])
    reference = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas, alpha_per_target=True))
    reference.fit(X[:120], Y[:120])
    assert np.array_equal(fast.alpha_, reference[-1].alpha_)
    assert np.abs(fast.predict(X[120:]) - reference.predict(X[120:])).max() < 1e-8


def test_fast_ridge_scores_equal_pipeline_scores():
    H, C, Y, _ = planted(n=240, d=15)
    settings = ProbeSettings(n_folds=4, n_repeats=2, seed=11)
    fast = ridge_scores(H, C, Y, ["geom", "comp"], settings=settings)
    reference = pipeline_scores(H, C, Y, ["geom", "comp"], "ridge", settings=settings)
    keys = ["target", "representation", "probe", "repeat", "fold"]
    merged = fast.merge(reference, on=keys, suffixes=("_fast", "_sklearn"))
    assert len(merged) == len(fast) == 2 * 4 * 2 * 4
    assert np.abs(merged["r2_fast"] - merged["r2_sklearn"]).max() < 1e-8


def test_planted_geometric_signal_has_analytic_r2():
    H, C, Y, analytic = planted()
    scores = summarize(ridge_scores(H, C, Y, ["geom", "comp"], settings=FAST))
    r2 = scores.set_index(["target", "representation"])["r2_mean"]
    assert r2["geom", "geom_v2"] == pytest.approx(analytic, abs=0.03)
    assert r2["geom", "full"] == pytest.approx(analytic, abs=0.03)
    assert abs(r2["geom", "comp"]) < 0.02
    assert abs(r2["comp", "geom_v2"]) < 0.02  # a linear-in-C target leaves nothing behind
    assert r2["comp", "comp"] > 0.99


def test_compositional_control_linear_zero_trees_inflated():
    H, C, y = polynomial_control()
    scores = summarize(
        cpd_scores(H, C, y, ["control"], ("ridge", "gbt"), ("geom_v2",), settings=FAST)
    )
    r2 = scores.set_index("probe")["r2_mean"]
    assert r2["ridge"] < 0.05
    assert r2["gbt"] > 0.8


def test_summary_interval_brackets_the_mean():
    H, C, Y, _ = planted(n=300, d=10)
    scores = ridge_scores(H, C, Y, ["a", "b"], ("full",), ProbeSettings(n_folds=3, n_repeats=3))
    for method in ("t", "bootstrap", "repeats"):
        summary = summarize(scores, method=method)
        assert (summary["ci_low"] <= summary["r2_mean"]).all()
        assert (summary["r2_mean"] <= summary["ci_high"]).all()
        assert (summary["n_scores"] == 9).all()
    with pytest.raises(ConfigError, match="n_repeats"):
        summarize(scores[scores["repeat"] == 0], method="repeats")


def test_single_split_scheme():
    splits = make_splits(100, ProbeSettings(test_fraction=0.2, n_repeats=2))
    assert [(r, f) for r, f, _, _ in splits] == [(0, 0), (1, 0)]
    assert all(len(test) == 20 and len(train) == 80 for _, _, train, test in splits)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda H, C, y: (np.where(np.eye(*H.shape, dtype=bool), np.nan, H), C, y), "NaN/inf"),
        (lambda H, C, y: (np.where(np.eye(*H.shape, dtype=bool), np.inf, H), C, y), "NaN/inf"),
        (lambda H, C, y: (H, C[:-1], y), "rows"),
        (lambda H, C, y: (H, C, y[:-2]), "rows"),
        (lambda H, C, y: (H, C, np.ones_like(y)), "constant"),
        (lambda H, C, y: (H[:6], C[:6], y[:6]), "at least"),
    ],
)
def test_bad_inputs_raise_one_line_data_errors(change, message):
    H, C, Y, _ = planted(n=60, d=8)
    bad_H, bad_C, bad_y = change(H, C, Y[:, 0])
    with pytest.raises(DataError, match=message) as info:
        ridge_scores(bad_H, bad_C, bad_y, ["y"], settings=FAST)
    assert "\n" not in str(info.value)


def test_shared_ridge_dual_branch_equals_sklearn_when_fewer_rows_than_columns():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(60, 90))
    y = X[:, :5].sum(axis=1) + 0.3 * rng.normal(size=60)
    alphas = (1e-2, 1.0, 10.0, 100.0)
    fast = SharedRidgeCV(alphas).fit(X[:40], y[:40])
    reference = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas, alpha_per_target=True))
    reference.fit(X[:40], y[:40])
    assert fast.alpha_[0] == reference[-1].alpha_
    assert fast.predict(X[40:]).shape == (20,)
    assert np.abs(fast.predict(X[40:]) - reference.predict(X[40:])).max() < 1e-8


def explicit_ridge(Z, Y, alpha):
    """Ridge with an unpenalised intercept by one linear solve: (intercept, weights)."""
    design = np.column_stack([np.ones(len(Z)), Z])
    penalty = alpha * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    solution = np.linalg.solve(design.T @ design + penalty, design.T @ Y)
    return solution[0], solution[1:]


@pytest.mark.parametrize(("n_rows", "n_features"), [(70, 9), (25, 40)])  # primal, dual
def test_shared_ridge_loo_path_equals_explicit_refits(n_rows, n_features, monkeypatch):
    """Every alpha's LOO error, the alpha path and the chosen alphas equal explicit solves:
    leave each row out, refit, predict it (rtol 1e-9; the path also atol 1e-9, its values are
    ~5 and the dual solve at alpha 1e-3 is ill-conditioned); also with the rows in blocks."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(n_rows + 10, n_features)) * rng.uniform(0.5, 3, n_features) + 1.0
    Y = X[:, :3] @ rng.normal(size=(3, 3)) + 0.5 * rng.normal(size=(n_rows + 10, 3))
    alphas = (1e-3, 0.1, 1.0, 10.0, 100.0, 1e4)
    fast = SharedRidgeCV(alphas, "standard").fit(X[:n_rows], Y[:n_rows])
    Z = fast.scaler_.transform(X) - fast.x_mean_
    Z_train, Y_train = Z[:n_rows], Y[:n_rows]
    loo = np.zeros((len(alphas), 3))
    for a, alpha in enumerate(alphas):
        for i in range(n_rows):
            rest = np.arange(n_rows) != i
            intercept, weights = explicit_ridge(Z_train[rest], Y_train[rest], alpha)
            loo[a] += (Y_train[i] - intercept - Z_train[i] @ weights) ** 2 / n_rows
        intercept, weights = explicit_ridge(Z_train, Y_train, alpha)
        path = fast.predict_path(X[n_rows:])[a]
        np.testing.assert_allclose(path, intercept + Z[n_rows:] @ weights, rtol=1e-9, atol=1e-9)
    monkeypatch.setattr("atomprobe.cpd.ridge.LOO_BLOCK_VALUES", 7 * (n_features + 30))
    blocked = SharedRidgeCV(alphas, "standard").fit(X[:n_rows], Y[:n_rows])
    for model in (fast, blocked):
        # alpha 1e-3 with fewer rows than features nearly interpolates: 1 - h_ii is small and
        # the refits themselves lose digits (the old per-alpha loop was 5e-9 away as well)
        np.testing.assert_allclose(model.loo_mse_[1:], loo[1:], rtol=1e-9)
        np.testing.assert_allclose(model.loo_mse_[0], loo[0], rtol=1e-6)
        assert np.array_equal(model.alpha_, np.asarray(alphas)[np.argmin(loo, axis=0)])


@pytest.mark.parametrize("output", ["residual", "composition"])
def test_projector_fit_transform_is_fit_then_transform_bit_for_bit(output):
    H, C, _, _ = planted(n=200, d=12)
    H[:, 3] = C @ np.array([1.0, 2.0, -1.0]) + 0.5  # a column the composition fixes exactly
    X = join_composition(C, H)
    projector = CompositionProjector(3, output=output)
    once = projector.fit_transform(X)
    assert np.array_equal(once, CompositionProjector(3, output=output).fit(X).transform(X))
    assert projector.compositional_columns_.tolist() == [i == 3 for i in range(12)]
    reference = np.linalg.lstsq(np.column_stack([np.ones(200), C]), H, rcond=None)[0]
    np.testing.assert_allclose(projector.coef_, reference, rtol=1e-10, atol=1e-12)


def test_shared_ridge_predicts_identical_rows_identically():
    """Identical feature rows (isomers' H_comp) get bitwise identical predictions wherever
    they sit in X (BLAS's one-target matrix-vector product failed this for the tail rows)."""
    rng = np.random.default_rng(0)
    X_train, y = rng.normal(size=(80, 30)), rng.normal(size=80)
    model = SharedRidgeCV((0.1, 1.0)).fit(X_train, y)
    X = np.tile(rng.normal(size=30), (46, 1))
    assert np.ptp(model.predict(X)) == 0.0
    two_targets = SharedRidgeCV((0.1, 1.0)).fit(X_train, np.c_[y, -y])
    assert np.ptp(two_targets.predict(X), axis=0).max() == 0.0


def test_columns_composition_fixes_exactly_on_fit_rows_have_no_residual():
    """A column linear in C on the fit rows (but not beyond) must not be standardised up from
    round-off: its residual is 0 on every row, the other columns are left alone."""
    rng = np.random.default_rng(3)
    C = rng.integers(0, 4, size=(60, 5)).astype(float)
    exact = C @ rng.normal(size=5) + 1.0
    H = np.column_stack([exact, rng.normal(size=60)])
    H_test = H[:10] + np.array([[0.5, 0.0]])  # new rows where column 0 is not linear in C
    projector = CompositionProjector(5).fit(join_composition(C, H))
    assert projector.compositional_columns_.tolist() == [True, False]
    residual = projector.transform(join_composition(C[:10], H_test))
    assert np.all(residual[:, 0] == 0.0)
    np.testing.assert_allclose(residual[:, 1], projector.residual(join_composition(C, H))[:10, 1])


def test_summary_reports_median_and_folds_below_minus_one():
    scores = pd.DataFrame(
        {
            "target": "gap",
            "representation": "full",
            "probe": "ridge",
            "repeat": 0,
            "fold": range(5),
            "r2": [0.8, 0.82, -531.0, 0.79, -1.5],
            "alpha": 1.0,
        }
    )
    row = summarize(scores).iloc[0]
    assert row["r2_mean"] == pytest.approx(np.mean(scores["r2"]))
    assert row["r2_median"] == pytest.approx(0.79)
    assert row["n_below_minus_one"] == 2
    assert row["n_scores"] == 5


def test_targets_that_overflow_float64_are_a_clear_error():
    """Before: scikit-learn's 'Input contains NaN' after a RuntimeWarning."""
    rng = np.random.default_rng(0)
    H, C = rng.normal(size=(60, 4)), rng.integers(1, 4, size=(60, 2)).astype(float)
    Y = 1e308 * rng.uniform(1, 1.7, size=(60, 1))
    with pytest.raises(DataError, match=r"targets \['t'\]: their squared deviations overflow"):
        cpd_scores(H, C, Y, ["t"], ["ridge"], ["full"])
