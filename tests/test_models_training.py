"""The generic training loop on real QM9 molecules: it learns, and the seed fixes everything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from atomprobe.data.structures import load_structures
from atomprobe.features.extract import extract_features
from atomprobe.models.families import get_family
from atomprobe.models.structures import Structures
from atomprobe.models.training import composition_counts, fit_stats, predict, train

torch.set_num_threads(1)

SAMPLE = Path(__file__).parent / "fixtures" / "models" / "qm9_sample.parquet"
TINY_SCHNET = {"hidden_channels": 16, "num_filters": 16, "num_interactions": 2, "num_gaussians": 16}
SETTINGS = {"epochs": 4, "batch_size": 16, "lr": 3e-3, "progress": False, "checkpoint_every": 2}


@pytest.fixture(scope="module")
def qm9() -> dict[str, Structures]:
    data = Structures.from_frame(load_structures(SAMPLE), "gap")
    return {"train": data.subset(range(80)), "val": data.subset(range(80, 120))}


def run(qm9, seed: int, tmp_path=None):
    return train(
        get_family("schnet"),
        TINY_SCHNET,
        qm9["train"],
        qm9["val"],
        "gap",
        "eV",
        seed,
        SETTINGS,
        checkpoint_dir=tmp_path,
    )


def test_training_learns_and_keeps_checkpoints(qm9, tmp_path):
    model, curve = run(qm9, seed=0, tmp_path=tmp_path)
    assert list(curve["epoch"]) == [1, 2, 3, 4]
    assert curve["train_loss"].iloc[-1] < 0.7 * curve["train_loss"].iloc[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0002.pt", "epoch_0004.pt"]
    # the model returned is the best validation epoch's
    best = curve["val_mae"].min()
    assert np.abs(predict(model, qm9["val"], 64, "cpu") - qm9["val"].y).mean() == pytest.approx(
        best, rel=1e-5
    )


def test_same_seed_gives_identical_weights_and_features(qm9):
    (first, _), (second, _), (other, _) = run(qm9, 1), run(qm9, 1), run(qm9, 2)
    for a, b in zip(
        first.module.state_dict().values(), second.module.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    H1 = extract_features(first, qm9["val"], show_progress=False)[0]
    H2 = extract_features(second, qm9["val"], show_progress=False)[0]
    H3 = extract_features(other, qm9["val"], show_progress=False)[0]
    np.testing.assert_array_equal(H1, H2)
    assert not np.allclose(H1, H3)


def test_extensive_targets_get_least_squares_atom_references(qm9):
    """y = counts @ refs + noise-free offset: the references are recovered exactly."""
    data = qm9["train"]
    elements = [1, 6, 7, 8, 9]
    counts = composition_counts(data.numbers, elements)
    present = counts.sum(axis=0) > 0
    refs = np.array([-13.6, -1030.0, -1486.0, -2047.0, -2717.0])
    y = counts @ refs + 0.25 * np.sin(np.arange(len(data)))
    synthetic = Structures(data.ids, data.numbers, data.positions, y)
    stats = fit_stats(synthetic, "u0", "eV", extensive=True, cutoff=5.0)
    fitted = np.array([stats.atom_refs[z] for z in np.array(elements)[present]])
    residual = y - counts[:, present] @ fitted
    assert stats.mean == pytest.approx(residual.mean()) and stats.std == pytest.approx(
        residual.std()
    )
    assert stats.std < 0.25  # the composition part is fully explained
    intensive = fit_stats(synthetic, "gap", "eV", extensive=False, cutoff=5.0)
    assert intensive.atom_refs == {} and intensive.mean == pytest.approx(y.mean())
    assert 5 < intensive.avg_num_neighbors < 25
