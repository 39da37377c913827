"""Registry validation: every broken entry is one ConfigError line naming the entry and the fix."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from atomprobe.data.datasets import configured_datasets
from atomprobe.errors import ConfigError, DataError
from atomprobe.features.io import check_feature_file, check_feature_ids, write_features
from atomprobe.io import write_parquet
from atomprobe.models.families import family_info, get_family
from atomprobe.models.registry import (
    TRAINING_DEFAULTS,
    brought_features_path,
    has_atom_features,
    load_registry,
    model_datasets,
)

REPO = Path(__file__).resolve().parents[1]
# the default config's datasets, as the workflow passes them
DATASETS = configured_datasets(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))


def write_registry(tmp_path: Path, models: dict, **top) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({**top, "models": models}))
    return path


TRAINED = {"label": "SchNet", "family": "schnet", "source": "train", "target": "gap", "seed": 0}


def test_shipped_registries_are_valid():
    for name in ("models.yaml", "models_paper.yaml"):
        registry = load_registry(REPO / "config" / name, "all", DATASETS)
        assert registry and all(e["label"] for e in registry.values())


def test_training_settings_merge_defaults_then_file_then_entry(tmp_path):
    path = write_registry(
        tmp_path,
        {"a": {**TRAINED, "training": {"epochs": 3}}},
        train_defaults={"epochs": 7, "lr": 0.01},
    )
    entry = load_registry(path, "all", DATASETS)["a"]
    assert entry["training"] == {**TRAINING_DEFAULTS, "lr": 0.01, "epochs": 3, "dataset": "qm9"}
    assert model_datasets(entry, DATASETS) == ["qm9"]
    assert has_atom_features(entry, "qm9")


def test_selection_and_disabled_entries(tmp_path):
    path = write_registry(tmp_path, {"a": TRAINED, "b": {**TRAINED, "enabled": False}})
    assert list(load_registry(path, "all", DATASETS)) == ["a"]
    assert list(load_registry(path, ["b"], DATASETS)) == ["b"]
    with pytest.raises(ConfigError, match=r"\['c'\] not in"):
        load_registry(path, ["c"], DATASETS)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**TRAINED, "family": "nonet"}, r"models\.a\.family: unknown model family 'nonet'"),
        ({k: v for k, v in TRAINED.items() if k != "target"}, r"'target' is a required"),
        ({**TRAINED, "epochs": 3}, "Additional properties"),
        (
            {
                "label": "x",
                "family": "schnet",
                "source": "checkpoint",
                "path": "nowhere.pt",
                "sha256": "0" * 64,
            },
            r"models\.a\.path: nowhere\.pt not found",
        ),
        (
            {"label": "x", "source": "features", "paths": {"qm9": "nowhere.parquet"}},
            r"models\.a\.paths\.qm9: nowhere\.parquet not found",
        ),
    ],
)
def test_broken_entries_name_the_entry(tmp_path, monkeypatch, entry, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message) as info:
        load_registry(write_registry(tmp_path, {"a": entry}), "all", DATASETS)
    assert "\n" not in str(info.value)


def test_checkpoint_checksum_is_verified(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    good = hashlib.sha256(b"weights").hexdigest()
    entry = {"label": "x", "family": "schnet", "source": "checkpoint", "path": str(weights)}
    assert load_registry(
        write_registry(tmp_path, {"a": {**entry, "sha256": good}}), "all", DATASETS
    )
    with pytest.raises(ConfigError, match=r"models\.a\.sha256: .* has sha256 " + good):
        load_registry(
            write_registry(tmp_path, {"a": {**entry, "sha256": "f" * 64}}), "all", DATASETS
        )


def _feature_table(path: Path, model: str, dataset: str) -> Path:
    """A valid pooled feature table of two structures and one column."""
    column = {"layer": 0, "layer_name": "x", "stream": "scalar", "L": 0, "channel": 0}
    ids = ["a", "b"]
    write_features(path, ids, np.ones((2, 1)), [column], {"model": model, "dataset": dataset})
    return path


def test_features_entries_bring_their_own_datasets(tmp_path):
    table = _feature_table(tmp_path / "mine.parquet", "mine", "mp")
    entry = {"label": "Mine", "source": "features", "paths": {"mp": str(table)}}
    registry = load_registry(write_registry(tmp_path, {"mine": entry}), "all", DATASETS)
    assert model_datasets(registry["mine"], DATASETS) == ["mp"]
    # its import job copies this file to where every later job reads features
    assert brought_features_path(registry["mine"], "mp", atoms=False) == str(table)
    assert not has_atom_features(registry["mine"], "mp")  # atom level skips it


def test_a_checkpoint_for_a_family_without_a_loader_is_refused(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    entry = {"label": "A", "family": "ani2x_aev", "source": "checkpoint", "path": str(weights)}
    entry["sha256"] = hashlib.sha256(b"weights").hexdigest()
    with pytest.raises(ConfigError, match=r"source: family 'ani2x_aev' loads no checkpoint"):
        load_registry(write_registry(tmp_path, {"a": entry}), "all", DATASETS)


@pytest.mark.parametrize(
    ("family", "source", "message"),
    [
        ("chgnet", "train", "cannot be trained here; use source: builtin, checkpoint"),
        ("sevennet", "random_init", "cannot be trained here"),
        ("schnet", "builtin", "ships no weights; use source: checkpoint, random_init, train"),
        ("ani2x_aev", "checkpoint", "loads no checkpoint; use source: builtin"),
    ],
)
def test_a_source_the_family_does_not_support_is_refused_once(tmp_path, family, source, message):
    """The families declare their sources as data (FamilyInfo.sources); the registry checks
    them, once, before any job, naming the sources the family supports."""
    entry = {"label": "A", "family": family, "source": source, "target": "gap", "seed": 0}
    if source == "random_init":
        entry = {"label": "A", "source": source, "of": "t"}
    models = {"a": entry}
    if source == "random_init":
        models["t"] = {
            "label": "T",
            "family": family,
            "source": "train",
            "target": "gap",
            "seed": 0,
        }
    if source == "checkpoint":
        weights = tmp_path / "w.pt"
        weights.write_bytes(b"weights")
        entry.update(path=str(weights), sha256=hashlib.sha256(b"weights").hexdigest())
    with pytest.raises(ConfigError, match=rf"models\.a.*source: family '{family}' {message}"):
        load_registry(write_registry(tmp_path, models), ["a"], DATASETS)


def test_builtin_weight_names_are_checked_before_loading(tmp_path):
    entry = {"label": "S", "family": "sevennet", "source": "builtin", "weights": "SevenNet-1"}
    with pytest.raises(ConfigError, match=r"models\.s\.weights: 'SevenNet-1' is not shipped"):
        load_registry(write_registry(tmp_path, {"s": entry}), "all", DATASETS)
    entry = {"label": "C", "family": "chgnet", "source": "builtin", "weights": "r2scan"}
    assert load_registry(write_registry(tmp_path, {"c": entry}), "all", DATASETS)


@pytest.mark.parametrize("family", ["sevennet", "chgnet"])
def test_builtin_weight_names_match_what_the_family_ships(family):
    """The registry checks names without importing torch; the family module loads them."""
    module = importlib.import_module(f"atomprobe.models.families.{family}")
    info = family_info(family)
    assert set(info.builtin_weights) == set(module.SHIPPED_CHECKPOINTS)
    assert info.builtin_weights[0] == get_family(family).default_weights


def test_shipped_registries_list_loadable_disabled_entries():
    registry = load_registry(
        REPO / "config" / "models.yaml", ["sevennet0_may", "chgnet_r2scan"], DATASETS
    )
    assert {e["weights"] for e in registry.values()} == {"SevenNet-0_22May2024", "r2scan"}


def test_dataset_rules_for_entries(tmp_path):
    """Training and feature datasets must be configured; train targets belong to the dataset."""
    mine = {"source": "file", "path": "x.xyz", "periodic": True, "targets": {"e": {"unit": "eV"}}}
    datasets = {**DATASETS, "mine": mine}
    path = write_registry(tmp_path, {"a": {**TRAINED, "training": {"dataset": "mine"}}})
    with pytest.raises(ConfigError, match=r"training\.dataset: 'mine' is not a configured dataset"):
        load_registry(path, "all", datasets)
    path = write_registry(tmp_path, {"a": {**TRAINED, "target": "band_gap"}})
    with pytest.raises(ConfigError, match=r"target: 'band_gap' is not a target of dataset 'qm9'"):
        load_registry(path, "all", DATASETS)
    table = _feature_table(tmp_path / "f.parquet", "f", "qm9")
    features = {"label": "F", "source": "features", "paths": {"other": str(table)}}
    with pytest.raises(ConfigError, match=r"paths: 'other' is not a configured dataset"):
        load_registry(write_registry(tmp_path, {"f": features}), "all", DATASETS)
    # a crystal-capable builtin runs on every dataset, a molecular-only one skips periodic ones
    sevennet = {"label": "S", "family": "sevennet", "source": "builtin"}
    ani = {"label": "A", "family": "ani2x_aev", "source": "builtin"}
    registry = load_registry(write_registry(tmp_path, {"s": sevennet, "a": ani}), "all", datasets)
    assert model_datasets(registry["s"], datasets) == ["qm9", "mp", "mine"]
    assert model_datasets(registry["a"], datasets) == ["qm9"]


def test_feature_files_are_checked_for_their_contract(tmp_path):
    """What the workflow checks of a features entry's files before any job."""
    table = _feature_table(tmp_path / "f.parquet", "f", "qm9")
    check_feature_file(table, "f", "qm9")
    with pytest.raises(DataError, match=r"metadata dataset is 'qm9', expected 'mp'"):
        check_feature_file(table, "f", "mp")
    with pytest.raises(DataError, match=r"metadata model is 'f', expected 'g'"):
        check_feature_file(table, "g", "qm9")
    with pytest.raises(DataError, match=r"no \['atom', 'Z'\] in it"):
        check_feature_file(table, "f", "qm9", atoms=True)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"junk")
    with pytest.raises(DataError, match=r"junk\.parquet"):
        check_feature_file(junk, "f", "qm9")
    structures = tmp_path / "s.parquet"
    write_parquet(pd.DataFrame({"id": ["a", "c"]}), structures)
    with pytest.raises(DataError, match=r"1 ids are not in .*s\.parquet, e\.g\. \['b'\]"):
        check_feature_ids(table, structures)


# --- source: random_init, the untrained control of a trained entry --------------------------

INIT = {"label": "SchNet (random init)", "source": "random_init", "of": "a"}


def test_a_random_init_entry_takes_its_settings_from_the_trained_entry(tmp_path):
    trained = {**TRAINED, "hparams": {"hidden_channels": 8}, "training": {"n_train": 50}}
    path = write_registry(
        tmp_path, {"a": {**trained, "enabled": False}, "i": INIT}, train_defaults={"epochs": 2}
    )
    (name,) = load_registry(path, "all", DATASETS)  # the trained entry need not run
    entry = load_registry(path, "all", DATASETS)[name]
    assert name == "i" and entry["source"] == "random_init" and entry["of_label"] == "SchNet"
    assert {k: entry[k] for k in ("family", "target", "seed", "hparams")} == {
        "family": "schnet",
        "target": "gap",
        "seed": 0,
        "hparams": {"hidden_channels": 8},
    }
    # only what the initial model depends on: editing the epochs reruns nothing of it
    assert entry["training"] == {"dataset": "qm9", "n_train": 50}
    assert model_datasets(entry, DATASETS) == ["qm9"]
    assert has_atom_features(entry, "qm9")
    # the training dataset of the trained entry, and train_defaults' n_train, carry over
    mine = {"source": "file", "path": "x.xyz", "periodic": False, "targets": {"e": {"unit": "eV"}}}
    datasets = {**DATASETS, "mine": {**mine, "splits": {"seed": 0, "train": 5, "val": 1}}}
    path = write_registry(
        tmp_path,
        {"a": {**TRAINED, "target": "e", "training": {"dataset": "mine"}}, "i": INIT},
        train_defaults={"n_train": 3},
    )
    entry = load_registry(path, ["i"], datasets)["i"]
    assert entry["training"] == {"dataset": "mine", "n_train": 3}


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ({"i": {k: v for k, v in INIT.items() if k != "of"}}, r"models\.i: 'of' is a required"),
        ({"i": {**INIT, "of": "b"}}, r"models\.i\.of: 'b' is not an entry of the registry"),
        (
            {"i": INIT, "a": {"label": "A", "family": "sevennet", "source": "builtin"}},
            r"models\.i\.of: 'a' has source 'builtin'; a random_init entry mirrors a `source: tr",
        ),
        (
            {"i": {**INIT, "of": "j"}, "j": {**INIT, "of": "a"}, "a": TRAINED},
            r"models\.i\.of: 'j' has source 'random_init'",
        ),
        (
            {"i": {**INIT, "hparams": {"hidden_channels": 8}}, "a": TRAINED},
            r"models\.i\.hparams: a random_init entry takes family, target, seed, rung, hparams",
        ),
        ({"i": {**INIT, "seed": 1}, "a": TRAINED}, r"models\.i\.seed: a random_init entry"),
        ({"i": {**INIT, "family": "painn"}, "a": TRAINED}, r"models\.i\.family: a random_init"),
        ({"a": {**TRAINED, "of": "a"}}, r"models\.a\.of: only a `source: random_init` entry"),
        (
            {"i": INIT, "a": {**TRAINED, "target": "gapp", "enabled": False}},
            r"models\.i\.of -> models\.a\.target: 'gapp' is not a target of dataset 'qm9'",
        ),
    ],
)
def test_broken_random_init_entries_name_the_entry(tmp_path, models, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_registry(write_registry(tmp_path, models), "all", DATASETS)
    assert "\n" not in str(info.value)


def test_the_default_registry_has_a_random_init_twin_of_each_architecture():
    registry = load_registry(REPO / "config" / "models.yaml", "all", DATASETS)
    controls = {n: e for n, e in registry.items() if e["source"] == "random_init"}
    assert {e["of"] for e in controls.values()} == {
        "schnet_gap",
        "painn_gap",
        "dimenetpp_gap",
        "visnet_gap",
        "mace_gap",
    }
    trained_families = {e["family"] for e in registry.values() if e["source"] == "train"}
    assert {e["family"] for e in controls.values()} == trained_families
    for name, entry in controls.items():
        twin = registry[entry["of"]]
        assert name == f"{entry['of']}_init" and "random init" in entry["label"]
        assert entry["hparams"] == twin["hparams"] and entry["seed"] == twin["seed"]
        assert entry["training"]["n_train"] == twin["training"]["n_train"]


def test_seeds_make_one_replica_per_seed(tmp_path):
    entry = {
        "label": "PaiNN (gap)",
        "family": "painn",
        "source": "train",
        "target": "gap",
        "seeds": [0, 3, 7],
        "hparams": {"channels": 8},
    }
    twin = {"label": "PaiNN (gap, random init)", "source": "random_init", "of": "painn_gap"}
    path = write_registry(tmp_path, {"painn_gap": entry, "painn_gap_init": twin})
    registry = load_registry(path, "all", DATASETS)
    assert list(registry) == [
        "painn_gap_seed0",
        "painn_gap_seed3",
        "painn_gap_seed7",
        "painn_gap_init",
    ]
    replica = registry["painn_gap_seed3"]
    assert replica["seed"] == 3 and replica["replica_of"] == "painn_gap"
    assert replica["label"] == "PaiNN (gap), seed 3" and "seeds" not in replica
    assert registry["painn_gap_init"]["seed"] == 0  # the twin mirrors the first seed
    assert list(load_registry(path, ["painn_gap"], DATASETS)) == list(registry)[:3]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": 1}, r"painn_gap"),  # seed and seeds: the schema's oneOf
        ({"seeds": [1]}, r"seeds"),  # one seed is no replica set
        ({"source": "builtin", "family": "sevennet"}, r"seeds"),
    ],
)
def test_bad_seeds_are_refused(tmp_path, change, message):
    entry = {
        "label": "P",
        "family": "painn",
        "source": "train",
        "target": "gap",
        "seeds": [0, 1],
        **change,
    }
    with pytest.raises(ConfigError, match=message) as error:
        load_registry(write_registry(tmp_path, {"painn_gap": entry}), "all", DATASETS)
    assert "\n" not in str(error.value)
