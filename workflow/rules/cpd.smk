"""Stage 'cpd' (paper A): composition projection decomposition scores for every (model,
dataset) in CPD_PAIRS, and the layer profile built from them.

Pairs, paths and probe_params(): common.smk. Outputs and columns: docs/formats.md; config keys:
config/README.md (## cpd).
"""


def cpd_params(wildcards):
    """The config slice one (model, dataset) score file depends on."""
    dataset = wildcards.dataset
    nonlinear = {
        **CPD["nonlinear"],
        "targets": {dataset: CPD["nonlinear"]["targets"].get(dataset, [])},
    }
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
        scores=cpd_path("{model}", "{dataset}"),
    params:
        step="atomprobe.cpd.steps:cpd",
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
        scores=[cpd_path(m, d) for m, d in CPD_PAIRS],
    output:
        profile=analysis_path("layer_profile"),
    params:
        step="atomprobe.analyses.layers:cpd_layer_profile",
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
