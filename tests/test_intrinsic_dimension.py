"""TwoNN intrinsic dimension: planted low-dimensional data in many dimensions, duplicates, and
the step over every layer of a feature file."""

from __future__ import annotations

import numpy as np
import pytest

from atomprobe.analyses.intrinsic_dimension import two_nn_dimension
from atomprobe.analyses.steps import intrinsic_dimension
from atomprobe.errors import DataError
from atomprobe.features.io import write_features
from atomprobe.io import read_parquet


def planted(n: int, dimension: int, ambient: int, seed: int = 0) -> np.ndarray:
    """n points on a curved ``dimension``-dimensional manifold embedded in ``ambient`` dims."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, dimension))
    return np.column_stack([Z, np.sin(Z)]) @ rng.normal(size=(2 * dimension, ambient))


@pytest.mark.parametrize("dimension", [2, 3, 5])
def test_planted_dimension_is_recovered_with_an_interval(dimension):
    value, low, high, n = two_nn_dimension(planted(2000, dimension, 23), n_bootstrap=20)
    assert abs(value - dimension) < 0.15 * dimension + 0.2
    assert low <= value <= high and n == 2000


def test_repeated_rows_count_once():
    X = planted(500, 3, 10)
    assert two_nn_dimension(np.vstack([X, X[:100]]), 5) == two_nn_dimension(X, 5)


def test_too_few_distinct_rows_is_one_line():
    with pytest.raises(DataError, match="3 distinct rows; need at least 10"):
        two_nn_dimension(np.repeat(np.eye(3), 5, axis=0), 5)


def test_the_step_measures_every_layer(tmp_path):
    ids = [f"m{i}" for i in range(600)]
    low_d, high_d = planted(600, 2, 12, seed=1), planted(600, 6, 12, seed=2)
    columns = [
        {"layer": layer, "layer_name": f"l{layer}", "stream": "scalar", "L": 0, "channel": c}
        for layer in (0, 1)
        for c in range(12)
    ]
    path = tmp_path / "f.parquet"
    write_features(
        path, ids, np.hstack([low_d, high_d]), columns, {"model": "mine", "dataset": "qm9"}
    )
    out = tmp_path / "id.parquet"
    params = {
        "seed": 0,
        "intrinsic_dimension": {"datasets": ["qm9"], "n_samples": 500, "n_bootstrap": 5},
    }
    intrinsic_dimension({"structure": [str(path)]}, {"intrinsic_dimension": str(out)}, params, 1)
    frame, _ = read_parquet(out)
    values = frame.set_index("layer")["value"]
    assert list(frame["n_samples"]) == [500, 500]  # the seeded draw of 500 of 600
    assert values[0] < 3 < 4.5 < values[1]
