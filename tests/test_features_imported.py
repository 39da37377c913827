"""Features you bring (``source: features``): atomprobe's own tables are copied as they are;
plain tables (parquet or CSV with an ``id`` column, ``.npz`` with ``id`` and ``features``) are
taken as one layer of scalar L=0 columns, saying so; bad files stop with one line."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from atomprobe.errors import DataError
from atomprobe.features.imported import check_brought_file, import_features
from atomprobe.features.io import read_atom_features, read_features, write_features
from atomprobe.io import read_metadata

IDS = [f"s{k}" for k in range(6)]
RNG = np.random.default_rng(3)
H = RNG.normal(size=(6, 4)).astype(np.float32)


@pytest.fixture
def structures(tmp_path):
    path = tmp_path / "structures.parquet"
    pd.DataFrame({"id": IDS}).to_parquet(path)
    return path


def _import(source, target, structures, atoms=False, model="mine", dataset="d"):
    params = {"model": model, "dataset": dataset, "atoms": atoms}
    import_features(
        {"features": str(source), "structures": str(structures)},
        {"features": str(target)},
        params,
        1,
    )


def _plain(tmp_path, suffix):
    frame = pd.DataFrame(H, columns=["soap_a", "soap_b", "radius", "n"]).assign(id=IDS)
    frame = frame[["id", "soap_a", "soap_b", "radius", "n"]]
    path = tmp_path / f"plain{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        np.savez(path, id=np.array(IDS), features=H)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".npz"])
def test_a_plain_table_is_one_layer_of_scalar_columns(tmp_path, structures, suffix, caplog):
    target = tmp_path / "out.parquet"
    with caplog.at_level(logging.INFO):
        _import(_plain(tmp_path, suffix), target, structures)
    ids, features, columns = read_features(target)
    assert ids.tolist() == IDS
    np.testing.assert_allclose(features, H, rtol=1e-6)  # CSV: text round trip of float32
    assert columns["layer"].tolist() == [0] * 4 and set(columns["L"]) == {0}
    assert set(columns["stream"]) == {"scalar"}
    assert "defaults used" in caplog.text
    wanted = ["soap_a", "soap_b", "radius", "n"] if suffix != ".npz" else ["0", "1", "2", "3"]
    assert read_metadata(target)["source_columns"] == wanted


def test_an_atomprobe_table_is_copied_as_it_is(tmp_path, structures):
    source, target = tmp_path / "mine.parquet", tmp_path / "out.parquet"
    columns = [
        {"layer": 1, "layer_name": "x", "stream": "vector", "L": 1, "channel": c} for c in range(4)
    ]
    write_features(source, IDS, H, columns, {"model": "mine", "dataset": "d"})
    _import(source, target, structures)
    assert target.read_bytes() == source.read_bytes()
    with pytest.raises(DataError, match="metadata model is 'mine', expected 'yours'"):
        _import(source, tmp_path / "other.parquet", structures, model="yours")
    assert not (tmp_path / "other.parquet").exists()


def test_a_plain_atom_table(tmp_path, structures):
    frame = pd.DataFrame(
        {
            "id": ["s0", "s0", "s1"],
            "atom": [0, 1, 0],
            "Z": [8, 1, 6],
            "f0": [0.5, 1.0, 2.0],
            "f1": [1.0, 0.0, -1.0],
        }
    )
    source, target = tmp_path / "atoms.parquet", tmp_path / "out_atoms.parquet"
    frame.to_parquet(source, index=False)
    _import(source, target, structures, atoms=True)
    index, F, columns = read_atom_features(target)
    assert index["Z"].tolist() == [8, 1, 6] and F.shape == (3, 2)
    assert columns["layer"].tolist() == [0, 0]


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: pd.DataFrame({"name": IDS, "f": 1.0}).to_parquet(p), r"no columns \['id'\]"),
        (
            lambda p: pd.DataFrame({"id": IDS, "f": ["a"] * 6}).to_parquet(p),
            r"columns \['f'\] are not numeric",
        ),
        (lambda p: pd.DataFrame({"id": IDS}).to_parquet(p), "no feature columns besides"),
        (
            lambda p: pd.DataFrame({"id": [*IDS[:5], "x9"], "f": 1.0}).to_parquet(p),
            r"1 ids are not in .*x9",
        ),
    ],
)
def test_bad_plain_tables_stop_with_one_line(tmp_path, structures, write, message):
    source, target = tmp_path / "bad.parquet", tmp_path / "out.parquet"
    write(source)
    with pytest.raises(DataError, match=message) as error:
        _import(source, target, structures)
    assert "\n" not in str(error.value) and str(source.name) in str(error.value)
    assert not target.exists()


def test_an_npz_without_its_arrays_and_another_suffix(tmp_path):
    np.savez(tmp_path / "f.npz", ids=np.array(IDS), features=H)
    with pytest.raises(DataError, match=r"no arrays \['id'\]"):
        _import(tmp_path / "f.npz", tmp_path / "out.parquet", tmp_path / "s.parquet")
    (tmp_path / "f.h5").write_bytes(b"\x89HDF")
    with pytest.raises(DataError, match=r"f.h5: not a feature table; give \['.parquet'"):
        check_brought_file(tmp_path / "f.h5", "mine", "d", atoms=False)
