"""Stage 'features': forward passes with hooks -> per-layer, per-irrep features, pooled per
structure, per atom (last layer), and per training checkpoint.

Registry, pairs and paths: common.smk. Outputs: docs/formats.md; config keys: config/README.md
(## features).
"""


def _weights(w):
    """The weights file a model is extracted from ({} for builtin weights)."""
    entry = REGISTRY[w.model]
    if entry["source"] == "train":
        return {"model": f"results/models/{w.model}/model.pt"}
    if entry["source"] == "checkpoint":
        return {"model": entry["path"]}
    return {}


def _structures(w):
    inputs = {"structures": f"results/data/{w.dataset}.parquet"}
    if w.dataset == "qm9":
        inputs["splits"] = "results/data/qm9_splits.parquet"
    return inputs


def _extract_params(w):
    return {
        "name": w.model,
        "entry": REGISTRY[w.model],
        "dataset": w.dataset,
        "device": config["device"],
        **config["features"],
    }


rule extract:
    input:
        unpack(_structures),
        unpack(_weights),
    output:
        features="results/features/{model}/{dataset}.parquet",
        atoms="results/features/{model}/{dataset}_atoms.parquet",
    wildcard_constraints:
        model=names_pattern(sorted({m for m, _ in EXTRACTED})),
        dataset="qm9|mp",
    params:
        step="atomprobe.features.extract:extract",
        cfg=_extract_params,
    log:
        "logs/features/{model}_{dataset}.log",
    benchmark:
        "logs/benchmarks/features/{model}_{dataset}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=1,
    threads: 1
    script:
        STEP_SCRIPT


rule extract_checkpoints:
    input:
        unpack(_structures),
        model="results/models/{model}/model.pt",
        checkpoints="results/models/{model}/checkpoints",
    output:
        features="results/features/{model}/{dataset}_checkpoints.parquet",
    wildcard_constraints:
        model=names_pattern(TRAINED_MODELS),
        dataset="qm9",
    params:
        step="atomprobe.features.extract:extract_checkpoints",
        cfg=_extract_params,
    log:
        "logs/features/{model}_{dataset}_checkpoints.log",
    benchmark:
        "logs/benchmarks/features/{model}_{dataset}_checkpoints.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=1,
    threads: 1
    script:
        STEP_SCRIPT
