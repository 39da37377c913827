"""Stage 'data': one structure table per configured dataset (config `data`), and the
train/val/test/probe splits of the datasets that have a `splits` block.

Datasets and helpers: common.smk. Tables and columns: docs/formats.md; config keys:
config/README.md (## data).
"""

for _dataset in datasets_of("archive"):

    rule:
        name:
            f"{_dataset}_archive"
        output:
            archive=DATASETS[_dataset]["archive"]["path"],
        log:
            **job_logs(f"data/{_dataset}_archive"),
        conda:
            "../../envs/data.yaml"
        resources:
            mem_mb=500,
            runtime=60,
        params:
            step="atomprobe.data.steps:qm9_archive",
            cfg={"archive": DATASETS[_dataset]["archive"]},
        script:
            STEP_SCRIPT


rule qm9:
    input:
        unpack(qm9_archive_input),
    output:
        structures=structures_path("{dataset}"),
    log:
        **job_logs("data/{dataset}"),
    wildcard_constraints:
        dataset=names_pattern(datasets_of("qm9pack", "archive")),
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.data.steps:qm9",
        cfg=dataset_params,
    script:
        STEP_SCRIPT


rule mp:
    output:
        structures=structures_path("{dataset}"),
    log:
        **job_logs("data/{dataset}"),
    wildcard_constraints:
        dataset=names_pattern(datasets_of("offline", "api")),
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        step="atomprobe.data.steps:mp",
        cfg=dataset_params,
    script:
        STEP_SCRIPT


rule structures_from_file:
    input:
        unpack(dataset_files),
    output:
        structures=structures_path("{dataset}"),
    log:
        **job_logs("data/{dataset}"),
    wildcard_constraints:
        dataset=names_pattern(datasets_of("file")),
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.data.steps:structures_from_file",
        cfg=dataset_params,
    script:
        STEP_SCRIPT


rule splits:
    input:
        structures=structures_path("{dataset}"),
    output:
        splits=splits_path("{dataset}"),
    log:
        **job_logs("data/{dataset}_splits"),
    wildcard_constraints:
        dataset=names_pattern(SPLIT_DATASETS),
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        step="atomprobe.data.steps:splits",
        cfg=splits_params,
    script:
        STEP_SCRIPT
