"""End to end on your own data and models: the workflow on extxyz files made here.

The test writes two extended-XYZ datasets into a temporary working directory and runs the whole
DAG on them with QM9 and Materials Project switched off (``data.qm9: null``, ``data.mp: null``):

* ``mols``: perturbed copies of small molecules, with seeded splits; a tiny SchNet is trained
  on it (``source: train``, ``training.dataset: mols``);
* ``mine``: molecules and periodic crystals in one file, two targets from the frames' info and
  calculator results (an extensive ``energy`` in eV, a geometric ``spread`` in Å);
* a ``source: checkpoint`` entry: the SevenNet-0 checkpoint file copied out of the sevenn wheel
  (a user's own SevenNet checkpoint has this format), by path and sha256;
* a ``source: features`` entry: pooled features of ``mine`` computed here and written as a
  plain CSV (no atomprobe metadata: its import job takes the defaults), with no per-atom file,
  so the atom-level analyses must skip it with a stated reason.

It checks that every table, figure and the reproduction report are produced and that the
features model appears in the CPD scores, tables and structure-level GFRE, not at atom level.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import ase
import numpy as np
import pandas as pd
import pytest
import yaml
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator

from atomprobe.data.composition import composition_matrix
from atomprobe.io import read_metadata, read_parquet
from atomprobe.models.families._weights import sha256_of
from atomprobe.render.figures import FIGURES
from atomprobe.render.tables import TABLES
from conftest import run_snakemake

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 900  # guard only (measured: see the README's test-suite time)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

MOLECULES = ("CH4", "H2O", "NH3", "C2H6", "CH3OH", "C2H4", "HCN", "CO2")
CRYSTALS = (("Si", "diamond", 5.43), ("NaCl", "rocksalt", 5.64), ("Cu", "fcc", 3.6))


def _frame(atoms: ase.Atoms, rng: np.random.Generator) -> ase.Atoms:
    """A perturbed copy with an ``energy`` (calculator result) and a ``spread`` (info key)."""
    atoms = atoms.copy()
    atoms.positions += rng.normal(0, 0.08, size=atoms.positions.shape)
    centred = atoms.positions - atoms.positions.mean(axis=0)
    spread = float(np.sqrt((centred**2).sum(axis=1).mean()))
    energy = float(-3.0 * len(atoms) + 0.5 * spread + rng.normal(0, 0.01))
    atoms.info["spread"] = spread
    atoms.calc = SinglePointCalculator(atoms, energy=energy)
    return atoms


def write_datasets(workdir: Path) -> None:
    """mols.extxyz (72 molecules) and mine.extxyz (40 molecules + 30 crystals)."""
    rng = np.random.default_rng(0)
    mols = [_frame(molecule(name), rng) for name in MOLECULES for _ in range(9)]
    mixed = [_frame(molecule(name), rng) for name in MOLECULES for _ in range(5)]
    mixed += [_frame(bulk(s, c, a=a), rng) for s, c, a in CRYSTALS for _ in range(10)]
    ase.io.write(workdir / "mols.extxyz", mols, format="extxyz")
    ase.io.write(workdir / "mine.extxyz", mixed, format="extxyz")


def write_features_entry(workdir: Path) -> None:
    """Pooled features of ``mine`` from your own descriptor (element counts and size), as
    people write them: a plain CSV from pandas, an ``id`` column and one column per feature."""
    frames = ase.io.read(workdir / "mine.extxyz", index=":")
    counts, elements = composition_matrix([a.numbers for a in frames], encoding="counts")
    radius = [np.linalg.norm(a.positions - a.positions.mean(0), axis=1).mean() for a in frames]
    table = pd.DataFrame(counts, columns=[f"n_{z}" for z in elements])
    table.insert(0, "id", [f"mine:{i}" for i in range(len(frames))])
    table["radius"], table["radius2"] = radius, np.square(radius)
    table.to_csv(workdir / "my_features.csv", index=False)


def write_config(workdir: Path) -> Path:
    """The overlay and registry a user would write for these datasets and models."""
    from sevenn._const import SEVENNET_0_11Jul2024

    shutil.copy(SEVENNET_0_11Jul2024, workdir / "my_sevennet.pth")
    registry = {
        "train_defaults": {"batch_size": 16, "checkpoint_every": 1, "progress": False},
        "models": {
            "schnet_mols": {
                "label": "SchNet (mols)",
                "family": "schnet",
                "source": "train",
                "target": "energy",
                "seed": 0,
                "hparams": {"hidden_channels": 8, "num_filters": 8, "num_interactions": 2},
                "training": {"dataset": "mols", "epochs": 2},
            },
            "sevennet_ckpt": {
                "label": "SevenNet (my checkpoint)",
                "family": "sevennet",
                "source": "checkpoint",
                "path": "my_sevennet.pth",
                "sha256": sha256_of(workdir / "my_sevennet.pth"),
            },
            "my_features": {
                "label": "My descriptor",
                "source": "features",
                "paths": {"mine": "my_features.csv"},
            },
        },
    }
    (workdir / "own_models.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    targets = {
        "energy": {"unit": "eV", "extensive": True},
        "spread": {"unit": "Å"},
    }
    overlay = {
        "registry": "own_models.yaml",
        "data": {
            "qm9": None,
            "mp": None,
            "mols": {
                "source": "file",
                "path": "mols.extxyz",
                "periodic": False,
                "targets": targets,
                "splits": {
                    "seed": 0,
                    "train": 40,
                    "val": 10,
                    "test": 12,
                    "probe": 40,
                    "disjoint": False,
                },
            },
            "mine": {"source": "file", "path": "mine.extxyz", "periodic": True, "targets": targets},
        },
        "features": {"progress": False},
        "cpd": {
            "targets": {"mols": ["energy", "spread"], "mine": ["energy", "spread"]},
            "cv": {"n_folds": 3, "n_repeats": 1, "single_split_datasets": [], "test_fraction": 0.2},
            "ridge": {"log10_alpha_range": [-3, 5], "n_alphas": 9},
            "mlp": {"hidden": [16], "max_iter": 50, "early_stopping": True},
            "gbt": {"max_iter": 10},
            "nonlinear": {
                "probes": ["gbt"],
                "layers": "last",
                "targets": {"mine": ["spread"]},
                "representations": ["geom_v2"],
            },
        },
        "analyses": {
            "dataset": "mine",
            "isomers": {"targets": ["spread"], "representations": ["geom_v2", "comp"]},
            "control": {"probes": ["ridge", "gbt"]},
            "sample_efficiency": {
                "targets": ["spread"],
                "sizes": [10, 20],
                "n_repeats": 2,
                "test_fraction": 0.3,
            },
        },
        "reconstruction": {
            "structure": {"test_size": 20, "train_size": None},
            "atom": {"test_size": 100, "train_size": 400},
            "lfre": {"n_neighbors": None, "test_size": 10},
            "cumulants": {"dataset": "mine", "max_order": 2, "test_size": 20},
            "similarity": {"n_samples": 60, "rank_samples": 60, "k": 5},
            "pcovr": {"targets": {"mine": "energy"}},
            "convergence": {"test_size": 10},
        },
        "render": {"dataset": "mine", "crystal_dataset": "mine", "main_target": "spread"},
    }
    path = workdir / "own.yaml"
    path.write_text(yaml.safe_dump(overlay, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def own_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("own_data")
    (workdir / "config").symlink_to(ROOT / "config", target_is_directory=True)
    write_datasets(workdir)
    write_features_entry(workdir)
    overlay = write_config(workdir)
    result = run_snakemake(workdir, "--configfile", str(overlay), timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir


def test_every_table_figure_and_the_report_exist(own_run):
    for table in TABLES:
        for fmt in ("csv", "md", "tex"):
            assert (own_run / "figures" / "tables" / f"{table}.{fmt}").stat().st_size > 0
    for figure in FIGURES:
        assert (own_run / "figures" / f"{figure}.png").stat().st_size > 0
    report = (own_run / "results" / "reproduction.md").read_text()
    assert "own.yaml" in report


def test_structure_tables_hold_both_kinds_and_targets(own_run):
    mine, meta = read_parquet(own_run / "results" / "data" / "mine.parquet")
    assert len(mine) == 70 and mine["pbc"].sum() == 30
    assert meta["targets"] == {"energy": "eV", "spread": "Å"}
    assert meta["extensive_targets"] == ["energy"]
    splits, _ = read_parquet(own_run / "results" / "data" / "mols_splits.parquet")
    assert splits["split"].value_counts().to_dict() == {
        "train": 40,
        "probe": 40,
        "test": 12,
        "val": 10,
    }


def test_every_model_source_is_scored_where_it_can_be(own_run):
    cpd = own_run / "results" / "cpd"
    assert (cpd / "schnet_mols" / "mols.parquet").exists()  # trained on mols, probed there
    for model in ("sevennet_ckpt", "my_features"):
        scores, _ = read_parquet(cpd / model / "mine.parquet")
        assert set(scores["target"]) == {"energy", "spread"}
    # the features model's descriptor holds the composition: the residual keeps little of it
    mine = pd.read_csv(own_run / "figures" / "tables" / "table1_gradient.csv")
    assert {"sevennet_ckpt", "my_features"} <= set(mine["model"])
    # every other dataset gets its block in table 7: the trained model on mols
    others = pd.read_csv(own_run / "figures" / "tables" / "table7_crystals.csv")
    assert set(others.loc[others["dataset"] == "mols", "model"]) == {"schnet_mols", "sevennet_ckpt"}


def test_atom_level_skips_the_features_model_with_a_reason(own_run):
    gfre, _ = read_parquet(own_run / "results" / "analyses" / "gfre.parquet")
    structure = gfre[(gfre["level"] == "structure") & (gfre["dataset"] == "mine")]
    assert "my_features" in set(structure["source"])
    atom = gfre[gfre["level"] == "atom"]
    assert "my_features" not in set(atom["source"]) and "sevennet_ckpt" in set(atom["source"])
    registry, _ = read_parquet(own_run / "results" / "models" / "registry.parquet")
    note = registry.set_index("name").loc["my_features", "note"]
    assert "no per-atom features on mine" in note


def test_isomers_run_where_formulas_repeat(own_run):
    isomers, _ = read_parquet(own_run / "results" / "analyses" / "isomers.parquet")
    assert {"sevennet_ckpt", "my_features"} <= set(isomers["model"])
    meta = read_metadata(own_run / "results" / "analyses" / "isomers" / "my_features.parquet")
    assert "note" not in meta
