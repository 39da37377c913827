"""Stage 'cpd' (paper A): composition projection decomposition scores for every enabled model
and dataset, and the layer profile built from them.

Uses MODELS, MODEL_DATASETS and features_path(model, dataset) from models.smk.
Outputs and columns: docs/formats.md; config keys: config/README.md (## cpd).
"""

CPD = config["cpd"]
# every (model, dataset) with features and configured targets, in registry order
CPD_PAIRS = [
    (model, dataset)
    for model in MODELS
    for dataset in MODEL_DATASETS[model]
    if dataset in CPD["targets"]
]
# probe settings shared by every paper-A rule (the analyses rules reuse them)
PROBE_KEYS = ("composition", "cv", "ridge", "mlp", "gbt")


def probe_params():
    """Seed and probe settings: what every paper-A score depends on besides its own keys."""
    return {"seed": config["seed"], **{key: CPD[key] for key in PROBE_KEYS}}


def cpd_params(wildcards):
    """The config slice one (model, dataset) score file depends on."""
    dataset = wildcards.dataset
    nonlinear = {**CPD["nonlinear"], "targets": {dataset: CPD["nonlinear"]["targets"].get(dataset, [])}}
    return {
        **probe_params(),
        "model": wildcards.model,
        "dataset": dataset,
        "targets": CPD["targets"][dataset],
        "representations": CPD["representations"],
        "nonlinear": nonlinear,
        "groups": CPD["groups"],
    }


rule cpd:
    input:
        features=lambda w: features_path(w.model, w.dataset),
        structures="results/data/{dataset}.parquet",
    output:
        scores="results/cpd/{model}/{dataset}.parquet",
    params:
        cfg=cpd_params,
    log:
        "logs/cpd/{model}/{dataset}.log",
    benchmark:
        "logs/benchmarks/cpd/{model}/{dataset}.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    threads: 1
    script:
        STEP_SCRIPT


rule cpd_layer_profile:
    input:
        scores=[f"results/cpd/{model}/{dataset}.parquet" for model, dataset in CPD_PAIRS],
    output:
        profile="results/analyses/layer_profile.parquet",
    params:
        cfg={},
    log:
        "logs/analyses/layer_profile.log",
    benchmark:
        "logs/benchmarks/analyses/layer_profile.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    threads: 1
    script:
        STEP_SCRIPT


ALL_OUTPUTS.extend(f"results/cpd/{model}/{dataset}.parquet" for model, dataset in CPD_PAIRS)
if CPD_PAIRS:
    ALL_OUTPUTS.append("results/analyses/layer_profile.parquet")
