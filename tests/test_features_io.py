"""Feature tables: write/read roundtrip, column naming and selection, per-atom tables, errors."""

from __future__ import annotations

import numpy as np
import pytest

from atomprobe.errors import DataError
from atomprobe.features.io import (
    column_name,
    feature_columns,
    read_atom_features,
    read_features,
    write_atom_features,
    write_features,
)
from atomprobe.io import read_metadata


def columns_of(layers=2):
    """Per layer: 3 scalar L=0 channels and 2 vector L=1 channels."""
    return [
        {"layer": layer, "layer_name": f"block{layer}", "stream": stream, "L": L, "channel": c}
        for layer in range(layers)
        for stream, L, n in (("scalar", 0, 3), ("vector", 1, 2))
        for c in range(n)
    ]


def test_column_name():
    assert column_name(2, "scalar", 0, 5) == "l2.scalar.L0.c0005"
    assert column_name(0, "vector", 1, 123) == "l0.vector.L1.c0123"


def test_roundtrip_and_selection(tmp_path):
    path = tmp_path / "f.parquet"
    H = np.random.default_rng(0).normal(size=(4, 10))
    write_features(path, ["a", "b", "c", "d"], H, columns_of(), {"model": "m", "pooling": "mean"})
    ids, H_read, cols = read_features(path)
    assert list(ids) == ["a", "b", "c", "d"] and H_read.dtype == np.float32
    np.testing.assert_array_equal(H_read, H.astype(np.float32))
    assert list(cols["name"]) == [
        column_name(**{k: c[k] for k in ("layer", "stream", "L", "channel")}) for c in columns_of()
    ]
    _, last, last_cols = read_features(path, layer="last")
    np.testing.assert_array_equal(last, H[:, 5:].astype(np.float32))
    assert set(last_cols["layer"]) == {1}
    _, vec, _ = read_features(path, layer=0, L=1)
    np.testing.assert_array_equal(vec, H[:, 3:5].astype(np.float32))
    _, scal, _ = read_features(path, stream="scalar")
    np.testing.assert_array_equal(scal, H[:, [0, 1, 2, 5, 6, 7]].astype(np.float32))
    assert read_metadata(path)["model"] == "m"
    assert len(feature_columns(path)) == 10
    with pytest.raises(DataError, match="available"):
        read_features(path, L=2)


def test_atom_tables_roundtrip(tmp_path):
    path = tmp_path / "atoms.parquet"
    F = np.arange(15, dtype=np.float64).reshape(3, 5)
    cols = [c for c in columns_of(1)]
    write_atom_features(path, ["a", "a", "b"], [0, 1, 0], [6, 1, 8], F, cols, {"model": "m"})
    index, F_read, cols_read = read_atom_features(path)
    assert index.to_dict("list") == {"id": ["a", "a", "b"], "atom": [0, 1, 0], "Z": [6, 1, 8]}
    np.testing.assert_array_equal(F_read, F.astype(np.float32))
    assert list(cols_read["stream"]) == ["scalar"] * 3 + ["vector"] * 2


@pytest.mark.parametrize(
    ("ids", "H", "cols", "message"),
    [
        (["a", "a"], np.zeros((2, 10)), columns_of(), "not unique"),
        (["a", "b"], np.zeros((2, 9)), columns_of(), "10 descriptions for 9"),
        (["a", "b"], np.full((2, 10), np.nan), columns_of(), "NaN"),
        (["a", "b"], np.zeros((2, 10)), [{**c, "name": "x"} for c in columns_of()], "should be"),
        (["a", "b"], np.zeros((2, 10)), [{"layer": 0}] * 10, "missing keys"),
    ],
)
def test_bad_tables_are_refused(tmp_path, ids, H, cols, message):
    with pytest.raises(DataError, match=message):
        write_features(tmp_path / "f.parquet", ids, H, cols, {})
    assert not (tmp_path / "f.parquet").exists()


def test_reading_atom_rows_equals_slicing_the_whole_table(tmp_path, monkeypatch):
    """Rows in any order, read a few columns at a time, are the rows of the full read, bitwise;
    a float64 column is rounded as astype(float32) rounds it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from atomprobe.features import io as features_io

    rng = np.random.default_rng(3)
    F = rng.normal(size=(40, 5))
    path = tmp_path / "atoms.parquet"
    write_atom_features(
        path,
        [f"s{i // 4}" for i in range(40)],
        np.arange(40) % 4,
        np.full(40, 6),
        F,
        columns_of(1),
        {"model": "m"},
    )
    monkeypatch.setattr(features_io, "ATOM_READ_BUDGET_BYTES", 2 * 8 * 40)  # two columns a read
    index, whole, _ = read_atom_features(path)
    rows = np.array([39, 0, 7, 7, 12])
    sub_index, sub, _ = read_atom_features(path, rows=rows)
    np.testing.assert_array_equal(sub, whole[rows])
    assert sub_index.to_dict("list") == index.iloc[rows].reset_index(drop=True).to_dict("list")
    assert read_atom_features(path, rows=np.array([], dtype=int))[1].shape == (0, 5)
    with pytest.raises(DataError, match=r"row positions must lie in \[0, 40\)"):
        read_atom_features(path, rows=np.array([40]))
    # the first feature column stored as float64, as a `source: features` file may hold it
    table = pq.read_table(path)
    name = table.column_names[3]
    pq.write_table(table.set_column(3, name, pa.array(F[:, 0])), path)
    assert pq.read_schema(path).field(name).type == pa.float64()
    np.testing.assert_array_equal(
        read_atom_features(path, rows=rows)[1][:, 0], F[rows, 0].astype(np.float32)
    )
