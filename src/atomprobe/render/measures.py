"""Our side of a claim: select the cached numbers a measure names and summarise them.

Each ``measure_<kind>`` reads the scores a claims.yaml measure selects (:func:`select`),
summarises them (mean and interval over folds, per-model means, a ranking, per-model trends)
and applies the kind's verdict rule from :mod:`atomprobe.render.verdicts`, returning an
:class:`Outcome`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from atomprobe.errors import DataError
from atomprobe.models.sources import Source
from atomprobe.render.aggregate import summarise
from atomprobe.render.inputs import Results
from atomprobe.render.tables import format_ci, reported_layer_scores, select_rows
from atomprobe.render.verdicts import (
    NAN,
    verdict_contrast,
    verdict_range,
    verdict_ranking,
    verdict_room,
    verdict_rules,
    verdict_trend,
    verdict_value,
)
from atomprobe.stats import median_and_blow_ups, t_interval

CPD_DEFAULTS = {"probe": "ridge", "group": "all"}


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


# ---------------------------------------------------------------- selecting our numbers


def _registry_models(results: Results, models: Mapping[str, Any] | None) -> list[str]:
    """Registry names matching every key of ``models`` (a value or a list of values).

    Untrained controls (``source: random_init``) match only a filter that names ``source``:
    the papers' claims are about trained and pretrained models.
    """
    registry = results.registry
    controls = set(registry.loc[registry["source"] == Source.RANDOM_INIT, "name"])
    if not models:
        return [name for name in results.model_order() if name not in controls]
    unknown = [k for k in models if k not in registry.columns]
    if unknown:
        raise DataError(f"claims.yaml filters models on registry column(s) {unknown}")
    names = list(select_rows(registry, **models)["name"])
    return names if "source" in models else [name for name in names if name not in controls]


def drop_final_model(results: Results, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of per-epoch scores without each model's final model.

    A trained model's final weights are those of its best validation epoch (early stopping
    keeps them), not necessarily its last epoch: the registry's ``best_epoch`` names it.

    Parameters
    ----------
    results : Results
        The cached results (registry column ``best_epoch``).
    frame : DataFrame
        Per-epoch rows with ``model`` and ``epoch``.

    Returns
    -------
    DataFrame
        ``frame`` without the rows whose epoch is their model's ``best_epoch``.

    Raises
    ------
    DataError
        The scores have no ``epoch`` column, or the registry no ``best_epoch`` for a model.
    """
    if "epoch" not in frame.columns:
        raise DataError("claims.yaml: exclude_final needs per-epoch scores (column 'epoch')")
    registry = results.registry
    best = (
        registry.set_index("name")["best_epoch"]
        if "best_epoch" in registry.columns
        else pd.Series(dtype=float)
    )
    final = frame["model"].map(best)
    unknown = sorted(set(frame.loc[final.isna(), "model"]))
    if unknown:
        raise DataError(
            f"results/models/registry.parquet has no best_epoch for {', '.join(unknown)}: "
            "rerun the model_table job (snakemake --forcerun model_table)"
        )
    return frame.loc[frame["epoch"] != final]


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
        ``first`` / ``last`` keeps each model's smallest / largest value of that column;
        ``exclude_final: true`` drops each model's checkpoint that is the final model
        (:func:`drop_final_model`). Model pairs
        (``source``/``target`` scores such as GFRE): ``among`` (a registry filter) keeps pairs
        of two such models; ``between`` (two registry filters) keeps pairs from one set to the
        other, both directions; either labels each row's ordered pair ``source→target`` in
        ``model``.
    cfg : mapping
        The render config (``dataset``, ``layer``).

    Returns
    -------
    frame : DataFrame
        ``value`` plus whichever of ``model, repeat, fold, ci_low, ci_high`` and the
        ``first``/``last`` columns exist.
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
    exclude_final = spec.pop("exclude_final", False)
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
    extremes = {c: v for c, v in filters.items() if v in ("first", "last")}
    frame = select_rows(frame, **{c: v for c, v in filters.items() if c not in extremes})
    if "model" in frame.columns:
        frame = frame.loc[frame["model"].isin(models)]
    elif {"source", "target"} <= set(frame.columns):  # model pairs (GFRE, LFRE)
        frame = frame.loc[frame["source"].isin(models) & frame["target"].isin(models)]
    if exclude_final:
        frame = drop_final_model(results, frame)
    for column, which in extremes.items():
        wanted = frame.groupby("model")[column].transform("min" if which == "first" else "max")
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
    if "model" in out.columns:
        out["seed"] = out["model"].map(_replica_seeds(results))
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


def _replica_seeds(results: Results) -> dict[str, float]:
    """Model name -> training seed, for the models that are replicas (registry ``seeds``)."""
    registry = results.registry
    if not {"replica_of", "seed"} <= set(registry.columns):
        return {}
    replicas = registry.loc[registry["replica_of"].fillna("").astype(str) != ""]
    return dict(zip(replicas["name"], replicas["seed"].astype(float), strict=True))


def seed_means(frame: pd.DataFrame) -> pd.Series | None:
    """The seed-level rule: when every selected model is a replica and there are at least two
    seeds, the value of each seed (its models and folds pooled), indexed by seed; else None.

    An interval over folds holds one training run's fold variance only; a claim about trained
    models must hold across training runs, so its interval is taken over the seed means
    (Student-t, n_seeds − 1 degrees of freedom).
    """
    if "seed" not in frame.columns or frame.empty or frame["seed"].isna().any():
        return None
    means = frame.groupby("seed")["value"].mean()
    return means if len(means) >= 2 else None


def _pair_keys(frame: pd.DataFrame) -> list[str]:
    return [c for c in ("repeat", "fold") if c in frame.columns]


def _pooled(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One value per key (the mean over the selected models), or the rows when no keys."""
    if not keys or frame.empty:
        return frame
    return frame.groupby(list(keys), as_index=False)["value"].mean()


# ---------------------------------------------------------------- measures


def _summary(frame: pd.DataFrame, level: float) -> tuple[float, float, float, int]:
    """Mean and interval: over seeds when the models are replicas (:func:`seed_means`), else
    over folds (models pooled per fold), else over rows (models).

    A single row that carries its own interval (``ci_low``/``ci_high``, e.g. the isomer
    benchmark's bootstrap) keeps it.
    """
    if len(frame) == 1 and {"ci_low", "ci_high"} <= set(frame.columns):
        row = frame.iloc[0]
        return float(row["value"]), float(row["ci_low"]), float(row["ci_high"]), 1
    by_seed = seed_means(frame)
    if by_seed is not None:
        return t_interval(by_seed.to_numpy(dtype=float), level)
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
    ours = format_ci(mean, low, high, cfg["digits"])
    if m.get("needs_room"):
        ceiling_rows, _ = select(results, {**m["select"], "value": "ceiling"}, cfg)
        ceiling = float(np.mean(_fold_values(ceiling_rows)))
        verdict, reason = verdict_room(verdict, reason, ceiling, rules["clear_difference"])
        ours += f", ceiling {ceiling:.{cfg['digits']}f}"
        rule += "; judged only if the linear ceiling 1 − R²(y | [1 | C]) ≥ D"
    values = _fold_values(frame)
    median, below = _robust(values)
    pairs = frame["model"].str.contains("→") if "model" in frame.columns else None
    if pairs is not None and pairs.all() and frame["model"].nunique() > 1:
        # over model pairs one pair can dominate the mean: the median is over the pairs' means
        per_pair = frame.groupby("model")["value"].mean()
        median = float(per_pair.median())
        ours += f"; median over {len(per_pair)} pairs {median:.{cfg['digits']}f}"
    return Outcome(
        ours,
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


def _paired(a: pd.DataFrame, b: pd.DataFrame, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """a's and b's values (models pooled per key) on the keys both have, in matching order."""
    merged = _pooled(a, keys).merge(_pooled(b, keys), on=list(keys), suffixes=("_a", "_b"))
    return merged["value_a"].to_numpy(dtype=float), merged["value_b"].to_numpy(dtype=float)


def _difference(
    a: pd.DataFrame, b: pd.DataFrame, pair_on: Sequence[str] | None, level: float
) -> tuple[tuple[float, float, float, int], np.ndarray]:
    """Mean and interval of a − b and its values: over seeds when both arms are replicas
    (paired by seed where both have the same seeds, else Welch over the seed means), else
    paired on ``pair_on`` keys, else Welch over folds."""
    seeds_a, seeds_b = seed_means(a), seed_means(b)
    if seeds_a is not None and seeds_b is not None:
        if list(seeds_a.index) == list(seeds_b.index):
            values = (seeds_a - seeds_b).to_numpy(dtype=float)
            return t_interval(values, level), values
        return _welch(seeds_a.to_numpy(dtype=float), seeds_b.to_numpy(dtype=float), level)
    if pair_on:
        value_a, value_b = _paired(a, b, pair_on)
        values = value_a - value_b
        return t_interval(values, level), values
    xa = _pooled(a, _pair_keys(a))["value"].to_numpy(dtype=float)
    xb = _pooled(b, _pair_keys(b))["value"].to_numpy(dtype=float)
    return _welch(xa, xb, level)


def _welch(
    xa: np.ndarray, xb: np.ndarray, level: float
) -> tuple[tuple[float, float, float, int], np.ndarray]:
    """Mean and Welch interval of mean(xa) − mean(xb), and the difference as its one value."""
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


def measure_ratio(results: Results, m: Mapping[str, Any], cfg: Mapping[str, Any]) -> Outcome:
    """Quantity a over quantity b (paired per repeat × fold) against the paper's ratio range.

    The scale-free form of a contrast: the ratio of the pooled a and b per paired observation,
    judged by the range rule with no-effect value 1 (a = b) against the paper's ``[low, high]``
    (the ratios its own ranges allow).
    """
    rules = verdict_rules(cfg)
    rule = (
        f"ratio: reproduced if our mean a/b lies in the paper's ratio range ± "
        f"{rules['tolerance']:g}"
        f"; same direction if on its side of 1 within ×{rules['direction_factor']:g} of its range"
    )
    a, text_a = select(results, m["a"], cfg)
    b, text_b = select(results, m["b"], cfg)
    text = f"a = {text_a} | b = {text_b}"
    if a.empty or b.empty:
        return _not_run(text, rule)
    keys = _pair_keys(a)
    if not keys or keys != _pair_keys(b):
        raise DataError("claims.yaml: a ratio needs a and b scored on the same repeats/folds")
    value_a, value_b = _paired(a, b, keys)
    values = value_a / value_b
    mean, low, high, n = t_interval(values, cfg["ci_level"])
    verdict, reason = verdict_range(
        [mean], m["paper"], 1.0, rules["tolerance"], rules["direction_factor"]
    )
    p_lo, p_hi = (float(x) for x in m["paper"])
    return Outcome(
        f"a/b {format_ci(mean, low, high, cfg['digits'])}",
        verdict,
        reason.replace("every model", "our ratio").replace("some model", "our ratio"),
        text,
        rule=rule,
        paper=f"a/b {p_lo:g}–{p_hi:g}",
        mean=mean,
        low=low,
        high=high,
        median=float(np.median(values)),
        n=n,
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
    """Per-model Spearman ρ of the value over the epochs, each model's final model left out."""
    over = "epoch"
    rule = (
        "trend: per model, Spearman ρ(epoch, value) over every checkpoint but the final model "
        "(the best validation epoch): reproduced if every model's ρ has the paper's sign"
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
    rows = drop_final_model(results, rows.loc[rows["model"].isin(models)])
    rhos: dict[str, float] = {}
    short = []
    for model, part in rows.groupby("model", sort=True):
        if len(part) < 3:
            short.append(str(model))
            continue
        rho = stats.spearmanr(part[over], part[value]).statistic
        rhos[str(model)] = float(rho) if np.isfinite(rho) else 0.0
    ours = ", ".join(f"{results.label(k)} ρ {v:+.2f}" for k, v in rhos.items()) or "—"
    if short:
        ours += f"; fewer than 3 checkpoints besides the final model: {', '.join(short)}"
    if not rhos or short:
        reason = (
            "fewer than 3 checkpoints besides the final model for "
            f"{', '.join(short) or 'every model'}"
        )
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
    "ratio": measure_ratio,
    "ranking": measure_ranking,
    "trend": measure_trend,
}
