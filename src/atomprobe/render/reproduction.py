"""The reproduction report: every claim of the papers beside our number and a verdict.

Claims (text, paper value, source, assumption, and which of our results to compare) live in
``claims.yaml`` next to this module. Each claim's measures are evaluated by
:mod:`atomprobe.render.measures` (our numbers, from the cached results like every table) and
judged by the fixed rules of :mod:`atomprobe.render.verdicts`; this module turns claims into
measures, measures into one verdict per claim, and writes ``results/reproduction.{md,csv}``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from atomprobe.errors import ConfigError
from atomprobe.models.sources import Source
from atomprobe.render.causes import checkpoint_outcomes, claim_cause, paper_number
from atomprobe.render.inputs import Results
from atomprobe.render.measures import MEASURES, Outcome
from atomprobe.render.tables import format_ci, relative_test_error
from atomprobe.render.verdicts import NAN, VERDICTS, claim_verdict, rules_text

MEASURE_KINDS = ("value", "contrast", "range", "ratio", "ranking", "trend", "none")
CSV_COLUMNS = (
    "id",
    "measure",
    "measure_name",
    "decides",
    "paper_value",
    "ours",
    "ci_low",
    "ci_high",
    "median",
    "n_below_minus_one",
    "n",
    "verdict",
    "claim_verdict",
    "rule",
    "reason",
    "cause",
    "assumption",
    "selection",
)


MEASUREMENT_PRINCIPLES = (
    "- **A cause from numbers** (column cause, `atomprobe.render.causes`): availability (the "
    "paper's models or data are not here), not run, a shown reading that reaches the paper "
    "where the deciding one does not, or the training budget: the deciding measure recomputed "
    "on every kept training checkpoint, called moving when its interval at the last epoch is "
    "clear of the first's (toward or away from the paper's number), else flat; otherwise "
    "unexplained.",
    "- **Seeds are replicas**: a claim about trained models must hold across training runs, "
    "not only across the folds of one. Where a measure's models are replicas (registry "
    "`seeds`), its interval is a Student-t interval over the seed means (each seed's models "
    "and folds pooled; n_seeds − 1 degrees of freedom), and a contrast pairs a and b by seed "
    "(Welch over seed means where their seeds differ). Range and ranking measures count each "
    "replica as a model, so every seed must satisfy them. One seed: the fold interval.",
    "- **Composition encoding follows the pooling**: the compositional part of a mean-pooled "
    "representation is linear in element fractions, of a sum-pooled one in counts, so "
    "`cpd.composition.encoding: auto` removes fractions from mean-pooled features and counts "
    "from sum-pooled ones; table 9 shows both encodings for every model.",
    "- **The ceiling**: the target is not residualised, so R²_geom cannot exceed "
    "1 − R²(y | [1 | C]) on the same folds (OLS of the target on the composition alone); "
    "tables 1 and 2 show it beside every R²_geom. A paper value above our ceiling cannot be an "
    "R²_geom of that target on data like ours.",
    "- **Protocols**: ours (projection fitted per fold, shuffled folds) decides. The author's "
    "toolkit protocol (matscope 0.2.0: composition removed in-sample by Ridge(α=1) on "
    "standardised fractions, StandardScaler + Ridge(α=1), unshuffled 5-fold CV) is shown beside "
    "A1, A2 and B1–B4, never deciding; table 10 shows it on unshuffled and shuffled folds, and "
    "ours on shuffled, unshuffled and formula-grouped folds (no formula in both training and "
    "test rows). QM9 is ordered by index, so unshuffled folds test on molecules unlike the "
    "training ones: table 10's toolkit − shuffled column says by how much that moves R²_geom.",
    "- **Routing**: L≥1 channels are made invariant by per-atom norms, then pooled (the "
    "deciding readings and group `all`); pooling each channel's vector components over the "
    "atoms first and then taking the norm (a dipole is a sum of vectors) gives the "
    "`*_pooled` groups, shown beside them in B6–B8 and table 6.",
    "- **Measures that hold by construction never decide**: B9's composition at chance "
    "(isomers share a formula), PB2's higher-to-lower cumulant orders (a column subset), and "
    "A5 where the control's linear ceiling leaves no room (room rule); they are shown as "
    "checks of the pipeline.",
    "- **Paper B**: GFRE/LFRE use the authors' relative alphas (`reconstruction."
    "relative_alphas`); the local ridge drops singular directions below the precision the "
    "features are stored in (numpy's numerical-rank rule: float32 twins of symmetry-equivalent "
    "atoms must not be fitted as signal); LFRE is an RMS over test atoms with the median "
    "pointwise error beside it, and over model pairs the median of the pairs beside their mean "
    "(one pair can dominate a mean); atom-level errors decide on paper B's split (atoms of one "
    "structure on both sides, so a symmetry twin of a test atom can be in training) and are "
    "shown on a structure-level split of the atoms.",
)


def load_claims() -> list[dict[str, Any]]:
    """The claims list from ``claims.yaml``, checked for the fields every claim needs.

    Returns
    -------
    list of dict
        One dict per claim, in file order.

    Raises
    ------
    ConfigError
        A claim lacks a required key or names an unknown measure kind.
    """
    text = resources.files("atomprobe.render").joinpath("claims.yaml").read_text()
    where = "atomprobe/render/claims.yaml"
    claims = yaml.safe_load(text)["claims"]
    for claim in claims:
        for key in ("id", "claim", "paper_value", "source", "measure"):
            if key not in claim:
                raise ConfigError(f"{where}: claim {claim.get('id', '?')} lacks key {key!r}")
        for measure in [claim["measure"], *claim.get("also", [])]:
            if measure.get("kind") not in MEASURE_KINDS:
                raise ConfigError(
                    f"{where}: claim {claim['id']}: measure kind {measure.get('kind')!r} "
                    f"is not one of {MEASURE_KINDS}"
                )
    return claims


def _with_representation(spec: Mapping[str, Any], representation: str) -> dict[str, Any]:
    spec = copy.deepcopy(dict(spec))
    for key in ("select", "a", "b"):
        if key in spec:
            spec[key]["representation"] = representation
    return spec


def claim_measures(claim: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The claim's measures in report order, each with ``name`` and ``decides`` filled in.

    A measure with ``readings: [r1, r2, …]`` becomes one measure per representation: the first
    decides, the others are shown beside it (``decides: false``).

    Parameters
    ----------
    claim : mapping
        One entry of ``claims.yaml``.

    Returns
    -------
    list of dict
        Measures with ``kind``, ``name``, ``decides`` and the kind's keys.
    """
    out = []
    for measure in [claim["measure"], *claim.get("also", [])]:
        readings = measure.get("readings")
        base = {k: v for k, v in measure.items() if k != "readings"}
        base.setdefault("name", base["kind"])
        base.setdefault("decides", True)
        if not readings:
            out.append(base)
            continue
        for i, representation in enumerate(readings):
            copy_ = _with_representation(base, representation)
            copy_["name"] = f"{base['name']} [{representation}]"
            copy_["decides"] = base["decides"] and i == 0
            if i:
                copy_["role"] = "alternative reading"
            out.append(copy_)
    return out


def deciding_index(measures: Sequence[Mapping[str, Any]]) -> int:
    """Index of the measure that decides a claim: the first with ``decides`` (0 if none does:
    the first measure then heads the row)."""
    return next((i for i, m in enumerate(measures) if m["decides"]), 0)


def _evaluate(results: Results, measure: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    if measure["kind"] == "none":
        outcome = Outcome("—", "not comparable", measure["reason"], "—", rule="none")
    else:
        outcome = MEASURES[measure["kind"]](results, measure, cfg)
    outcome.name = measure["name"] + (f" ({measure['role']})" if measure.get("role") else "")
    outcome.decides = bool(measure["decides"])
    return outcome


def evaluate_claim(
    claim: Mapping[str, Any],
    results: Results,
    cfg: Mapping[str, Any],
    ladder: Sequence[tuple[int, Results]] = (),
    explain: bool = True,
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """One report row and the claim's per-measure rows.

    Parameters
    ----------
    claim : mapping
        One entry of ``claims.yaml``.
    results : Results
        The cached results.
    cfg : mapping
        The render config.
    ladder : sequence of (int, Results), default=()
        Every rung of a training-budget ladder as it sees the results (for the cause).
    explain : bool, default=True
        Work out the cause (False leaves it empty: the ladder table does not show it).

    Returns
    -------
    row : dict
        id, paper, claim, paper_value, source, assumption, ours, selection, verdict, reason,
        measures (every measure's verdict in words), cause (why it is not reproduced, from
        the numbers: :func:`atomprobe.render.causes.claim_cause`), shown_in (the tables and
        figures that carry the claim's numbers), headline (the deciding measure's value).
    measures : list of dict
        One dict per measure with the columns of :data:`CSV_COLUMNS`.
    """
    measures = claim_measures(claim)
    outcomes = [_evaluate(results, m, cfg) for m in measures]
    verdict, missing = claim_verdict(outcomes)
    comparable = claim.get("comparable", True) is not False
    many = len(outcomes) > 1

    def tag(i: int) -> str:
        return f"({i + 1}) " if many else ""

    reasons = "; ".join(tag(i) + o.reason for i, o in enumerate(outcomes))
    if not comparable:
        verdict, reasons = "not comparable", f"{claim['reason']} (rule check: {reasons})"
    elif missing and verdict != "not comparable":
        reasons += "; not comparable: " + ", ".join(f"({i + 1})" for i in missing)
    cause = ""
    if explain:
        rung_verdicts = [
            (rung, evaluate_claim(claim, seen, cfg, explain=False)[0]["verdict"])
            for rung, seen in (ladder if len(ladder) > 1 else ())
        ]
        cause = claim_cause(
            claim, measures, outcomes, verdict, results, cfg, _evaluate, ladder, rung_verdicts
        )
    measures_text = "; ".join(
        f"{tag(i)}{o.name}: {o.verdict}" + ("" if o.decides else " (shown, does not decide)")
        for i, o in enumerate(outcomes)
    )
    row = {
        "id": claim["id"],
        "paper": claim.get("paper", ""),
        "claim": claim["claim"],
        "paper_value": claim["paper_value"],
        "source": claim["source"],
        "assumption": claim.get("assumption", ""),
        "ours": "; ".join(tag(i) + o.ours for i, o in enumerate(outcomes)),
        "measures": measures_text,
        "selection": " || ".join(tag(i) + o.selection for i, o in enumerate(outcomes)),
        "verdict": verdict,
        "reason": reasons,
        "cause": cause,
        "shown_in": list(claim.get("shown_in", [])),
        "headline": outcomes[deciding_index(measures)].ours,
    }
    rows = [
        {
            "id": claim["id"],
            "measure": i + 1,
            "measure_name": o.name,
            "decides": o.decides,
            "paper_value": o.paper,
            "ours": o.mean,
            "ci_low": o.low,
            "ci_high": o.high,
            "median": o.median,
            "n_below_minus_one": o.n_below,
            "n": o.n,
            "verdict": o.verdict if comparable else "not comparable",
            "claim_verdict": verdict,
            "rule": o.rule,
            "reason": o.reason if comparable else f"{claim['reason']} (rule check: {o.verdict})",
            "cause": cause,
            "assumption": claim.get("assumption", ""),
            "selection": o.selection,
        }
        for i, o in enumerate(outcomes)
    ]
    return row, rows


def reproduction_tables(
    results: Results, cfg: Mapping[str, Any], claims: Sequence[Mapping[str, Any]] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All claims evaluated: one row per claim, and one row per claim and measure.

    Claims are judged on the first training-budget rung (every model when the registry has no
    rungs); the other rungs of a ladder inform the cause
    (:func:`~atomprobe.render.causes.claim_cause`).

    Parameters
    ----------
    results : Results
        The cached results.
    cfg : mapping
        The render config.
    claims : sequence of mapping, optional
        The claims (default: ``claims.yaml``).

    Returns
    -------
    claims : DataFrame
        One row per claim, in the order of ``claims.yaml`` (the Markdown report).
    measures : DataFrame
        One row per claim and measure, columns :data:`CSV_COLUMNS`
        (``results/reproduction.csv``).
    """
    claims = load_claims() if claims is None else claims
    ladder = [(rung, results.at_rung(rung)) for rung in results.rungs()]
    rows, measures = [], []
    for claim in claims:
        row, parts = evaluate_claim(claim, ladder[0][1], cfg, ladder)
        rows.append(row)
        measures += parts
    return pd.DataFrame(rows), pd.DataFrame(measures, columns=list(CSV_COLUMNS))


def _cell(text: object) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def _cpd_settings(metadata: Mapping[str, Mapping[str, Any]]) -> str:
    """The cross-validation settings recorded in the CPD score files' provenance."""
    settings = sorted(
        {
            json.dumps(doc.get("provenance", {}).get("params", {}).get("cv"), sort_keys=True)
            for name, doc in metadata.items()
            if name.startswith("cpd:")
        }
        - {"null"}
    )
    if not settings:
        return "no CPD score files"
    return "CPD cross-validation (from the score files' provenance): " + "; ".join(settings)


def to_markdown(
    frame: pd.DataFrame,
    cfg: Mapping[str, Any],
    run: Mapping[str, Any],
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
    findings: Sequence[str] = (),
) -> str:
    """``results/reproduction.md``: the verdict counts and the claims first, then how to read
    them (the run settings, the rules, the principles and findings).

    Parameters
    ----------
    frame : DataFrame
        One row per claim (the first frame of :func:`reproduction_tables`).
    cfg : mapping
        The render config.
    run : mapping
        Run information (``configfiles``, ``models``).
    metadata : mapping, optional
        Score-file metadata (provenance of the CPD settings).
    findings : sequence of str, optional
        Sentences computed from the tables (e.g. what table 8 shows), listed under the rules.

    Returns
    -------
    str
        The Markdown report.
    """
    metadata = metadata or {}
    counts = frame["verdict"].value_counts()
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    lines = [
        "# Reproduction report",
        "",
        "Every claim of paper A (Steier, arXiv 2603.03155; ids A = v1, B = v2) and paper B "
        "(Chorna et al., arXiv 2512.05717; ids PB) beside our measurement.",
        "",
        f"**Summary:** {summary} (claims; one verdict each).",
        "",
        "## Claims",
        "",
        "| id | claim | paper | ours | verdict | measures | reason | cause | assumption | "
        "selection (config) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = (
        "id",
        "claim",
        "paper_value",
        "ours",
        "verdict",
        "measures",
        "reason",
        "cause",
        "assumption",
        "selection",
    )
    lines += ["| " + " | ".join(_cell(row[k]) for k in keys) + " |" for _, row in frame.iterrows()]
    lines += [
        "",
        "## How to read it",
        "",
        f"- Ours: mean over folds × repeats with a {cfg['ci_level']:.0%} Student-t interval in "
        f"brackets; reported layer: `{cfg['layer']}` unless the selection says otherwise. "
        "`results/reproduction.csv` has one row per claim and measure with the per-fold "
        "median (over model pairs: the median of the pairs' means) and the number of folds "
        "below −1.",
        "- Verdict rules (full text: `atomprobe/render/verdicts.py`):",
        *["  " + line for line in rules_text(cfg)],
        "- Assumptions: where the papers leave a choice open (which model, which quantity), the "
        "row states ours.",
        "- What is measured, and why (each a principle stated before its numbers were seen):",
        *["  " + line for line in MEASUREMENT_PRINCIPLES],
        "- The default config trains small models on a QM9 subset on 2 CPU cores (the CI config "
        "config/tiny.yaml is smaller still: smoke-test numbers); the paper used larger models "
        "and data, so magnitudes are expected to move. Nothing here is tuned toward the "
        "paper's numbers.",
        f"- Config: {', '.join(run.get('configfiles', [])) or 'config/config.yaml'}; "
        f"models: {run.get('models', 'all')}; {_cpd_settings(metadata)}.",
        *(f"- {finding}" for finding in findings),
    ]
    return "\n".join(lines) + "\n"


# how each verdict is marked on the report's landing page: a symbol (it reads in greyscale) and
# a background colour
VERDICT_MARKS: dict[str, tuple[str, str]] = {
    "reproduced": ("\u2714", "#c8e6c9"),
    "same direction": ("\u2248", "#fff0b3"),
    "differs": ("\u2718", "#f6c9c4"),
    "not comparable": ("\u2013", "#e0e0e0"),
}


def _slug(verdict: str) -> str:
    return "verdict-" + verdict.replace(" ", "-")


def _rst_text(text: object) -> str:
    """``text`` on one line with reStructuredText's inline markup characters escaped, and a
    leading "(1)" or "1." escaped so that it is not read as a list."""
    escaped = str(text).replace("\\", "\\\\")
    for char in "*`|_":
        escaped = escaped.replace(char, "\\" + char)
    escaped = " ".join(escaped.split())
    return "\\" + escaped if re.match(r"\(?\d+[.)]", escaped) else escaped


def landing_rst(frame: pd.DataFrame, tables: Sequence[str], figures: Sequence[str]) -> str:
    """The report's landing page (``results/reproduction_summary.rst``): the verdict counts and
    every claim with its verdict marked by symbol and colour, and links to the tables and
    figures that carry it (reStructuredText references to the report's own files, which
    ``snakemake --report`` resolves).

    Parameters
    ----------
    frame : DataFrame
        One row per claim (the first frame of :func:`reproduction_tables`).
    tables, figures : sequence of str
        The names of the tables (linked as ``<name>.md``) and figures (``<name>.png``).

    Returns
    -------
    str
        reStructuredText.

    Raises
    ------
    ConfigError
        A claim's ``shown_in`` names neither a table nor a figure.
    """
    counts = frame["verdict"].value_counts()
    style = " ".join(
        f".{_slug(v)} {{background: {colour}; padding: 0 0.3em; border-radius: 3px;}}"
        for v, (_, colour) in VERDICT_MARKS.items()
    )
    style += " #app .prose.max-w-lg {max-width: 80rem;}"  # the landing page's column: wider
    spans = " ".join(
        f'<span class="{_slug(v)}" data-verdict="{v}" data-count="{counts.get(v, 0)}">'
        f"{mark} {counts.get(v, 0)} {v}</span>"
        for v, (mark, _) in VERDICT_MARKS.items()
    )
    lines = [
        "Reproduction verdicts",
        "=====================",
        "",
        ".. raw:: html",
        "",
        f"   <style>{style}</style>",
        f'   <p id="atomprobe-verdict-counts">{spans} ({len(frame)} claims)</p>',
        "",
        *[line for v in VERDICT_MARKS for line in (f".. role:: {_slug(v)}", "")],
        "Each claim of paper A (ids A: v1, B: v2) and paper B (PB) beside our value; the rules "
        "and every measure are in the report's Reproduction category (`reproduction.md`_).",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 6 40 14 26 14 20",
        "",
        "   * - id",
        "     - claim",
        "     - paper",
        "     - ours",
        "     - verdict",
        "     - shown in",
    ]
    for _, row in frame.iterrows():
        links = []
        for name in row["shown_in"]:
            if name in tables:
                links.append(f"`{name}.md`_")
            elif name in figures:
                links.append(f"`{name}.png`_")
            else:
                raise ConfigError(
                    f"atomprobe/render/claims.yaml: claim {row['id']}: shown_in {name!r} is "
                    f"neither a table {list(tables)} nor a figure {list(figures)}"
                )
        mark = VERDICT_MARKS[row["verdict"]][0]
        lines += [
            f"   * - {row['id']}",
            f"     - {_rst_text(row['claim'])}",
            f"     - {_rst_text(row['paper_value'])}",
            f"     - {_rst_text(row['headline'])}",
            f"     - :{_slug(row['verdict'])}:`{mark} {row['verdict']}`",
            f"     - {', '.join(links) or '—'}",
        ]
    return "\n".join(lines) + "\n"


LADDER_COLUMNS = (
    "id",
    "rung",
    "train_passes",
    "relative_test_error",
    "verdict",
    "measure_name",
    "ours",
    "ci_low",
    "ci_high",
    "paper_number",
)


def ladder_table(
    results: Results, cfg: Mapping[str, Any], claims: Sequence[Mapping[str, Any]] | None = None
) -> pd.DataFrame:
    """Every claim judged on every rung of a training-budget ladder (``results/ladder.csv``).

    Parameters
    ----------
    results : Results
        The cached results (registry ``rung``, ``train_passes``, ``test_mae``).
    cfg : mapping
        The render config.
    claims : sequence of mapping, optional
        The claims (default: ``claims.yaml``).

    Returns
    -------
    DataFrame
        One row per claim and rung, columns :data:`LADDER_COLUMNS`: the rung's median training
        passes and median relative test error (:func:`~atomprobe.render.tables.relative_test_error`)
        of its models trained here, the claim's verdict, its deciding measure's mean and
        interval on that rung, and the paper's number for that measure (NaN: a direction only).
    """
    claims = load_claims() if claims is None else claims
    rows = []
    for rung in results.rungs():
        seen = results.at_rung(rung)
        registry = seen.registry
        trained = (
            registry.loc[registry["source"] == Source.TRAIN] if "source" in registry else registry
        )
        passes = trained["train_passes"].median() if "train_passes" in trained else NAN
        error = float(relative_test_error(trained).median()) if len(trained) else NAN
        for claim in claims:
            row, parts = evaluate_claim(claim, seen, cfg, explain=False)
            measures = claim_measures(claim)
            index = deciding_index(measures)
            deciding, paper = parts[index], paper_number(measures[index])
            rows.append(
                {
                    "id": claim["id"],
                    "rung": rung,
                    "train_passes": passes,
                    "relative_test_error": error,
                    "verdict": row["verdict"],
                    "measure_name": deciding["measure_name"],
                    "ours": deciding["ours"],
                    "ci_low": deciding["ci_low"],
                    "ci_high": deciding["ci_high"],
                    "paper_number": NAN if paper is None else paper,
                }
            )
    return pd.DataFrame(rows, columns=list(LADDER_COLUMNS))


LADDER_CHECKPOINT_COLUMNS = (
    "id",
    "rung",
    "epoch",
    "measure_name",
    "ours",
    "ci_low",
    "ci_high",
    "paper_number",
)


def ladder_checkpoint_table(
    results: Results, cfg: Mapping[str, Any], claims: Sequence[Mapping[str, Any]] | None = None
) -> pd.DataFrame:
    """Each claim's deciding measure on every kept training checkpoint of every rung
    (``results/ladder_checkpoints.csv``): does it open up as the models train?

    Parameters
    ----------
    results : Results
        The cached results (analysis ``checkpoint_cpd``, registry ``rung``).
    cfg : mapping
        The render config.
    claims : sequence of mapping, optional
        The claims (default: ``claims.yaml``).

    Returns
    -------
    DataFrame
        One row per claim, rung and epoch that all of the rung's selected models reached,
        columns :data:`LADDER_CHECKPOINT_COLUMNS`; claims whose deciding measure does not read
        CPD scores of trained models have no rows.
    """
    claims = load_claims() if claims is None else claims
    rows = []
    for rung in results.rungs():
        seen = results.at_rung(rung)
        for claim in claims:
            measures = claim_measures(claim)
            measure = measures[deciding_index(measures)]
            paper = paper_number(measure)
            for epoch, outcome in checkpoint_outcomes(measure, seen, cfg, _evaluate):
                rows.append(
                    {
                        "id": claim["id"],
                        "rung": rung,
                        "epoch": epoch,
                        "measure_name": outcome.name,
                        "ours": outcome.mean,
                        "ci_low": outcome.low,
                        "ci_high": outcome.high,
                        "paper_number": NAN if paper is None else paper,
                    }
                )
    return pd.DataFrame(rows, columns=list(LADDER_CHECKPOINT_COLUMNS))


def ladder_markdown(frame: pd.DataFrame, digits: int = 3, level: int = 1) -> str:
    """``results/ladder.md``: each claim's verdict and deciding number per rung, a column each
    (``level``: the Markdown level of its heading; 2 where it is a section of the report)."""
    rungs = sorted(set(frame["rung"]))
    budget = frame.drop_duplicates("rung").set_index("rung")
    lines = [
        "#" * level + " Claims along the training-budget ladder",
        "",
        "Each claim judged, as in results/reproduction.md, on the models of each rung (and "
        "every model not trained here); per rung: its verdict and the deciding measure's mean "
        "[interval].",
        "",
        "| rung | " + " | ".join(str(r) for r in rungs) + " |",
        "|---|" + "---|" * len(rungs),
        "| median training passes | "
        + " | ".join(f"{budget.loc[r, 'train_passes']:,.0f}" for r in rungs)
        + " |",
        "| median test MAE / baseline MAE | "
        + " | ".join(f"{budget.loc[r, 'relative_test_error']:.{digits}f}" for r in rungs)
        + " |",
    ]
    for claim, part in frame.groupby("id", sort=False):
        cells = []
        for _, row in part.sort_values("rung").iterrows():
            cells.append(
                f"{row['verdict']}: {format_ci(row['ours'], row['ci_low'], row['ci_high'], digits)}"
            )
        lines.append(f"| {claim} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
