"""``source: checkpoint`` for SevenNet and CHGNet: a file in each library's native format,
written here from a builtin model, loads through ``family.load`` with features identical to the
builtin's, and a changed weight in it changes them; a wrong sha256, a file that pickles code,
and files of another format are refused with one-line ConfigErrors."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import pytest
import torch
from ase.build import bulk
from pymatgen.io.ase import AseAtomsAdaptor

from atomprobe.errors import ConfigError
from atomprobe.models.families import get_family
from atomprobe.models.families._weights import load_weights_only, sha256_of
from fixtures.models.batches import batch_of, molecules

torch.set_num_threads(1)


def checkpoint_entry(family: str, path: Path, sha256: str | None = None) -> dict:
    return {
        "family": family,
        "source": "checkpoint",
        "path": str(path),
        "sha256": sha256 or sha256_of(path),
    }


def assert_same_features(ours, theirs, batch) -> None:
    mine, reference = ours.atom_features(batch), theirs.atom_features(batch)
    assert [(b.layer, b.layer_name, b.stream, b.L) for b in mine] == [
        (b.layer, b.layer_name, b.stream, b.L) for b in reference
    ]
    for a, b in zip(mine, reference, strict=True):
        torch.testing.assert_close(a.values, b.values, atol=0, rtol=0)


def assert_refused_in_one_line(family: str, entry: dict, *fragments: str) -> None:
    with pytest.raises(ConfigError) as error:
        get_family(family).load(entry)
    message = str(error.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


# --- SevenNet: the .pth sevenn's trainer writes -------------------------------------------


@pytest.fixture(scope="module")
def sevennet():
    return get_family("sevennet").load({"source": "builtin"})


def write_sevenn_checkpoint(path: Path, model: torch.nn.Module, config: dict) -> None:
    """What sevenn's training loop saves (scripts/processing_epoch.py ``write_checkpoint``):
    the trainer's model/optimizer/scheduler state dicts, plus the config and the epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.99)
    checkpoint = {
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "scheduler_state_dict": scheduler.state_dict(),
        "config": config,
        "epoch": 7,
    }
    torch.save(checkpoint, path)


def test_sevenn_checkpoint_gives_the_builtin_features_and_its_own_weights(sevennet, tmp_path):
    from sevenn.util import model_from_checkpoint

    from atomprobe.models.families import sevennet as module

    shipped_path, _ = module.SHIPPED_CHECKPOINTS["SevenNet-0_11Jul2024"]
    shipped = load_weights_only(shipped_path, "test", module._CHECKPOINT_SAFE_GLOBALS)
    model, _ = model_from_checkpoint(copy.deepcopy(shipped))
    write_sevenn_checkpoint(tmp_path / "checkpoint_best.pth", model, shipped["config"])
    with torch.no_grad():  # a stand-in for fine-tuning: one interaction weight changed
        model._modules["2_self_interaction_1"].linear.weight.mul_(1.05)
    write_sevenn_checkpoint(tmp_path / "checkpoint_tuned.pth", model, shipped["config"])

    loaded = get_family("sevennet").load(
        checkpoint_entry("sevennet", tmp_path / "checkpoint_best.pth")
    )
    batch = batch_of(molecules(("CH4", "CH3CH2OH")))
    assert_same_features(loaded, sevennet, batch)
    tuned = get_family("sevennet").load(
        checkpoint_entry("sevennet", tmp_path / "checkpoint_tuned.pth")
    )
    with torch.no_grad():
        before, after = sevennet.predict(batch), tuned.predict(batch)
        first_tuned, first_loaded = tuned.atom_features(batch)[0], loaded.atom_features(batch)[0]
    torch.testing.assert_close(first_tuned.values, first_loaded.values, atol=0, rtol=0)
    assert (after - before).abs().min() > 1e-3


def test_sevenn_checkpoint_refusals(tmp_path):
    from atomprobe.models.families import sevennet as module

    shipped_path, _ = module.SHIPPED_CHECKPOINTS["SevenNet-0_11Jul2024"]
    entry = checkpoint_entry("sevennet", Path(shipped_path), sha256="0" * 64)
    assert_refused_in_one_line("sevennet", entry, "sha256", "expected " + "0" * 64)

    code = tmp_path / "code.pth"
    torch.save({"model_state_dict": {}, "config": {"args": argparse.Namespace(lr=1)}}, code)
    assert_refused_in_one_line(
        "sevennet", checkpoint_entry("sevennet", code), "argparse.Namespace", "weights_only"
    )

    other = tmp_path / "state_dict.pth"
    torch.save({"weight": torch.zeros(2)}, other)
    assert_refused_in_one_line(
        "sevennet", checkpoint_entry("sevennet", other), "not a sevenn checkpoint"
    )

    mismatched = tmp_path / "mismatched.pth"  # the config without its weights
    shipped = load_weights_only(shipped_path, "test", module._CHECKPOINT_SAFE_GLOBALS)
    torch.save({"model_state_dict": {}, "config": shipped["config"]}, mismatched)
    assert_refused_in_one_line(
        "sevennet", checkpoint_entry("sevennet", mismatched), "cannot build", "Missing keys"
    )

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    assert_refused_in_one_line("sevennet", checkpoint_entry("sevennet", garbage), "torch")


# --- CHGNet: the file CHGNet.from_file reads (chgnet's Trainer.save) ----------------------


@pytest.fixture(scope="module")
def chgnet():
    return get_family("chgnet").load({"source": "builtin"})


def test_chgnet_trainer_save_gives_the_builtin_features_and_its_own_weights(chgnet, tmp_path):
    from chgnet.model import CHGNet
    from chgnet.trainer import Trainer

    from atomprobe.models.families.chgnet import load_builtin

    model = load_builtin("0.3.0")
    Trainer(model=model, targets="ef", use_device="cpu").save(str(tmp_path / "best.pth.tar"))
    with torch.no_grad():  # a stand-in for fine-tuning: one convolution weight changed
        model.atom_conv_layers[2].mlp_out.layers[1].weight.mul_(1.05)
    Trainer(model=model, targets="ef", use_device="cpu").save(str(tmp_path / "tuned.pth.tar"))

    loaded = get_family("chgnet").load(checkpoint_entry("chgnet", tmp_path / "best.pth.tar"))
    crystals = [bulk("Si", "diamond", a=5.43), bulk("NaCl", "rocksalt", a=5.64)]
    assert_same_features(loaded, chgnet, batch_of(crystals))
    assert_same_features(loaded, chgnet, batch_of(molecules(("CH4",))))

    tuned = get_family("chgnet").load(checkpoint_entry("chgnet", tmp_path / "tuned.pth.tar"))
    native = CHGNet.from_file(str(tmp_path / "tuned.pth.tar")).float().eval()  # our own file
    with torch.no_grad():
        energies = tuned.predict(batch_of(crystals))
        assert (energies - chgnet.predict(batch_of(crystals))).abs().min() > 1e-3
    for energy, crystal in zip(energies.tolist(), crystals, strict=True):
        theirs = native.predict_structure(AseAtomsAdaptor.get_structure(crystal), task="e")["e"]
        assert energy == pytest.approx(float(theirs), abs=1e-5)


def test_chgnet_checkpoint_refusals(chgnet, tmp_path):
    from atomprobe.models.families.chgnet import SHIPPED_CHECKPOINTS

    shipped_path, _ = SHIPPED_CHECKPOINTS["0.3.0"]
    entry = checkpoint_entry("chgnet", Path(shipped_path), sha256="f" * 64)
    assert_refused_in_one_line("chgnet", entry, "sha256", "expected " + "f" * 64)

    whole = tmp_path / "whole_model.pt"  # torch.save(model): the pickled classes are code
    torch.save(chgnet.module, whole)
    assert_refused_in_one_line(
        "chgnet", checkpoint_entry("chgnet", whole), "pickles", "chgnet.model.", "weights_only"
    )

    bare = tmp_path / "state_dict.pt"  # weights without model_args: not CHGNet.from_file's
    torch.save(chgnet.module.state_dict(), bare)
    assert_refused_in_one_line("chgnet", checkpoint_entry("chgnet", bare), "not a CHGNet")

    missing = tmp_path / "absent.pth.tar"
    assert_refused_in_one_line(
        "chgnet", checkpoint_entry("chgnet", missing, sha256="0" * 64), "does not exist"
    )
