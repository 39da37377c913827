"""The reproduction report: every claim of the papers beside our number and a verdict.

Claims (text, paper value, source, and which of our results to compare) live in ``claims.yaml``
next to this module. Our numbers come from the cached results through
:mod:`atomprobe.render.aggregate`, like every table. Verdicts follow fixed rules, stated here and
printed in the report; ``tolerance`` (config ``render.verdict.tolerance``, absolute, in the units
of the claim: R², accuracy or GFRE) is set once for all claims, never per claim.

Let ``[lo, hi]`` be our confidence interval (our mean when it has none) widened by ``tolerance``.
An interval wider than ``max_interval_width`` (config ``render.verdict.max_interval_width``, in
the claim's units) is too wide to confirm a value: the paper's value never counts as inside it.

value (paper value ``p``; optional no-effect ``reference`` r, e.g. 0 for R², 0.5 for chance)
    reproduced      ``p`` lies in ``[lo, hi]``;
    same direction  otherwise, ``p`` and our interval lie strictly on the same side of r;
    differs         otherwise.
contrast (a − b; paper gives a and b, or their difference, or only a direction)
    reproduced      a and b (or the difference) each pass the value rule; for a direction-only
                    claim: our difference has the paper's sign and its interval excludes 0;
    same direction  otherwise, our difference has the paper's sign and its interval excludes 0;
    differs         otherwise (opposite sign, or no difference distinguishable from 0).
range (paper ``[p_lo, p_hi]`` over models; ours = min and max of the per-model means)
    reproduced      every per-model mean lies in ``[p_lo − tol, p_hi + tol]``;
    same direction  otherwise, every per-model mean lies on the paper's side of the reference;
    differs         otherwise.
ranking (paper tiers of families, best first)
    over all pairs of our models from different tiers, the fraction ordered as the tiers say:
    reproduced = 1, same direction > 0.5, differs ≤ 0.5.
not comparable
    the claim is about models or data we do not have (``comparable: false``, reason given),
    nothing is measurable (``kind: none``), or the needed models/analyses were not run.
A claim with several measures (``also``) gets the least favourable of their verdicts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from atomprobe.errors import ConfigError, DataError
from atomprobe.render.aggregate import summarise
from atomprobe.render.inputs import Results
from atomprobe.render.tables import format_ci, reported_layer_scores, select_rows
from atomprobe.stats import t_interval

VERDICTS = ("reproduced", "same direction", "differs", "not comparable")
MEASURE_KINDS = ("value", "contrast", "range", "ranking", "none")
CPD_DEFAULTS = {"probe": "ridge", "group": "all"}


@dataclass
class Outcome:
    """Our side of one measure: the formatted number, the verdict and why."""

    ours: str
    verdict: str
    reason: str
    selection: str


def load_claims() -> list[dict[str, Any]]:
    """The claims list from ``claims.yaml``, checked for the fields every claim needs."""
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


# ---------------------------------------------------------------- selecting our numbers


def _registry_models(results: Results, models: Mapping[str, Any] | None) -> list[str]:
    """Registry names matching every key of ``models`` (a value or a list of values)."""
    registry = results.registry
    if not models:
        return list(results.model_order())
    return list(select_rows(registry, **models)["name"])


def select(
    results: Results, spec: Mapping[str, Any], cfg: Mapping[str, Any]
) -> tuple[pd.DataFrame, str]:
    """Per-observation values for one selection spec: (frame, description).

    ``spec`` keys: ``scores`` (``cpd`` or an analysis name), ``models`` (registry filter),
    ``value`` (score column; ``r2`` for cpd), ``layer`` (cpd only) and column filters. Special
    filters: ``off_diagonal: true`` keeps rows whose ``source`` differs from ``target``; a
    filter value ``first`` / ``last`` keeps each model's smallest / largest value of that column.
    The frame has ``value`` plus whichever of ``model, repeat, fold, ci_low, ci_high`` exist.
    """
    spec = dict(spec)
    name = spec.pop("scores")
    models = _registry_models(results, spec.pop("models", None))
    value = spec.pop("value", "r2")
    off_diagonal = spec.pop("off_diagonal", False)
    if name == "cpd":
        layer = spec.pop("layer", cfg["layer"])
        filters = {"dataset": cfg["dataset"], **CPD_DEFAULTS, **spec}
        frame = reported_layer_scores(results.cpd, layer, results.analysis("layer_profile"))
        described = {**filters, "layer": layer}
    else:
        frame = results.analysis(name)
        if frame is None:
            return pd.DataFrame(columns=["model", "value"]), f"{name}: not run"
        filters, described = spec, dict(spec)
    unknown = [c for c in filters if c not in frame.columns]
    if unknown:
        raise DataError(f"claims.yaml selects on column(s) {unknown} absent from {name} scores")
    extremes = {c: v for c, v in filters.items() if v in ("first", "last")}
    frame = select_rows(frame, **{c: v for c, v in filters.items() if c not in extremes})
    if "model" in frame.columns:
        frame = frame.loc[frame["model"].isin(models)]
    for column, which in extremes.items():
        by_model = frame.groupby("model")[column]
        wanted = by_model.transform("min" if which == "first" else "max")
        frame = frame.loc[frame[column] == wanted]
    if off_diagonal:
        frame = frame.loc[frame["source"] != frame["target"]]
    if value not in frame.columns:
        raise DataError(f"claims.yaml reads column {value!r} absent from {name} scores")
    keep = [c for c in ("model", "repeat", "fold", "ci_low", "ci_high") if c in frame.columns]
    out = frame[keep].assign(value=frame[value].astype(float)).reset_index(drop=True)
    used = sorted(set(out["model"])) if "model" in out.columns else []
    text = f"{name}: " + ", ".join(f"{k}={v}" for k, v in described.items())
    if used:
        text += "; models " + ", ".join(used)
    return out, text


def _pair_keys(frame: pd.DataFrame) -> list[str]:
    return [c for c in ("repeat", "fold") if c in frame.columns]


def _pooled(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One value per key (the mean over the selected models), or the rows when no keys."""
    if not keys or frame.empty:
        return frame
    return frame.groupby(list(keys), as_index=False)["value"].mean()


# ---------------------------------------------------------------- verdict rules


def _within(
    paper: float,
    low: float,
    high: float,
    mean: float,
    tolerance: float,
    max_width: float = math.inf,
) -> bool:
    """Whether ``paper`` lies in our interval ± tolerance (an over-wide interval holds nothing)."""
    if _too_wide(low, high, max_width):
        return False
    low, high = (mean, mean) if not (math.isfinite(low) and math.isfinite(high)) else (low, high)
    return low - tolerance <= paper <= high + tolerance


def _too_wide(low: float, high: float, max_width: float) -> bool:
    """Whether our interval is wider than ``max_width`` (an interval-less mean never is)."""
    return math.isfinite(low) and math.isfinite(high) and high - low > max_width


def _side(x: float, reference: float) -> int:
    return int(np.sign(x - reference))


def verdict_value(
    mean: float,
    low: float,
    high: float,
    paper: float,
    reference: float | None,
    tolerance: float,
    max_width: float = math.inf,
) -> tuple[str, str]:
    """Apply the value rule; returns (verdict, reason)."""
    if _within(paper, low, high, mean, tolerance, max_width):
        return "reproduced", f"paper value within our interval ± {tolerance:g}"
    if reference is not None and math.isfinite(low) and math.isfinite(high):
        paper_side = _side(paper, reference)
        if paper_side != 0 and _side(low, reference) == _side(high, reference) == paper_side:
            return "same direction", (
                f"ours and the paper lie on the same side of {reference:g}, magnitudes differ"
            )
    if _too_wide(low, high, max_width):
        return "differs", f"our interval is wider than {max_width:g}: too wide to confirm"
    return "differs", f"paper value outside our interval ± {tolerance:g}"


def verdict_difference(mean: float, low: float, high: float, paper_sign: int) -> tuple[bool, str]:
    """Whether our difference has the paper's sign with an interval excluding 0."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return False, "our difference has no interval (one observation)"
    if (paper_sign > 0 and low > 0) or (paper_sign < 0 and high < 0):
        return True, "difference has the paper's sign, interval excludes 0"
    if _side(low, 0) == _side(high, 0) != 0:
        return False, "difference has the opposite sign"
    return False, "difference not distinguishable from 0"


def verdict_range(
    means: Sequence[float], paper: Sequence[float], reference: float | None, tolerance: float
) -> tuple[str, str]:
    """Apply the range rule to per-model means."""
    low, high = paper
    if all(low - tolerance <= m <= high + tolerance for m in means):
        return "reproduced", f"every model within the paper's range ± {tolerance:g}"
    if reference is not None:
        side = _side(low, reference)
        if (
            side != 0
            and side == _side(high, reference)
            and all(_side(m, reference) == side for m in means)
        ):
            return "same direction", f"every model on the paper's side of {reference:g}"
    return "differs", f"some model outside the paper's range ± {tolerance:g}"


def verdict_ranking(agreement: float) -> tuple[str, str]:
    """Apply the ranking rule to the fraction of cross-tier pairs in the paper's order."""
    text = f"{agreement:.0%} of cross-tier model pairs in the paper's order"
    if agreement == 1.0:
        return "reproduced", text
    if agreement > 0.5:
        return "same direction", text
    return "differs", text


# ---------------------------------------------------------------- measures


def _summary(frame: pd.DataFrame, level: float) -> tuple[float, float, float, int]:
    """Mean and interval: over folds (models pooled per fold), else over rows (models).

    A single row that carries its own interval (``ci_low``/``ci_high``, e.g. the isomer
    benchmark's bootstrap) keeps it.
    """
    if len(frame) == 1 and {"ci_low", "ci_high"} <= set(frame.columns):
        row = frame.iloc[0]
        return float(row["value"]), float(row["ci_low"]), float(row["ci_high"]), 1
    return t_interval(_pooled(frame, _pair_keys(frame))["value"].to_numpy(), level)


def _not_run(selection: str) -> Outcome:
    reason = "not run: no such scores in this run (model, analysis or setting not configured)"
    return Outcome("not run", "not comparable", reason, selection)


def measure_value(results: Results, m: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    """One quantity against the paper's value."""
    frame, text = select(results, m["select"], cfg)
    if frame.empty:
        return _not_run(text)
    mean, low, high, _ = _summary(frame, cfg["ci_level"])
    rules = cfg["verdict"]
    verdict, reason = verdict_value(
        mean,
        low,
        high,
        float(m["paper"]),
        m.get("reference"),
        rules["tolerance"],
        rules["max_interval_width"],
    )
    return Outcome(format_ci(mean, low, high, cfg["digits"]), verdict, reason, text)


def _difference(
    a: pd.DataFrame, b: pd.DataFrame, pair_on: Sequence[str] | None, level: float
) -> tuple[float, float, float, int]:
    """Mean and interval of a − b: paired on ``pair_on`` keys, else Welch (unpaired)."""
    if pair_on:
        merged = _pooled(a, pair_on).merge(
            _pooled(b, pair_on), on=list(pair_on), suffixes=("_a", "_b")
        )
        return t_interval((merged["value_a"] - merged["value_b"]).to_numpy(), level)
    xa = _pooled(a, _pair_keys(a))["value"].to_numpy(dtype=float)
    xb = _pooled(b, _pair_keys(b))["value"].to_numpy(dtype=float)
    diff = float(xa.mean() - xb.mean())
    if xa.size < 2 or xb.size < 2:
        return diff, math.nan, math.nan, min(xa.size, xb.size)
    va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff, min(xa.size, xb.size)
    dof = (va + vb) ** 2 / (va**2 / (xa.size - 1) + vb**2 / (xb.size - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    return diff, diff - half, diff + half, min(xa.size, xb.size)


def measure_contrast(results: Results, m: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    """Quantity a minus quantity b against the paper's a, b, difference or direction."""
    level, tol, digits = cfg["ci_level"], cfg["verdict"]["tolerance"], cfg["digits"]
    max_width = cfg["verdict"]["max_interval_width"]
    a, text_a = select(results, m["a"], cfg)
    b, text_b = select(results, m["b"], cfg)
    text = f"a = {text_a} | b = {text_b}"
    if a.empty or b.empty:
        return _not_run(text)
    sa, sb = _summary(a, level), _summary(b, level)
    pair_on = m.get("pair_on", _pair_keys(a) if _pair_keys(a) == _pair_keys(b) else None)
    diff = _difference(a, b, pair_on or None, level)
    ours = (
        f"a {format_ci(*sa[:3], digits)} vs b {format_ci(*sb[:3], digits)}; "
        f"a − b {format_ci(*diff[:3], digits)}"
    )
    paper = m["paper"]
    if "direction" in paper:
        sign = 1 if paper["direction"] == ">" else -1
    elif "difference" in paper:
        sign = int(np.sign(paper["difference"]))
    else:
        sign = int(np.sign(paper["a"] - paper["b"]))
    agrees, reason = verdict_difference(*diff[:3], sign)
    if "direction" in paper:
        return Outcome(ours, "reproduced" if agrees else "differs", reason, text)
    if "difference" in paper:
        close = _within(paper["difference"], diff[1], diff[2], diff[0], tol, max_width)
        wide = _too_wide(diff[1], diff[2], max_width)
    else:
        close = _within(paper["a"], sa[1], sa[2], sa[0], tol, max_width) and _within(
            paper["b"], sb[1], sb[2], sb[0], tol, max_width
        )
        wide = _too_wide(sa[1], sa[2], max_width) or _too_wide(sb[1], sb[2], max_width)
    if close:
        return Outcome(ours, "reproduced", f"paper values within our intervals ± {tol:g}", text)
    if wide and not agrees:
        reason = f"{reason}; our interval is wider than {max_width:g}: too wide to confirm"
    return Outcome(ours, "same direction" if agrees else "differs", reason, text)


def measure_range(results: Results, m: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    """Per-model means against the paper's range over models."""
    frame, text = select(results, m["select"], cfg)
    if frame.empty:
        return _not_run(text)
    per_model = summarise(frame, ["model"], value="value", level=cfg["ci_level"])
    means = per_model["mean"].to_numpy(dtype=float)
    verdict, reason = verdict_range(
        means, m["paper"], m.get("reference"), cfg["verdict"]["tolerance"]
    )
    digits = cfg["digits"]
    ours = f"{means.min():.{digits}f}–{means.max():.{digits}f} over {len(means)} model(s)"
    return Outcome(ours, verdict, reason, text)


def measure_ranking(results: Results, m: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    """Per-model means against the paper's tiers of families."""
    frame, text = select(results, m["select"], cfg)
    tier_of = {family: i for i, tier in enumerate(m["tiers"]) for family in tier}
    family = dict(zip(results.registry["name"], results.registry["family"], strict=True))
    frame = frame.loc[frame["model"].map(family).isin(tier_of)] if not frame.empty else frame
    per_model = summarise(frame, ["model"], value="value", level=cfg["ci_level"])
    tiers = per_model["model"].map(family).map(tier_of).to_numpy()
    means = per_model["mean"].to_numpy(dtype=float)
    pairs = [(i, j) for i in range(len(tiers)) for j in range(len(tiers)) if tiers[i] < tiers[j]]
    if not pairs:
        return _not_run(text + " (fewer than two tiers present)")
    agreement = float(np.mean([means[i] > means[j] for i, j in pairs]))
    verdict, reason = verdict_ranking(agreement)
    order = per_model.assign(tier=tiers).sort_values("mean", ascending=False)
    ours = " > ".join(
        f"{results.label(r.model)} {r.mean:.{cfg['digits']}f}" for r in order.itertuples()
    )
    return Outcome(ours, verdict, reason, text)


MEASURES = {
    "value": measure_value,
    "contrast": measure_contrast,
    "range": measure_range,
    "ranking": measure_ranking,
}


def evaluate_claim(
    claim: Mapping[str, Any], results: Results, cfg: Mapping[str, Any]
) -> dict[str, str]:
    """One report row: id, claim, paper value, ours, selection, verdict, reason."""
    outcomes = []
    for measure in [claim["measure"], *claim.get("also", [])]:
        if measure["kind"] == "none":
            outcomes.append(Outcome("—", "not comparable", measure["reason"], "—"))
        else:
            outcomes.append(MEASURES[measure["kind"]](results, measure, cfg))
    verdict = max((o.verdict for o in outcomes), key=VERDICTS.index)
    tag = (lambda i: f"({i + 1}) ") if len(outcomes) > 1 else (lambda i: "")
    reasons = "; ".join(tag(i) + o.reason for i, o in enumerate(outcomes))
    if claim.get("comparable", True) is False:
        verdict, reasons = "not comparable", f"{claim['reason']} (rule check: {reasons})"
    return {
        "id": claim["id"],
        "paper": claim.get("paper", ""),
        "claim": claim["claim"],
        "paper_value": claim["paper_value"],
        "source": claim["source"],
        "ours": "; ".join(tag(i) + o.ours for i, o in enumerate(outcomes)),
        "selection": " || ".join(tag(i) + o.selection for i, o in enumerate(outcomes)),
        "verdict": verdict,
        "reason": reasons,
    }


def reproduction_frame(
    results: Results, cfg: Mapping[str, Any], claims: Sequence[Mapping[str, Any]] | None = None
) -> pd.DataFrame:
    """All claims evaluated, one row each, in the order of ``claims.yaml``."""
    claims = load_claims() if claims is None else claims
    return pd.DataFrame([evaluate_claim(c, results, cfg) for c in claims])


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
) -> str:
    """``results/reproduction.md``: header with the run settings and rules, then the table."""
    metadata = metadata or {}
    counts = frame["verdict"].value_counts()
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    lines = [
        "# Reproduction report",
        "",
        "Every claim of paper A (Steier, arXiv 2603.03155; ids A = v1, B = v2) and paper B "
        "(Chorna et al., arXiv 2512.05717; ids PB) beside our measurement.",
        "",
        f"**Summary:** {summary}.",
        "",
        "## How to read it",
        "",
        f"- Ours: mean over folds × repeats with a {cfg['ci_level']:.0%} Student-t interval in "
        f"brackets; reported layer: `{cfg['layer']}` unless the selection says otherwise.",
        f"- Verdict rules (fixed before looking at the numbers; tolerance "
        f"{cfg['verdict']['tolerance']:g}, absolute, in the claim's units): "
        "**reproduced** = the paper's value lies in our interval widened by the tolerance, and "
        f"that interval is at most {cfg['verdict']['max_interval_width']:g} wide (this width "
        "rule was added after the first default run, where an interval 2,000 wide counted as "
        "reproducing A2; it can only make a verdict stricter); "
        "**same direction** = not that, but ours and the paper's lie on the same side of the "
        "no-effect value (0 for R² and differences, 0.5 for pairwise accuracy) with our interval "
        "excluding it; **differs** = neither; **not comparable** = different models or data, or "
        "not run, with the reason. Full rules: `atomprobe/render/reproduction.py`.",
        "- The default config trains small models on a QM9 subset on 2 CPU cores (the CI config "
        "config/tiny.yaml is smaller still: smoke-test numbers); the paper used larger models "
        "and data, so magnitudes are expected to move. Nothing here is tuned toward the "
        "paper's numbers.",
        f"- Config: {', '.join(run.get('configfiles', [])) or 'config/config.yaml'}; "
        f"models: {run.get('models', 'all')}; {_cpd_settings(metadata)}.",
        "",
        "## Claims",
        "",
        "| id | claim | paper | ours | verdict | reason | selection (config) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        "| "
        + " | ".join(
            _cell(row[k])
            for k in ("id", "claim", "paper_value", "ours", "verdict", "reason", "selection")
        )
        + " |"
        for _, row in frame.iterrows()
    ]
    return "\n".join(lines) + "\n"
