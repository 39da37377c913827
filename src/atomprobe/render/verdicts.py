"""The verdict rules of the reproduction report: the scientific claim of every row.

A verdict compares our number (a mean with an interval, per-model means, a ranking or a
trend; :mod:`atomprobe.render.measures`) with a paper's value by fixed rules, stated here and
printed in the report (:func:`rules_text`). Their constants are set once for all claims, never
per claim (config ``render.verdict``):

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
ratio (a / b per paired observation vs the paper's ratio range [q_lo, q_hi])
    the range rule on our mean ratio with no-effect value 1 (a = b): the scale-free form of a
    contrast, for claims measured on other models (PB4).
ranking (paper tiers of registry entries, best first; tiers are registry filters)
    every tier needs at least one model of ours (else not comparable); over all pairs of our
    models from different tiers, the fraction ordered as the tiers say:
    reproduced = 1; same direction ≥ ``ranking_agreement`` (clearly above the 0.5 of chance: at
    most one pair in five inverted at the default); differs otherwise.
trend (a quantity over training epochs, e.g. GFRE(checkpoint → final))
    per model, Spearman ρ between epoch and the value over every checkpoint except the final
    model (the best validation epoch, whose GFRE to itself is 0 by construction; checkpoints
    after it stay in); at least three checkpoints per model, else not comparable.
    reproduced      every model's ρ has the paper's sign (``direction``: "<" falls, ">" rises);
    differs         otherwise.
room (``needs_room: true``, A5: a linear probe of the residual should read ≈ 0)
    the target is not residualised, so such a probe reaches at most the target's linear
    ceiling 1 − R²(y | [1 | C]) (mean over folds); below D, "≈ 0" holds by construction and
    the measure is not comparable; otherwise the value rule decides.
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

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from atomprobe.render.measures import Outcome

VERDICTS = ("reproduced", "same direction", "differs", "not comparable")
NAN = float("nan")
RULE_DEFAULTS = {
    "tolerance": 0.05,
    "clear_difference": 0.25,
    "direction_factor": 2.0,
    "ranking_agreement": 0.8,
}


def verdict_rules(cfg: Mapping[str, Any]) -> dict[str, float]:
    """The verdict constants of ``cfg["verdict"]``, defaults filled in."""
    return {**RULE_DEFAULTS, **(cfg.get("verdict") or {})}


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


def verdict_room(verdict: str, reason: str, ceiling: float, clear: float) -> tuple[str, str]:
    """The room rule: a value a linear probe of the residual cannot exceed is no evidence.

    The target is not residualised, so a Ridge probe of the composition residual reaches at most
    the ceiling 1 − R²(y | [1 | C]) (:mod:`atomprobe.cpd.ceiling`). "R² ≈ 0" says something
    only when the ceiling leaves room for a clearly larger value: below D it holds by
    construction, and the measure is not comparable.

    Parameters
    ----------
    verdict, reason : str
        The value rule's verdict and reason.
    ceiling : float
        Mean over folds of the target's linear ceiling (dimensionless).
    clear : float
        The clear difference D.

    Returns
    -------
    verdict : str
        ``not comparable`` when the ceiling is below D, else ``verdict``.
    reason : str
        Why, in words.
    """
    if not ceiling >= clear:
        return "not comparable", (
            f"holds by construction: the target's linear ceiling 1 − R²(y | [1 | C]) is "
            f"{ceiling:.3g} < D = {clear:g}, so a linear probe of the residual reads ≈ 0 "
            f"whatever the representation (value rule alone: {verdict})"
        )
    return verdict, f"{reason}; the linear ceiling {ceiling:.3g} ≥ D leaves room"


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
        f"- **Ratio** (PB4): a/b per paired test split; *reproduced* = our mean ratio in the "
        f"paper's ratio range ± {tol:g}, *same direction* = on the paper's side of 1 and "
        f"within a factor {f:g} of its range. **Transfer principle**: a claim measured on other "
        "models and data decides here only through its scale-free content (a direction, a "
        "ratio, a ranking); its absolute values, which depend on the feature spaces compared, "
        "are shown and never decide.",
        f"- **Ranking**: tiers are registry entries the claim names (claims.yaml), every tier "
        "needs a model of ours; over cross-tier pairs of our models, *reproduced* = all in the "
        f"paper's order, *same direction* = at least {r['ranking_agreement']:.0%} (chance is "
        "50%), *differs* = fewer.",
        "- **Trend** (PB3): per model, Spearman ρ between epoch and GFRE(checkpoint → final) "
        "over every checkpoint but the final model (the best validation epoch, whose GFRE to "
        "itself is 0 by construction: early stopping keeps its weights, so it need not be the "
        "last epoch); *reproduced* = every model's ρ negative, *differs* otherwise.",
        "- **Room** (A5): the target is not residualised, so a linear probe of the residual "
        "reaches at most the target's linear ceiling 1 − R²(y | [1 | C]); a claim that it reads "
        f"≈ 0 is judged only when that ceiling (mean over folds) is at least D = {clear:g}, "
        "else it holds by construction and is *not comparable*.",
        "- **Several measures**: each shows its own verdict; a claim's verdict is the least "
        "favourable among its deciding measures that are comparable (a *not comparable* never "
        "hides a *differs*), and the row names the measures that were not comparable. Stand-ins "
        "and alternative readings are shown but never decide. *Not comparable* = different "
        "models or data, nothing measurable, or not run (reason printed).",
    ]
