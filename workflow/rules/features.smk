"""Stage 'features': forward passes with hooks -> per-layer, per-irrep features, pooled per
structure, per atom (last layer), and per training checkpoint; the files a ``source: features``
entry brings, checked and written as the same tables.

Registry, pairs and paths: common.smk. Outputs: docs/formats.md; config keys: config/README.md
(## features).
"""


rule extract:
    input:
        unpack(extract_structures),
        unpack(extract_weights),
    output:
        features=features_path("{model}", "{dataset}"),
        atoms=atoms_path("{model}", "{dataset}"),
    log:
        **job_logs("features/{model}_{dataset}"),
    wildcard_constraints:
        model=names_pattern(sorted({m for m, _ in EXTRACTED})),
        dataset=names_pattern(list(DATASETS)),
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=model_job_gpus,
    params:
        step="atomprobe.features.steps:extract",
        cfg=extract_params,
    script:
        STEP_SCRIPT


rule import_features:
    input:
        features=lambda w: brought_features(w.model, w.dataset, atoms=False),
        structures=structures_path("{dataset}"),
    output:
        features=features_path("{model}", "{dataset}"),
    log:
        **job_logs("features/{model}_{dataset}_import"),
    wildcard_constraints:
        model=names_pattern(BROUGHT_MODELS),
        dataset=names_pattern(list(DATASETS)),
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.features.imported:import_features",
        cfg=lambda w: {"model": w.model, "dataset": w.dataset, "atoms": False},
    script:
        STEP_SCRIPT


rule import_atom_features:
    input:
        features=lambda w: brought_features(w.model, w.dataset, atoms=True),
        structures=structures_path("{dataset}"),
    output:
        features=atoms_path("{model}", "{dataset}"),
    log:
        **job_logs("features/{model}_{dataset}_atoms_import"),
    wildcard_constraints:
        model=names_pattern(BROUGHT_MODELS),
        dataset=names_pattern(list(DATASETS)),
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.features.imported:import_features",
        cfg=lambda w: {"model": w.model, "dataset": w.dataset, "atoms": True},
    script:
        STEP_SCRIPT


rule extract_checkpoints:
    input:
        unpack(extract_structures),
        model=model_path("{model}", "model.pt"),
        checkpoints=model_path("{model}", "checkpoints"),
    output:
        features=checkpoint_features_path("{model}", "{dataset}"),
    log:
        **job_logs("features/{model}_{dataset}_checkpoints"),
    wildcard_constraints:
        model=names_pattern(TRAINED_MODELS),
        dataset=names_pattern(SPLIT_DATASETS),
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=model_job_gpus,
    params:
        step="atomprobe.features.steps:extract_checkpoints",
        cfg=extract_params,
    script:
        STEP_SCRIPT
