"""Why a claim is not reproduced, in numbers: the ``cause`` column of the reproduction report.

Each cause comes from a rule applied to cached results, never from text written for one claim:

* **availability**: the claim is marked not comparable (the paper's models or data are not
  available offline here);
* **not measurable**: the claim's only measure is ``kind: none`` (no number or protocol);
* **not run**: no measure found its scores in this run;
* **reading**: a measure shown beside the deciding one (the author's toolkit protocol, another
  representation, a stand-in model) reaches the paper where the deciding one does not; bounds
  and checks (``bound: true``: a ceiling, a sanity check) never count;
* **budget**: the deciding measure over the rungs of a training-budget ladder where one ran
  (registry ``rung``), and recomputed on every kept training checkpoint
  (``results/analyses/checkpoint_cpd.parquet``: the same probe on each epoch's features) —
  moving (its interval at the last point clear of the first's) toward or away from the
  paper, or flat within intervals; and, where the claim's verdict differs between rungs, the
  verdict on each rung (a range can cross the paper's while its ends stay within the models'
  spread);
* otherwise **unexplained** by the measurements at hand.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from atomprobe.render.inputs import Results
from atomprobe.render.measures import Outcome, select
from atomprobe.stats import t_interval

CHECKPOINT_SCORES = "checkpoint_cpd"
# the verdicts a shown reading must reach to count as the cause
REACHING = ("reproduced", "same direction")


def paper_number(measure: Mapping[str, Any]) -> float | None:
    """The paper's number for the measure's statistic (None: a direction only)."""
    paper = measure.get("paper")
    if isinstance(paper, int | float):
        return float(paper)
    if isinstance(paper, Mapping):
        if "difference" in paper:
            return float(paper["difference"])
        if "a" in paper and "b" in paper:
            return float(paper["a"]) - float(paper["b"])
    return None


def _on_checkpoints(spec: Mapping[str, Any], dataset: str) -> dict[str, Any] | None:
    """A CPD selection rewritten for the checkpoint scores of every epoch (add ``epoch`` to
    select one); None when the selection is not of CPD scores."""
    if spec.get("scores") != "cpd":
        return None
    out = {k: v for k, v in spec.items() if k != "layer"}  # checkpoints: the last layer
    out["scores"] = CHECKPOINT_SCORES
    out.setdefault("dataset", dataset)
    out.setdefault("probe", "ridge")
    out.setdefault("group", "all")
    return out


def checkpoint_outcomes(
    measure: Mapping[str, Any],
    results: Results,
    cfg: Mapping[str, Any],
    evaluate: Callable[[Results, Mapping[str, Any], Mapping[str, Any]], Outcome],
) -> list[tuple[int, Outcome]]:
    """The deciding measure recomputed on the features of each kept training checkpoint.

    Parameters
    ----------
    measure : mapping
        The claim's deciding measure (value, contrast or ratio over CPD scores).
    results : Results
        The cached results (analysis ``checkpoint_cpd``).
    cfg : mapping
        The render config.
    evaluate : callable
        Evaluates a measure: ``evaluate(results, measure, cfg) -> Outcome``.

    Returns
    -------
    list of (int, Outcome)
        (epoch, outcome) for every epoch all the selected models reached (early stopping ends
        models at different epochs) with a finite mean; empty when the measure does not select
        CPD scores of models with kept checkpoints.
    """
    frame = results.analysis(CHECKPOINT_SCORES)
    if frame is None or frame.empty or measure.get("kind") not in ("value", "contrast", "ratio"):
        return []
    selects = [key for key in ("select", "a", "b") if key in measure]
    specs = {key: _on_checkpoints(measure[key], cfg["dataset"]) for key in selects}
    if not selects or any(spec is None for spec in specs.values()):
        return []
    models = set()
    for spec in specs.values():
        rows, _ = select(results, spec, cfg)
        models |= set(rows["model"]) if "model" in rows.columns else set()
    reached = frame.loc[frame["model"].isin(models)].groupby("model")["epoch"].max()
    if reached.empty:
        return []
    outcomes: list[tuple[int, Outcome]] = []
    for epoch in sorted(e for e in set(frame["epoch"]) if e <= reached.min()):
        spec = copy.deepcopy(dict(measure))
        for key in selects:
            spec[key] = {**specs[key], "epoch": int(epoch)}
        outcome = evaluate(results, spec, cfg)
        if np.isfinite(outcome.mean):
            outcomes.append((int(epoch), outcome))
    return outcomes


def budget_trend(
    measure: Mapping[str, Any],
    results: Results,
    cfg: Mapping[str, Any],
    evaluate: Callable[[Results, Mapping[str, Any], Mapping[str, Any]], Outcome],
) -> str | None:
    """The deciding measure over the kept training checkpoints, in words
    (:func:`checkpoint_outcomes`, whose parameters it takes; None: fewer than two epochs give
    a number).

    Returns
    -------
    str or None
        ``"budget: <name> a → b → c over epochs e1–eN: <trend>"``.
    """
    outcomes = checkpoint_outcomes(measure, results, cfg, evaluate)
    if len(outcomes) < 2:
        return None
    epochs = [e for e, _ in outcomes]
    return _trend(measure, outcomes, f"epochs {epochs[0]}–{epochs[-1]} (checkpoints)")


def ladder_trend(
    measure: Mapping[str, Any],
    ladder: Sequence[tuple[int, Results]],
    cfg: Mapping[str, Any],
    evaluate: Callable[[Results, Mapping[str, Any], Mapping[str, Any]], Outcome],
) -> str | None:
    """The deciding measure on every rung of a training-budget ladder, in words (None: fewer
    than two rungs give a number).

    Parameters
    ----------
    measure : mapping
        The claim's deciding measure.
    ladder : sequence of (int, Results)
        Each rung and the results as it sees them (:meth:`Results.at_rung`).
    cfg : mapping
        The render config.
    evaluate : callable
        Evaluates a measure: ``evaluate(results, measure, cfg) -> Outcome``.

    Returns
    -------
    str or None
        ``"budget: <name> a → b → c over rungs r0–rN (ladder): <trend>"``.
    """
    points = [(rung, evaluate(results, measure, cfg)) for rung, results in ladder]
    points = [(rung, o) for rung, o in points if np.isfinite(o.mean)]
    if len(points) < 2:
        return None
    return _trend(measure, points, f"rungs {points[0][0]}–{points[-1][0]} (ladder)")


def _trend(measure: Mapping[str, Any], points: Sequence[tuple[int, Outcome]], axis: str) -> str:
    """A measure's values along a budget axis, and whether they move.

    The change from the first point to the last is taken fold by fold where both have the
    same folds (checkpoints and rungs are scored on the same CV splits), with a Student-t
    interval; else the two points' own intervals are compared. Moving: the interval of the
    change excludes 0 (or the intervals do not overlap); toward or away from the paper's
    number; else flat within intervals."""
    first, last = points[0][1], points[-1][1]
    path = " → ".join(f"{o.mean:.3f}" for _, o in points)
    change = ""
    if first.values.size > 1 and first.values.size == last.values.size:
        mean, low, high, _ = t_interval(last.values - first.values, 0.95)
        moved = low > 0 or high < 0
        change = f", change {mean:+.3f} [{low:+.3f}, {high:+.3f}] over the same folds"
    else:
        moved = np.isfinite([first.low, first.high, last.low, last.high]).all() and (
            last.low > first.high or last.high < first.low
        )
    if not moved:
        trend = "flat within intervals"
    else:
        trend = "rising" if last.mean > first.mean else "falling"
        paper = paper_number(measure)
        if paper is not None:
            toward = abs(last.mean - paper) < abs(first.mean - paper)
            trend += f", toward the paper's {paper:g}" if toward else f", away from {paper:g}"
        if (points[-1][1].mean - points[-2][1].mean) * (last.mean - first.mean) > 0:
            trend += "; still moving at the last point"
    name = measure.get("name", measure["kind"])
    return f"budget: {name} {path} over {axis}{change}: {trend}"


def claim_cause(
    claim: Mapping[str, Any],
    measures: Sequence[Mapping[str, Any]],
    outcomes: Sequence[Outcome],
    verdict: str,
    results: Results,
    cfg: Mapping[str, Any],
    evaluate: Callable[[Results, Mapping[str, Any], Mapping[str, Any]], Outcome],
    ladder: Sequence[tuple[int, Results]] = (),
    rung_verdicts: Sequence[tuple[int, str]] = (),
) -> str:
    """What the measurements say about why ``verdict`` is not "reproduced" ("" if it is).

    Parameters
    ----------
    claim : mapping
        The claims.yaml entry (``comparable``).
    measures, outcomes : sequence
        The claim's measures and their outcomes, in report order.
    verdict : str
        The claim's verdict.
    results : Results
        The cached results.
    cfg : mapping
        The render config.
    evaluate : callable
        Evaluates one measure (for the budget trend).
    ladder : sequence of (int, Results), default=()
        The rungs of a training-budget ladder (:meth:`Results.at_rung`), when it ran.
    rung_verdicts : sequence of (int, str), default=()
        The claim's verdict on each rung of that ladder.

    Returns
    -------
    str
        Causes joined by "; ", each starting with its kind (module docstring).
    """
    if verdict == "reproduced":
        return ""
    if claim.get("comparable", True) is False:
        return "availability: the paper's models or data are not available offline here"
    if all(m.get("kind") == "none" for m in measures):
        return "not measurable: the paper gives no number or protocol to measure"
    if all(o.ours == "not run" for o in outcomes):
        return "not run: no measure found its scores in this run"
    causes = [
        f"reading: {o.name} gives {o.ours} ({o.verdict})"
        for m, o in zip(measures, outcomes, strict=True)
        if not o.decides and not m.get("bound") and o.verdict in REACHING and o.verdict != verdict
    ]
    verdicts = [v for _, v in rung_verdicts]
    if len(set(verdicts)) > 1:
        rungs = f"rungs {rung_verdicts[0][0]}–{rung_verdicts[-1][0]} (ladder)"
        causes.append(f"budget: verdict {' → '.join(verdicts)} over {rungs}")
    deciding = [m for m, o in zip(measures, outcomes, strict=True) if o.decides]
    for measure in deciding[:1]:
        trends = [ladder_trend(measure, ladder, cfg, evaluate)] if len(ladder) > 1 else []
        trends.append(budget_trend(measure, results, cfg, evaluate))
        causes += [trend for trend in trends if trend is not None]
    return "; ".join(causes) or "unexplained by the measurements at hand"
