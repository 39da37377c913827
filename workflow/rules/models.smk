"""Stage 'models': training on QM9, the untrained controls (`source: random_init`) and the
model table.

Registry, MODELS and paths: common.smk. Config keys: config/README.md (## models.yaml, and
`registry`, `models`, `device`).
"""


# The resume state, results/models/{model}/resume/ (atomprobe.models.resume), is deliberately not
# an output: Snakemake deletes a rerun job's outputs, and a killed training must find it.
rule train_model:
    input:
        unpack(training_data),
    output:
        model=model_path("{model}", "model.pt"),
        checkpoints=directory(model_path("{model}", "checkpoints")),
        curve=model_path("{model}", "learning_curve.parquet"),
        metrics=model_path("{model}", "metrics.json"),
    log:
        **job_logs("models/train_{model}"),
    wildcard_constraints:
        model=names_pattern(TRAINED_MODELS),
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=model_job_gpus,
    params:
        step="atomprobe.models.steps:train_model",
        cfg=lambda w: {"name": w.model, "entry": REGISTRY[w.model], "device": config["device"]},
    script:
        STEP_SCRIPT


rule init_model:
    input:
        unpack(training_data),
    output:
        model=model_path("{model}", "model.pt"),
        metrics=model_path("{model}", "metrics.json"),
    log:
        **job_logs("models/init_{model}"),
    wildcard_constraints:
        model=names_pattern(INIT_MODELS),
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=model_job_gpus,
    params:
        step="atomprobe.models.steps:init_model",
        cfg=lambda w: {"name": w.model, "entry": REGISTRY[w.model], "device": config["device"]},
    script:
        STEP_SCRIPT


rule model_table:
    input:
        metrics=[model_path(m, "metrics.json") for m in TRAINED_MODELS + INIT_MODELS],
        features=[features_path(m, d) for m, d in FEATURE_PAIRS],
    output:
        table=REGISTRY_PARQUET,
    log:
        **job_logs("models/model_table"),
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        step="atomprobe.models.registry:model_table",
        cfg={
            "registry": REGISTRY,
            "datasets": MODEL_DATASETS,
            "all_datasets": list(DATASETS),
            "metrics_of": TRAINED_MODELS + INIT_MODELS,
            "features_of": [[m, d] for m, d in FEATURE_PAIRS],
        },
    script:
        STEP_SCRIPT
