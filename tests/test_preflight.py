"""A corpus of malformed inputs: each one stopped with one line, before any job or at the call.

``fixtures/malformed/corpus.yaml`` holds config overlays and registries a user may well get
wrong; each must make :func:`atomprobe.preflight.check_run` (what the workflow runs while it
parses) raise one line containing the case's fragment. A few run through ``snakemake -n`` too:
one line on stderr, no traceback, no job planned. The library cases below are bad arrays and
structures given to the public functions.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from atomprobe.analyses.reconstruction import gfre, lfre, train_test_indices
from atomprobe.cpd import CompositionProjector, cpd_scores
from atomprobe.cpd.scores import ProbeSettings
from atomprobe.data.composition import composition_matrix, resolve_encoding
from atomprobe.data.structures import check_positions, hill_formula
from atomprobe.errors import AtomprobeError, ConfigError
from atomprobe.features.pooling import cumulant_pool
from atomprobe.models.families import FAMILIES, hparams
from atomprobe.preflight import check_resource_rules, check_run
from conftest import merge_config, run_snakemake

REPO = Path(__file__).resolve().parents[1]
CORPUS = yaml.safe_load((REPO / "tests" / "fixtures" / "malformed" / "corpus.yaml").read_text())
CASES = {case["id"]: case for case in CORPUS["cases"]}
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def case_config(case: dict, workdir: Path) -> tuple[dict, list[str]]:
    """The merged config of a case and the files it came from, its registry and overlay file
    (if any) written into ``workdir``."""
    files = [str(REPO / "config" / "config.yaml")]
    overlay = case.get("config", {})
    if "overlay_text" in case:  # Snakemake's loader keeps the last of a key given twice
        (workdir / "overlay.yaml").write_text(case["overlay_text"])
        files.append("overlay.yaml")
        overlay = yaml.safe_load(case["overlay_text"])
    config = merge_config(DEFAULT, overlay)
    config["registry"] = str(REPO / "config" / "models.yaml")
    if "registry" in case.get("config", {}):
        config["registry"] = case["config"]["registry"]
    if "registry" in case or "registry_text" in case:
        path = workdir / "registry.yaml"
        text = case.get("registry_text") or yaml.safe_dump(case["registry"], sort_keys=False)
        path.write_text(text)
        config["registry"] = str(path)
    return config, files


def test_the_corpus_is_large_and_its_ids_unique():
    assert len(CORPUS["cases"]) == len(CASES) >= 60 and len(LIBRARY) >= 20


@pytest.mark.parametrize("case_id", list(CASES))
def test_each_malformed_input_is_one_line_before_any_job(case_id, tmp_path, monkeypatch):
    case = CASES[case_id]
    monkeypatch.chdir(tmp_path)  # relative paths in a case name nothing that exists
    (tmp_path / "config").symlink_to(REPO / "config", target_is_directory=True)
    (tmp_path / "x.xyz").write_text("1\n\nH 0 0 0\n")
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04\x80\x02\xff\xfe weights")
    with pytest.raises(AtomprobeError) as error:
        check_run(*case_config(case, tmp_path))
    message = str(error.value)
    assert "\n" not in message, message
    assert case["expect"] in message, message


def test_hparams_are_declared_for_exactly_the_trainable_families():
    """The registry check knows the hparams of every family that trains (and no other)."""
    trainable = {name for name, info in FAMILIES.items() if info.trainable}
    assert set(hparams.DEFAULTS) == trainable and set(hparams.CHOICES) <= trainable


def test_config_readme_lists_every_hparam_of_every_family():
    row = next(
        line
        for line in (REPO / "config" / "README.md").read_text().splitlines()
        if line.startswith("| `hparams` |")
    )
    for family, defaults in hparams.DEFAULTS.items():
        rest = row.split(f" {family}: ")[1]  # up to the next family or the closing remark
        ends = [rest.find(f"; {name}: ") for name in hparams.DEFAULTS] + [rest.find("; every")]
        listed = rest[: min(end for end in ends if end >= 0)]
        assert all(key in listed for key in defaults), (family, listed)


@pytest.mark.parametrize("n_folds", [2, 3, 5, 10])
def test_the_probe_set_size_preflight_asks_for_is_what_the_mlp_probe_needs(n_folds):
    """At the size :meth:`ProbeSettings.rows_needed` names the probes run; one fewer is the
    one-line error the preflight gives before any job (not scikit-learn's traceback)."""
    settings = ProbeSettings(n_folds=n_folds, mlp_hidden=(4,), mlp_max_iter=5)
    needed = settings.rows_needed(["mlp"])
    rng = np.random.default_rng(1)
    H, Y = rng.normal(size=(needed, 3)), rng.normal(size=(needed, 1))
    C = rng.integers(1, 4, size=(needed, 2)).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLP does not converge in 5 iterations
        assert len(cpd_scores(H, C, Y, ["t"], ["mlp"], ["full"], settings)) == n_folds
    with pytest.raises(AtomprobeError, match=f"needs at least {needed}"):
        cpd_scores(H[1:], C[1:], Y[1:], ["t"], ["mlp"], ["full"], settings)
    assert needed > settings.min_rows or n_folds == 10


def test_the_default_config_passes():
    datasets, registry = check_run(DEFAULT)
    assert list(datasets) == ["qm9", "mp"] and registry


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "case_id", ["cpd-target-typo", "batch-size-float", "entry-unknown-key", "hparams-typo"]
)
def test_snakemake_stops_before_any_job_with_one_line(case_id, tmp_path):
    """The same checks, through the workflow: one line, no traceback, no job planned."""
    (tmp_path / "config").symlink_to(REPO / "config", target_is_directory=True)
    case = CASES[case_id]
    overlay = dict(case.get("config", {}))
    if "registry" in case:
        (tmp_path / "registry.yaml").write_text(yaml.safe_dump(case["registry"]))
        overlay["registry"] = "registry.yaml"
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    result = run_snakemake(tmp_path, "-n", "--configfile", "overlay.yaml", timeout=240)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("atomprobe:")]
    assert len(errors) == 1 and case["expect"] in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "Job stats" not in result.stdout + result.stderr


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "flag", [("--set-resources", "cdp:mem_mb=8000"), ("--set-threads", "cdp=2")], ids=str
)
def test_resources_of_a_rule_that_does_not_exist_stop_the_workflow(tmp_path, flag):
    """Snakemake ignores set-resources/set-threads for a rule that does not exist; the
    Snakefile checks the names once every rule file is read."""
    (tmp_path / "config").symlink_to(REPO / "config", target_is_directory=True)
    result = run_snakemake(tmp_path, "-n", *flag, timeout=240)
    errors = [line for line in result.stderr.splitlines() if line.startswith("atomprobe:")]
    assert result.returncode != 0 and len(errors) == 1, result.stderr[-2000:]
    assert "'cdp' is not a rule of this workflow; did you mean 'cpd'?" in errors[0]
    assert "Traceback" not in result.stderr and "Job stats" not in result.stdout + result.stderr


def test_resource_rules_are_checked_against_the_rule_names():
    check_resource_rules(["cpd"], ["cpd", "extract"])
    check_resource_rules([], ["cpd"])
    with pytest.raises(ConfigError, match="'zzz' is not a rule of this workflow; the rule"):
        check_resource_rules(["cpd", "zzz"], ["cpd", "extract"])


# ---------------------------------------------------------------- library calls, bad arrays

RNG = np.random.default_rng(0)
H, Y = RNG.normal(size=(60, 4)), RNG.normal(size=(60, 1))
C = RNG.integers(1, 4, size=(60, 2)).astype(float)
TRAIN, TEST = train_test_indices(60, 15, 0)
NAN_H = H.copy()
NAN_H[3, 1] = np.nan
LIBRARY = {
    "formula-negative-z": (lambda: hill_formula([-1, 6]), "outside 1-118"),
    "formula-zero-z": (lambda: hill_formula([0, 1]), "outside 1-118"),
    "formula-z-200": (lambda: hill_formula([200]), "outside 1-118"),
    "formula-fractional-z": (lambda: hill_formula([6.7]), "must be integers"),
    "formula-no-atoms": (lambda: hill_formula([]), "no atoms"),
    "positions-nan": (lambda: check_positions(np.full((2, 3), np.nan), "s1"), "s1: NaN"),
    "positions-coincident": (lambda: check_positions(np.zeros((2, 3)), "s2"), "s2: two atoms"),
    "positions-shape": (lambda: check_positions(np.zeros((2, 2)), "s3"), "must be (n_atoms, 3)"),
    "composition-encoding": (
        lambda: composition_matrix([np.array([1, 6])], encoding="onehot"),
        "onehot",
    ),
    "composition-auto-unknown-pooling": (
        lambda: resolve_encoding("auto", "median"),
        "no rule for pooling 'median'",
    ),
    "cpd-nan-features": (lambda: cpd_scores(NAN_H, C, Y, ["t"], ["ridge"], ["full"]), "NaN"),
    "cpd-rows-mismatch": (lambda: cpd_scores(H, C[:50], Y, ["t"], ["ridge"], ["full"]), "rows"),
    "cpd-constant-target": (
        lambda: cpd_scores(H, C, np.ones((60, 1)), ["t"], ["ridge"], ["full"]),
        "constant",
    ),
    "cpd-overflowing-target": (
        lambda: cpd_scores(H, C, 5e307 * (1 + RNG.random((60, 1))), ["t"], ["ridge"], ["full"]),
        "overflow float64",
    ),
    "cpd-unknown-probe": (lambda: cpd_scores(H, C, Y, ["t"], ["svm"], ["full"]), "'svm'"),
    "projector-nan": (lambda: CompositionProjector(2).fit(np.hstack([C, NAN_H])), "NaN"),
    "gfre-empty-test": (lambda: gfre(H, Y, TRAIN, TEST[:0]), "0 test rows"),
    "gfre-rows-mismatch": (lambda: gfre(H, Y[:50], TRAIN, TEST), "rows must be the same"),
    "lfre-k-zero": (lambda: lfre(H, Y, TRAIN, TEST, n_neighbors=0), "n_neighbors must be"),
    "split-too-large": (lambda: train_test_indices(10, 20, 0), "test size 20"),
    "cumulant-order": (
        lambda: cumulant_pool(H, np.zeros(60, dtype=int), 1, order=0),
        "order",
    ),
}


@pytest.mark.parametrize("case_id", list(LIBRARY))
def test_bad_arrays_given_to_the_library_are_one_line_errors(case_id):
    call, fragment = LIBRARY[case_id]
    with pytest.raises((AtomprobeError, ValueError)) as error:
        call()
    message = str(error.value)
    assert "\n" not in message, message
    assert fragment in message, message
    assert isinstance(error.value, AtomprobeError), f"not an atomprobe error: {message}"
