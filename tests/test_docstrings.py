"""The public library API has numpydoc docstrings (issue 15).

Scope, collected by inspecting the modules (so a new public function is checked without
editing this file):

* every function and class in ``__all__`` of ``atomprobe.cpd``, ``atomprobe.analyses``,
  ``atomprobe.features`` and ``atomprobe.data``;
* every public function and class defined in the modules of ``DEFINING_MODULES``;
* for each class, the public methods and properties defined in the class itself.

Names starting with ``_``, names imported from elsewhere and pipeline step functions
(``step(inputs, outputs, params, threads)``, documented by the step contract of
:mod:`atomprobe.runner`) are left out.
"""

from __future__ import annotations

import importlib
import inspect

import pytest
from numpydoc.validate import validate

ALL_MODULES = ("atomprobe.cpd", "atomprobe.analyses", "atomprobe.features", "atomprobe.data")
DEFINING_MODULES = (
    "atomprobe.analyses.reconstruction",
    "atomprobe.analyses.feature_sets",
    "atomprobe.analyses.similarity",
    "atomprobe.analyses.pcovr",
    "atomprobe.analyses.cumulants",
    "atomprobe.analyses.reconstruction_pairs",
    "atomprobe.analyses.convergence",
    "atomprobe.analyses.atlas",
    "atomprobe.analyses.intrinsic_dimension",
    "atomprobe.analyses.layer_reconstruction",
    "atomprobe.analyses.checkpoint_cpd",
    "atomprobe.features.imported",
    "atomprobe.stats",
    "atomprobe.io",
    "atomprobe.runner",
    "atomprobe.features.pooling",
    "atomprobe.data.composition",
)
STEP_PARAMETERS = ["inputs", "outputs", "params", "threads"]

# numpydoc validation codes a public docstring must not raise
ENFORCED = {
    "GL02": "closing quotes not on the line after the text",
    "GL03": "double blank line",
    "GL06": "unknown section",
    "GL07": "sections in the wrong order",
    "GL08": "no docstring",
    "SS01": "no summary",
    "SS03": "summary does not end with a period",
    "SS06": "summary longer than one line",
    "PR01": "parameter not documented",
    "PR02": "unknown parameter documented",
    "PR03": "parameters documented in the wrong order",
    "PR04": "parameter without a type",
    "PR07": "parameter without a description",
    "PR09": "parameter description does not end with a period",
    "RT01": "no Returns section although the function returns something",
    "RT03": "return value without a description",
    "RT05": "return value description does not end with a period",
    "YD01": "no Yields section although the function is a generator",
}


def _is_step(func) -> bool:
    return list(inspect.signature(func).parameters) == STEP_PARAMETERS


def _members(cls) -> list[str]:
    names = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, classmethod | staticmethod):
            member = member.__func__
        if inspect.isfunction(member) or isinstance(member, property):
            names.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    return names


def _qualified(obj) -> list[str]:
    if inspect.isclass(obj):
        return [f"{obj.__module__}.{obj.__qualname__}", *_members(obj)]
    if inspect.isfunction(obj) and not _is_step(obj):
        return [f"{obj.__module__}.{obj.__qualname__}"]
    return []  # constants, step functions


def public_api(
    all_modules: tuple[str, ...] = ALL_MODULES, defining_modules: tuple[str, ...] = DEFINING_MODULES
) -> list[str]:
    """Qualified names of the functions, classes and methods whose docstrings are checked."""
    names: set[str] = set()
    for module_name in all_modules:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            names.update(_qualified(getattr(module, name)))
    for module_name in defining_modules:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            names.update(_qualified(obj))
    return sorted(names)


PUBLIC_API = public_api()


def _errors(name: str) -> list[str]:
    return [
        f"{code} ({ENFORCED[code]}): {message}"
        for code, message in validate(name)["errors"]
        if code in ENFORCED
    ]


def test_scope_is_collected():
    assert len(PUBLIC_API) > 80
    assert {
        "atomprobe.cpd.scores.cpd_scores",  # in atomprobe.cpd.__all__
        "atomprobe.cpd.scores.ProbeSettings.from_config",  # a public method
        "atomprobe.analyses.reconstruction.gfre",  # defined in a module of DEFINING_MODULES
        "atomprobe.stats.t_interval",
    } <= set(PUBLIC_API)
    assert "atomprobe.analyses.cumulants.cumulants" not in PUBLIC_API  # a step function


def test_new_public_function_without_docstring_fails(tmp_path, monkeypatch):
    (tmp_path / "docstring_probe.py").write_text(
        "from os.path import join\n\n"
        "def a_step(inputs, outputs, params, threads):\n    pass\n\n"
        "def _private(x):\n    return x\n\n"
        "def undocumented(x):\n    return x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    names = public_api((), ("docstring_probe",))
    assert names == ["docstring_probe.undocumented"]
    assert any(error.startswith("GL08") for error in _errors(names[0]))


@pytest.mark.parametrize("name", PUBLIC_API)
def test_numpydoc_docstring(name):
    errors = _errors(name)
    assert not errors, f"{name}:\n" + "\n".join(errors)
