"""Rules name their step explicitly; the runner resolves it; errors are one line."""

from __future__ import annotations

import pytest

from atomprobe.cli import main
from atomprobe.errors import AtomprobeError
from atomprobe.runner import as_path_list, resolve_step


def test_every_rule_names_a_step_that_resolves(rules):
    """One hop from rule to code: ``params.step`` is ``atomprobe.<module>:<function>``."""
    acting = [r for r in rules if r["has_action"]]
    assert acting
    for rule in acting:
        step = rule["step"]
        assert step and step.startswith("atomprobe.") and ":" in step, rule["name"]
        assert callable(resolve_step(step)), rule["name"]


def test_prefix_is_optional():
    assert resolve_step("cpd.steps:cpd") is resolve_step("atomprobe.cpd.steps:cpd")


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("cpd", "is not of the form"),
        ("atomprobe.no_such_module:cpd", "no module"),
        ("atomprobe.cpd.steps:no_such_step", "has no function"),
    ],
)
def test_bad_step_reference_is_named(reference, message):
    with pytest.raises(AtomprobeError, match=message):
        resolve_step(reference)


def test_unknown_step_is_one_line_error(capsys):
    assert main(["cpd.steps:no_such_step"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("atomprobe cpd.steps:no_such_step: error: step 'cpd.steps:no_such_step'")
    assert "\n" not in err


def test_bad_params_json(capsys):
    assert main(["cpd.steps:cpd", "--params", "{not json"]) == 2
    assert "--params is not valid JSON" in capsys.readouterr().err


def test_one_path_or_many():
    assert as_path_list("a") == ["a"]
    assert as_path_list(["a", "b"]) == ["a", "b"]
    assert as_path_list(None) == []
