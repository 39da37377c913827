"""The reproduction report: every claim of the papers beside our number and a verdict.

Claims (text, paper value, source, assumption, and which of our results to compare) live in
``claims.yaml`` next to this module. Our numbers come from the cached results through
:mod:`atomprobe.render.aggregate`, like every table. Verdicts follow fixed rules, stated here and
printed in the report (:data:`RULES`). Their constants are set once for all claims, never per
claim (config ``render.verdict``):

``tolerance`` (tol, default 0.05)
    absolute, in the claim's units (R², accuracy, GFRE): our interval is widened by it on both
    sides before a paper value is compared with it.
``clear_difference`` (D, default 0.25)
    the distance at which two values of a claim are clearly different (0.25 is the smallest
    difference paper A itself calls a clear effect: gap- vs energy-trained models). For a contrast
    stated as a and b, D is the smaller of this and the paper's own |a − b|.
``direction_factor`` (F, default 2)
    how far (as a factor) our effect may be from the paper's and still count as "same direction".
``ranking_agreement`` (default 0.8)
    the fraction of cross-tier model pairs that must be in the paper's order for a ranking to
    count as "same direction" (chance is 0.5).

Rules (``[lo, hi]`` is our confidence interval, our mean when it has none; r the claim's no-effect
``reference``, e.g. 0 for R² and differences, 0.5 for pairwise accuracy):

width (every rule that compares a paper value with our interval)
    an interval proves a value only if it could not also hold a clearly different one: our
    interval widened by tol must span less than D (``hi − lo + 2·tol < D``, i.e. our interval
    narrower than 0.15 at the defaults). A wider interval never reproduces anything.
value (paper value p)
    reproduced      the width rule holds and p lies in ``[lo − tol, hi + tol]``;
    same direction  otherwise, our whole interval lies on p's side of r, and our effect is within
                    a factor F of the paper's: ``1/F ≤ (mean − r)/(p − r) ≤ F``;
    differs         otherwise.
contrast (a − b; the paper gives a and b, their difference, or only a direction)
    the direction is every contrast's point, so it is checked first: our a − b must have the
    paper's sign with an interval excluding 0, else **differs** (an opposite sign is never
    reproduced, whatever the magnitudes);
    reproduced      then, a direction-only claim; a and b (or the difference) each pass the value
                    rule's reproduced test (width included);
    same direction  the sign passes and our difference is within a factor F of the paper's;
    differs         otherwise.
range (paper [p_lo, p_hi] over models; ours = the per-model means, min m_lo and max m_hi)
    reproduced      every per-model mean lies in ``[p_lo − tol, p_hi + tol]``; for a claim whose
                    point is the spread (``spread`` in claims.yaml: B1, B2) also
                    ``|m_lo − p_lo| ≤ tol`` and ``|m_hi − p_hi| ≤ tol``, and a stated ratio
                    (m_hi − r)/(m_lo − r) within a factor F of the paper's (a tight cluster inside
                    a wide range does not reproduce it);
    same direction  otherwise, every per-model mean on the paper's side of r and within a factor
                    F of the paper's range (``(p_lo − r)/F ≤ m − r ≤ (p_hi − r)·F``); for a
                    spread claim also our spread m_hi − m_lo at least (p_hi − p_lo)/F and a
                    stated ratio at least ratio/F;
    differs         otherwise; a spread claim with one model of ours is not comparable.
ranking (paper tiers of registry entries, best first; tiers are registry filters)
    every tier needs at least one model of ours (else not comparable); over all pairs of our
    models from different tiers, the fraction ordered as the tiers say:
    reproduced = 1; same direction ≥ ``ranking_agreement`` (clearly above the 0.5 of chance: at
    most one pair in five inverted at the default); differs otherwise.
trend (a quantity over an ordered column, e.g. GFRE(checkpoint → final) over epochs)
    per model, Spearman ρ between the column and the value over every row except each model's
    last one (the final model itself, whose GFRE to itself is 0 by construction); at least three
    rows per model, else not comparable.
    reproduced      every model's ρ has the paper's sign (``direction``: "<" falls, ">" rises);
    differs         otherwise.
not comparable
    the claim is about models or data we do not have (``comparable: false``, reason given),
    nothing is measurable (``kind: none``), or the needed models/analyses were not run.
several measures (``also``, ``readings``)
    every measure shows its own verdict. A measure marked ``decides: false`` (a stand-in model, an
    alternative reading of the paper's quantity) is shown beside the others and never decides.
    The claim's verdict is the least favourable verdict among its deciding measures that are
    comparable (a "not comparable" never hides a "differs"); it is "not comparable" only when
    none is, and the row names the measures that were not comparable.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from atomprobe.stats import median_and_blow_ups, t_interval

VERDICTS = ("reproduced", "same direction", "differs", "not comparable")
MEASURE_KINDS = ("value", "contrast", "range", "ranking", "trend", "none")
CPD_DEFAULTS = {"probe": "ridge", "group": "all"}
RULE_DEFAULTS = {
    "tolerance": 0.05,
    "clear_difference": 0.25,
    "direction_factor": 2.0,
    "ranking_agreement": 0.8,
}
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
    "assumption",
    "selection",
)
NAN = float("nan")


@dataclass
class Outcome:
    """Our side of one measure: the numbers, the verdict, the rule applied and why.

    ``mean``/``low``/``high`` are our mean and interval (for a range measure: the mean, min and
    max of the per-model means; for a trend: the mean, min and max of the per-model ρ);
    ``median`` is taken over the per-fold values the mean is computed from (a − b per fold for a
    contrast) and ``n_below`` counts the per-fold values below −1 (for a contrast: a's and b's
    own per-fold values, where a probe blow-up shows).
    """

    ours: str
    verdict: str
    reason: str
    selection: str
    rule: str = ""
    paper: str = ""
    mean: float = NAN
    low: float = NAN
    high: float = NAN
    median: float = NAN
    n_below: float = NAN
    n: int = 0
    name: str = ""
    decides: bool = True
    values: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)


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


def verdict_rules(cfg: Mapping[str, Any]) -> dict[str, float]:
    """The verdict constants of ``cfg["verdict"]``, defaults filled in."""
    return {**RULE_DEFAULTS, **(cfg.get("verdict") or {})}


# ---------------------------------------------------------------- selecting our numbers


def _registry_models(results: Results, models: Mapping[str, Any] | None) -> list[str]:
    """Registry names matching every key of ``models`` (a value or a list of values).

    Untrained controls (``source: random_init``) match only a filter that names ``source``:
    the papers' claims are about trained and pretrained models.
    """
    registry = results.registry
    controls = set(registry.loc[registry["source"] == "random_init", "name"])
    if not models:
        return [name for name in results.model_order() if name not in controls]
    unknown = [k for k in models if k not in registry.columns]
    if unknown:
        raise DataError(f"claims.yaml filters models on registry column(s) {unknown}")
    names = list(select_rows(registry, **models)["name"])
    return names if "source" in models else [name for name in names if name not in controls]


def select(
    results: Results, spec: Mapping[str, Any], cfg: Mapping[str, Any]
) -> tuple[pd.DataFrame, str]:
    """Per-observation values for one selection spec: (frame, description).

    Parameters
    ----------
    results : Results
        The cached results.
    spec : mapping
        ``scores`` (``cpd`` or an analysis name), ``models`` (registry filter), ``value`` (score
        column; ``r2`` by default), ``layer`` (cpd only) and column filters. Special filters:
        ``off_diagonal: true`` keeps rows whose ``source`` differs from ``target``; a filter value
        ``first`` / ``last`` / ``penultimate`` keeps each model's smallest / largest /
        second-largest value of that column. Model pairs (``source``/``target`` scores such as
        GFRE): ``among`` (a registry filter) keeps pairs of two such models; ``between`` (two
        registry filters) keeps pairs from one set to the other, both directions; either labels
        each row's ordered pair ``source→target`` in ``model``.
    cfg : mapping
        The render config (``dataset``, ``layer``).

    Returns
    -------
    frame : DataFrame
        ``value`` plus whichever of ``model, repeat, fold, ci_low, ci_high`` and the
        ``first``/``last``/``penultimate`` columns exist.
    description : str
        The selection in words (scores, filters, models used).

    Raises
    ------
    DataError
        The spec filters on or reads a column the scores lack.
    """
    spec = dict(spec)
    name = spec.pop("scores")
    models = _registry_models(results, spec.pop("models", None))
    value = spec.pop("value", "r2")
    off_diagonal = spec.pop("off_diagonal", False)
    among, between = spec.pop("among", None), spec.pop("between", None)
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
    extremes = {c: v for c, v in filters.items() if v in ("first", "last", "penultimate")}
    frame = select_rows(frame, **{c: v for c, v in filters.items() if c not in extremes})
    if "model" in frame.columns:
        frame = frame.loc[frame["model"].isin(models)]
    elif {"source", "target"} <= set(frame.columns):  # model pairs (GFRE, LFRE)
        frame = frame.loc[frame["source"].isin(models) & frame["target"].isin(models)]
    for column, which in extremes.items():
        by_model = frame.groupby("model")[column]
        if which == "penultimate":
            wanted = by_model.transform(
                lambda s: np.sort(s.unique())[-2] if s.nunique() > 1 else np.nan
            )
        else:
            wanted = by_model.transform("min" if which == "first" else "max")
        frame = frame.loc[frame[column] == wanted]
    if off_diagonal:
        frame = frame.loc[frame["source"] != frame["target"]]
    if among is not None or between is not None:
        frame, pairs_text = _model_pairs(results, frame, among, between)
        described["pairs"] = pairs_text
    if value not in frame.columns:
        raise DataError(f"claims.yaml reads column {value!r} absent from {name} scores")
    keep = [c for c in ("model", "repeat", "fold", "ci_low", "ci_high") if c in frame.columns]
    keep += [c for c in extremes if c not in keep]
    out = frame[keep].assign(value=frame[value].astype(float)).reset_index(drop=True)
    used = sorted(set(out["model"])) if "model" in out.columns else []
    text = f"{name}: " + ", ".join(f"{k}={v}" for k, v in described.items())
    if used:
        text += "; models " + ", ".join(used)
    return out, text


def _model_pairs(
    results: Results,
    frame: pd.DataFrame,
    among: Mapping[str, Any] | None,
    between: Sequence[Mapping[str, Any]] | None,
) -> tuple[pd.DataFrame, str]:
    """Rows of a source/target table for the selected model pairs, ``model`` = "source→target".

    ``among``: both models match the registry filter; ``between``: one model matches each of
    the two filters (both directions). A model is never paired with itself.
    """
    if not {"source", "target"} <= set(frame.columns):
        raise DataError("claims.yaml: among/between select model pairs of source/target scores")
    source, target = frame["source"], frame["target"]
    if between is not None:
        first, second = (set(_registry_models(results, spec)) for spec in between)
        keep = (source.isin(first) & target.isin(second)) | (
            source.isin(second) & target.isin(first)
        )
        text = " ↔ ".join("{" + ", ".join(f"{k}={v}" for k, v in s.items()) + "}" for s in between)
    else:
        models = set(_registry_models(results, among))
        keep = source.isin(models) & target.isin(models)
        text = "among {" + ", ".join(f"{k}={v}" for k, v in (among or {}).items()) + "}"
    frame = frame.loc[keep.to_numpy() & (source != target).to_numpy()]
    return frame.assign(model=frame["source"] + "→" + frame["target"]), text


def _pair_keys(frame: pd.DataFrame) -> list[str]:
    return [c for c in ("repeat", "fold") if c in frame.columns]


def _pooled(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One value per key (the mean over the selected models), or the rows when no keys."""
    if not keys or frame.empty:
        return frame
    return frame.groupby(list(keys), as_index=False)["value"].mean()


# ---------------------------------------------------------------- verdict rules


def _finite(low: float, high: float) -> bool:
    return math.isfinite(low) and math.isfinite(high)


def too_wide(low: float, high: float, tolerance: float, clear: float) -> bool:
    """The width rule: whether ``[low − tol, high + tol]`` spans ``clear`` or more.

    Parameters
    ----------
    low, high : float
        Our interval (NaN when there is none: an interval-less mean is never too wide).
    tolerance : float
        The verdict tolerance (claim units).
    clear : float
        The claim's clear difference D (claim units).

    Returns
    -------
    bool
        True when the widened interval could hold two clearly different values.
    """
    return _finite(low, high) and (high - low) + 2 * tolerance >= clear


def _within(
    paper: float,
    low: float,
    high: float,
    mean: float,
    tolerance: float,
    clear: float = math.inf,
) -> bool:
    """Whether ``paper`` lies in our interval ± tolerance (an over-wide interval holds nothing)."""
    if too_wide(low, high, tolerance, clear):
        return False
    low, high = (low, high) if _finite(low, high) else (mean, mean)
    return low - tolerance <= paper <= high + tolerance


def _side(x: float, reference: float) -> int:
    return int(np.sign(x - reference))


def _within_factor(ours: float, paper: float, factor: float) -> bool:
    """Whether ``ours / paper`` lies in ``[1/factor, factor]`` (same sign required)."""
    if paper == 0 or not math.isfinite(ours):
        return False
    ratio = ours / paper
    return ratio > 0 and 1 / factor <= ratio <= factor


def verdict_value(
    mean: float,
    low: float,
    high: float,
    paper: float,
    reference: float | None,
    tolerance: float,
    clear: float = math.inf,
    factor: float = math.inf,
) -> tuple[str, str]:
    """Apply the value rule (width rule included).

    Parameters
    ----------
    mean, low, high : float
        Our mean and interval (NaN bounds when there is no interval).
    paper : float
        The paper's value.
    reference : float or None
        The no-effect value (None: no direction can be judged).
    tolerance : float
        Absolute tolerance (claim units).
    clear : float, default=inf
        The claim's clear difference D of the width rule.
    factor : float, default=inf
        F: our effect ``mean − r`` must be within this factor of the paper's for
        "same direction".

    Returns
    -------
    verdict : str
        One of :data:`VERDICTS`.
    reason : str
        Why, in words.
    """
    wide = too_wide(low, high, tolerance, clear)
    if _within(paper, low, high, mean, tolerance, clear):
        return "reproduced", f"paper value within our interval ± {tolerance:g}"
    why = (
        f"our interval ± {tolerance:g} spans ≥ {clear:g}: too wide to confirm a value"
        if wide
        else f"paper value outside our interval ± {tolerance:g}"
    )
    if reference is None or not _finite(low, high):
        return "differs", why
    paper_side = _side(paper, reference)
    if paper_side == 0 or not _side(low, reference) == _side(high, reference) == paper_side:
        return "differs", f"{why}; our interval is not wholly on the paper's side of {reference:g}"
    if not _within_factor(mean - reference, paper - reference, factor):
        return "differs", (
            f"{why}; on the paper's side of {reference:g} but our effect is not within a factor "
            f"{factor:g} of the paper's"
        )
    return "same direction", (
        f"{why}; ours on the paper's side of {reference:g}, effect within a factor {factor:g}"
    )


def verdict_difference(mean: float, low: float, high: float, paper_sign: int) -> tuple[bool, str]:
    """Whether our difference has the paper's sign with an interval excluding 0.

    Parameters
    ----------
    mean, low, high : float
        Our difference a − b and its interval (NaN bounds: no interval).
    paper_sign : int
        +1 or −1, the sign of the paper's a − b.

    Returns
    -------
    agrees : bool
        True when the interval lies wholly on the paper's side of 0.
    reason : str
        Why, in words.
    """
    if not _finite(low, high):
        return False, "our difference has no interval (one observation)"
    if (paper_sign > 0 and low > 0) or (paper_sign < 0 and high < 0):
        return True, "difference has the paper's sign, interval excludes 0"
    if _side(low, 0) == _side(high, 0) != 0:
        return False, "difference has the opposite sign"
    return False, "difference not distinguishable from 0"


def verdict_contrast(
    diff: Sequence[float],
    a: Sequence[float],
    b: Sequence[float],
    paper: Mapping[str, Any],
    tolerance: float,
    clear: float = math.inf,
    factor: float = math.inf,
) -> tuple[str, str]:
    """Apply the contrast rule: the direction first, then the magnitudes.

    Parameters
    ----------
    diff, a, b : sequence of float
        ``(mean, low, high)`` of our a − b, a and b.
    paper : mapping
        The paper's ``a`` and ``b``, or its ``difference``, or its ``direction`` (">" or "<").
    tolerance, clear, factor : float
        The verdict constants (see the module docstring).

    Returns
    -------
    verdict : str
        One of :data:`VERDICTS`.
    reason : str
        Why, in words.
    """
    if "direction" in paper:
        sign, expected = (1 if paper["direction"] == ">" else -1), NAN
    elif "difference" in paper:
        expected = float(paper["difference"])
        sign = int(np.sign(expected))
    else:
        expected = float(paper["a"]) - float(paper["b"])
        sign = int(np.sign(expected))
    agrees, reason = verdict_difference(*diff[:3], sign)
    if not agrees:
        return "differs", f"{reason} (the direction is the claim's point: checked first)"
    if "direction" in paper:
        return "reproduced", reason
    if "difference" in paper:
        close = _within(expected, diff[1], diff[2], diff[0], tolerance, clear)
        wide = too_wide(diff[1], diff[2], tolerance, clear)
    else:
        clear = min(clear, abs(expected))
        close = _within(float(paper["a"]), a[1], a[2], a[0], tolerance, clear) and _within(
            float(paper["b"]), b[1], b[2], b[0], tolerance, clear
        )
        wide = too_wide(a[1], a[2], tolerance, clear) or too_wide(b[1], b[2], tolerance, clear)
    if close:
        return "reproduced", f"{reason}; paper values within our intervals ± {tolerance:g}"
    if wide:
        reason += f"; an interval ± {tolerance:g} spans ≥ {clear:g}: too wide to confirm a value"
    if _within_factor(diff[0], expected, factor):
        return (
            "same direction",
            f"{reason}; our difference within a factor {factor:g} of the paper's",
        )
    return (
        "differs",
        f"{reason}; but our difference is not within a factor {factor:g} of the paper's",
    )


def verdict_range(
    means: Sequence[float],
    paper: Sequence[float],
    reference: float | None,
    tolerance: float,
    factor: float = math.inf,
    spread: Mapping[str, Any] | None = None,
) -> tuple[str, str]:
    """Apply the range rule to per-model means.

    Parameters
    ----------
    means : sequence of float
        Our per-model means.
    paper : sequence of float
        The paper's ``[low, high]`` over models.
    reference : float or None
        The no-effect value.
    tolerance, factor : float
        The verdict constants.
    spread : mapping or None
        Given when the spread is the claim's point: ``{}`` checks our min and max against the
        paper's, ``{ratio: x}`` also the stated ratio (max − r)/(min − r).

    Returns
    -------
    verdict : str
        One of :data:`VERDICTS`.
    reason : str
        Why, in words.
    """
    p_lo, p_hi = (float(x) for x in paper)
    m = np.asarray(means, dtype=float)
    r = 0.0 if reference is None else float(reference)
    if spread is not None and p_hi > p_lo and m.size < 2:
        return "not comparable", "one model of ours cannot show a spread over models"
    m_lo, m_hi = float(m.min()), float(m.max())
    ratio = spread.get("ratio") if spread else None
    ours_ratio = (m_hi - r) / (m_lo - r) if m_lo - r > 0 else math.inf
    contained = bool(np.all((m >= p_lo - tolerance) & (m <= p_hi + tolerance)))
    problems = [] if contained else [f"some model outside the paper's range ± {tolerance:g}"]
    if spread is not None:
        if abs(m_lo - p_lo) > tolerance or abs(m_hi - p_hi) > tolerance:
            problems.append(f"our min/max not within {tolerance:g} of the paper's")
        if ratio is not None and not _within_factor(ours_ratio, float(ratio), factor):
            problems.append(
                f"our ratio {ours_ratio:.3g} not within a factor {factor:g} of {ratio:g}"
            )
    if not problems:
        what = "every model within the paper's range"
        if spread is not None:
            what += ", min and max match" + (", ratio matches" if ratio is not None else "")
        return "reproduced", f"{what} (± {tolerance:g})"
    reason = "; ".join(problems)
    if reference is None:
        return "differs", reason
    side = _side(p_lo, r)
    if side == 0 or side != _side(p_hi, r) or not all(_side(x, r) == side for x in m):
        return "differs", f"{reason}; not every model on the paper's side of {r:g}"
    effects = np.abs(m - r)
    near, far = sorted((abs(p_lo - r), abs(p_hi - r)))
    if not np.all((effects >= near / factor) & (effects <= far * factor)):
        return "differs", (
            f"{reason}; some model not within a factor {factor:g} of the paper's range"
        )
    if spread is not None:
        if m_hi - m_lo < (p_hi - p_lo) / factor:
            return "differs", (
                f"{reason}; our spread {m_hi - m_lo:.3g} is less than 1/{factor:g} of the paper's "
                f"{p_hi - p_lo:.3g}: a tight cluster does not show the claimed spread"
            )
        if ratio is not None and ours_ratio < float(ratio) / factor:
            return "differs", f"{reason}; our ratio {ours_ratio:.3g} below {ratio:g}/{factor:g}"
    return (
        "same direction",
        f"{reason}; every model on the paper's side of {r:g}, within a factor {factor:g}",
    )


def verdict_ranking(
    agreement: float, threshold: float = RULE_DEFAULTS["ranking_agreement"]
) -> tuple[str, str]:
    """Apply the ranking rule to the fraction of cross-tier pairs in the paper's order.

    Parameters
    ----------
    agreement : float
        Fraction of cross-tier model pairs ordered as the paper's tiers say.
    threshold : float
        Least agreement for "same direction" (chance is 0.5).

    Returns
    -------
    verdict : str
        One of :data:`VERDICTS`.
    reason : str
        Why, in words.
    """
    text = f"{agreement:.0%} of cross-tier model pairs in the paper's order"
    if agreement == 1.0:
        return "reproduced", text
    if agreement >= threshold:
        return "same direction", f"{text} (≥ {threshold:.0%})"
    return "differs", f"{text} (< {threshold:.0%}; chance is 50%)"


def verdict_trend(rhos: Mapping[str, float], direction: str) -> tuple[str, str]:
    """Apply the trend rule to per-model Spearman correlations.

    Parameters
    ----------
    rhos : mapping
        Model → Spearman ρ between the ordering column and the value.
    direction : str
        ``"<"`` (the value falls) or ``">"`` (it rises).

    Returns
    -------
    verdict : str
        ``reproduced`` or ``differs``.
    reason : str
        Why, in words.
    """
    sign = -1 if direction == "<" else 1
    wrong = [m for m, rho in rhos.items() if not (np.sign(rho) == sign)]
    word = "falls" if sign < 0 else "rises"
    if not wrong:
        return "reproduced", f"the value {word} in every model (ρ of the paper's sign)"
    return "differs", f"the value does not {word.rstrip('s')} in {', '.join(sorted(wrong))}"


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


def _fold_values(frame: pd.DataFrame) -> np.ndarray:
    """The values the mean is taken over (models pooled per repeat × fold)."""
    return _pooled(frame, _pair_keys(frame))["value"].to_numpy(dtype=float)


def _robust(values: np.ndarray) -> tuple[float, float]:
    """Median and the number of values below −1 (:func:`~atomprobe.stats.median_and_blow_ups`;
    NaN, NaN when no value is finite)."""
    if not np.isfinite(values).any():
        return NAN, NAN
    median, n_below = median_and_blow_ups(values)
    return median, float(n_below)


def _not_run(selection: str, rule: str = "") -> Outcome:
    reason = "not run: no such scores in this run (model, analysis or setting not configured)"
    return Outcome("not run", "not comparable", reason, selection, rule=rule)


def _rule_value(rules: Mapping[str, float], clear: float) -> str:
    return (
        f"value: reproduced if our interval ± {rules['tolerance']:g} holds the paper's value "
        f"and spans < {clear:g}; same direction if on its side of the reference with the effect "
        f"within ×{rules['direction_factor']:g}"
    )


def measure_value(results: Results, m: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    """One quantity against the paper's value (value rule)."""
    rules = verdict_rules(cfg)
    rule = _rule_value(rules, rules["clear_difference"])
    frame, text = select(results, m["select"], cfg)
    if frame.empty:
        return _not_run(text, rule)
    mean, low, high, n = _summary(frame, cfg["ci_level"])
    verdict, reason = verdict_value(
        mean,
        low,
        high,
        float(m["paper"]),
        m.get("reference"),
        rules["tolerance"],
        rules["clear_difference"],
        rules["direction_factor"],
    )
    values = _fold_values(frame)
    median, below = _robust(values)
    return Outcome(
        format_ci(mean, low, high, cfg["digits"]),
        verdict,
        reason,
        text,
        rule=rule,
        paper=f"{float(m['paper']):g}",
        mean=mean,
        low=low,
        high=high,
        median=median,
        n_below=below,
        n=n,
        values=values,
    )


def _difference(
    a: pd.DataFrame, b: pd.DataFrame, pair_on: Sequence[str] | None, level: float
) -> tuple[tuple[float, float, float, int], np.ndarray]:
    """Mean and interval of a − b (paired on ``pair_on`` keys, else Welch) and its values."""
    if pair_on:
        merged = _pooled(a, pair_on).merge(
            _pooled(b, pair_on), on=list(pair_on), suffixes=("_a", "_b")
        )
        values = (merged["value_a"] - merged["value_b"]).to_numpy(dtype=float)
        return t_interval(values, level), values
    xa = _pooled(a, _pair_keys(a))["value"].to_numpy(dtype=float)
    xb = _pooled(b, _pair_keys(b))["value"].to_numpy(dtype=float)
    diff = float(xa.mean() - xb.mean())
    n = min(xa.size, xb.size)
    if xa.size < 2 or xb.size < 2:
        return (diff, NAN, NAN, n), np.array([diff])
    va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
    se = math.sqrt(va + vb)
    if se == 0:
        return (diff, diff, diff, n), np.array([diff])
    dof = (va + vb) ** 2 / (va**2 / (xa.size - 1) + vb**2 / (xb.size - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    return (diff, diff - half, diff + half, n), np.array([diff])


def _paper_contrast(paper: Mapping[str, Any]) -> str:
    if "direction" in paper:
        return f"a {paper['direction']} b"
    if "difference" in paper:
        return f"a − b = {float(paper['difference']):g}"
    return f"a {float(paper['a']):g}, b {float(paper['b']):g}"


def measure_contrast(results: Results, m: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    """Quantity a minus quantity b against the paper's a, b, difference or direction."""
    level, digits, rules = cfg["ci_level"], cfg["digits"], verdict_rules(cfg)
    paper = m["paper"]
    rule = (
        "contrast: a − b must have the paper's sign with an interval excluding 0 (else differs); "
        f"then reproduced if the paper's values lie in our intervals ± {rules['tolerance']:g} "
        f"(each spanning < D), same direction if a − b is within ×{rules['direction_factor']:g} "
        "of the paper's"
    )
    a, text_a = select(results, m["a"], cfg)
    b, text_b = select(results, m["b"], cfg)
    text = f"a = {text_a} | b = {text_b}"
    if a.empty or b.empty:
        part = " and ".join(n for n, f in (("a", a), ("b", b)) if f.empty)
        out = _not_run(text, rule)
        out.reason = (
            f"{part} not run: no such scores in this run (model, probe or setting not configured)"
        )
        return out
    sa, sb = _summary(a, level), _summary(b, level)
    pair_on = m.get("pair_on", _pair_keys(a) if _pair_keys(a) == _pair_keys(b) else None)
    diff, values = _difference(a, b, pair_on or None, level)
    ours = (
        f"a {format_ci(*sa[:3], digits)} vs b {format_ci(*sb[:3], digits)}; "
        f"a − b {format_ci(*diff[:3], digits)}"
    )
    verdict, reason = verdict_contrast(
        diff,
        sa,
        sb,
        paper,
        rules["tolerance"],
        rules["clear_difference"],
        rules["direction_factor"],
    )
    # the median is of a − b per fold; folds below −1 counts a's and b's own values (blow-ups)
    median = _robust(values)[0]
    below = _robust(_fold_values(a))[1] + _robust(_fold_values(b))[1]
    return Outcome(
        ours,
        verdict,
        reason,
        text,
        rule=rule,
        paper=_paper_contrast(paper),
        mean=diff[0],
        low=diff[1],
        high=diff[2],
        median=median,
        n_below=below,
        n=diff[3],
        values=values,
    )


def measure_range(results: Results, m: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    """Per-model means against the paper's range over models."""
    rules = verdict_rules(cfg)
    spread = m.get("spread")
    spread = {} if spread is True else (spread or None)
    rule = (
        f"range: reproduced if every per-model mean lies in the paper's range ± "
        f"{rules['tolerance']:g}"
        + (" and our min, max (and stated ratio) match the paper's" if spread is not None else "")
        + f"; same direction if all on its side of the reference within ×"
        f"{rules['direction_factor']:g}"
        + (" with a spread of at least 1/F of the paper's" if spread is not None else "")
    )
    frame, text = select(results, m["select"], cfg)
    if frame.empty:
        return _not_run(text, rule)
    per_model = summarise(frame, ["model"], value="value", level=cfg["ci_level"])
    means = per_model["mean"].to_numpy(dtype=float)
    verdict, reason = verdict_range(
        means,
        m["paper"],
        m.get("reference"),
        rules["tolerance"],
        rules["direction_factor"],
        spread,
    )
    digits = cfg["digits"]
    ours = f"{means.min():.{digits}f}–{means.max():.{digits}f} over {len(means)} model(s)"
    if spread and spread.get("ratio") is not None and means.min() > (m.get("reference") or 0):
        ratio = (means.max() - (m.get("reference") or 0)) / (
            means.min() - (m.get("reference") or 0)
        )
        ours += f", ratio {ratio:.2f}"
    values = frame["value"].to_numpy(dtype=float)
    median, below = _robust(values)
    low, high = (float(x) for x in m["paper"])
    paper = f"{low:g}–{high:g}" + (
        f", ratio {spread['ratio']:g}" if spread and "ratio" in spread else ""
    )
    return Outcome(
        ours,
        verdict,
        reason,
        text,
        rule=rule,
        paper=paper,
        mean=float(means.mean()),
        low=float(means.min()),
        high=float(means.max()),
        median=median,
        n_below=below,
        n=len(means),
        values=values,
    )


def _tier_name(tier: Any) -> str:
    if isinstance(tier, Mapping):
        return ", ".join(f"{k}={v}" for k, v in tier.items())
    return str(tier)


def measure_ranking(results: Results, m: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    """Per-model means against the paper's tiers of registry entries (filters), best first."""
    rules = verdict_rules(cfg)
    rule = (
        "ranking: every tier needs a model; fraction of cross-tier pairs in the paper's order: "
        f"reproduced = 100%, same direction ≥ {rules['ranking_agreement']:.0%} (chance 50%)"
    )
    frame, text = select(results, m["select"], cfg)
    tier_of: dict[str, int] = {}
    for i, tier in enumerate(m["tiers"]):
        spec = tier if isinstance(tier, Mapping) else {"family": tier}
        for name in _registry_models(results, spec):
            tier_of.setdefault(name, i)
    scored = set(frame["model"]) if not frame.empty else set()
    missing = [
        _tier_name(t)
        for i, t in enumerate(m["tiers"])
        if not any(tier_of.get(name) == i for name in scored)
    ]
    frame = frame.loc[frame["model"].isin(tier_of)] if not frame.empty else frame
    members = [
        ", ".join(sorted(n for n, k in tier_of.items() if k == i and n in scored)) or "none"
        for i in range(len(m["tiers"]))
    ]
    text = (
        text.split("; models ")[0]
        + "; tiers "
        + " > ".join(
            f"[{_tier_name(t)}: {names}]" for t, names in zip(m["tiers"], members, strict=True)
        )
    )
    per_model = summarise(frame, ["model"], value="value", level=cfg["ci_level"])
    tiers = per_model["model"].map(tier_of).to_numpy()
    means = per_model["mean"].to_numpy(dtype=float)
    order = per_model.sort_values("mean", ascending=False)
    ours = (
        " > ".join(
            f"{results.label(r.model)} {r.mean:.{cfg['digits']}f}" for r in order.itertuples()
        )
        or "not run"
    )
    pairs = [(i, j) for i in range(len(tiers)) for j in range(len(tiers)) if tiers[i] < tiers[j]]
    if missing or not pairs:
        reason = "tier(s) with no model of ours: " + "; ".join(missing or ["(all)"])
        return Outcome(ours, "not comparable", reason, text, rule=rule, paper="tiers")
    agreement = float(np.mean([means[i] > means[j] for i, j in pairs]))
    verdict, reason = verdict_ranking(agreement, rules["ranking_agreement"])
    return Outcome(
        ours,
        verdict,
        reason,
        text,
        rule=rule,
        paper="tiers (agreement 1)",
        mean=agreement,
        n=len(pairs),
    )


def measure_trend(results: Results, m: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    """Per-model Spearman ρ of the value over an ordered column, each model's last row left out."""
    over = m.get("over", "epoch")
    rule = (
        f"trend: per model, Spearman ρ({over}, value) over every {over} before the last "
        "(the final model): reproduced if every model's ρ has the paper's sign"
    )
    spec = dict(m["select"])
    value = spec.get("value", "r2")
    frame, text = select(results, {**spec, "value": value}, cfg)
    if frame.empty:
        return _not_run(text, rule)
    raw = results.analysis(spec["scores"])
    # ``select`` keeps only known columns: recover the ordering column from the same filters
    filters = {k: v for k, v in spec.items() if k not in ("scores", "models", "value")}
    models = _registry_models(results, spec.get("models"))
    rows = select_rows(raw, **filters)
    rows = rows.loc[rows["model"].isin(models)]
    rhos: dict[str, float] = {}
    short = []
    for model, part in rows.groupby("model", sort=True):
        part = part.sort_values(over)
        before = part.loc[part[over] < part[over].max()]
        if len(before) < 3:
            short.append(str(model))
            continue
        rho = stats.spearmanr(before[over], before[value]).statistic
        rhos[str(model)] = float(rho) if np.isfinite(rho) else 0.0
    ours = ", ".join(f"{results.label(k)} ρ {v:+.2f}" for k, v in rhos.items()) or "—"
    if short:
        ours += f"; fewer than 3 {over}s before the last: {', '.join(short)}"
    if not rhos or short:
        reason = f"fewer than 3 {over}s before the last for {', '.join(short) or 'every model'}"
        return Outcome(
            ours, "not comparable", reason, text, rule=rule, paper=m["paper"]["direction"]
        )
    verdict, reason = verdict_trend(rhos, m["paper"]["direction"])
    values = np.array(list(rhos.values()))
    return Outcome(
        ours,
        verdict,
        reason,
        text,
        rule=rule,
        paper="falls (ρ < 0)" if m["paper"]["direction"] == "<" else "rises (ρ > 0)",
        mean=float(values.mean()),
        low=float(values.min()),
        high=float(values.max()),
        n=len(values),
    )


MEASURES = {
    "value": measure_value,
    "contrast": measure_contrast,
    "range": measure_range,
    "ranking": measure_ranking,
    "trend": measure_trend,
}


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


def _evaluate(results: Results, measure: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    if measure["kind"] == "none":
        outcome = Outcome("—", "not comparable", measure["reason"], "—", rule="none")
    else:
        outcome = MEASURES[measure["kind"]](results, measure, cfg)
    outcome.name = measure["name"] + (f" ({measure['role']})" if measure.get("role") else "")
    outcome.decides = bool(measure["decides"])
    return outcome


def claim_verdict(outcomes: Sequence[Outcome]) -> tuple[str, list[int]]:
    """The claim's verdict from its measures and the (0-based) deciding ones not comparable.

    Parameters
    ----------
    outcomes : sequence of Outcome
        Every measure of the claim.

    Returns
    -------
    verdict : str
        The least favourable verdict among the deciding, comparable measures; "not comparable"
        when there is none.
    not_comparable : list of int
        Indices of deciding measures that were not comparable.
    """
    deciding = [i for i, o in enumerate(outcomes) if o.decides]
    comparable = [outcomes[i].verdict for i in deciding if outcomes[i].verdict != "not comparable"]
    missing = [i for i in deciding if outcomes[i].verdict == "not comparable"]
    if not comparable:
        return "not comparable", missing
    return max(comparable, key=VERDICTS.index), missing


def evaluate_claim(
    claim: Mapping[str, Any], results: Results, cfg: Mapping[str, Any]
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

    Returns
    -------
    row : dict
        id, paper, claim, paper_value, source, assumption, ours, selection, verdict, reason,
        measures (every measure's verdict in words).
    measures : list of dict
        One dict per measure with the columns of :data:`CSV_COLUMNS`.
    """
    outcomes = [_evaluate(results, m, cfg) for m in claim_measures(claim)]
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
    rows, measures = [], []
    for claim in claims:
        row, parts = evaluate_claim(claim, results, cfg)
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


def rules_text(cfg: Mapping[str, Any]) -> list[str]:
    """The verdict rules in words, with this run's constants (Markdown bullets).

    Parameters
    ----------
    cfg : mapping
        The render config (``verdict`` block).

    Returns
    -------
    list of str
        One Markdown bullet per rule.
    """
    r = verdict_rules(cfg)
    tol, clear, f = r["tolerance"], r["clear_difference"], r["direction_factor"]
    return [
        f"- **Constants** (config `render.verdict`, the same for every claim): tolerance "
        f"{tol:g} (absolute, claim units), clear difference D = {clear:g} (the smallest "
        "difference paper A itself calls clear: gap- vs energy-trained models), direction "
        f"factor F = {f:g}, ranking agreement {r['ranking_agreement']:.0%}.",
        f"- **Width**: an interval proves a value only if it could not also hold a clearly "
        f"different one: our interval ± {tol:g} must span less than D (for a contrast stated "
        f"as a and b, D is at most the paper's |a − b|). At the defaults our interval must be "
        f"narrower than {clear - 2 * tol:g}.",
        f"- **Value**: *reproduced* = the width rule holds and the paper's value lies in our "
        f"interval ± {tol:g}; *same direction* = not that, but our whole interval lies on the "
        "paper's side of the no-effect value (0 for R², 0.5 for pairwise accuracy) and our "
        f"effect (mean − no-effect value) is within a factor {f:g} of the paper's; *differs* = "
        "neither.",
        "- **Contrast** (a − b): the direction is checked first: our a − b must have the paper's "
        "sign with an interval excluding 0, else *differs* (an opposite sign is never "
        "reproduced); then *reproduced* = the paper's a and b (or its difference) each pass the "
        f"value test, *same direction* = our a − b within a factor {f:g} of the paper's.",
        f"- **Range** over models: *reproduced* = every per-model mean in the paper's range ± "
        f"{tol:g}; where the spread is the claim's point (B1, B2) also our min and max within "
        f"{tol:g} of the paper's and a stated ratio within a factor {f:g} (a tight cluster "
        "inside a wide range does not reproduce it); *same direction* = every model on the "
        f"paper's side of the no-effect value within a factor {f:g} of its range, and for a "
        f"spread claim a spread of at least 1/{f:g} of the paper's.",
        f"- **Ranking**: tiers are registry entries the claim names (claims.yaml), every tier "
        "needs a model of ours; over cross-tier pairs of our models, *reproduced* = all in the "
        f"paper's order, *same direction* = at least {r['ranking_agreement']:.0%} (chance is "
        "50%), *differs* = fewer.",
        "- **Trend** (PB3): per model, Spearman ρ between epoch and GFRE(checkpoint → final) "
        "over the checkpoints before the last (the final model, whose GFRE to itself is 0 by "
        "construction); *reproduced* = every model's ρ negative, *differs* otherwise.",
        "- **Several measures**: each shows its own verdict; a claim's verdict is the least "
        "favourable among its deciding measures that are comparable (a *not comparable* never "
        "hides a *differs*), and the row names the measures that were not comparable. Stand-ins "
        "and alternative readings are shown but never decide. *Not comparable* = different "
        "models or data, nothing measurable, or not run (reason printed).",
    ]


def to_markdown(
    frame: pd.DataFrame,
    cfg: Mapping[str, Any],
    run: Mapping[str, Any],
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """``results/reproduction.md``: header with the run settings and rules, then the table.

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
        "## How to read it",
        "",
        f"- Ours: mean over folds × repeats with a {cfg['ci_level']:.0%} Student-t interval in "
        f"brackets; reported layer: `{cfg['layer']}` unless the selection says otherwise. "
        "`results/reproduction.csv` has one row per claim and measure with the per-fold "
        "median and the number of folds below −1.",
        "- Verdict rules (full text: `atomprobe/render/reproduction.py`):",
        *["  " + line for line in rules_text(cfg)],
        "- Assumptions: where the papers leave a choice open (which model, which quantity), the "
        "row states ours.",
        "- The default config trains small models on a QM9 subset on 2 CPU cores (the CI config "
        "config/tiny.yaml is smaller still: smoke-test numbers); the paper used larger models "
        "and data, so magnitudes are expected to move. Nothing here is tuned toward the "
        "paper's numbers.",
        f"- Config: {', '.join(run.get('configfiles', [])) or 'config/config.yaml'}; "
        f"models: {run.get('models', 'all')}; {_cpd_settings(metadata)}.",
        "",
        "## Claims",
        "",
        "| id | claim | paper | ours | verdict | measures | reason | assumption | "
        "selection (config) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = (
        "id",
        "claim",
        "paper_value",
        "ours",
        "verdict",
        "measures",
        "reason",
        "assumption",
        "selection",
    )
    lines += ["| " + " | ".join(_cell(row[k]) for k in keys) + " |" for _, row in frame.iterrows()]
    return "\n".join(lines) + "\n"
