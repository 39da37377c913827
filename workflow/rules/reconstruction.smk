"""Stage 'reconstruction' (paper B): GFRE/LFRE between every ordered model pair (one job per
source model, dataset and level, gathered into one table per metric), GFRE between
cumulant-pooling orders, CKA and mutual-kNN similarity, PCovR maps, checkpoint convergence.

Pairs and paths: common.smk. Outputs and columns: docs/formats.md; config keys:
config/README.md (## reconstruction).
"""


rule reconstruction_source:
    input:
        features=reconstruction_features,
    output:
        gfre=reconstruction_part("{level}", "{dataset}", "{source}", "gfre"),
        lfre=reconstruction_part("{level}", "{dataset}", "{source}", "lfre"),
    log:
        **job_logs("analyses/reconstruction/{level}/{dataset}/{source}"),
    wildcard_constraints:
        level="structure|atom",
        dataset=names_pattern(DATASETS),
        source=names_pattern(MODELS),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.analyses.steps:reconstruction_source",
        cfg=lambda w: {
            **reconstruction_params(
                "seed", "layer", "lfre", "test_splits", "relative_alphas", w.level
            ),
            "level": w.level,
            "dataset": w.dataset,
            "source": w.source,
        },
    script:
        STEP_SCRIPT


rule reconstruction:
    input:
        gfre=reconstruction_parts("gfre"),
        lfre=reconstruction_parts("lfre"),
    output:
        gfre=analysis_path("gfre"),
        lfre=analysis_path("lfre"),
    log:
        **job_logs("analyses/reconstruction"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        step="atomprobe.analyses.steps:reconstruction",
        cfg=reconstruction_params(
            "seed", "layer", "test_splits", "structure", "atom", "lfre", "relative_alphas"
        ),
    script:
        STEP_SCRIPT


rule cumulants:
    input:
        atoms=atom_features_path(cumulants_model(), RECONSTRUCTION["cumulants"]["dataset"]),
    output:
        cumulants=analysis_path("cumulants"),
    log:
        **job_logs("analyses/cumulants"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        step="atomprobe.analyses.steps:cumulants",
        cfg=reconstruction_params("seed", "cumulants", "relative_alphas"),
    script:
        STEP_SCRIPT


rule similarity:
    input:
        structure=[features_path(m, d) for m, d in FEATURE_PAIRS],
    output:
        similarity=analysis_path("similarity"),
    log:
        **job_logs("analyses/similarity"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.analyses.steps:similarity",
        cfg=reconstruction_params("seed", "layer", "similarity"),
    script:
        STEP_SCRIPT


rule pcovr:
    input:
        structure=[
            features_path(m, d)
            for m, d in FEATURE_PAIRS
            if d in RECONSTRUCTION["pcovr"]["targets"]
        ],
        structures=sorted(
            {structures_path(d) for _, d in FEATURE_PAIRS}
            & {structures_path(d) for d in RECONSTRUCTION["pcovr"]["targets"]}
        ),
    output:
        pcovr=analysis_path("pcovr"),
    log:
        **job_logs("analyses/pcovr"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.analyses.steps:pcovr",
        cfg=reconstruction_params("layer", "pcovr"),
    script:
        STEP_SCRIPT


rule intrinsic_dimension:
    input:
        structure=[features_path(m, d) for m, d in FEATURE_PAIRS if d in ID_DATASETS],
    output:
        intrinsic_dimension=analysis_path("intrinsic_dimension"),
    log:
        **job_logs("analyses/intrinsic_dimension"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        step="atomprobe.analyses.steps:intrinsic_dimension",
        cfg=reconstruction_params("seed", "intrinsic_dimension"),
    script:
        STEP_SCRIPT


rule layer_reconstruction:
    input:
        structure=[features_path(m, d) for m, d in FEATURE_PAIRS if d in BACKBONE_DATASETS],
    output:
        layer_reconstruction=analysis_path("layer_reconstruction"),
    log:
        **job_logs("analyses/layer_reconstruction"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        step="atomprobe.analyses.steps:layer_reconstruction",
        cfg=reconstruction_params("seed", "relative_alphas", "structure", "backbone"),
    script:
        STEP_SCRIPT


rule atlas:
    input:
        structures=structures_path("{dataset}"),
        structure=lambda w: [features_path(m, d) for m, d in FEATURE_PAIRS if d == w.dataset],
        pcovr=analysis_path("pcovr"),
        registry=REGISTRY_PARQUET,
    output:
        dataset=atlas_path("{dataset}", "json.gz"),
        viewer=atlas_path("{dataset}", "html"),
    log:
        **job_logs("analyses/atlas_{dataset}"),
    wildcard_constraints:
        dataset=names_pattern(ATLAS_DATASETS),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.analyses.steps:atlas",
        cfg=lambda w: {
            "dataset": w.dataset,
            "layer": RECONSTRUCTION["layer"],
            "encoding": CPD["composition"]["encoding"],
            "main_target": RECONSTRUCTION["pcovr"]["targets"][w.dataset],
        },
    script:
        STEP_SCRIPT


rule convergence:
    input:
        checkpoints=[checkpoint_features_path(m, d) for m, d in CHECKPOINT_PAIRS],
        final=[features_path(m, d) for m, d in CHECKPOINT_PAIRS],
    output:
        convergence=analysis_path("convergence"),
    log:
        **job_logs("analyses/convergence"),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.analyses.steps:convergence",
        cfg=reconstruction_params("seed", "layer", "convergence", "relative_alphas"),
    script:
        STEP_SCRIPT
