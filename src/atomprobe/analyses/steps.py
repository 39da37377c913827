"""The analyses' steps: the paper-A analyses per model and combined (isomer benchmark,
compositional control, sample efficiency; workflow/rules/sweeps.smk), the layer profile and the
per-checkpoint probe (cpd.smk), and the paper-B and alignment analyses (reconstruction.smk).

Each reads only its inputs and writes only its outputs (contract: :mod:`atomprobe.runner`);
the methods live in the modules beside this one.
"""

from __future__ import annotations

import gzip
import json
import logging
from typing import Any

import chemiscope
import numpy as np
import pandas as pd

from atomprobe.analyses.atlas import (
    atlas_properties,
    residual_map,
    viewer_page,
)
from atomprobe.analyses.checkpoint_cpd import (
    CHECKPOINT_CPD_COLUMNS,
    checkpoint_scores,
)
from atomprobe.analyses.control import (
    CONTROL_COLUMNS,
    compositional_control,
)
from atomprobe.analyses.convergence import (
    CONVERGENCE_COLUMNS,
    checkpoint_convergence,
)
from atomprobe.analyses.cumulants import (
    cumulant_features,
    cumulant_order_gfre,
)
from atomprobe.analyses.feature_sets import (
    align_atom_rows,
    align_rows,
    group_by_dataset,
    load_feature_sets,
    model_and_dataset,
)
from atomprobe.analyses.intrinsic_dimension import (
    ID_COLUMNS,
    shared_sample,
    two_nn_dimension,
)
from atomprobe.analyses.isomers import (
    ISOMER_COLUMNS,
    isomer_benchmark,
)
from atomprobe.analyses.layer_reconstruction import (
    LAYER_RECONSTRUCTION_COLUMNS,
    layer_gfre,
)
from atomprobe.analyses.layers import (
    PROFILE_COLUMNS,
    layer_profile,
)
from atomprobe.analyses.pcovr import (
    PCOVR_COLUMNS,
    pcovr_map,
)
from atomprobe.analyses.per_model import (
    analysis_data,
    analysis_options,
    concatenate_models,
    write_model_table,
)
from atomprobe.analyses.reconstruction import (
    alpha_grid,
    capped_test_size,
)
from atomprobe.analyses.reconstruction_pairs import (
    error_columns,
    source_errors,
)
from atomprobe.analyses.sample_efficiency import (
    CURVE_COLUMNS,
    RANKING_COLUMNS,
    learning_curve,
    ranking_agreement,
)
from atomprobe.analyses.similarity import (
    SIMILARITY_COLUMNS,
    pairwise_similarity,
)
from atomprobe.cpd.probe_data import probe_settings
from atomprobe.data.composition import composition_matrix, resolve_encoding
from atomprobe.data.structures import iter_atoms, load_structures
from atomprobe.errors import DataError
from atomprobe.features.io import feature_columns, read_atom_features, read_features
from atomprobe.io import (
    Paths,
    as_path_list,
    atomic_path,
    read_metadata,
    read_parquet,
    write_parquet,
    write_text,
)

log = logging.getLogger(__name__)


def isomers(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: isomer benchmark of one model, results/analyses/isomers/{model}.parquet.

    A dataset where no formula repeats (often so for crystals or your own structures) has no
    isomers to rank: the table is then empty and its metadata ``note`` says why.
    """
    cfg = params["isomers"]
    data = analysis_data(inputs, params, cfg["targets"])
    group_sizes = pd.Series(data.formulas).value_counts()
    if not (group_sizes >= max(cfg["min_group_size"], 2)).any():
        note = (
            f"no formula of dataset {params['dataset']} has {cfg['min_group_size']} or more "
            "structures: no isomers to rank"
        )
        log.warning(note)
        empty = pd.DataFrame(columns=list(ISOMER_COLUMNS))
        write_model_table(empty, outputs, params, inputs, ISOMER_COLUMNS, note)
        return
    frame = isomer_benchmark(
        data.H,
        data.C,
        data.Y,
        data.target_names,
        data.formulas,
        settings=probe_settings(params),
        **analysis_options(cfg),
    )
    write_model_table(frame, outputs, params, inputs, ISOMER_COLUMNS)


def control(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: compositional control of one model, results/analyses/control/{model}.parquet."""
    cfg = params["control"]
    data = analysis_data(inputs, params, [])
    frame = compositional_control(
        data.H,
        data.C,
        data.counts,
        data.elements,
        cfg["targets"],
        settings=probe_settings(params),
        **analysis_options(cfg),
    )
    write_model_table(frame, outputs, params, inputs, CONTROL_COLUMNS)


def sample_efficiency_curve(
    inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int
) -> None:
    """Step: Ridge learning curves of one model, results/analyses/sample_efficiency/{model}."""
    cfg = params["sample_efficiency"]
    data = analysis_data(inputs, params, cfg["targets"])
    frame = learning_curve(
        data.H,
        data.C,
        data.Y,
        data.target_names,
        settings=probe_settings(params),
        # n_bootstrap is for the ranking across models (combine_curves), not one model's curve
        **{k: v for k, v in analysis_options(cfg).items() if k != "n_bootstrap"},
    )
    write_model_table(frame, outputs, params, inputs, CURVE_COLUMNS)


def combine_models(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: concatenate the per-model tables (input ``tables``) into output ``table``."""
    paths = as_path_list(inputs["tables"])
    table, columns = concatenate_models(paths)
    write_parquet(table, str(outputs["table"]), {"columns": columns}, params, paths)


def combine_curves(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: every model's curves (input ``tables``) into output ``table``, and the ranking
    agreement across models (output ``ranking``, :func:`ranking_agreement`, bootstrap params
    ``n_bootstrap``, ``ci_level``, ``seed``) of every model but those in params ``unranked``
    (untrained controls: shown in the curves, not ranked)."""
    paths = as_path_list(inputs["tables"])
    curves, columns = concatenate_models(paths)
    write_parquet(curves, str(outputs["table"]), {"columns": columns}, params, paths)
    ranking = ranking_agreement(
        curves.loc[~curves["model"].isin(params.get("unranked", []))],
        n_bootstrap=params.get("n_bootstrap", 1000),
        level=params.get("ci_level", 0.95),
        seed=params.get("seed", 0),
    )
    write_parquet(ranking, str(outputs["ranking"]), {"columns": RANKING_COLUMNS}, params, paths)


def cpd_layer_profile(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: layer profiles of every CPD score file (input ``scores``), output ``profile``."""
    paths = as_path_list(inputs["scores"])
    scores = pd.concat([read_parquet(p)[0] for p in paths], ignore_index=True)
    profile = layer_profile(scores)
    write_parquet(profile, str(outputs["profile"]), {"columns": PROFILE_COLUMNS}, params, paths)


def checkpoint_cpd(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: R² of every kept checkpoint of every trained model.

    inputs: ``checkpoints`` (pooled last-layer features per epoch, one file per model),
    ``structures`` (the table of their dataset). outputs: ``table``. params: the probe
    settings of ``cpd`` (``composition``, ``cv``, ``scaling``, ``ridge``, ``seed``) and
    ``targets``.
    """
    settings = probe_settings(params)
    structures_path = str(inputs["structures"])
    frames = []
    for path in as_path_list(inputs["checkpoints"]):
        meta = read_metadata(path)
        checkpoints, _ = read_parquet(path)
        ids = sorted(set(checkpoints["id"]))
        structures = load_structures(structures_path, ids)
        encoding = resolve_encoding(params["composition"]["encoding"], meta.get("pooling"))
        scores = checkpoint_scores(
            checkpoints, structures, list(params["targets"]), encoding, settings
        )
        frames.append(scores.assign(model=meta["model"], dataset=meta["dataset"]))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame = frame.reindex(columns=list(CHECKPOINT_CPD_COLUMNS))
    write_parquet(
        frame,
        str(outputs["table"]),
        {"columns": CHECKPOINT_CPD_COLUMNS},
        params,
        as_path_list(inputs["checkpoints"]),
    )


def reconstruction_source(
    inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int
) -> None:
    """Step: GFRE and LFRE from one model to every model of one dataset at one level.

    inputs: ``features``, the feature files of every model on the dataset (pooled for level
    ``structure``, per-atom for ``atom``); outputs: ``gfre``, ``lfre`` parquet (no rows when
    the source has no features there); params: ``source``, ``dataset``, ``level``, ``seed``,
    ``layer``, ``lfre``, ``test_splits``, ``relative_alphas`` and the level's sizes
    (``test_size``, ``train_size``). Per-atom rows get both splits (``atoms``, ``structures``).
    """
    level, dataset, source = params["level"], params["dataset"], params["source"]
    max_rows = params[level]["train_size"]
    if max_rows is not None:
        max_rows += params[level]["test_size"]
    structures = None
    if level == "atom":
        names, matrices, structures = align_atom_rows(
            inputs["features"], dataset, max_rows, params["seed"]
        )
    else:
        group = group_by_dataset(load_feature_sets(inputs["features"], params["layer"]))
        names = [fs.model for fs in group.get(dataset, [])]
        matrices = align_rows(group[dataset], max_rows, params["seed"])[1] if names else []
    frames = {"gfre": pd.DataFrame(), "lfre": pd.DataFrame()}
    if source in names:
        frames["gfre"], frames["lfre"] = source_errors(
            names,
            matrices,
            source,
            capped_test_size(len(matrices[0]), params[level]["test_size"]),
            params["seed"],
            params["lfre"]["test_size"],
            params["lfre"]["n_neighbors"],
            params["test_splits"],
            structures,
            alpha_grid(**params["relative_alphas"]),
        )
        for frame in frames.values():
            frame.insert(2, "level", level)
            frame.insert(3, "dataset", dataset)
    else:
        log.warning("%s has no %s-level features on %s: no rows", source, level, dataset)
    for name, frame in frames.items():
        write_parquet(
            frame,
            outputs[name],
            {"analysis": name, "columns": error_columns(name)},
            params=params,
            inputs=as_path_list(inputs["features"]),
        )


def reconstruction(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: the per-source tables of :func:`reconstruction_source` as one table per metric.

    inputs: ``gfre``, ``lfre``, the per-source parquets (level, dataset, source order);
    outputs: ``gfre``, ``lfre`` parquet; params: the config ``reconstruction`` slice the
    per-source jobs used.
    """
    for name in ("gfre", "lfre"):
        parts = [read_parquet(path)[0] for path in as_path_list(inputs[name])]
        parts = [part for part in parts if len(part)]
        frame = (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame(columns=[*error_columns(name)])
        )
        write_parquet(
            frame,
            outputs[name],
            {"analysis": name, "columns": error_columns(name)},
            params=params,
            inputs=as_path_list(inputs[name]),
        )


def cumulants(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: GFRE between cumulant-pooling orders of one model's per-atom features.

    inputs: ``atoms`` one per-atom feature file; outputs: ``cumulants`` parquet;
    params: the config ``reconstruction`` section (uses ``cumulants``, ``seed`` and
    ``relative_alphas``).
    """
    path = as_path_list(inputs["atoms"])[0]
    model, dataset = model_and_dataset(path)
    cfg = params["cumulants"]
    index, F, _ = read_atom_features(path)
    ids, phi, n_dropped = cumulant_features(index, F, cfg["max_order"])
    if cfg["max_structures"] is not None and len(ids) > cfg["max_structures"]:
        chosen = np.random.default_rng(params["seed"]).choice(
            len(ids), cfg["max_structures"], replace=False
        )
        phi = phi[np.sort(chosen)]
    n_test = capped_test_size(len(phi), cfg["test_size"])
    alphas = alpha_grid(**params["relative_alphas"])
    frame = cumulant_order_gfre(phi, cfg["max_order"], n_test, params["seed"], alphas)
    frame.insert(0, "model", model)
    frame.insert(1, "dataset", dataset)
    log.info("cumulants: %s/%s, %d single-atom structures dropped", model, dataset, n_dropped)
    write_parquet(
        frame,
        outputs["cumulants"],
        {
            "analysis": "cumulants",
            "n_single_atom_dropped": n_dropped,
            "columns": {
                "model": "model whose per-atom last-layer features are pooled",
                "dataset": "dataset of the structures",
                "source_order": "K: cumulant order of the reconstructing features φ^(K)",
                "target_order": "K': cumulant order of the reconstructed features φ^(K')",
                "value": "GFRE(φ^(K) → φ^(K')), dimensionless",
                "n_train": "training structures",
                "n_test": "test structures",
            },
        },
        params=params,
        inputs=[path],
    )


def similarity(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: CKA, mutual kNN, CKNNA and the information imbalance between the pooled features
    of every model pair, per dataset.

    inputs: ``structure`` pooled feature files; outputs: ``similarity`` parquet;
    params: the config ``reconstruction`` section (uses ``layer``, ``seed``, ``similarity``).
    """
    paths = as_path_list(inputs["structure"])
    cfg = params["similarity"]
    frames = []
    feature_sets = load_feature_sets(paths, params["layer"])
    for dataset, group in group_by_dataset(feature_sets).items():
        _, matrices = align_rows(group, cfg["n_samples"], params["seed"])
        frame = pairwise_similarity(
            [fs.model for fs in group], matrices, cfg["k"], cfg["rank_samples"], params["seed"]
        )
        frame.insert(2, "dataset", dataset)
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True).astype({"k": "Int64"})
    write_parquet(
        frame,
        outputs["similarity"],
        {"analysis": "similarity", "columns": SIMILARITY_COLUMNS},
        params=params,
        inputs=list(paths),
    )


def pcovr(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: 2-D PCovR map of every model's pooled features, per dataset.

    inputs: ``structure`` pooled feature files, ``structures`` one structures parquet per
    dataset (``results/data/{dataset}.parquet``); outputs: ``pcovr``; params: the config
    ``reconstruction`` section (uses ``layer`` and ``pcovr``).
    """
    cfg = params["pcovr"]
    feature_paths = as_path_list(inputs["structure"])
    structure_paths = as_path_list(inputs["structures"])
    targets = {}
    for path in structure_paths:
        meta = read_metadata(path)
        dataset = str(meta.get("dataset"))
        if dataset not in cfg["targets"]:
            continue
        target = cfg["targets"][dataset]
        if target not in meta.get("targets", {}):
            raise DataError(
                f"{path}: no target column {target!r}; set reconstruction.pcovr.targets.{dataset}"
                f" to one of {sorted(meta.get('targets', {}))}"
            )
        frame, _ = read_parquet(path, columns=["id", target])
        targets[dataset] = frame.set_index("id")[target]
    frames = []
    for fs in load_feature_sets(feature_paths, params["layer"]):
        if fs.dataset not in targets:
            continue
        y = targets[fs.dataset].reindex(fs.keys).to_numpy(dtype=np.float64)
        known = np.isfinite(y)
        coordinates = pcovr_map(fs.values[known], y[known], 2, cfg["mixing"])
        frames.append(
            pd.DataFrame(
                {
                    "model": fs.model,
                    "dataset": fs.dataset,
                    "target": cfg["targets"][fs.dataset],
                    "id": fs.keys[known],
                    "pcovr_1": coordinates[:, 0],
                    "pcovr_2": coordinates[:, 1],
                    "y": y[known],
                }
            )
        )
    if not frames:
        raise DataError(
            "PCovR: no feature file matches a dataset in reconstruction.pcovr.targets "
            f"({sorted(cfg['targets'])}); add its dataset there"
        )
    write_parquet(
        pd.concat(frames, ignore_index=True),
        outputs["pcovr"],
        {"analysis": "pcovr", "mixing": cfg["mixing"], "columns": PCOVR_COLUMNS},
        params=params,
        inputs=[*feature_paths, *structure_paths],
    )


def intrinsic_dimension(
    inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int
) -> None:
    """Step: TwoNN intrinsic dimension of every model's pooled features at every layer.

    inputs: ``structure`` pooled feature files; outputs: ``intrinsic_dimension``; params:
    ``seed`` and ``intrinsic_dimension`` (``datasets`` measured, ``n_samples``: at most this
    many structures, a seeded draw shared by every model; ``n_bootstrap``).
    """
    cfg = params["intrinsic_dimension"]
    paths = [
        p
        for p in as_path_list(inputs["structure"])
        if read_metadata(p).get("dataset") in cfg["datasets"]
    ]
    rows = []
    for path in paths:
        meta = read_metadata(path)
        ids, _, _ = read_features(path, layer="last")
        rows_kept = shared_sample(ids, cfg["n_samples"], params["seed"])
        for layer in sorted(set(feature_columns(path)["layer"])):
            _, H, _ = read_features(path, layer=int(layer))
            H = H[rows_kept]
            value, low, high, n = two_nn_dimension(H, cfg["n_bootstrap"], params["seed"])
            rows.append(
                {
                    "model": meta["model"],
                    "dataset": meta["dataset"],
                    "layer": int(layer),
                    "estimator": "twonn",
                    "value": value,
                    "ci_low": low,
                    "ci_high": high,
                    "n_samples": n,
                    "n_bootstrap": cfg["n_bootstrap"],
                }
            )
    if not rows:
        raise DataError(
            f"intrinsic dimension: no feature file on {cfg['datasets']}; "
            "set reconstruction.intrinsic_dimension.datasets"
        )
    write_parquet(
        pd.DataFrame(rows, columns=list(ID_COLUMNS)),
        str(outputs["intrinsic_dimension"]),
        {"analysis": "intrinsic_dimension", "columns": ID_COLUMNS},
        params=params,
        inputs=paths,
    )


def layer_reconstruction(
    inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int
) -> None:
    """Step: backbone vs last layer of every model with more than one layer.

    inputs: ``structure`` pooled feature files; outputs: ``layer_reconstruction``; params:
    ``seed``, ``relative_alphas``, ``structure`` (``test_size``) and ``backbone``
    (``datasets``).
    """
    alphas = alpha_grid(**params["relative_alphas"])
    frames = []
    paths = [
        p
        for p in as_path_list(inputs["structure"])
        if read_metadata(p).get("dataset") in params["backbone"]["datasets"]
    ]
    for path in paths:
        meta = read_metadata(path)
        numbers = sorted(set(feature_columns(path)["layer"]))
        if len(numbers) < 2:
            continue
        layers = {int(layer): read_features(path, layer=int(layer))[1] for layer in numbers}
        frame = layer_gfre(layers, params["structure"]["test_size"], params["seed"], alphas)
        frames.append(frame.assign(model=meta["model"], dataset=meta["dataset"]))
    if not paths:
        raise DataError(
            f"backbone GFRE: no feature file on {params['backbone']['datasets']}; "
            "set reconstruction.backbone.datasets"
        )
    frame = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=list(LAYER_RECONSTRUCTION_COLUMNS))
    )
    write_parquet(
        frame.reindex(columns=list(LAYER_RECONSTRUCTION_COLUMNS)),
        str(outputs["layer_reconstruction"]),
        {"analysis": "layer_reconstruction", "columns": LAYER_RECONSTRUCTION_COLUMNS},
        params=params,
        inputs=paths,
    )


def convergence(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: checkpoint → final feature convergence of every trained model.

    inputs: ``checkpoints`` (``{model}/{dataset}_checkpoints.parquet``) and ``final`` (the
    pooled features of the same models and datasets, any order); outputs: ``convergence``;
    params: the config ``reconstruction`` section (uses ``layer``, ``seed``, ``convergence``,
    ``relative_alphas``).
    """
    checkpoint_paths = as_path_list(inputs["checkpoints"])
    final_paths = as_path_list(inputs["final"])
    finals = {(fs.model, fs.dataset): fs for fs in load_feature_sets(final_paths, params["layer"])}
    frames = []
    for path in checkpoint_paths:
        key = model_and_dataset(path)
        if key not in finals:
            raise DataError(f"{path}: no final features of model {key[0]} on {key[1]} given")
        checkpoints, _ = read_parquet(path)
        frames.append(
            checkpoint_convergence(
                checkpoints,
                finals[key],
                params["convergence"]["test_size"],
                params["seed"],
                alpha_grid(**params["relative_alphas"]),
            )
        )
    frame = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=list(CONVERGENCE_COLUMNS))
    )
    write_parquet(
        frame,
        outputs["convergence"],
        {"analysis": "convergence", "columns": CONVERGENCE_COLUMNS},
        params=params,
        inputs=[*checkpoint_paths, *final_paths],
    )


def atlas(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Step: the chemiscope atlas of one dataset.

    inputs: ``structures`` (the dataset's table), ``structure`` (every model's pooled features
    on it), ``pcovr`` (results/analyses/pcovr.parquet), ``registry`` (model labels).
    outputs: ``dataset`` (``.json.gz``), ``viewer`` (``.html``). params: ``dataset``,
    ``layer`` (the pooled layer mapped, as for PCovR), ``encoding`` (``cpd.composition.encoding``,
    ``auto`` resolved from the features' pooling as for CPD), ``main_target`` (the map's colour).
    """
    name = params["dataset"]
    sets = load_feature_sets(as_path_list(inputs["structure"]), params["layer"])
    sets = [fs for fs in sets if fs.dataset == name]
    if not sets:
        raise DataError(f"atlas: no model has pooled features on dataset {name!r}")
    ids = sorted(set.intersection(*(set(fs.keys) for fs in sets)))
    if len(ids) < 3:
        raise DataError(f"atlas: the models share {len(ids)} structures of {name}; need 3")
    structures = load_structures(str(inputs["structures"]), ids=ids)
    pooling = read_metadata(as_path_list(inputs["structure"])[0]).get("pooling")
    C, _ = composition_matrix(
        structures["numbers"], encoding=resolve_encoding(params["encoding"], pooling)
    )
    registry, _ = read_parquet(str(inputs["registry"]), columns=["name", "label"])
    labels = dict(zip(registry["name"], registry["label"], strict=True))
    pcovr, _ = read_parquet(str(inputs["pcovr"]))
    pcovr = pcovr.loc[pcovr["dataset"] == name]
    maps: dict[str, dict[str, np.ndarray]] = {}
    for fs in sets:
        rows = pd.Index(fs.keys).get_indexer(ids)
        label = labels.get(fs.model, fs.model)
        maps[label] = {"residual PC": residual_map(fs.values[rows], C)}
        part = pcovr.loc[pcovr["model"] == fs.model].set_index("id").reindex(ids)
        if part["pcovr_1"].notna().all():
            maps[label]["PCovR"] = part[["pcovr_1", "pcovr_2"]].to_numpy(dtype=float)
    targets = read_metadata(str(inputs["structures"])).get("targets", {})
    first = next(iter(maps))
    color = params.get("main_target") if params.get("main_target") in targets else None
    settings = {
        "map": {
            "x": {"property": f"{first}: residual PC 1"},
            "y": {"property": f"{first}: residual PC 2"},
            **({"color": {"property": color}} if color else {}),
        }
    }
    data = chemiscope.create_input(
        structures=list(iter_atoms(structures)),
        metadata={
            "name": f"atomprobe atlas: {name}",
            "description": (
                f"{len(ids)} structures of {name} and {len(maps)} models: PCovR maps "
                "(paper B) and principal components of the composition residual (paper A)"
            ),
        },
        properties=atlas_properties(structures, targets, maps),
        settings=settings,
    )
    # what chemiscope.write_input writes for a .json.gz path (gzip of json.dumps(data)), here
    # through a temporary file and with no timestamp in the gzip header (same bytes each run)
    with atomic_path(str(outputs["dataset"])) as temporary, open(temporary, "wb") as handle:
        with gzip.GzipFile(fileobj=handle, mode="wb", compresslevel=9, mtime=0) as packed:
            packed.write(json.dumps(data).encode("utf-8"))
    write_text(str(outputs["viewer"]), viewer_page(data, f"atomprobe atlas: {name}"))
