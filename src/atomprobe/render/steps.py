"""Pipeline steps of the render stage: one table, one figure, or the reproduction report.

``params`` is the ``render`` config section plus ``item`` (which table or figure) and, for the
report, ``run`` (config files and model selection, printed in the report header). Inputs are the
cached results only (see :mod:`atomprobe.render.inputs`); :data:`NEEDS` says which ones each item
reads, so the workflow wires exactly those and a change to one analysis re-renders only its
figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atomprobe.errors import ConfigError
from atomprobe.io import Paths, write_text
from atomprobe.render.figures import FIGURES, figure_ladder, figure_ladder_checkpoints
from atomprobe.render.inputs import load_results
from atomprobe.render.reproduction import (
    ladder_checkpoint_table,
    ladder_markdown,
    ladder_table,
    landing_rst,
    reproduction_tables,
    to_markdown,
)
from atomprobe.render.style import save_figure
from atomprobe.render.tables import TABLES, table_leakage, write_table

# item -> the inputs it reads: "registry", "cpd", "cpd_sensitivity" (results/cpd_sensitivity/
# {model}/{dataset}.parquet), "cpd_protocols" (results/cpd_protocols/{model}/{dataset}.parquet),
# analysis names (results/analyses/{name}.parquet) or ALL_ANALYSES
# (every analysis the workflow runs). Every reader of CPD scores also reads the layer profile,
# which marks the best layer for ``render.layer: best``.
ALL_ANALYSES = "all analyses"
CPD_INPUTS = ("registry", "cpd", "layer_profile")
NEEDS: dict[str, tuple[str, ...]] = {
    **{name: CPD_INPUTS for name in TABLES},
    "table4_control": ("registry", "control"),
    "table5_isomers": ("registry", "isomers"),
    "table9_sensitivity": ("registry", "cpd_sensitivity"),
    "table10_protocols": ("registry", "cpd_protocols"),
    **{name: CPD_INPUTS for name in ("gradient", "layers", "routing")},
    "sample_efficiency": ("registry", "sample_efficiency", "sample_efficiency_ranking"),
    "reconstruction": ("registry", "gfre", "lfre"),
    "cumulants": ("registry", "cumulants"),
    "pcovr": ("registry", "pcovr"),
    "similarity": ("registry", "similarity"),
    "convergence": ("registry", "convergence"),
    "intrinsic_dimension": ("registry", "intrinsic_dimension"),
    "table11_alignment": ("registry", "similarity", "intrinsic_dimension", "layer_reconstruction"),
    "alignment_accuracy": ("registry", "similarity"),
    "backbone": ("registry", "layer_reconstruction"),
    "reproduction": ("registry", "cpd", "cpd_protocols", ALL_ANALYSES),
}


def _item(params: Mapping[str, Any], known: Mapping[str, Any]) -> str:
    item = params.get("item")
    if item not in known:
        raise ConfigError(f"render item {item!r} is unknown; use one of {sorted(known)}")
    return item


def render_table(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Build table ``params['item']`` and write outputs ``csv``, ``md`` and ``tex``."""
    table = TABLES[_item(params, TABLES)](load_results(inputs), params)
    write_table(table, outputs["csv"], outputs["md"], outputs["tex"])


def render_figure(inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int) -> None:
    """Draw figure ``params['item']`` and write outputs ``pdf`` and ``png``."""
    figure = FIGURES[_item(params, FIGURES)](load_results(inputs), params)
    save_figure(figure, outputs["pdf"], outputs["png"], dpi=params["dpi"])


def reproduction_report(
    inputs: Paths, outputs: Paths, params: dict[str, Any], threads: int
) -> None:
    """Evaluate every claim; write ``md`` (a row per claim; on a ladder, a section with every
    claim on every rung), ``csv`` (per claim and measure),
    ``landing`` (the verdicts as the first page of ``snakemake --report``) and, when the rule
    asks for them, ``ladder`` / ``ladder_md`` (every claim on every training-budget rung), its
    figure ``ladder_pdf`` / ``ladder_png``, and ``ladder_checkpoints`` with its figure
    ``ladder_checkpoints_pdf`` / ``ladder_checkpoints_png`` (each rung's kept checkpoints)."""
    results = load_results(inputs)
    frame, measures = reproduction_tables(results, params)
    findings = [f"Table 8 (leakage): {table_leakage(results, params).notes[-1]}"]
    text = to_markdown(frame, params, params.get("run", {}), results.metadata, findings)
    if "ladder" in outputs:
        ladder = ladder_table(results, params)
        text += "\n" + ladder_markdown(ladder, params["digits"], level=2)  # verdicts per rung
        write_text(outputs["ladder"], ladder.to_csv(index=False))
        write_text(outputs["ladder_md"], ladder_markdown(ladder, params["digits"]))
        save_figure(
            figure_ladder(ladder), outputs["ladder_pdf"], outputs["ladder_png"], dpi=params["dpi"]
        )
        checkpoints = ladder_checkpoint_table(results, params)
        write_text(outputs["ladder_checkpoints"], checkpoints.to_csv(index=False))
        save_figure(
            figure_ladder_checkpoints(checkpoints),
            outputs["ladder_checkpoints_pdf"],
            outputs["ladder_checkpoints_png"],
            dpi=params["dpi"],
        )
    write_text(outputs["md"], text)
    write_text(outputs["csv"], measures.to_csv(index=False))
    write_text(outputs["landing"], landing_rst(frame, list(TABLES), list(FIGURES)))
