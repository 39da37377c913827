"""The step CLI: registered steps resolve, errors are one line, unknown steps are named."""

from __future__ import annotations

import importlib

import pytest

from atomprobe.cli import STEPS, main


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_registered_step_resolves(name):
    module_name, func_name = STEPS[name].split(":")
    assert callable(getattr(importlib.import_module(module_name), func_name))


def test_unknown_step_is_one_line_error(capsys):
    assert main(["no-such-step"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("atomprobe no-such-step: error: unknown step 'no-such-step'")
    assert "\n" not in err


def test_bad_params_json(capsys):
    assert main(["no-such-step", "--params", "{not json"]) == 2
    assert "--params is not valid JSON" in capsys.readouterr().err
