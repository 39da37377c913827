"""What several rules files share, all computed from the config: included first by the Snakefile.

  REGISTRY            name -> validated registry entry (config `registry`, selection `models`)
  SOURCES             name -> its Source (atomprobe.models.sources: train, random_init, ...)
  MODELS              enabled registry names, in registry order
  MODEL_DATASETS      name -> datasets its features exist on (a `features` entry: the ones it
                      brings; trained here: its training dataset; others: every dataset their
                      family runs on)
  TRAINED_MODELS      names of `source: train` entries
  INIT_MODELS         names of `source: random_init` entries (the untrained model of a train
                      entry: a model.pt of its own, no checkpoints)
  EXTRACTED           (model, dataset) pairs whose features a rule extracts
  FEATURE_PAIRS       (model, dataset) pairs with pooled features, extracted or brought
  DATASETS            name -> dataset entry (config `data`, null entries left out)
  SPLIT_DATASETS      datasets split into train/val/test/probe (models train on them)
  ATOM_PAIRS          (model, dataset) pairs with per-atom features
  CHECKPOINT_PAIRS    (model, training dataset) of every trained model (per-checkpoint features)
  CPD_PAIRS           (model, dataset) pairs that get CPD scores (datasets with cpd.targets)
  SENSITIVITY_PAIRS   CPD pairs on render.dataset (if it scores render.main_target): Ridge
                      scores under every feature scaling for the sensitivity table
  PROTOCOL_PAIRS      the same pairs when cpd.protocols.enabled: R²_geom of the main target
                      under the toolkit's, unshuffled and formula-grouped protocols
  ANALYSIS_MODELS     models run through the paper-A analyses (features on analyses.dataset)
  structures_path(), splits_path(), model_path(), features_path(), atoms_path(),
  atom_features_path(), checkpoint_features_path(), cpd_path(), cpd_sensitivity_path(),
  cpd_protocols_path(), analysis_path(), model_analysis_path(), table_path(), figure_path(),
  atlas_path(), report_path()
                      every output path: rules call these (with "{wildcard}" for patterns),
                      never a literal, and no step builds a path of its own
  probe_params()      the probe settings every paper-A score depends on
  final_outputs()     every file the default target `all` asks for
  render_inputs(item) the cached results one table, figure or the report reads
  and the functions that compute a rule's inputs or config slice (the rules files hold rules)

No rules file relies on another's definitions or on the order of the includes.
Paths and columns: docs/formats.md; config keys: config/README.md.
"""

import re
import sys
from pathlib import Path

import atomprobe.render
from atomprobe.cpd.groups import model_group_layers
from atomprobe.errors import AtomprobeError
from atomprobe.hardware import gpu_visible
from atomprobe.data import datasets as _datasets
from atomprobe.models import registry as _registry
from atomprobe.models.sources import Source, source_of
from atomprobe.preflight import check_data_and_models
from atomprobe.render.figures import FIGURES
from atomprobe.render.steps import ALL_ANALYSES, NEEDS
from atomprobe.render.tables import TABLES

STEP_SCRIPT = "../scripts/step.py"

try:  # datasets, targets, registry and your feature files, before any job (atomprobe.preflight)
    DATASETS, REGISTRY = check_data_and_models(config)
except AtomprobeError as exc:
    sys.exit(f"atomprobe: {exc}")
SPLIT_DATASETS = [d for d, entry in DATASETS.items() if _datasets.has_splits(entry)]
MODELS = list(REGISTRY)
MODEL_DATASETS = {
    name: _registry.model_datasets(entry, DATASETS) for name, entry in REGISTRY.items()
}
SOURCES = {name: source_of(entry) for name, entry in REGISTRY.items()}
TRAINED_MODELS = [name for name, source in SOURCES.items() if source is Source.TRAIN]
INIT_MODELS = [name for name, source in SOURCES.items() if source is Source.RANDOM_INIT]
FEATURE_PAIRS = [(model, dataset) for model in MODELS for dataset in MODEL_DATASETS[model]]
FEATURE_DATASETS = {dataset for _, dataset in FEATURE_PAIRS}
EXTRACTED = [(m, d) for m, d in FEATURE_PAIRS if SOURCES[m].runs_model]
BROUGHT_MODELS = [name for name, source in SOURCES.items() if source is Source.FEATURES]
# pairs with per-atom features: every extracted pair, and a features entry's atom_paths
ATOM_PAIRS = [(m, d) for m, d in FEATURE_PAIRS if _registry.has_atom_features(REGISTRY[m], d)]
# training checkpoints are extracted on the dataset each model is trained on
CHECKPOINT_PAIRS = [(m, REGISTRY[m]["training"]["dataset"]) for m in TRAINED_MODELS]

CPD = config["cpd"]
CPD_PAIRS = [(m, d) for m, d in FEATURE_PAIRS if d in CPD["targets"]]
# the sensitivity table probes the main target of the reported dataset (render section)
SENSITIVITY_PAIRS = [
    (m, d)
    for m, d in CPD_PAIRS
    if d == config["render"]["dataset"] and config["render"]["main_target"] in CPD["targets"][d]
]
# the protocols file holds the same main target on the same pairs, beside ours (never deciding)
PROTOCOL_PAIRS = SENSITIVITY_PAIRS if CPD["protocols"]["enabled"] else []
# probe settings shared by every paper-A rule
PROBE_KEYS = ("composition", "cv", "scaling", "ridge", "mlp", "gbt")

ANALYSES = config["analyses"]
ANALYSIS_MODELS = [m for m in MODELS if ANALYSES["dataset"] in MODEL_DATASETS[m]]
# paper-A analyses run on each model, then combined across models (sweeps.smk makes the rules):
# name -> (step run per model, step combining the models' tables, the combining step's outputs
# besides its table: output name -> analysis name)
# the combining step's params: the learning curves rank models against the full-data ranking,
# a ranking of trained models (the papers'); untrained controls are shown, never ranked
# with a bootstrap interval of each ranking's Spearman rho over the repeats
COMBINE_PARAMS = {
    "sample_efficiency": {
        "unranked": INIT_MODELS,
        "n_bootstrap": ANALYSES["sample_efficiency"].get("n_bootstrap", 1000),
        "ci_level": config["render"]["ci_level"],
        "seed": config["seed"],
    }
}
PER_MODEL_ANALYSES = {
    "isomers": (
        "atomprobe.analyses.steps:isomers",
        "atomprobe.analyses.steps:combine_models",
        {},
    ),
    "control": (
        "atomprobe.analyses.steps:control",
        "atomprobe.analyses.steps:combine_models",
        {},
    ),
    "sample_efficiency": (
        "atomprobe.analyses.steps:sample_efficiency_curve",
        "atomprobe.analyses.steps:combine_curves",
        {"ranking": "sample_efficiency_ranking"},
    ),
}

RECONSTRUCTION_OUTPUTS = ("gfre", "lfre", "cumulants", "similarity", "pcovr", "convergence")
REGISTRY_PARQUET = "results/models/registry.parquet"
# the render code itself (modules and claims.yaml, as imported): editing it re-renders every
# table and figure, and nothing upstream
RENDER_CODE = sorted(
    str(p) for p in Path(atomprobe.render.__file__).parent.iterdir() if p.suffix in (".py", ".yaml")
)
TABLE_FORMATS = ("csv", "md", "tex")
FIGURE_FORMATS = ("pdf", "png")


def model_job_gpus(wildcards):
    """The GPUs a job that runs a model claims (its `gpu` resource): 0 when it will run on the
    CPU (`device: cpu`, or `device: auto` run locally on a machine with no GPU), else 1. On a
    cluster the compute node decides, so `auto` claims one. The claim is what the default
    profile's `gpu: 1` caps: GPU jobs one at a time, CPU-only model jobs as many as cores allow."""
    device = config["device"]
    on_cpu = device == "cpu" or (device == "auto" and workflow.local_exec and not gpu_visible())
    return 0 if on_cpu else 1


def job_logs(stem):
    """A rule's named logs: ``log`` (logs/<stem>.log) and ``usage`` (logs/benchmarks/<stem>.tsv:
    wall and CPU seconds and peak memory, in Snakemake's benchmark format, written by the step
    runner from getrusage instead of the ``benchmark:`` directive's polling)."""
    return {"log": f"logs/{stem}.log", "usage": f"logs/benchmarks/{stem}.tsv"}


def names_pattern(names):
    """Regex matching exactly one of ``names`` (matches nothing for an empty list)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


# --- every output path, in one place (rules call these, with "{wildcard}" for patterns) ---


def model_path(model, name):
    """A file of a model built here: model.pt, metrics.json, learning_curve.parquet or the
    checkpoints folder."""
    return f"results/models/{model}/{name}"


def features_path(model, dataset):
    """Pooled per-structure features of ``model`` on ``dataset`` (extracted, or imported)."""
    return f"results/features/{model}/{dataset}.parquet"


def atoms_path(model, dataset):
    """Per-atom last-layer features of ``model`` on ``dataset`` (the file pattern)."""
    return f"results/features/{model}/{dataset}_atoms.parquet"


def atom_features_path(model, dataset):
    """Per-atom last-layer features of ``model`` on ``dataset``; None for a features entry that
    brings none there."""
    has_atoms = _registry.has_atom_features(REGISTRY[model], dataset)
    return atoms_path(model, dataset) if has_atoms else None


def brought_features(model, dataset, atoms):
    """The file a ``source: features`` entry brings for ``dataset`` (pooled, or per atom)."""
    return _registry.brought_features_path(REGISTRY[model], dataset, atoms)


def structures_path(dataset):
    """The structure table of ``dataset``."""
    return f"results/data/{dataset}.parquet"


def splits_path(dataset):
    """The train/val/test/probe splits of ``dataset``."""
    return f"results/data/{dataset}_splits.parquet"


def checkpoint_features_path(model, dataset):
    """Pooled last-layer features of every kept training checkpoint of ``model``."""
    return f"results/features/{model}/{dataset}_checkpoints.parquet"


def cpd_path(model, dataset):
    """CPD scores of ``model`` on ``dataset``."""
    return f"results/cpd/{model}/{dataset}.parquet"


def cpd_sensitivity_path(model, dataset):
    """Ridge scores of ``model`` on ``dataset`` under every feature scaling (last layer)."""
    return f"results/cpd_sensitivity/{model}/{dataset}.parquet"


def cpd_protocols_path(model, dataset):
    """R²_geom of the main target of ``model`` on ``dataset`` under every protocol (last layer)."""
    return f"results/cpd_protocols/{model}/{dataset}.parquet"


def analysis_path(name):
    """A cross-model analysis table."""
    return f"results/analyses/{name}.parquet"


def model_analysis_path(name, model):
    """One model's table of the per-model analysis ``name``."""
    return f"results/analyses/{name}/{model}.parquet"


def table_path(name, fmt):
    """A rendered table (csv, md or tex)."""
    return f"figures/tables/{name}.{fmt}"


def figure_path(name, fmt):
    """A rendered figure (pdf or png)."""
    return f"figures/{name}.{fmt}"


def atlas_path(dataset, suffix):
    """The atlas of ``dataset``: its chemiscope dataset (json.gz) or offline viewer (html)."""
    return f"figures/atlas/{dataset}.{suffix}"


def report_path(name):
    """A file of the reproduction report: reproduction.md, reproduction.csv,
    reproduction_summary.rst (the HTML report's landing page), ladder.md, ladder.csv,
    ladder_checkpoints.csv."""
    return f"results/{name}"


def probe_params():
    """Seed and probe settings: what every paper-A score depends on besides its own keys."""
    return {"seed": config["seed"], **{key: CPD[key] for key in PROBE_KEYS}}


def analysis_outputs():
    """Cross-model analysis name -> its table, for every analysis this config runs."""
    names = []
    if CPD_PAIRS:
        names.append("layer_profile")
    if ANALYSIS_MODELS:
        for name, (_, _, extra_outputs) in PER_MODEL_ANALYSES.items():
            names += [name, *extra_outputs.values()]
    names += RECONSTRUCTION_OUTPUTS
    if CHECKPOINT_TARGETS and any(d == config["render"]["dataset"] for _, d in CHECKPOINT_PAIRS):
        names.append("checkpoint_cpd")
    if ID_DATASETS:
        names.append("intrinsic_dimension")
    if BACKBONE_DATASETS:
        names.append("layer_reconstruction")
    return {name: analysis_path(name) for name in names}


# targets probed on every kept training checkpoint (the report's budget cause): the main target
# and the task-alignment pair, where they are targets of render.dataset
CHECKPOINT_TARGETS = [
    t
    for t in dict.fromkeys(
        [
            config["render"]["main_target"],
            config["render"]["task_alignment"]["aligned_target"],
            config["render"]["task_alignment"]["other_target"],
        ]
    )
    if config["render"]["dataset"] in DATASETS
    and t
    in _datasets.dataset_targets(config["render"]["dataset"], DATASETS[config["render"]["dataset"]])
]


# datasets whose features get an intrinsic dimension (configured, with some model's features)
ID_DATASETS = [
    d for d in config["reconstruction"]["intrinsic_dimension"]["datasets"] if d in FEATURE_DATASETS
]


# datasets whose models' earlier layers are compared with their last (backbone vs last layer)
BACKBONE_DATASETS = [
    d for d in config["reconstruction"]["backbone"]["datasets"] if d in FEATURE_DATASETS
]


# a training-budget ladder (registry `rung`, config/ladder.yaml): every claim on every rung
LADDER_RUNGS = sorted({e.get("rung", 0) for m, e in REGISTRY.items() if SOURCES[m].built_here})
LADDER_OUTPUTS = (
    {
        "ladder": report_path("ladder.csv"),
        "ladder_md": report_path("ladder.md"),
        "ladder_pdf": figure_path("ladder", "pdf"),
        "ladder_png": figure_path("ladder", "png"),
        "ladder_checkpoints": report_path("ladder_checkpoints.csv"),
        "ladder_checkpoints_pdf": figure_path("ladder_checkpoints", "pdf"),
        "ladder_checkpoints_png": figure_path("ladder_checkpoints", "png"),
    }
    if len(LADDER_RUNGS) > 1
    else {}
)


# datasets with an atlas (reconstruction.atlas): those PCovR maps, where some model has features
ATLAS_DATASETS = (
    [d for d in config["reconstruction"]["pcovr"]["targets"] if d in FEATURE_DATASETS]
    if config["reconstruction"]["atlas"]
    else []
)


def final_outputs():
    """Every file the default target asks for, stage by stage."""
    outputs = [structures_path(d) for d in DATASETS]
    outputs += [splits_path(d) for d in SPLIT_DATASETS]
    outputs.append(REGISTRY_PARQUET)
    for model, dataset in EXTRACTED:
        outputs += [features_path(model, dataset), atom_features_path(model, dataset)]
    outputs += [checkpoint_features_path(m, d) for m, d in CHECKPOINT_PAIRS]
    outputs += [cpd_path(m, d) for m, d in CPD_PAIRS]
    outputs += [cpd_sensitivity_path(m, d) for m, d in SENSITIVITY_PAIRS]
    outputs += [cpd_protocols_path(m, d) for m, d in PROTOCOL_PAIRS]
    outputs += analysis_outputs().values()
    outputs += [atlas_path(d, suffix) for d in ATLAS_DATASETS for suffix in ("json.gz", "html")]
    outputs += [table_path(t, fmt) for t in TABLES for fmt in TABLE_FORMATS]
    outputs += [figure_path(f, fmt) for f in FIGURES for fmt in FIGURE_FORMATS]
    outputs += [report_path("reproduction.md"), report_path("reproduction.csv")]
    return outputs


def render_inputs(item):
    """Named inputs of one table, figure or the report (atomprobe.render.steps.NEEDS + code).

    An analysis this config does not run is left out: the item then says "not run" for it.
    """
    inputs = {"code": RENDER_CODE}
    produced = analysis_outputs()
    for need in NEEDS[item]:
        if need == "registry":
            inputs["registry"] = REGISTRY_PARQUET
        elif need == "cpd":
            inputs["cpd"] = [cpd_path(m, d) for m, d in CPD_PAIRS]
        elif need == "cpd_sensitivity":
            inputs["cpd_sensitivity"] = [cpd_sensitivity_path(m, d) for m, d in SENSITIVITY_PAIRS]
        elif need == "cpd_protocols":
            inputs["cpd_protocols"] = [cpd_protocols_path(m, d) for m, d in PROTOCOL_PAIRS]
        elif need == ALL_ANALYSES:
            inputs.update(produced)
        elif need in produced:
            inputs[need] = produced[need]
    return inputs


# --- stage features ---


def extract_weights(w):
    """The weights file a model is extracted from ({} for builtin weights)."""
    entry = REGISTRY[w.model]
    if SOURCES[w.model].built_here:
        return {"model": model_path(w.model, "model.pt")}
    if SOURCES[w.model] is Source.CHECKPOINT:
        return {"model": entry["path"]}
    return {}


def extract_structures(w):
    """The structure table (and, for a split dataset, its splits) a model is extracted on."""
    inputs = {"structures": structures_path(w.dataset)}
    if w.dataset in SPLIT_DATASETS:
        inputs["splits"] = splits_path(w.dataset)
    return inputs


def training_data(w):
    """The structure table and splits a model is trained (or initialised) on."""
    dataset = REGISTRY[w.model]["training"]["dataset"]
    return {"structures": structures_path(dataset), "splits": splits_path(dataset)}


# --- stage data ---


def dataset_params(w):
    """The config slice a structure table depends on: the dataset's name and entry (less the
    splits of a QM9 or MP dataset, which only its splits table depends on, and the archive
    download settings, whose file is an input)."""
    entry = DATASETS[w.dataset]
    keep = (
        entry
        if entry["source"] == "file"
        else {key: value for key, value in entry.items() if key not in ("splits", "archive")}
    )
    return {"name": w.dataset, **keep}


def dataset_files(w):
    """The files a ``source: file`` dataset is read from (so editing them rebuilds its table)."""
    entry = DATASETS[w.dataset]
    files = {"path": entry["path"]}
    if entry.get("targets_file"):
        files["targets_file"] = entry["targets_file"]
    return files


def splits_params(w):
    """The splits block of a dataset: the config slice its splits table depends on."""
    return {"splits": DATASETS[w.dataset]["splits"]}


def datasets_of(*sources):
    """Names of the configured datasets whose source is one of ``sources``."""
    return [d for d, entry in DATASETS.items() if entry["source"] in sources]


def qm9_archive_input(w):
    """The downloaded archive a QM9 dataset with ``source: archive`` is read from."""
    entry = DATASETS[w.dataset]
    return {"archive": entry["archive"]["path"]} if entry["source"] == "archive" else {}


def extract_params(w):
    """The config slice one extraction depends on."""
    return {
        "name": w.model,
        "entry": REGISTRY[w.model],
        "dataset": w.dataset,
        "device": config["device"],
        **config["features"],
    }


# --- stage cpd ---


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
        # one model's own groups.layers (last | all): a per-family setting reruns that family only
        "groups": {
            **CPD["groups"],
            "layers": model_group_layers(
                CPD["groups"]["layers"], wildcards.model, REGISTRY[wildcards.model].get("family")
            ),
        },
    }


def cpd_sensitivity_params(wildcards):
    """The config slice one sensitivity score file depends on: the probe settings (its own
    scaling is overridden by each of the three) and the main target."""
    return {
        **probe_params(),
        "model": wildcards.model,
        "dataset": wildcards.dataset,
        "target": config["render"]["main_target"],
    }


def cpd_protocols_params(wildcards):
    """The config slice one protocols file depends on: the probe settings, the main target and
    the toolkit's settings."""
    return {
        **probe_params(),
        "model": wildcards.model,
        "dataset": wildcards.dataset,
        "target": config["render"]["main_target"],
        "protocols": {"toolkit": CPD["protocols"]["toolkit"]},
    }


# --- stage sweeps (paper-A analyses) ---


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


def per_model_tables(name):
    """The per-model tables of analysis ``name``, one per model in ANALYSIS_MODELS."""
    return [model_analysis_path(name, model) for model in ANALYSIS_MODELS]


# --- stage reconstruction (paper B) ---

RECONSTRUCTION = config["reconstruction"]


def reconstruction_params(*keys):
    """The slice of the section a rule depends on (so editing another key reruns nothing)."""
    return {key: RECONSTRUCTION[key] for key in keys}


RECONSTRUCTION_LEVELS = {"structure": FEATURE_PAIRS, "atom": ATOM_PAIRS}


def reconstruction_part(level, dataset, source, name):
    """GFRE or LFRE (``name``) from one source model to every model of a dataset and level."""
    return f"results/analyses/reconstruction/{level}/{dataset}/{source}.{name}.parquet"


def reconstruction_parts(name):
    """Every per-source table of ``name`` (gfre | lfre): level, dataset, then model order."""
    parts = []
    for level, pairs in RECONSTRUCTION_LEVELS.items():
        for dataset in dict.fromkeys(d for _, d in pairs):
            parts += [reconstruction_part(level, d, m, name) for m, d in pairs if d == dataset]
    return parts


def reconstruction_features(wildcards):
    """The feature files a per-source GFRE/LFRE job aligns: every model on its dataset."""
    path = atom_features_path if wildcards.level == "atom" else features_path
    pairs = RECONSTRUCTION_LEVELS[wildcards.level]
    return [path(m, d) for m, d in pairs if d == wildcards.dataset]


def cumulants_model():
    """The configured model, or the first model run on reconstruction.cumulants.dataset."""
    cfg = RECONSTRUCTION["cumulants"]
    candidates = [model for model, dataset in ATOM_PAIRS if dataset == cfg["dataset"]]
    if not candidates or (cfg["model"] is not None and cfg["model"] not in candidates):
        sys.exit(
            f"atomprobe: config reconstruction.cumulants: model {cfg['model']!r} has no features "
            f"on dataset {cfg['dataset']!r}; models with features there: {candidates}"
        )
    return cfg["model"] or candidates[0]
