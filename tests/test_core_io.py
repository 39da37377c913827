"""Atomic writes and provenance metadata of atomprobe.io."""

from __future__ import annotations

import hashlib
import os

import pandas as pd
import pytest

from atomprobe.errors import DataError
from atomprobe.io import (
    atomic_path,
    read_metadata,
    read_parquet,
    remove_stale_temporaries,
    sha256_file,
    write_parquet,
)


def test_a_rerun_removes_what_a_killed_write_left_of_its_own_output_only(tmp_path):
    target = tmp_path / "x[1].parquet"  # glob characters in the name are taken literally
    own = [tmp_path / ".x[1].parquet.k1ll3d.tmp", tmp_path / ".x[1].parquet.2nd.tmp"]
    other = tmp_path / ".x.parquet.abc.tmp"
    for path in [*own, other]:
        path.write_bytes(b"half")
    assert remove_stale_temporaries(target) == sorted(own)
    assert [p.name for p in tmp_path.iterdir()] == [other.name]
    assert remove_stale_temporaries(tmp_path / "missing" / "y.parquet") == []


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("job failed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_path_keeps_old_file_until_success(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise ValueError
    assert target.read_text() == "old"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_parquet_roundtrip_carries_metadata_and_provenance(tmp_path):
    source = tmp_path / "input.bin"
    source.write_bytes(b"atoms")
    df = pd.DataFrame({"id": ["a", "b"], "gap": [1.5, 2.5]})
    path = tmp_path / "t.parquet"
    write_parquet(df, path, metadata={"targets": {"gap": "eV"}}, params={"k": 1}, inputs=[source])
    back, meta = read_parquet(path)
    pd.testing.assert_frame_equal(back, df)
    assert meta["targets"] == {"gap": "eV"}
    prov = meta["provenance"]
    assert prov["inputs"][str(source)] == hashlib.sha256(b"atoms").hexdigest()
    assert prov["params"] == {"k": 1}
    assert "numpy" in prov["packages"]


def test_params_hash_ignores_key_order(tmp_path):
    df = pd.DataFrame({"x": [1]})
    write_parquet(df, tmp_path / "a.parquet", params={"a": 1, "b": 2})
    write_parquet(df, tmp_path / "b.parquet", params={"b": 2, "a": 1})
    hash_a = read_metadata(tmp_path / "a.parquet")["provenance"]["params_hash"]
    assert hash_a == read_metadata(tmp_path / "b.parquet")["provenance"]["params_hash"]


def test_sha256_file_matches_hashlib(tmp_path):
    blob = bytes(range(256)) * 5000
    path = tmp_path / "blob"
    path.write_bytes(blob)
    assert sha256_file(path, chunk_size=1000) == hashlib.sha256(blob).hexdigest()


def test_unreadable_parquet_names_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_text("not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet"):
        read_metadata(path)


def test_atomic_output_gets_umask_permissions(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
