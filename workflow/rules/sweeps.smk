"""Stage 'sweeps' (paper A validation analyses): isomer benchmark, compositional control and
sample-efficiency learning curves per model, combined across models.

Uses MODELS, MODEL_DATASETS, features_path(model, dataset) (models.smk) and probe_params()
(cpd.smk). Outputs and columns: docs/formats.md; config keys: config/README.md (## analyses).
"""

ANALYSES = config["analyses"]
ANALYSIS_MODELS = [m for m in MODELS if ANALYSES["dataset"] in MODEL_DATASETS[m]]
PER_MODEL_ANALYSES = {  # analysis -> step run per model
    "isomers": "isomers",
    "control": "control",
    "sample_efficiency": "sample_efficiency_curve",
}


def analysis_params(name):
    """Config slice of one per-model analysis (its own keys plus the shared probe settings)."""
    def params(wildcards):
        return {
            **probe_params(),
            "model": wildcards.model,
            "dataset": ANALYSES["dataset"],
            "layer": ANALYSES["layer"],
            name: ANALYSES[name],
        }

    return params


for _name, _step in PER_MODEL_ANALYSES.items():

    rule:
        name:
            f"{_name}_model"
        input:
            features=lambda w: features_path(w.model, ANALYSES["dataset"]),
            structures=f"results/data/{ANALYSES['dataset']}.parquet",
        output:
            table=f"results/analyses/{_name}/{{model}}.parquet",
        params:
            cfg=analysis_params(_name),
            step=_step,
        log:
            f"logs/analyses/{_name}/{{model}}.log",
        benchmark:
            f"logs/benchmarks/analyses/{_name}/{{model}}.tsv"
        conda:
            "../../envs/analysis.yaml"
        resources:
            mem_mb=4000,
            runtime=60,
        threads: 1
        script:
            STEP_SCRIPT


rule isomers:
    input:
        tables=expand("results/analyses/isomers/{model}.parquet", model=ANALYSIS_MODELS),
    output:
        table="results/analyses/isomers.parquet",
    params:
        step="combine_models",
    log:
        "logs/analyses/isomers.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    threads: 1
    script:
        STEP_SCRIPT


rule control:
    input:
        tables=expand("results/analyses/control/{model}.parquet", model=ANALYSIS_MODELS),
    output:
        table="results/analyses/control.parquet",
    params:
        step="combine_models",
    log:
        "logs/analyses/control.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    threads: 1
    script:
        STEP_SCRIPT


rule sample_efficiency:
    input:
        tables=expand("results/analyses/sample_efficiency/{model}.parquet", model=ANALYSIS_MODELS),
    output:
        table="results/analyses/sample_efficiency.parquet",
        ranking="results/analyses/sample_efficiency_ranking.parquet",
    params:
        step="combine_models",
    log:
        "logs/analyses/sample_efficiency.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    threads: 1
    script:
        STEP_SCRIPT


if ANALYSIS_MODELS:
    ALL_OUTPUTS.extend(
        [
            "results/analyses/isomers.parquet",
            "results/analyses/control.parquet",
            "results/analyses/sample_efficiency.parquet",
            "results/analyses/sample_efficiency_ranking.parquet",
        ]
    )
