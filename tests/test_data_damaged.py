"""Structure files as they really arrive: each damaged file stops with one line naming the file
and the structure, no traceback and no table left behind; valid-but-unusual files still load.

The files and what each must do are in ``fixtures/structures/corpus.yaml`` (written by its
``make_corpus.py``: ASE output, then damaged as real files are).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from atomprobe.cli import main
from atomprobe.data.datasets import check_dataset_entries
from atomprobe.errors import AtomprobeError

FIXTURES = Path(__file__).parent / "fixtures" / "structures"
CASES = yaml.safe_load((FIXTURES / "corpus.yaml").read_text(encoding="utf-8"))["cases"]
STEP = "data.steps:structures_from_file"


def _entry(case: dict, root: Path) -> dict:
    entry = {"source": "file", **case["entry"]}
    for key in ("path", "targets_file"):
        if key in entry:
            entry[key] = str(root / entry[key])
    return entry


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A copy of the corpus (the job must not touch the repository's files)."""
    root = tmp_path_factory.mktemp("structures")
    shutil.copytree(FIXTURES, root, dirs_exist_ok=True)
    return root


def test_the_corpus_covers_each_class_and_its_ids_are_unique():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 15
    assert sum("n_structures" in case for case in CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_a_structure_file(case, corpus, tmp_path, capsys):
    entry = _entry(case, corpus)
    if case.get("stage") == "dry_run":
        with pytest.raises(AtomprobeError) as error:
            check_dataset_entries({"mine": entry})
        message = str(error.value)
        assert "\n" not in message
        for fragment in case["expect"]:
            assert fragment in message
        return
    table = tmp_path / "results" / "data" / "mine.parquet"
    params = json.dumps({"name": "mine", **entry})
    status = main([STEP, "--output", f"structures={table}", "--params", params])
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    if "n_structures" in case:
        assert status == 0, stderr
        assert len(pd.read_parquet(table)) == case["n_structures"]
        return
    errors = [line for line in stderr.splitlines() if f"atomprobe {STEP}: error:" in line]
    assert status == 1 and len(errors) == 1, stderr
    for fragment in case["expect"]:
        assert fragment in errors[0]
    assert not table.parent.exists() or not list(table.parent.iterdir())
