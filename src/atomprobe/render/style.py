"""One figure style for every plot: readable in greyscale, saved as PDF and PNG together.

Categories are told apart by grey level *and* hatch (bars) or marker and line style (lines), so a
black-and-white print keeps every distinction; continuous values use ``cividis``, whose lightness
rises monotonically.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from atomprobe.io import atomic_path

matplotlib.use("Agg")  # files only, never a window
logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting is chatty

SEQUENTIAL_CMAP = "cividis"
# fill grey level (0 = black, 1 = white) and hatch per category, in order of use
BAR_FILLS = ("0.15", "0.55", "0.85", "1.0", "0.35", "0.7")
BAR_HATCHES = ("", "", "", "///", "..", "xx")
LINE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
LINE_STYLES = ("-", "--", ":", "-.")

RC_PARAMS = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "0.88",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "hatch.linewidth": 0.6,
    "pdf.fonttype": 42,  # embed TrueType: text stays selectable and editable
    "errorbar.capsize": 2,
}


def new_figure(
    ncols: int = 1, nrows: int = 1, width: float = 6.5, height: float = 3.2, **kwargs
) -> tuple[Figure, np.ndarray]:
    """A figure in the house style with an (nrows × ncols) array of axes."""
    matplotlib.rcParams.update(RC_PARAMS)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, height), squeeze=False, layout="constrained", **kwargs
    )
    return fig, axes


def bar_style(index: int) -> dict[str, str]:
    """Face colour, hatch and edge colour of the ``index``-th bar category."""
    return {
        "color": BAR_FILLS[index % len(BAR_FILLS)],
        "hatch": BAR_HATCHES[index % len(BAR_HATCHES)],
        "edgecolor": "0.0",
        "linewidth": 0.6,
    }


def line_styles() -> Iterator[dict[str, str]]:
    """Endless (marker, line style, grey) combinations for one line per category."""
    greys = ("0.0", "0.45")
    for marker, linestyle, grey in zip(
        itertools.cycle(LINE_MARKERS),
        itertools.cycle(LINE_STYLES),
        itertools.cycle(greys),
        strict=False,
    ):
        yield {
            "marker": marker,
            "linestyle": linestyle,
            "color": grey,
            "markersize": 4,
            "linewidth": 1.1,
            "markerfacecolor": "white" if grey != "0.0" else grey,
        }


def annotate_heatmap(ax: Axes, values: np.ndarray, fmt: str = "{:.2f}") -> None:
    """Write each finite cell value; white text on dark cells, black on light ones."""
    image = ax.images[-1]
    for (row, col), value in np.ndenumerate(values):
        if not np.isfinite(value):
            ax.text(col, row, "–", ha="center", va="center", fontsize=7, color="0.3")
            continue
        red, green, blue, _ = image.cmap(image.norm(value))
        luminance = 0.299 * red + 0.587 * green + 0.114 * blue
        ax.text(
            col,
            row,
            fmt.format(value),
            ha="center",
            va="center",
            fontsize=7,
            color="black" if luminance > 0.5 else "white",
        )


def placeholder(ax: Axes, message: str) -> None:
    """Mark a panel whose input is absent, instead of failing the whole figure."""
    ax.set_axis_off()
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        wrap=True,
        fontsize=9,
        color="0.2",
        transform=ax.transAxes,
    )


def save_figure(fig: Figure, pdf: str | Path, png: str | Path, dpi: int = 200) -> None:
    """Write ``fig`` atomically as PDF and PNG, then close it."""
    for path, fmt in ((pdf, "pdf"), (png, "png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
    plt.close(fig)


def drawn_texts(fig: Figure) -> list[Text]:
    """Every text ``fig`` draws with something in it: titles, axis and tick labels (of ticks
    inside the view only), legends, annotations and in-panel text."""
    fig.draw_without_rendering()
    ticks = set()
    drawn = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick, loc in zip(axis.get_major_ticks(), axis.get_majorticklocs(), strict=False):
                for label in (tick.label1, tick.label2):
                    ticks.add(id(label))
                    if label.get_visible() and low - 1e-9 <= loc <= high + 1e-9:
                        drawn.append(label)
            for tick in axis.get_minor_ticks():
                ticks.update((id(tick.label1), id(tick.label2)))
    for text in fig.findobj(Text):
        if id(text) not in ticks and text.get_visible() and text.get_text().strip():
            drawn.append(text)
    return [t for t in drawn if t.get_text().strip()]


def overlapping_texts(fig: Figure, slack_px: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of texts whose drawn boxes overlap by more than ``slack_px`` pixels each way.

    Parameters
    ----------
    fig : Figure
        A finished figure (its layout engine runs first).
    slack_px : float, default=1.0
        Boxes are shrunk by this much on every side before the test (anti-aliasing).

    Returns
    -------
    list of (str, str)
        The texts of each overlapping pair, in drawing order.
    """
    texts = drawn_texts(fig)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    boxes = [
        b.from_extents(b.x0 + slack_px, b.y0 + slack_px, b.x1 - slack_px, b.y1 - slack_px)
        for b in boxes
    ]
    return [
        (texts[i].get_text(), texts[j].get_text())
        for i, j in itertools.combinations(range(len(texts)), 2)
        if boxes[i].overlaps(boxes[j])
    ]
