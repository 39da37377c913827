"""Stage 'data': QM9 and Materials Project structure tables and the QM9 splits.

Tables and columns: docs/formats.md; config keys: config/README.md (## data).
"""

QM9 = config["data"]["qm9"]


rule qm9_archive:
    output:
        archive=QM9["archive"]["path"],
    log:
        "logs/data/qm9_archive.log",
    benchmark:
        "logs/benchmarks/data/qm9_archive.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=60,
    params:
        step="atomprobe.data.qm9:qm9_archive",
        cfg={"archive": QM9["archive"]},
    script:
        STEP_SCRIPT


rule qm9:
    input:
        archive=QM9["archive"]["path"] if QM9["source"] == "archive" else [],
    output:
        structures="results/data/qm9.parquet",
    log:
        "logs/data/qm9.log",
    benchmark:
        "logs/benchmarks/data/qm9.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        step="atomprobe.data.qm9:qm9",
        cfg={k: QM9[k] for k in ("source", "exclude_uncharacterized")},
    script:
        STEP_SCRIPT


rule qm9_splits:
    input:
        structures="results/data/qm9.parquet",
    output:
        splits="results/data/qm9_splits.parquet",
    log:
        "logs/data/qm9_splits.log",
    benchmark:
        "logs/benchmarks/data/qm9_splits.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        step="atomprobe.data.splits:splits",
        cfg={"splits": QM9["splits"]},
    script:
        STEP_SCRIPT


rule mp:
    output:
        structures="results/data/mp.parquet",
    log:
        "logs/data/mp.log",
    benchmark:
        "logs/benchmarks/data/mp.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        step="atomprobe.data.mp:mp",
        cfg=config["data"]["mp"],
    script:
        STEP_SCRIPT
