"""Stage 'models': the model registry, training on QM9, and the model table.

Defines for every later rules file:
  REGISTRY          name -> validated registry entry (config/models.yaml, selection `models`)
  MODELS            enabled registry names, in registry order
  MODEL_DATASETS    name -> datasets its features exist on (qm9 for all; mp only for families
                    with periodic support; a `features` entry: the datasets it brings)
  TRAINED_MODELS    names of `source: train` entries
  features_path(model, dataset) -> pooled feature table (docs/formats.md)
Config keys: config/README.md (## models.yaml, and `registry`, `models`, `device`).
"""

import re
import sys

from atomprobe.errors import AtomprobeError
from atomprobe.models import registry as _registry

try:
    REGISTRY = _registry.load_registry(config["registry"], config["models"])
except AtomprobeError as exc:
    sys.exit(f"atomprobe: {exc}")
MODELS = list(REGISTRY)
MODEL_DATASETS = {name: _registry.model_datasets(entry) for name, entry in REGISTRY.items()}
TRAINED_MODELS = [name for name, entry in REGISTRY.items() if entry["source"] == "train"]


def features_path(model, dataset):
    return _registry.features_path(model, REGISTRY[model], dataset)


def _names_pattern(names):
    """Regex matching exactly one of ``names`` (matches nothing for an empty list)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


rule train_model:
    input:
        structures="results/data/qm9.parquet",
        splits="results/data/qm9_splits.parquet",
    output:
        model="results/models/{model}/model.pt",
        checkpoints=directory("results/models/{model}/checkpoints"),
        curve="results/models/{model}/learning_curve.parquet",
        metrics="results/models/{model}/metrics.json",
    wildcard_constraints:
        model=_names_pattern(TRAINED_MODELS),
    params:
        cfg=lambda w: {"name": w.model, "entry": REGISTRY[w.model], "device": config["device"]},
    log:
        "logs/models/train_{model}.log",
    benchmark:
        "logs/benchmarks/models/train_{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=1,
    threads: 1
    script:
        STEP_SCRIPT


rule model_table:
    input:
        metrics=[f"results/models/{m}/metrics.json" for m in TRAINED_MODELS],
        features=[features_path(m, d) for m in MODELS for d in MODEL_DATASETS[m]],
    output:
        table="results/models/registry.parquet",
    params:
        cfg={"registry": REGISTRY, "datasets": MODEL_DATASETS},
    log:
        "logs/models/model_table.log",
    benchmark:
        "logs/benchmarks/models/model_table.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    threads: 1
    script:
        STEP_SCRIPT


ALL_OUTPUTS.append("results/models/registry.parquet")
