"""Every figure renders from synthetic cached results, and from nothing at all (not run panels)."""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import pytest

from atomprobe.render.figures import FIGURES
from atomprobe.render.inputs import load_results
from atomprobe.render.steps import render_figure
from test_render_tables import MODELS, RENDER_CFG, write_synthetic_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict:
    # four models keep the drawing time low; every figure still has several series
    models = [m for m in MODELS if m[0] in ("mace_gap", "painn_gap", "visnet_gap", "ani2x")]
    return write_synthetic_results(tmp_path_factory.mktemp("results"), models=models)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_draws_from_synthetic_results(tmp_path, synthetic, name):
    figure = FIGURES[name](load_results(synthetic), {**copy.deepcopy(RENDER_CFG), "item": name})
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert not any(t.startswith("not run") for t in texts)
    figure.savefig(tmp_path / f"{name}.png", dpi=30)
    plt.close(figure)
    assert (tmp_path / f"{name}.png").read_bytes().startswith(PNG_MAGIC)


def test_render_step_writes_pdf_and_png(tmp_path, synthetic):
    pdf, png = tmp_path / "routing.pdf", tmp_path / "routing.png"
    render_figure(
        synthetic,
        {"pdf": str(pdf), "png": str(png)},
        {**copy.deepcopy(RENDER_CFG), "item": "routing", "dpi": 40},
        1,
    )
    assert pdf.read_bytes().startswith(b"%PDF")
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_without_inputs_is_a_not_run_placeholder(name):
    figure = FIGURES[name](load_results({}), {**copy.deepcopy(RENDER_CFG), "item": name})
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    plt.close(figure)
    assert any(t.startswith("not run") for t in texts)
