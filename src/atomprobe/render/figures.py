"""The paper's figures, drawn from cached results only, in the house style of ``style``.

Each ``figure_*`` function takes the loaded results and the ``render`` config section and returns
a matplotlib Figure; :func:`atomprobe.render.style.save_figure` writes it as PDF and PNG. Means
and intervals come from :mod:`atomprobe.render.aggregate`, exactly as in the tables. A missing
model or analysis becomes a labelled empty panel, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from scipy import stats

from atomprobe.models.sources import Source
from atomprobe.render.aggregate import summarise
from atomprobe.render.inputs import Results, require_columns
from atomprobe.render.style import (
    SEQUENTIAL_CMAP,
    annotate_heatmap,
    bar_style,
    line_styles,
    new_figure,
    placeholder,
)
from atomprobe.render.tables import (
    NOT_RUN,
    REPRESENTATION_LABELS,
    REPRESENTATIONS,
    relative_test_error,
    reported_layer_scores,
    routing_scores,
    routing_targets,
    select_rows,
)

R2_LABEL = "R² (cross-validated, dimensionless)"
#: R² axes stop here. R² = −1 means errors with twice the target's variance, already far worse
#: than predicting the mean; lower means (a standardised probe on a sparse descriptor can reach
#: −1e3) are printed at the axis edge instead of squashing every other model flat.
R2_FLOOR = -1.0
R2_CEILING = 1.05
# black error bars with a white halo: visible on dark and light bars alike
ERROR_KW = {
    "elinewidth": 0.9,
    "ecolor": "0.0",
    "capthick": 0.9,
    "path_effects": [patheffects.withStroke(linewidth=2.4, foreground="white")],
}


def _target_label(target: str, cfg: Mapping[str, Any]) -> str:
    unit = cfg["target_units"].get(target)
    return f"{target} ({unit})" if unit else target


def _cut_r2_axis(
    ax: Axes,
    x: np.ndarray,
    means: np.ndarray,
    labels: Sequence[str] | None = None,
    horizontal: bool = False,
) -> None:
    """Limit an R² axis to [R2_FLOOR, R2_CEILING] where the data reach beyond it.

    x, means (n,): the plotted points (``horizontal``: x are the bars' rows and R² runs along
    the x axis); a mean below the floor is printed at the axis edge beside its bar or point,
    after its label (n,) if given (lines: which model it is). Interval whiskers beyond the
    limits are cut by the axis.
    """
    low, high = ax.get_xlim() if horizontal else ax.get_ylim()
    (ax.set_xlim if horizontal else ax.set_ylim)(max(low, R2_FLOOR), min(high, R2_CEILING))
    if low >= R2_FLOOR:
        return
    names = list(labels) if labels is not None else [""] * np.size(means)
    for x_value, mean, name in zip(np.ravel(x), np.ravel(means), names, strict=True):
        if np.isfinite(mean) and mean < R2_FLOOR:
            ax.annotate(
                f"{'←' if horizontal else '↓'} {name} {mean:.3g}".replace("  ", " "),
                (R2_FLOOR, x_value) if horizontal else (x_value, R2_FLOOR),
                textcoords="offset points",
                xytext=(3, 0) if horizontal else (2, 3),
                ha="left",
                va="center" if horizontal else "bottom",
                fontsize=6,
                rotation=0 if horizontal else 90,
                path_effects=[patheffects.withStroke(linewidth=2.0, foreground="white")],
            )
    ax.text(
        0.995,
        0.01,
        f"axis cut at R² = {R2_FLOOR:g}",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=6,
        color="0.35",
    )


# height of one bar of a grouped horizontal bar chart, inches: at 4 bars a group, a group is
# 0.4 in, twice the height of its 8-point label, so labels never touch however many rows
BAR_HEIGHT_IN = 0.1
# side of one heatmap cell, inches: wide enough for a 7-point "0.00" and a tick label's height
HEATMAP_CELL_IN = 0.32


def _grouped_bars(
    ax: Axes,
    summary: pd.DataFrame,
    categories: Sequence[str],
    series: Sequence[str],
    category_col: str,
    series_col: str,
    category_labels: Sequence[str],
    series_labels: Mapping[str, str],
) -> None:
    """Horizontal R² bars with CI whiskers: one row group per category (top to bottom), one
    bar per series inside it; R² runs along the x axis."""
    height = 0.8 / max(len(series), 1)
    y = np.arange(len(categories))
    plotted_y, plotted_means = [], []
    for i, name in enumerate(series):
        part = summary.loc[summary[series_col] == name].set_index(category_col)
        part = part.reindex(list(categories))
        mean = part["mean"].to_numpy(dtype=float)
        err = np.vstack(
            [
                mean - part["ci_low"].to_numpy(dtype=float),
                part["ci_high"].to_numpy(dtype=float) - mean,
            ]
        )
        positions = y + (i - (len(series) - 1) / 2) * height
        plotted_y.append(positions)
        plotted_means.append(mean)
        ax.barh(
            positions,
            np.nan_to_num(mean),
            height,
            xerr=np.nan_to_num(err),
            label=series_labels.get(name, name),
            error_kw=ERROR_KW,
            **bar_style(i),
        )
    ax.set_yticks(y, category_labels)
    ax.set_ylim(len(categories) - 0.5, -0.5)  # first category on top
    ax.axvline(0.0, color="0.0", linewidth=0.6)
    ax.grid(True, axis="x")
    ax.grid(False, axis="y")
    if plotted_y:
        _cut_r2_axis(ax, np.concatenate(plotted_y), np.concatenate(plotted_means), horizontal=True)


# how a model came to be, for grouping it in figures (registry `source`)
MODEL_KINDS = {
    "train": "trained here",
    "random_init": "untrained twins",
    "builtin": "pretrained",
    "checkpoint": "pretrained",
    "features": "your features",
}


def _by_kind(results: Results, models: Sequence[str]) -> list[str]:
    """``models`` grouped by kind (trained here, untrained twins, pretrained, ...), registry
    order inside each group."""
    source = dict(zip(results.registry["name"], results.registry["source"], strict=True))
    kinds = list(dict.fromkeys(MODEL_KINDS.values()))
    rank = {m: kinds.index(MODEL_KINDS.get(source.get(m, ""), kinds[-1])) for m in models}
    return sorted(models, key=lambda m: rank[m])


def _mark_kinds(ax: Axes, results: Results, rows: Sequence[str]) -> None:
    """Dashed lines between the groups of ``rows`` (model names, top to bottom) and each
    group's name in the right margin."""
    source = dict(zip(results.registry["name"], results.registry["source"], strict=True))
    kinds = [MODEL_KINDS.get(source.get(m, ""), "other") for m in rows]
    start = 0
    for i in range(1, len(rows) + 1):
        if i < len(rows) and kinds[i] == kinds[start]:
            continue
        if i < len(rows):
            ax.axhline(i - 0.5, color="0.6", linewidth=0.6, linestyle="--")
        ax.annotate(
            kinds[start],
            (1.0, (start + i - 1) / 2),
            xycoords=("axes fraction", "data"),
            xytext=(4, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            rotation=90,
            fontsize=7,
            color="0.3",
        )
        start = i


def _figure_legend(fig: Figure, ax: Axes, title: str | None = None, ncols: int = 4) -> None:
    """The legend of ``ax``'s handles below every panel, outside them (the layout makes room)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, labels, title=title, loc="outside lower center", ncols=ncols, frameon=False
        )


def figure_gradient(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """Grouped horizontal bars: R²_full, R²_comp, R²_geom v2/v1 per model for the main target,
    models grouped by kind (trained here, untrained twins, pretrained); the figure grows with
    the number of models."""
    target = cfg["main_target"]
    scores = select_rows(
        reported_layer_scores(results.cpd, cfg["layer"], results.analysis("layer_profile")),
        dataset=cfg["dataset"],
        target=target,
        probe="ridge",
        group="all",
    )
    models = _by_kind(results, [m for m in results.model_order() if m in set(scores["model"])])
    rows_height = BAR_HEIGHT_IN * len(REPRESENTATIONS) / 0.8 * len(models)
    fig, axes = new_figure(width=7.0, height=max(3.0, rows_height + 1.8))
    ax = axes[0, 0]
    if not models:
        placeholder(ax, f"{NOT_RUN}: no CPD scores for {target} on {cfg['dataset']}")
        return fig
    summary = summarise(scores, ["model", "representation"], level=cfg["ci_level"])
    _grouped_bars(
        ax,
        summary,
        models,
        REPRESENTATIONS,
        "model",
        "representation",
        [results.label(m) for m in models],
        REPRESENTATION_LABELS,
    )
    _mark_kinds(ax, results, models)
    ax.set_xlabel(R2_LABEL)
    ax.set_title(
        f"Linear accessibility of {target}, "
        f"Ridge probe, {cfg['layer']} layer; whiskers: {cfg['ci_level']:.0%} CI"
    )
    _figure_legend(fig, ax)
    return fig


def figure_layers(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """Per-layer profiles of R²_full and R²_geom v2 for the main target, one line per model."""
    target = cfg["main_target"]
    scores = select_rows(
        results.cpd,
        dataset=cfg["dataset"],
        target=target,
        probe="ridge",
        group="all",
        representation=["full", "geom_v2"],
    )
    fig, axes = new_figure(ncols=2, width=7.5, height=3.4, sharey=True)
    if scores.empty:
        for ax in axes[0]:
            placeholder(ax, f"{NOT_RUN}: no CPD scores for {target}")
        return fig
    summary = summarise(scores, ["model", "representation", "layer"], level=cfg["ci_level"])
    models = [m for m in results.model_order() if m in set(summary["model"])]
    for ax, representation in zip(axes[0], ("full", "geom_v2"), strict=True):
        for model, style in zip(models, line_styles(), strict=False):
            part = summary.loc[
                (summary["model"] == model) & (summary["representation"] == representation)
            ]
            part = part.sort_values("layer")
            ax.plot(part["layer"], part["mean"], label=results.label(model), **style)
            _interval_band(ax, part["layer"], part["ci_low"], part["ci_high"])
        ax.set_title(REPRESENTATION_LABELS[representation])
        ax.set_xlabel("layer (interaction block index)")
        shown = summary.loc[summary["representation"] == representation]
        _cut_r2_axis(
            ax,
            shown["layer"].to_numpy(float),
            shown["mean"].to_numpy(float),
            [results.label(m) for m in shown["model"]],
        )
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0, 0].set_ylabel(f"R² of {target} (Ridge, dimensionless)")
    axes[0, 1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return fig


def figure_routing(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """Grouped bars of R² from one channel group per model (and layer) and target.

    One row of panels per dataset of ``render.routing.targets`` (``render.dataset`` always,
    another dataset where some model has channel-group scores there), one panel per target. Within
    a family the configured groups are shown in order (slot 0 darkest), so MACE's L0 sits where
    ViSNet's scalar stream and SevenNet's L0 do. A model of a family listed in
    ``routing.every_layer`` gets one bar group per scored layer. Models of other families are
    left out, as in table 6.
    """
    routing = cfg["routing"]
    by_dataset = routing_targets(cfg)
    groups = routing["groups"].values()
    n_slots = max((len(gs) for gs in groups), default=1)
    slot_labels = {
        i: " / ".join(dict.fromkeys(gs[i] for gs in groups if len(gs) > i)) for i in range(n_slots)
    }
    scores = routing_scores(results, cfg)
    summary = summarise(
        scores, ["dataset", "model", "row_layer", "slot", "target"], level=cfg["ci_level"]
    )
    every = set(routing.get("every_layer", []))
    family = dict(zip(results.registry["name"], results.registry["family"], strict=True))
    order = {m: i for i, m in enumerate(results.model_order())}
    summary["bar"] = [
        f"{results.label(m)} (layer {layer})"
        if m in every or family.get(m) in every
        else results.label(m)
        for m, layer in zip(summary["model"], summary["row_layer"], strict=True)
    ]
    # a dataset besides render.dataset gets a row only where some model has channel-group scores
    by_dataset = {
        dataset: targets
        for dataset, targets in by_dataset.items()
        if dataset == cfg["dataset"] or dataset in set(summary["dataset"])
    } or dict([next(iter(routing_targets(cfg).items()))])
    n_cols = max(len(names) for names in by_dataset.values())
    rows_per_dataset = {
        d: max(summary.loc[summary["dataset"] == d, "bar"].nunique(), 1) for d in by_dataset
    }
    heights = [BAR_HEIGHT_IN * n_slots / 0.8 * n + 1.0 for n in rows_per_dataset.values()]
    fig, axes = new_figure(
        ncols=n_cols,
        nrows=len(by_dataset),
        width=2.0 + 3.0 * n_cols,
        height=sum(heights) + 1.0,
        sharey="row",
        gridspec_kw={"height_ratios": heights},
    )
    for row, (dataset, targets) in enumerate(by_dataset.items()):
        part = summary.loc[summary["dataset"] == dataset]
        ranked = part.drop_duplicates("bar").assign(
            rank=lambda f: f["model"].map(order), layer=lambda f: f["row_layer"].map(_layer_key)
        )
        bars = list(ranked.sort_values(["rank", "layer"])["bar"])
        for col in range(n_cols):
            ax = axes[row, col]
            if col >= len(targets):
                ax.set_axis_off()
                continue
            target = targets[col]
            shown = part.loc[part["target"] == target]
            if shown.empty:
                placeholder(ax, f"{NOT_RUN}: no channel-group scores for {target} on {dataset}")
                continue
            _grouped_bars(ax, shown, bars, list(range(n_slots)), "bar", "slot", bars, slot_labels)
            ax.set_title(f"{dataset}: {target}\n{REPRESENTATION_LABELS[routing['representation']]}")
            ax.set_xlabel(R2_LABEL if row == len(by_dataset) - 1 else "")
            if col > 0:
                ax.tick_params(axis="y", labelleft=False)
    _figure_legend(fig, _first_with_bars(axes), title="channel group")
    return fig


def _interval_band(ax: Axes, x: pd.Series, low: pd.Series, high: pd.Series) -> None:
    """A light grey band between an interval's ends along x (behind the line it belongs to)."""
    ax.fill_between(
        x.to_numpy(dtype=float),
        low.to_numpy(dtype=float),
        high.to_numpy(dtype=float),
        color="0.5",
        alpha=0.15,
        linewidth=0,
    )


def _layer_key(row_layer: str) -> int:
    """Sort key of a routing row's layer text (``"3"``, or ``"2/3"`` for a reported row)."""
    return int(str(row_layer).split("/")[-1])


def _first_with_bars(axes: np.ndarray) -> Axes:
    """The first panel holding bars (its legend handles name the channel groups)."""
    for ax in axes.flat:
        if ax.get_legend_handles_labels()[0]:
            return ax
    return axes[0, -1]


def _heatmap(
    ax: Axes,
    frame: pd.DataFrame,
    row: str,
    col: str,
    value: str,
    order: Sequence[str] | None = None,
    vmin: float | None = 0.0,
    vmax: float | None = None,
    label: str | None = None,
) -> None:
    """Annotated heatmap of ``value`` with rows ``row`` and columns ``col``.

    ``vmax`` is raised to the largest value if the data exceed it (GFRE can exceed 1).
    """
    matrix = frame.pivot_table(index=row, columns=col, values=value, aggfunc="mean")
    labels = list(order) if order is not None else sorted(set(matrix.index) | set(matrix.columns))
    matrix = matrix.reindex(
        index=[x for x in labels if x in matrix.index or order is not None],
        columns=[x for x in labels if x in matrix.columns or order is not None],
    )
    values = matrix.to_numpy(dtype=float)
    if vmax is not None and np.isfinite(values).any():
        vmax = max(vmax, float(np.nanmax(values)))
    image = ax.imshow(values, cmap=SEQUENTIAL_CMAP, vmin=vmin, vmax=vmax, aspect="auto")
    annotate_heatmap(ax, values)
    ax.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns], rotation=90)
    ax.set_yticks(range(matrix.shape[0]), [str(r) for r in matrix.index])
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, shrink=0.85, label=label or value)


def _analysis_or_placeholder(results: Results, name: str, axes: np.ndarray) -> pd.DataFrame | None:
    frame = results.analysis(name)
    if frame is None or frame.empty:
        for ax in axes.ravel():
            placeholder(ax, f"{NOT_RUN}: results/analyses/{name}.parquet was not produced")
        return None
    return frame


def _dataset_rows(frame: pd.DataFrame, cfg: Mapping[str, Any]) -> pd.DataFrame:
    """Rows of the molecular dataset when the analysis covers several datasets."""
    if "dataset" in frame.columns and cfg["dataset"] in set(frame["dataset"]):
        return frame.loc[frame["dataset"] == cfg["dataset"]]
    return frame


def _legend_right(ax: Axes, handles_from: Axes | None = None, title: str | None = None) -> None:
    """Legend outside the right edge of ``ax`` (never over data), if there is anything to show."""
    handles, labels = (handles_from or ax).get_legend_handles_labels()
    if handles:
        ax.legend(
            handles,
            labels,
            title=title,
            frameon=False,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
        )


def figure_sample_efficiency(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """Learning curves R²(N) per model, and the Spearman ρ of each N's model ranking."""
    fig, axes = new_figure(ncols=2, width=8.5, height=3.3)
    frame = _analysis_or_placeholder(results, "sample_efficiency", axes)
    if frame is None:
        return fig
    require_columns(
        frame,
        ("model", "target", "representation", "n_train", "is_full", "r2"),
        "results/analyses/sample_efficiency.parquet",
    )
    target = _pick(frame["target"], cfg["main_target"])
    representation = _pick(frame["representation"], cfg["residual"])
    frame = frame.loc[(frame["target"] == target) & (frame["representation"] == representation)]
    summary = summarise(frame, ["model", "n_train"], level=cfg["ci_level"])
    ax = axes[0, 0]
    models = [m for m in results.model_order() if m in set(summary["model"])]
    for model, style in zip(models, line_styles(), strict=False):
        part = summary.loc[summary["model"] == model].sort_values("n_train")
        ax.errorbar(
            part["n_train"],
            part["mean"],
            yerr=np.nan_to_num(
                np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
            ),
            label=results.label(model),
            capsize=2,
            elinewidth=0.7,
            **style,
        )
    pool_sizes = frame.loc[frame["is_full"], "n_train"]
    if pool_sizes.empty:
        _log_n_axis(ax, summary["n_train"])
        ax.set_xlabel("training structures N (log scale)")
    else:  # the pool sits close to the largest N: its tick label would overlap, so name it here
        full_pool = int(pool_sizes.max())
        _log_n_axis(ax, summary.loc[summary["n_train"] != full_pool, "n_train"])
        ax.set_xlabel(f"training structures N (log scale; rightmost: full pool, N = {full_pool:,})")
    _cut_r2_axis(
        ax,
        summary["n_train"].to_numpy(float),
        summary["mean"].to_numpy(float),
        [results.label(m) for m in summary["model"]],
    )
    ax.set_ylabel(f"test R² of {target} (dimensionless)")
    ax.set_title(f"Ridge on {REPRESENTATION_LABELS[representation].replace('R²_', '')}")
    rho = results.analysis("sample_efficiency_ranking")
    rho = rho.loc[(rho["target"] == target) & (rho["representation"] == representation)]
    ax = axes[0, 1]
    ax.plot(rho["n_train"], rho["spearman_rho"], color="0.0", marker="o", markersize=4)
    for n, value in zip(rho["n_train"], rho["spearman_rho"], strict=True):
        if np.isfinite(value):
            ax.annotate(
                f"{value:.2f}",
                (n, value),
                textcoords="offset points",
                xytext=(0, 5 if value >= 0 else -11),
                ha="center",
                fontsize=7,
            )
    _log_n_axis(ax, rho["n_train"])
    ax.set_ylim(-1.2, 1.2)
    ax.set_xlabel("training structures N (log scale)")
    ax.set_ylabel("Spearman ρ vs full-pool ranking")
    _legend_right(ax, axes[0, 0])
    return fig


def _log_n_axis(ax: Axes, sizes: pd.Series) -> None:
    """Log x axis with one plain tick label per training size N (no crowded minor labels)."""
    ax.set_xscale("log")
    ticks = sorted(set(sizes.astype(int)))
    ax.set_xticks(ticks, [str(n) for n in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _pick(values: pd.Series, preferred: str) -> str:
    """``preferred`` if present in ``values``, else the first value in sorted order."""
    present = sorted(set(values))
    return preferred if preferred in present else present[0]


def _reconstruction_datasets(
    frames: Sequence[pd.DataFrame | None], cfg: Mapping[str, Any]
) -> list[str]:
    """Datasets with GFRE/LFRE rows: the molecular one, the crystal one, then any other."""
    present = {d for f in frames if f is not None and "dataset" in f for d in f["dataset"]}
    preferred = [cfg["dataset"], cfg.get("crystal_dataset")]
    return [d for d in preferred if d in present] + sorted(present - set(preferred))


def figure_reconstruction(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """GFRE and LFRE heatmaps across models (rows = source X, columns = target Y), one row of
    panels per dataset (molecules, crystals, others); GFRE is the mean over the test splits.

    Test sets as paper B draws them (split ``atoms`` at atom level; the ``structures`` split is
    in the claims report). One pair can dominate a mean over pairs, so each title gives the
    off-diagonal mean and median side by side."""
    level = cfg["reconstruction_level"]
    split = "atoms" if level == "atom" else "structures"
    frames = {name: results.analysis(name) for name in ("gfre", "lfre")}
    datasets = _reconstruction_datasets(list(frames.values()), cfg) or [cfg["dataset"]]
    n_models = len(results.model_order())
    side = max(3.2, HEATMAP_CELL_IN * n_models)
    fig, axes = new_figure(
        ncols=2, nrows=len(datasets), width=2 * (side + 2.4), height=(side + 2.2) * len(datasets)
    )
    for row, dataset in zip(axes, datasets, strict=True):
        for ax, (name, frame) in zip(row, frames.items(), strict=True):
            if frame is None or frame.empty:
                placeholder(ax, f"{NOT_RUN}: results/analyses/{name}.parquet was not produced")
                continue
            require_columns(
                frame,
                ("source", "target", "level", "split", "value"),
                f"results/analyses/{name}.parquet",
            )
            frame = frame.loc[(frame["level"] == level) & (frame["split"] == split)]
            if "dataset" in frame.columns:
                frame = frame.loc[frame["dataset"] == dataset]
            if frame.empty:
                placeholder(ax, f"{NOT_RUN}: no {level}-level {name.upper()} rows on {dataset}")
                continue
            frame = frame.assign(
                source=frame["source"].map(results.label),
                target=frame["target"].map(results.label),
            )
            order = [
                results.label(m)
                for m in results.model_order()
                if results.label(m) in set(frame["source"]) | set(frame["target"])
            ]
            _heatmap(
                ax,
                frame,
                "source",
                "target",
                "value",
                order=order,
                vmin=0.0,
                vmax=1.0,
                label=f"{name.upper()} (dimensionless)",
            )
            pairs = frame.loc[frame["source"] != frame["target"]]
            pairs = pairs.groupby(["source", "target"])["value"].mean()
            ax.set_title(
                f"{name.upper()}(X → Y), {dataset}, {level} level; 0 = Y reconstructed\n"
                f"off-diagonal pairs: mean {pairs.mean():.3f}, median {pairs.median():.3f}",
                fontsize=8,
            )
            ax.set_xlabel("reconstructed features Y")
            ax.set_ylabel("source features X")
    return fig


def figure_cumulants(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """GFRE between cumulant-pooled features of orders K (rows) and K′ (columns), per model."""
    frame = results.analysis("cumulants")
    present = set(frame["model"]) if frame is not None and not frame.empty else set()
    models = [m for m in results.model_order() if m in present]
    fig, axes = new_figure(ncols=max(len(models), 1), width=4.2 * max(len(models), 1), height=3.6)
    if not models:
        placeholder(axes[0, 0], f"{NOT_RUN}: results/analyses/cumulants.parquet was not produced")
        return fig
    require_columns(
        frame,
        ("model", "source_order", "target_order", "value"),
        "results/analyses/cumulants.parquet",
    )
    for ax, model in zip(axes[0], models, strict=True):
        part = frame.loc[frame["model"] == model]
        orders = sorted(set(part["source_order"]) | set(part["target_order"]))
        _heatmap(
            ax,
            part,
            "source_order",
            "target_order",
            "value",
            order=orders,
            vmin=0.0,
            vmax=1.0,
            label="GFRE (dimensionless)",
        )
        ax.set_title(f"{results.label(model)}: GFRE(φ(K) → φ(K′))")
        ax.set_xlabel("reconstructed order K′")
        ax.set_ylabel("source order K")
        ax.tick_params(axis="x", rotation=0)
    return fig


def figure_pcovr(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """PCovR maps (2 components) of each model's features, points coloured by the target."""
    frame = results.analysis("pcovr")
    if frame is not None and not frame.empty:
        require_columns(
            frame, ("model", "target", "pcovr_1", "pcovr_2", "y"), "results/analyses/pcovr.parquet"
        )
        frame = _dataset_rows(frame, cfg)
    present = set(frame["model"]) if frame is not None and not frame.empty else set()
    models = [m for m in results.model_order() if m in present]
    ncols = min(max(len(models), 1), 4)
    nrows = max(1, -(-len(models) // ncols))
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=2.6 * ncols + 1.0, height=2.5 * nrows)
    if not models:
        placeholder(axes[0, 0], f"{NOT_RUN}: results/analyses/pcovr.parquet was not produced")
        return fig
    target = _pick(frame["target"], cfg["main_target"])
    frame = frame.loc[frame["target"] == target]
    vmin, vmax = np.nanpercentile(frame["y"], [1, 99])
    for ax in axes.ravel()[len(models) :]:
        ax.set_axis_off()
    for ax, model in zip(axes.ravel(), models, strict=False):
        part = frame.loc[frame["model"] == model]
        points = ax.scatter(
            part["pcovr_1"],
            part["pcovr_2"],
            c=part["y"],
            cmap=SEQUENTIAL_CMAP,
            vmin=vmin,
            vmax=vmax,
            s=4,
            linewidths=0,
            rasterized=True,
        )
        ax.set_title(results.label(model))
        ax.set_xlabel("PCovR 1 (scaled features)")
        ax.set_ylabel("PCovR 2")
        ax.grid(False)
    fig.colorbar(points, ax=axes.ravel().tolist(), shrink=0.8, label=_target_label(target, cfg))
    return fig


def figure_similarity(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """Linear CKA, mutual kNN, CKNNA and the information imbalance between every pair of
    models, one heatmap each, at most three to a row."""
    frame = results.analysis("similarity")
    if frame is not None and not frame.empty:
        require_columns(
            frame, ("model_a", "model_b", "metric", "value"), "results/analyses/similarity.parquet"
        )
        frame = _dataset_rows(frame, cfg)
    present = set(frame["metric"]) if frame is not None and not frame.empty else set()
    metrics = [m for m in SIMILARITY_LABELS if m in present] + sorted(
        present - set(SIMILARITY_LABELS)
    )
    side = max(3.2, HEATMAP_CELL_IN * len(results.model_order()))
    ncols = min(max(len(metrics), 1), 3)
    nrows = max(1, -(-len(metrics) // ncols))
    fig, axes = new_figure(
        ncols=ncols, nrows=nrows, width=(side + 2.4) * ncols, height=(side + 2.2) * nrows
    )
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_axis_off()
    if not metrics:
        placeholder(axes[0, 0], f"{NOT_RUN}: results/analyses/similarity.parquet was not produced")
        return fig
    frame = frame.assign(
        model_a=frame["model_a"].map(results.label), model_b=frame["model_b"].map(results.label)
    )
    order = [
        results.label(m)
        for m in results.model_order()
        if results.label(m) in set(frame["model_a"]) | set(frame["model_b"])
    ]
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        name = SIMILARITY_LABELS.get(metric, metric)
        _heatmap(
            ax,
            frame.loc[frame["metric"] == metric],
            "model_a",
            "model_b",
            "value",
            order=order,
            vmin=0.0,
            vmax=1.0,
            label=f"{name} (dimensionless)",
        )
        meaning = (
            "Δ(row → column); 0 = row's neighbours are column's"
            if metric == "information_imbalance"
            else "1 = identical"
        )
        ax.set_title(f"{name} ({meaning})")
    return fig


def figure_convergence(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """GFRE and CKA between each training checkpoint's features and the final model's."""
    frame = results.analysis("convergence")
    metrics = []
    if frame is not None and not frame.empty:
        require_columns(
            frame, ("model", "epoch", "metric", "value"), "results/analyses/convergence.parquet"
        )
        frame = _dataset_rows(frame, cfg)
        metrics = [m for m in CONVERGENCE_METRICS if m in set(frame["metric"])]
    fig, axes = new_figure(
        ncols=max(len(metrics), 1), width=3.6 * max(len(metrics), 1) + 1.4, height=3.3
    )
    if not metrics:
        placeholder(axes[0, 0], f"{NOT_RUN}: results/analyses/convergence.parquet was not produced")
        return fig
    models = [m for m in results.model_order() if m in set(frame["model"])]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for model, style in zip(models, line_styles(), strict=False):
            part = frame.loc[(frame["model"] == model) & (frame["metric"] == metric)]
            part = part.groupby("epoch", as_index=False)["value"].mean()
            ax.plot(part["epoch"], part["value"], label=results.label(model), **style)
        ax.set_xlabel("training epoch of the checkpoint")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(CONVERGENCE_METRICS[metric])
        ax.set_ylim(bottom=0)
    _legend_right(axes[0, -1])
    return fig


def figure_intrinsic_dimension(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """TwoNN intrinsic dimension of each model's pooled features by layer, with its bootstrap
    interval; one panel per kind of model (trained here, untrained twins, pretrained)."""
    frame = results.analysis("intrinsic_dimension")
    if frame is not None and not frame.empty:
        require_columns(
            frame,
            ("model", "layer", "value", "ci_low", "ci_high"),
            "results/analyses/intrinsic_dimension.parquet",
        )
        frame = _dataset_rows(frame, cfg)
    present = set(frame["model"]) if frame is not None and not frame.empty else set()
    models = _by_kind(results, [m for m in results.model_order() if m in present])
    source = dict(zip(results.registry["name"], results.registry["source"], strict=True))
    kinds = list(dict.fromkeys(MODEL_KINDS.get(source.get(m, ""), "other") for m in models))
    per_kind = max(
        (sum(MODEL_KINDS.get(source.get(m, ""), "other") == k for m in models) for k in kinds),
        default=1,
    )
    fig, axes = new_figure(
        ncols=max(len(kinds), 1),
        width=3.4 * max(len(kinds), 1),
        height=3.0 + 0.19 * per_kind,
        sharey=True,
    )
    if not models:
        placeholder(
            axes[0, 0], f"{NOT_RUN}: results/analyses/intrinsic_dimension.parquet was not produced"
        )
        return fig
    for ax, kind in zip(axes[0], kinds, strict=True):
        shown = [m for m in models if MODEL_KINDS.get(source.get(m, ""), "other") == kind]
        for model, style in zip(shown, line_styles(), strict=False):
            part = frame.loc[frame["model"] == model].sort_values("layer")
            ax.plot(part["layer"], part["value"], label=results.label(model), **style)
            _interval_band(ax, part["layer"], part["ci_low"], part["ci_high"])
        ax.set_title(kind)
        ax.set_xlabel("layer")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False, fontsize=7)
    axes[0, 0].set_ylabel("intrinsic dimension (TwoNN)")
    return fig


def figure_alignment_accuracy(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """Does alignment rise as models get better (as Edamadaka et al. report)? For every model
    trained here and its untrained twin: its mean alignment to the other such models against
    its test error relative to the simplest baseline (:func:`relative_test_error`);
    one panel per alignment metric, Spearman ρ in each title."""
    frame = results.analysis("similarity")
    registry = results.registry
    ratio = relative_test_error(registry)
    built = registry.loc[
        registry["source"].isin([Source.TRAIN, Source.RANDOM_INIT])
        & registry["name"].map(ratio).notna().to_numpy()
    ]
    metrics = [
        m for m in ("cknna", "mutual_knn", "cka") if frame is not None and m in set(frame["metric"])
    ]
    fig, axes = new_figure(
        ncols=max(len(metrics), 1), width=3.3 * max(len(metrics), 1) + 0.6, height=3.3, sharex=True
    )
    if not metrics or len(built) < 3:
        placeholder(axes[0, 0], f"{NOT_RUN}: needs similarity scores and 3 models trained here")
        return fig
    frame = _dataset_rows(frame, cfg)
    names = set(built["name"])
    error = ratio.to_dict()
    trained = set(built.loc[built["source"] == Source.TRAIN, "name"])
    for ax, metric in zip(axes[0], metrics, strict=True):
        part = frame.loc[
            (frame["metric"] == metric)
            & frame["model_a"].isin(names)
            & frame["model_b"].isin(names)
            & (frame["model_a"] != frame["model_b"])
        ]
        mean = part.groupby("model_a")["value"].mean()
        x = np.array([error[m] for m in mean.index])
        for is_trained, marker, label in (
            (True, "o", "trained here"),
            (False, "s", "untrained twin"),
        ):
            keep = np.array([(m in trained) == is_trained for m in mean.index])
            ax.scatter(
                x[keep],
                mean.to_numpy()[keep],
                marker=marker,
                s=22,
                color="0.2",
                facecolors="0.2" if is_trained else "white",
                label=label,
            )
        rho = stats.spearmanr(x, mean.to_numpy()).statistic if len(mean) > 2 else np.nan
        ax.set_title(f"{SIMILARITY_LABELS.get(metric, metric)}; Spearman ρ {rho:.2f}")
        ax.set_xlabel("test MAE / baseline MAE (1 = no skill)")
        ax.set_ylabel(f"mean {SIMILARITY_LABELS.get(metric, metric)} to the others")
    _figure_legend(fig, axes[0, 0], ncols=2)
    return fig


def figure_backbone(results: Results, cfg: Mapping[str, Any]) -> Figure:
    """Backbone vs last layer (paper B): GFRE(layer ℓ → last) and GFRE(last → ℓ) per model
    against ℓ, one panel per direction."""
    frame = results.analysis("layer_reconstruction")
    directions = {
        "layer_to_last": "GFRE(layer ℓ → last layer)",
        "last_to_layer": "GFRE(last layer → layer ℓ)",
    }
    present = set(frame["model"]) if frame is not None and not frame.empty else set()
    models = _by_kind(results, [m for m in results.model_order() if m in present])
    fig, axes = new_figure(ncols=2, width=7.6, height=3.2 + 0.16 * len(models), sharey=True)
    if not models:
        for ax in axes[0]:
            placeholder(ax, f"{NOT_RUN}: results/analyses/layer_reconstruction.parquet")
        return fig
    frame = _dataset_rows(frame, cfg)
    for ax, (direction, title) in zip(axes[0], directions.items(), strict=True):
        for model, style in zip(models, line_styles(), strict=False):
            part = frame.loc[(frame["model"] == model) & (frame["direction"] == direction)]
            part = part.sort_values("layer")
            ax.plot(part["layer"], part["value"], label=results.label(model), **style)
        ax.set_title(title)
        ax.set_xlabel("earlier layer ℓ")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0, 0].set_ylabel("GFRE (dimensionless; 0 = reconstructed)")
    _figure_legend(fig, axes[0, 0], ncols=3)
    return fig


def _claim_panels(claims: Sequence[str], ncols: int, empty: str) -> tuple[Figure, np.ndarray]:
    """A grid with one panel per claim (``ncols`` a row, spare panels hidden); a single panel
    saying ``empty`` when there is no claim."""
    ncols = max(min(ncols, len(claims)), 1)
    nrows = max(-(-len(claims) // ncols), 1)
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=3.0 * ncols, height=2.7 * nrows)
    for ax in axes.flat[len(claims) :]:
        ax.set_axis_off()
    if not claims:
        placeholder(axes[0, 0], empty)
    return fig, axes


def _paper_line(ax: Axes, part: pd.DataFrame) -> None:
    """The paper's number (column ``paper_number``) as a dashed line, if it gives one."""
    paper = part["paper_number"].dropna()
    if len(paper):
        ax.axhline(paper.iloc[0], color="0.45", linestyle="--", linewidth=0.9, label="paper")


def figure_ladder(ladder: pd.DataFrame, ncols: int = 4) -> Figure:
    """Each claim's deciding measure against the training budget of a ladder's rungs.

    Parameters
    ----------
    ladder : DataFrame
        ``results/ladder.csv`` (:func:`atomprobe.render.reproduction.ladder_table`): one row
        per claim and rung.
    ncols : int, default=4
        Panels per row.

    Returns
    -------
    Figure
        One panel per claim whose measure changes between rungs (claims decided by models
        not trained here read the same on every rung and are left out): the measure's mean
        and interval against the rung's median test MAE relative to the mean-predicting
        baseline (the x axis runs from least to most trained), each point labelled with its
        rung and verdict, the paper's number as a dashed line.
    """
    finite = ladder.loc[np.isfinite(ladder["ours"].astype(float))]
    spread = finite.groupby("id", sort=False)["ours"].agg(lambda v: v.max() - v.min())
    shown = [claim for claim, width in spread.items() if width > 0]
    empty = "no claim's measure changes between the ladder's rungs"
    fig, axes = _claim_panels(shown, ncols, empty)
    if not shown:
        return fig
    for ax, claim in zip(axes.flat, shown, strict=False):
        part = finite.loc[finite["id"] == claim].sort_values("rung")
        x = part["relative_test_error"].to_numpy(float)
        y = part["ours"].to_numpy(float)
        low = np.where(np.isfinite(part["ci_low"]), y - part["ci_low"], 0.0)
        high = np.where(np.isfinite(part["ci_high"]), part["ci_high"] - y, 0.0)
        ax.errorbar(x, y, yerr=[low, high], color="0.0", marker="o", ms=4, capsize=2, **ERROR_KW)
        for xi, yi, rung, verdict in zip(x, y, part["rung"], part["verdict"], strict=True):
            ax.annotate(
                f"rung {rung}: {verdict}",
                (xi, yi),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=6,
            )
        _paper_line(ax, part)
        if np.isfinite(x).sum() > 1 and np.nanmax(x) > np.nanmin(x):
            ax.invert_xaxis()  # less error = more training, to the right
        ax.set_title(f"{claim}: {part['measure_name'].iloc[0]}", fontsize=7)
        ax.set_xlabel("median test MAE / baseline MAE")
    with_paper = [ax for ax in axes.flat if ax.get_legend_handles_labels()[0]]
    if with_paper:
        _figure_legend(fig, with_paper[0], ncols=1)
    return fig


def figure_ladder_checkpoints(checkpoints: pd.DataFrame, ncols: int = 4) -> Figure:
    """Each claim's deciding measure on every kept training checkpoint, one line per rung.

    Parameters
    ----------
    checkpoints : DataFrame
        ``results/ladder_checkpoints.csv``
        (:func:`atomprobe.render.reproduction.ladder_checkpoint_table`).
    ncols : int, default=4
        Panels per row.

    Returns
    -------
    Figure
        One panel per claim with checkpoint rows: the measure's mean against the training
        epoch with its interval as a band, a line per rung, the paper's number dashed.
    """
    claims = list(dict.fromkeys(checkpoints["id"]))
    empty = "no claim's measure reads the scores of kept checkpoints"
    fig, axes = _claim_panels(claims, ncols, empty)
    if not claims:
        return fig
    for ax, claim in zip(axes.flat, claims, strict=False):
        part = checkpoints.loc[checkpoints["id"] == claim]
        for (rung, line), style in zip(part.groupby("rung"), line_styles(), strict=False):
            line = line.sort_values("epoch")
            ax.plot(line["epoch"], line["ours"], label=f"rung {rung}", **style)
            _interval_band(ax, line["epoch"], line["ci_low"], line["ci_high"])
        _paper_line(ax, part)
        ax.set_title(f"{claim}: {part['measure_name'].iloc[0]}", fontsize=7)
        ax.set_xlabel("training epoch of the checkpoint")
        ax.xaxis.get_major_locator().set_params(integer=True)
    most_lines = max(axes.flat[: len(claims)], key=lambda ax: len(ax.lines))
    _figure_legend(fig, most_lines, ncols=6)
    return fig


SIMILARITY_LABELS = {
    "cka": "linear CKA",
    "cka_debiased": "linear CKA, debiased",
    "mutual_knn": "mutual kNN",
    "cknna": "CKNNA",
    "information_imbalance": "information imbalance",
}
CONVERGENCE_METRICS = {
    "gfre_checkpoint_to_final": "GFRE(checkpoint → final)",
    "gfre_final_to_checkpoint": "GFRE(final → checkpoint)",
    "cka": "linear CKA(checkpoint, final)",
}


FigureBuilder = Callable[[Results, Mapping[str, Any]], Figure]
FIGURES: dict[str, FigureBuilder] = {
    "gradient": figure_gradient,
    "layers": figure_layers,
    "routing": figure_routing,
    "sample_efficiency": figure_sample_efficiency,
    "reconstruction": figure_reconstruction,
    "cumulants": figure_cumulants,
    "pcovr": figure_pcovr,
    "similarity": figure_similarity,
    "convergence": figure_convergence,
    "intrinsic_dimension": figure_intrinsic_dimension,
    "alignment_accuracy": figure_alignment_accuracy,
    "backbone": figure_backbone,
}
