"""Stage 'cpd' (paper A): composition projection decomposition scores for every (model,
dataset) in CPD_PAIRS, the layer profile built from them, the Ridge scores of the main
target under every feature scaling (cpd.scaling) for the sensitivity table (SENSITIVITY_PAIRS),
and R²_geom of the main target under the author's toolkit protocol, unshuffled and
formula-grouped folds beside ours (cpd.protocols; PROTOCOL_PAIRS).

Pairs, paths and probe_params(): common.smk. Outputs and columns: docs/formats.md; config keys:
config/README.md (## cpd).
"""


rule cpd:
    input:
        features=lambda w: features_path(w.model, w.dataset),
        structures=structures_path("{dataset}"),
    output:
        scores=cpd_path("{model}", "{dataset}"),
    log:
        **job_logs("cpd/{model}/{dataset}"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        step="atomprobe.cpd.steps:cpd",
        cfg=cpd_params,
    script:
        STEP_SCRIPT


rule cpd_sensitivity:
    input:
        features=lambda w: features_path(w.model, w.dataset),
        structures=structures_path("{dataset}"),
    output:
        scores=cpd_sensitivity_path("{model}", "{dataset}"),
    log:
        **job_logs("cpd_sensitivity/{model}/{dataset}"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.cpd.steps:cpd_sensitivity",
        cfg=cpd_sensitivity_params,
    script:
        STEP_SCRIPT


rule cpd_layer_profile:
    input:
        scores=[cpd_path(m, d) for m, d in CPD_PAIRS],
    output:
        profile=analysis_path("layer_profile"),
    log:
        **job_logs("analyses/layer_profile"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        step="atomprobe.analyses.steps:cpd_layer_profile",
        cfg={},
    script:
        STEP_SCRIPT


rule cpd_protocols:
    input:
        features=lambda w: features_path(w.model, w.dataset),
        structures=structures_path("{dataset}"),
    output:
        scores=cpd_protocols_path("{model}", "{dataset}"),
    log:
        **job_logs("cpd_protocols/{model}/{dataset}"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.cpd.steps:cpd_protocols",
        cfg=cpd_protocols_params,
    script:
        STEP_SCRIPT


rule checkpoint_cpd:
    input:
        checkpoints=[
            checkpoint_features_path(m, d)
            for m, d in CHECKPOINT_PAIRS
            if d == config["render"]["dataset"]
        ],
        structures=structures_path(config["render"]["dataset"]),
    output:
        table=analysis_path("checkpoint_cpd"),
    log:
        **job_logs("analyses/checkpoint_cpd"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        step="atomprobe.analyses.steps:checkpoint_cpd",
        cfg={**probe_params(), "targets": CHECKPOINT_TARGETS},
    script:
        STEP_SCRIPT
