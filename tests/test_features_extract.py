"""Extraction: pooling against an independent implementation, and the train -> extract ->
checkpoints -> model table steps end to end on real QM9 molecules with a tiny SchNet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from atomprobe.features import pooling as reference_pooling
from atomprobe.features.extract import pool
from atomprobe.features.io import read_atom_features, read_features
from atomprobe.features.steps import extract, extract_checkpoints
from atomprobe.io import read_metadata, read_parquet, write_parquet
from atomprobe.models.registry import model_table
from atomprobe.models.steps import train_model

torch.set_num_threads(1)

SAMPLE = Path(__file__).parent / "fixtures" / "models" / "qm9_sample.parquet"
ENTRY = {
    "label": "SchNet (gap)",
    "family": "schnet",
    "source": "train",
    "target": "gap",
    "seed": 0,
    "hparams": {"hidden_channels": 8, "num_filters": 8, "num_interactions": 2, "num_gaussians": 8},
    "training": {
        "epochs": 2,
        "batch_size": 16,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "patience": 5,
        "lr_patience": 2,
        "checkpoint_every": 1,
        "n_train": 30,
        "progress": False,
        "dataset": "qm9",
    },
}
FEATURES = {
    "split": "probe",
    "pooling": "mean",
    "cumulant_order": 3,
    "invariant": "norm",
    "batch_size": 16,
    "dtype": "float32",
    "progress": False,
}


@pytest.mark.parametrize("method", ["mean", "sum", "max"])
def test_pooling_matches_reference(method):
    rng = np.random.default_rng(0)
    values, index = rng.normal(size=(30, 4)), np.sort(rng.integers(0, 5, 30))
    index[:5] = np.arange(5)  # every structure has an atom
    index.sort()
    ours = pool(torch.tensor(values), torch.tensor(index), 5, method).numpy()
    np.testing.assert_allclose(ours, reference_pooling.pool(values, index, 5, method))


def test_cumulant_pooling_has_order_blocks():
    values, index = torch.randn(12, 3, dtype=torch.float64), torch.tensor([0] * 5 + [1] * 7)
    pooled = pool(values, index, 2, "cumulants", order=3)
    assert pooled.shape == (2, 9)
    torch.testing.assert_close(pooled[:, :3], pool(values, index, 2, "mean"))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """QM9 sample + splits; a tiny SchNet trained by the train_model step."""
    root = tmp_path_factory.mktemp("pipeline")
    frame, _ = read_parquet(SAMPLE)
    split = ["train"] * 60 + ["val"] * 20 + ["test"] * 20 + ["probe"] * 20
    write_parquet(pd.DataFrame({"id": frame["id"], "split": split}), root / "splits.parquet")
    inputs = {"structures": str(SAMPLE), "splits": str(root / "splits.parquet")}
    model_dir = root / "results" / "models" / "schnet_gap"
    outputs = {
        "model": str(model_dir / "model.pt"),
        "checkpoints": str(model_dir / "checkpoints"),
        "curve": str(model_dir / "learning_curve.parquet"),
        "metrics": str(model_dir / "metrics.json"),
    }
    train_model(inputs, outputs, {"name": "schnet_gap", "entry": ENTRY, "device": "cpu"}, 1)
    return root, inputs, outputs, frame


def test_train_step_writes_model_curve_and_metrics(workspace):
    _, _, outputs, _ = workspace
    metrics = json.loads(Path(outputs["metrics"]).read_text())
    assert metrics["n_train"] == 30 and metrics["n_test"] == 20 and metrics["epochs_run"] == 2
    assert metrics["test_mae"] > 0 and metrics["baseline_mae"] > 0
    curve, _ = read_parquet(outputs["curve"])
    assert list(curve["epoch"]) == [1, 2]
    assert sorted(p.name for p in Path(outputs["checkpoints"]).iterdir()) == [
        "epoch_0001.pt",
        "epoch_0002.pt",
    ]


def test_extract_and_model_table(workspace, monkeypatch, tmp_path):
    root, inputs, outputs, frame = workspace
    params = {"name": "schnet_gap", "entry": ENTRY, "dataset": "qm9", "device": "cpu", **FEATURES}
    pooled, atoms = root / "qm9.parquet", root / "qm9_atoms.parquet"
    extract(
        {**inputs, "model": outputs["model"]},
        {"features": str(pooled), "atoms": str(atoms)},
        params,
        1,
    )
    ids, H, cols = read_features(pooled)
    assert list(ids) == list(frame["id"][-20:]) and H.shape == (20, 16)
    assert sorted(set(cols["layer"])) == [0, 1] and set(cols["L"]) == {0}
    index, F, atom_cols = read_atom_features(atoms)
    assert len(index) == sum(len(z) for z in frame["numbers"][-20:])
    assert set(atom_cols["layer"]) == {1}
    # the mean of the per-atom last layer is the pooled last layer
    means = pd.DataFrame(F).groupby(index["id"].to_numpy(), sort=False).mean().to_numpy()
    np.testing.assert_allclose(means, read_features(pooled, layer="last")[1], rtol=1e-5, atol=1e-6)
    meta = read_metadata(pooled)
    assert meta["pooling"] == "mean" and meta["invariant"] == "norm" and meta["n_params"] > 0

    checkpoints = root / "qm9_checkpoints.parquet"
    extract_checkpoints(
        {**inputs, "model": outputs["model"], "checkpoints": outputs["checkpoints"]},
        {"features": str(checkpoints)},
        params,
        1,
    )
    table, meta = read_parquet(checkpoints)
    assert table["epoch"].tolist() == [1] * 20 + [2] * 20 and meta["epochs"] == [1, 2]
    assert table.shape[1] == 2 + 8

    monkeypatch.chdir(tmp_path)  # the step reads its inputs, wherever they are
    model_table(
        {"metrics": [outputs["metrics"]], "features": [str(pooled)]},
        {"table": "registry.parquet"},
        {
            "registry": {"schnet_gap": ENTRY},
            "datasets": {"schnet_gap": ["qm9"]},
            "all_datasets": ["qm9", "mp"],
            "metrics_of": ["schnet_gap"],
            "features_of": [["schnet_gap", "qm9"]],
        },
        1,
    )
    row = read_parquet("registry.parquet")[0].iloc[0]
    assert row["name"] == "schnet_gap" and row["train_target"] == "gap"
    assert row["test_mae"] == json.loads(Path(outputs["metrics"]).read_text())["test_mae"]
    assert "not extracted on mp: trained on qm9" in row["note"]


def test_periodic_structures_are_skipped_with_a_note(workspace, tmp_path):
    _, _, outputs, frame = workspace
    crystals = frame.head(3).copy()
    crystals["pbc"] = True
    crystals["cell"] = [list(np.eye(3) * 12.0)] * 3
    write_parquet(crystals, tmp_path / "mp.parquet", {"dataset": "mp", "targets": {}})
    params = {"name": "schnet_gap", "entry": ENTRY, "dataset": "mp", "device": "cpu", **FEATURES}
    out = {"features": str(tmp_path / "f.parquet"), "atoms": str(tmp_path / "a.parquet")}
    extract({"structures": str(tmp_path / "mp.parquet"), "model": outputs["model"]}, out, params, 1)
    assert "no periodic support" in read_metadata(out["features"])["note"]
    assert len(read_parquet(out["features"])[0]) == 0


def test_per_atom_features_are_streamed_a_batch_at_a_time(workspace, tmp_path, monkeypatch):
    """The extract step writes one row group per batch, bitwise the in-memory extraction's
    rows; a batch that fails leaves neither output nor a temporary file behind."""
    import pyarrow.parquet as pq

    from atomprobe.features import extract as extract_module
    from atomprobe.features.extract import extract_features, load_adapter, probe_structures

    _, inputs, outputs, _ = workspace
    params = {"name": "schnet_gap", "entry": ENTRY, "dataset": "qm9", "device": "cpu"}
    params.update({**FEATURES, "batch_size": 6})  # 20 probe molecules: batches of 6, 6, 6, 2
    step_inputs = {**inputs, "model": outputs["model"]}
    out = {"features": str(tmp_path / "f.parquet"), "atoms": str(tmp_path / "a.parquet")}
    extract(step_inputs, out, params, 1)
    assert pq.ParquetFile(out["atoms"]).metadata.num_row_groups == 4
    (part,) = probe_structures(step_inputs, "qm9", "probe")
    adapter = load_adapter(ENTRY, outputs["model"])
    H, _, index, F, _ = extract_features(adapter, part, batch_size=6, show_progress=False)
    got_index, got_F, _ = read_atom_features(out["atoms"])
    np.testing.assert_array_equal(got_F, F)
    assert got_index.to_dict("list") == index.to_dict("list")
    np.testing.assert_array_equal(read_features(out["features"])[1], H)

    calls = iter(range(100))
    real = extract_module.invariant

    def fails_on_third_batch(block, method="norm"):
        if next(calls) == 2 * 2:  # two blocks (layers) per batch: the third batch's first
            raise RuntimeError("model failed")
        return real(block, method)

    monkeypatch.setattr(extract_module, "invariant", fails_on_third_batch)
    failed = {"features": str(tmp_path / "g.parquet"), "atoms": str(tmp_path / "b.parquet")}
    with pytest.raises(RuntimeError, match="model failed"):
        extract(step_inputs, failed, params, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "f.parquet"]
