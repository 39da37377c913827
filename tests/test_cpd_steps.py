"""Paper-A pipeline steps on tiny synthetic feature and structure files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from threadpoolctl import threadpool_limits

from atomprobe.config import load_yaml
from atomprobe.cpd.groups import group_layers
from atomprobe.data.structures import ragged_column
from atomprobe.errors import ConfigError
from atomprobe.features.io import write_features
from atomprobe.io import read_parquet, write_parquet
from atomprobe.runner import run_step

N_MOLECULES = 160


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS and OpenMP (trees) on one thread: the CI machine has two shared cores."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def config() -> dict:
    """The default config's cpd and analyses sections, shrunk to seconds."""
    cfg = load_yaml("config/config.yaml")
    cpd, analyses = cfg["cpd"], cfg["analyses"]
    cpd["targets"] = {"toy": ["gap", "mu"]}
    cpd["cv"]["n_folds"] = 3
    cpd["mlp"]["max_iter"] = 30
    cpd["gbt"]["max_iter"] = 20
    cpd["nonlinear"]["targets"] = {"toy": ["gap"]}
    analyses["isomers"]["targets"] = ["gap"]
    analyses["sample_efficiency"].update(targets=["gap"], sizes=[20, 60], n_repeats=2)
    return {"seed": 0, "cpd": cpd, "analyses": analyses}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Structures (formulas with isomers) and two models' features with two layers each."""
    root = tmp_path_factory.mktemp("toy")
    rng = np.random.default_rng(0)
    formulas = rng.integers(0, 30, size=N_MOLECULES)
    base = [rng.choice([1, 6, 7, 8], size=rng.integers(3, 9)) for _ in range(30)]
    numbers = [np.sort(base[f]).astype(np.int8) for f in formulas]
    geometry = rng.normal(size=(N_MOLECULES, 3))
    positions = [rng.normal(size=(z.size, 3)) for z in numbers]
    structures = pd.DataFrame(
        {
            "id": [f"toy:{i}" for i in range(N_MOLECULES)],
            "formula": [f"F{f}" for f in formulas],
            "numbers": ragged_column(numbers, pa.int8()),
            "positions": ragged_column(positions, pa.float64()),
            "cell": None,
            "pbc": False,
            "gap": geometry @ [1.0, 0.5, 0.0] + [len(z) for z in numbers],
            "mu": geometry[:, 2] + 0.1 * rng.normal(size=N_MOLECULES),
        }
    )
    paths = {"structures": str(root / "toy.parquet")}
    write_parquet(structures, paths["structures"], {"dataset": "toy", "targets": {"gap": "eV"}})
    counts = np.array([[np.sum(z == e) for e in (1, 6, 7, 8)] for z in numbers], dtype=float)
    for model in ("a", "b"):
        blocks, columns = [], []
        for layer in (0, 1):
            for L, width in ((0, 6), (1, 4)):
                mixing = rng.normal(size=(7, width))
                blocks.append(np.c_[counts, geometry] @ mixing)
                columns += [
                    {
                        "layer": layer,
                        "layer_name": f"b{layer}",
                        "stream": "node",
                        "L": L,
                        "channel": c,
                    }
                    for c in range(width)
                ]
        paths[model] = str(root / f"{model}.parquet")
        write_features(
            paths[model],
            structures["id"][::-1],
            np.hstack(blocks)[::-1],
            columns,
            {"model": model},
        )
    return paths


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 30 epochs
def test_cpd_step_writes_tidy_scores(files, config, tmp_path):
    params = {**config["cpd"], "seed": 0, "model": "a", "dataset": "toy", "targets": ["gap", "mu"]}
    out = tmp_path / "cpd.parquet"
    run_step(
        "atomprobe.cpd.steps:cpd",
        {"features": files["a"], "structures": files["structures"]},
        {"scores": str(out)},
        params,
    )
    scores, meta = read_parquet(out)
    assert list(scores.columns) == list(meta["columns"])
    ridge = scores[scores["probe"] == "ridge"]
    assert set(ridge["layer"]) == {0, 1}
    assert set(ridge.loc[ridge["layer"] == 1, "group"]) == {"all", "L0", "L1"}
    assert set(ridge.loc[ridge["layer"] == 0, "group"]) == {"all"}
    assert (
        len(ridge) == (2 + 1 + 1) * 4 * 2 * 3
    )  # (layer, group) × representations × targets × folds
    nonlinear = scores[scores["probe"] != "ridge"]
    assert set(nonlinear["layer"]) == {1} and set(nonlinear["target"]) == {"gap"}
    assert set(nonlinear["representation"]) == set(config["cpd"]["nonlinear"]["representations"])
    # mu is purely geometric: the residual keeps it, the composition part does not
    last = ridge[(ridge["layer"] == 1) & (ridge["group"] == "all")]
    r2 = last.groupby(["target", "representation"])["r2"].mean()
    assert r2["mu", "geom_v2"] > 0.9 and r2["mu", "comp"] < 0.1

    profile_out = tmp_path / "profile.parquet"
    run_step(
        "atomprobe.analyses.steps:cpd_layer_profile",
        {"scores": [str(out)]},
        {"profile": str(profile_out)},
        {},
    )
    profile = read_parquet(profile_out)[0]
    assert (
        profile.groupby(["target", "group", "representation", "probe"])["is_best"].sum().eq(1).all()
    )


def test_analysis_steps_and_combination(files, config, tmp_path):
    shared = {
        "seed": 0,
        **{k: config["cpd"][k] for k in ("composition", "cv", "scaling", "ridge", "mlp", "gbt")},
    }
    analyses = config["analyses"]
    for name, step, combine in (
        ("isomers", "atomprobe.analyses.steps:isomers", "steps:combine_models"),
        ("control", "atomprobe.analyses.steps:control", "steps:combine_models"),
        (
            "sample_efficiency",
            "atomprobe.analyses.steps:sample_efficiency_curve",
            "steps:combine_curves",
        ),
    ):
        tables = []
        for model in ("a", "b"):
            params = {
                **shared,
                "model": model,
                "dataset": "toy",
                "layer": "last",
                name: analyses[name],
            }
            tables.append(str(tmp_path / f"{name}_{model}.parquet"))
            run_step(
                step,
                {"features": files[model], "structures": files["structures"]},
                {"table": tables[-1]},
                params,
            )
        outputs = {"table": str(tmp_path / f"{name}.parquet")}
        if name == "sample_efficiency":
            outputs["ranking"] = str(tmp_path / "ranking.parquet")
        run_step(f"atomprobe.analyses.{combine}", {"tables": tables}, outputs, {})
        combined, meta = read_parquet(outputs["table"])
        assert set(combined["model"]) == {"a", "b"}
        assert set(combined.columns) == set(meta["columns"])
    isomers = read_parquet(tmp_path / "isomers.parquet")[0].set_index(["model", "representation"])
    assert (isomers.xs("comp", level="representation")["accuracy"] == 0.5).all()
    ranking = read_parquet(tmp_path / "ranking.parquet")[0]
    assert set(ranking["n_train"]) == {20, 60} and (ranking["n_models"] == 2).all()
    # an untrained control keeps its curve and leaves the ranking
    outputs = {"table": str(tmp_path / "curves.parquet"), "ranking": str(tmp_path / "r.parquet")}
    run_step(f"atomprobe.analyses.{combine}", {"tables": tables}, outputs, {"unranked": ["b"]})
    assert set(read_parquet(outputs["table"])[0]["model"]) == {"a", "b"}
    assert (read_parquet(outputs["ranking"])[0]["n_models"] == 1).all()


def test_unknown_target_is_a_config_error(files, config, tmp_path):
    params = {**config["cpd"], "seed": 0, "model": "a", "dataset": "toy", "targets": ["homo"]}
    with pytest.raises(ConfigError, match="homo"):
        run_step(
            "atomprobe.cpd.steps:cpd",
            {"features": files["a"], "structures": files["structures"]},
            {"scores": str(tmp_path / "x.parquet")},
            params,
        )


def test_default_config_sections_are_documented():
    readme = open("config/README.md").read()
    config = yaml.safe_load(open("config/config.yaml"))
    for section in ("cpd", "analyses"):
        text = readme.split(f"\n## {section}\n")[1].split("\n## ")[0]
        for key, value in config[section].items():
            nested = isinstance(value, dict) and key != "targets"  # targets: dataset → list
            keys = [f"{key}.{sub}" for sub in value] if nested else [key]
            for name in keys:
                assert f"`{name}`" in text, f"{section}.{name} is not in config/README.md"


def test_groups_are_probed_on_the_deepest_layer_that_splits_them():
    """MACE-like: the last layer holds only L=0 scalars, so L0 vs L1 is scored one layer up."""
    columns = pd.DataFrame(
        [{"layer": 0, "stream": "node", "L": L} for L in (0, 0, 1, 1)]
        + [{"layer": 1, "stream": "node", "L": 0} for _ in range(2)]
        + [{"layer": 2, "stream": s, "L": L} for s, L in (("scalar", 0), ("vector", 1))]
        + [{"layer": 3, "stream": "scalar", "L": 0}]
    )
    definitions = {
        "L0": {"L": 0},
        "L1": {"L": 1},
        "vector": {"stream": "vector"},
        "none": {"L": 2},
    }
    last = group_layers(columns, {"layers": "last", "definitions": definitions}, [0, 1, 2, 3])
    assert last == {"L0": {2}, "L1": {2}, "vector": {2}}
    every = group_layers(columns, {"layers": "all", "definitions": definitions}, [0, 1, 2, 3])
    assert every["L1"] == {0, 1, 2, 3}


def test_cpd_sensitivity_step_scores_every_scaling(files, config, tmp_path):
    params = {**config["cpd"], "seed": 0, "model": "a", "dataset": "toy", "target": "gap"}
    inputs = {"features": files["a"], "structures": files["structures"]}
    out = tmp_path / "sensitivity.parquet"
    run_step("atomprobe.cpd.steps:cpd_sensitivity", inputs, {"scores": str(out)}, params)
    scores, meta = read_parquet(out)
    assert list(scores.columns) == list(meta["columns"])
    assert set(scores["layer"]) == {1} and set(scores["probe"]) == {"ridge"}
    assert set(scores["target"]) == {"gap"}
    # features without a recorded pooling count as mean-pooled: auto -> fraction; counts beside
    assert meta["composition_encoding"] == "fraction"
    assert set(scores.loc[scores["main"], "encoding"]) == {"fraction"}
    assert set(scores.loc[~scores["main"], "encoding"]) == {"counts"}
    assert len(scores) == 3 * (3 + 2) * 3  # scalings × (representations + residuals) × folds
    assert set(scores["scaling"]) == {"guarded", "standard", "none"}
    assert set(scores["representation"]) == {"full", "geom_v1", "geom_v2"}
    assert set(scores.loc[~scores["main"], "representation"]) == {"geom_v1", "geom_v2"}
    scores = scores[scores["main"]]
    # dense toy features: the guard clips nothing, so guarded and standard agree bit for bit,
    # and both equal the cpd step's own Ridge scores (config scaling: guarded)
    assert (scores["n_clipped"] == 0).all()
    key = ["representation", "repeat", "fold"]
    by = {
        s: scores[scores.scaling == s].set_index(key)["r2"].sort_index()
        for s in ("guarded", "standard")
    }
    assert by["guarded"].equals(by["standard"])
    cpd_out = tmp_path / "cpd.parquet"
    cpd_params = {**params, "targets": ["gap"], "nonlinear": {**params["nonlinear"], "targets": {}}}
    run_step("atomprobe.cpd.steps:cpd", inputs, {"scores": str(cpd_out)}, cpd_params)
    cpd = read_parquet(cpd_out)[0]
    cpd = cpd[
        (cpd.layer == 1)
        & (cpd.group == "all")
        & cpd.representation.isin(["full", "geom_v1", "geom_v2"])
    ]
    assert cpd.set_index(key)["r2"].sort_index().equals(by["guarded"])
