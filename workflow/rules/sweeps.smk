"""Stage 'sweeps' (paper A validation analyses): isomer benchmark, compositional control and
sample-efficiency learning curves per model, combined across models.

ANALYSIS_MODELS, paths and probe_params(): common.smk. Outputs and columns: docs/formats.md;
config keys: config/README.md (## analyses).
"""

# analysis -> the step run per model (the rules below combine the models)
PER_MODEL_STEPS = {
    "isomers": "atomprobe.analyses.isomers:isomers",
    "control": "atomprobe.analyses.control:control",
    "sample_efficiency": "atomprobe.analyses.sample_efficiency:sample_efficiency_curve",
}


for _name, _step in PER_MODEL_STEPS.items():

    rule:
        name:
            f"{_name}_model"
        input:
            features=lambda w: features_path(w.model, ANALYSES["dataset"]),
            structures=f"results/data/{ANALYSES['dataset']}.parquet",
        output:
            table=f"results/analyses/{_name}/{{model}}.parquet",
        log:
            f"logs/analyses/{_name}/{{model}}.log",
        benchmark:
            f"logs/benchmarks/analyses/{_name}/{{model}}.tsv"
        conda:
            "../../envs/analysis.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            step=_step,
            cfg=analysis_params(_name),
        script:
            STEP_SCRIPT


rule isomers:
    input:
        tables=per_model_tables("isomers"),
    output:
        table=analysis_path("isomers"),
    log:
        "logs/analyses/isomers.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        step="atomprobe.analyses.per_model:combine_models",
        cfg={},
    script:
        STEP_SCRIPT


rule control:
    input:
        tables=per_model_tables("control"),
    output:
        table=analysis_path("control"),
    log:
        "logs/analyses/control.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        step="atomprobe.analyses.per_model:combine_models",
        cfg={},
    script:
        STEP_SCRIPT


rule sample_efficiency:
    input:
        tables=per_model_tables("sample_efficiency"),
    output:
        table=analysis_path("sample_efficiency"),
        ranking=analysis_path("sample_efficiency_ranking"),
    log:
        "logs/analyses/sample_efficiency.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        step="atomprobe.analyses.sample_efficiency:combine_curves",
        cfg={},
    script:
        STEP_SCRIPT
