"""Stage 'sweeps' (paper A validation analyses): isomer benchmark, compositional control and
sample-efficiency learning curves per model, combined across models.

Two rules per entry of PER_MODEL_ANALYSES (common.smk): `{name}_model` runs the analysis on one
model, `{name}` combines the models. Outputs and columns: docs/formats.md; config keys:
config/README.md (## analyses).
"""

for _name, (_per_model_step, _combine_step, _extra_outputs) in PER_MODEL_ANALYSES.items():

    rule:
        name:
            f"{_name}_model"
        input:
            features=lambda w: features_path(w.model, ANALYSES["dataset"]),
            structures=structures_path(ANALYSES["dataset"]),
        output:
            table=model_analysis_path(_name, "{model}"),
        log:
            **job_logs(f"analyses/{_name}/{{model}}"),
        conda:
            "../../envs/analysis.yaml"
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            step=_per_model_step,
            cfg=analysis_params(_name),
        script:
            STEP_SCRIPT

    rule:
        name:
            _name
        input:
            tables=per_model_tables(_name),
        output:
            **{output: analysis_path(name) for output, name in _extra_outputs.items()},
            table=analysis_path(_name),
        log:
            **job_logs(f"analyses/{_name}"),
        conda:
            "../../envs/analysis.yaml"
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            step=_combine_step,
            cfg=COMBINE_PARAMS.get(_name, {}),
        script:
            STEP_SCRIPT
