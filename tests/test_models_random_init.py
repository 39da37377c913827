"""``source: random_init``: the untrained model is bitwise the state training starts from, with
the same standardisation, deterministic, and its features differ from the trained model's; it
runs through the unchanged extraction and gets a model-table row saying what it is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from atomprobe.features.io import read_features
from atomprobe.features.steps import extract
from atomprobe.io import read_parquet, write_parquet
from atomprobe.models.base import load_model, read_model_file
from atomprobe.models.families import get_family
from atomprobe.models.registry import model_table
from atomprobe.models.steps import init_model, train_model

torch.set_num_threads(1)

SAMPLE = Path(__file__).parent / "fixtures" / "models" / "qm9_sample.parquet"
HPARAMS = {"hidden_channels": 8, "num_filters": 8, "num_interactions": 2, "num_gaussians": 8}
TRAINED = {
    "label": "SchNet (U0)",
    "family": "schnet",
    "source": "train",
    "target": "u0",  # extensive: atom references, mean and std are all fitted before training
    "seed": 3,
    "hparams": HPARAMS,
    "training": {
        "epochs": 2,
        "batch_size": 16,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "patience": 5,
        "lr_patience": 2,
        "checkpoint_every": 1,
        "n_train": 40,
        "progress": False,
        "dataset": "qm9",
    },
}
# as load_registry resolves `{label, source: random_init, of: schnet_u0}`
INIT = {
    "label": "SchNet (U0, random init)",
    "source": "random_init",
    "of": "schnet_u0",
    "family": "schnet",
    "target": "u0",
    "seed": 3,
    "hparams": HPARAMS,
    "training": {"dataset": "qm9", "n_train": 40},
    "of_label": "SchNet (U0)",
}
FEATURES = {"split": "probe", "pooling": "mean", "batch_size": 16, "progress": False}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """QM9 sample + splits; the trained SchNet (with the parameters its optimiser started
    from, recorded as Adam is made) and two runs of the init_model step."""
    root = tmp_path_factory.mktemp("random_init")
    frame, meta = read_parquet(SAMPLE)
    meta = {k: v for k, v in meta.items() if k != "provenance"}
    write_parquet(frame, root / "qm9.parquet", {**meta, "extensive_targets": ["u0"]})
    split = ["train"] * 60 + ["val"] * 20 + ["test"] * 20 + ["probe"] * 20
    write_parquet(pd.DataFrame({"id": frame["id"], "split": split}), root / "splits.parquet")
    inputs = {"structures": str(root / "qm9.parquet"), "splits": str(root / "splits.parquet")}
    started_from: list[torch.Tensor] = []
    adam = torch.optim.Adam

    def recording_adam(parameters, **kwargs):
        parameters = list(parameters)
        started_from.extend(p.detach().clone() for p in parameters)
        return adam(parameters, **kwargs)

    trained = root / "schnet_u0"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim, "Adam", recording_adam)
        train_model(
            inputs,
            {
                "model": str(trained / "model.pt"),
                "checkpoints": str(trained / "checkpoints"),
                "curve": str(trained / "curve.parquet"),
                "metrics": str(trained / "metrics.json"),
            },
            {"name": "schnet_u0", "entry": TRAINED, "device": "cpu"},
            1,
        )
    runs = []
    for run in ("first", "second"):
        out = root / run / "schnet_u0_init"
        outputs = {"model": str(out / "model.pt"), "metrics": str(out / "metrics.json")}
        init_model(inputs, outputs, {"name": "schnet_u0_init", "entry": INIT, "device": "cpu"}, 1)
        runs.append(outputs)
    return root, inputs, trained, started_from, runs


def test_the_untrained_model_is_the_state_training_starts_from(workspace):
    _, _, trained, started_from, (first, _) = workspace
    parameters = list(load_model(first["model"], get_family("schnet")).module.parameters())
    assert len(parameters) == len(started_from) > 0
    for ours, theirs in zip(parameters, started_from, strict=True):
        assert torch.equal(ours.detach(), theirs)
    # the same data-derived constants (atom references, mean, std, elements, neighbours)
    init, final = read_model_file(first["model"]), read_model_file(trained / "model.pt")
    assert init["stats"] == final["stats"] and init["stats"]["atom_refs"]
    assert init["family"] == final["family"] and init["hparams"] == final["hparams"]
    # and training did change the weights
    changed = [not torch.equal(init["state_dict"][k], v) for k, v in final["state_dict"].items()]
    assert any(changed)


def test_the_untrained_model_is_deterministic(workspace):
    _, _, _, _, (first, second) = workspace
    a, b = read_model_file(first["model"]), read_model_file(second["model"])
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert a["stats"] == b["stats"]


def test_metrics_say_untrained(workspace):
    _, _, trained, _, (first, _) = workspace
    metrics = json.loads(Path(first["metrics"]).read_text())
    reference = json.loads((trained / "metrics.json").read_text())
    assert metrics["epochs_run"] == 0 and metrics["init_of"] == "schnet_u0"
    for key in ("n_train", "n_params", "baseline_mae", "composition_baseline_mae", "unit"):
        assert metrics[key] == reference[key], key
    assert metrics["test_mae"] != reference["test_mae"]


def test_extraction_runs_unchanged_and_the_features_differ(workspace, monkeypatch):
    root, inputs, trained, _, (first, _) = workspace
    tables = {}
    for name, entry, weights in (
        ("schnet_u0", TRAINED, trained / "model.pt"),
        ("schnet_u0_init", INIT, first["model"]),
    ):
        pooled = root / "features" / name / "qm9.parquet"
        params = {"name": name, "entry": entry, "dataset": "qm9", "device": "cpu", **FEATURES}
        extract(
            {**inputs, "model": str(weights)},
            {"features": str(pooled), "atoms": str(pooled.with_name("qm9_atoms.parquet"))},
            params,
            1,
        )
        tables[name] = read_features(pooled)
    (ids, H_trained, columns), (ids_init, H_init, columns_init) = tables.values()
    assert list(ids) == list(ids_init) and columns.equals(columns_init)
    assert np.isfinite(H_init).all() and not np.allclose(H_trained, H_init, atol=1e-3)

    monkeypatch.chdir(root)  # the step reads its inputs, wherever they are
    model_table(
        {
            "metrics": [str(trained / "metrics.json"), first["metrics"]],
            "features": [str(root / "features" / n / "qm9.parquet") for n in tables],
        },
        {"table": "registry.parquet"},
        {
            "registry": {"schnet_u0": TRAINED, "schnet_u0_init": INIT},
            "datasets": {"schnet_u0": ["qm9"], "schnet_u0_init": ["qm9"]},
            "all_datasets": ["qm9", "mp"],
            "metrics_of": ["schnet_u0", "schnet_u0_init"],
            "features_of": [[n, "qm9"] for n in tables],
        },
        1,
    )
    rows = read_parquet("registry.parquet")[0].set_index("name")
    init = rows.loc["schnet_u0_init"]
    assert init["source"] == "random_init" and init["family"] == "schnet"
    assert init["train_target"] == "" and rows.loc["schnet_u0", "train_target"] == "u0"
    assert init["note"].startswith("random initialisation of SchNet (U0), untrained")
    assert "not extracted on mp: built for qm9" in init["note"]
    assert init["test_mae"] == json.loads(Path(first["metrics"]).read_text())["test_mae"]
    assert init["n_params"] == rows.loc["schnet_u0", "n_params"]
