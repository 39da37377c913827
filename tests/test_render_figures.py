"""Every figure renders from synthetic cached results, and from nothing at all (not run panels)."""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml

from atomprobe.render.figures import FIGURES, R2_FLOOR, _cut_r2_axis
from atomprobe.render.inputs import load_results
from atomprobe.render.steps import render_figure
from atomprobe.render.style import overlapping_texts
from test_render_tables import MODELS, RENDER_CFG, ROOT, write_synthetic_results

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


def test_r2_axis_is_cut_at_the_floor_and_off_scale_means_are_printed():
    figure, (cut, kept) = plt.subplots(ncols=2)
    means = np.array([0.4, -370.85, 0.1])
    cut.bar(range(3), means, yerr=[[0.05, 1000.0, 0.05], [0.05, 1000.0, 0.05]])
    _cut_r2_axis(cut, np.arange(3.0), means)
    kept.bar(range(3), [0.4, -0.3, 0.1])
    before = kept.get_ylim()
    _cut_r2_axis(kept, np.arange(3.0), np.array([0.4, -0.3, 0.1]))
    texts = [t.get_text() for t in cut.texts]
    plt.close(figure)
    assert cut.get_ylim()[0] == R2_FLOOR and cut.get_ylim()[1] <= 1.05
    assert "↓ -371" in texts and any(t.startswith("axis cut") for t in texts)
    assert kept.get_ylim() == before and not kept.texts


def test_reconstruction_heatmap_shows_paper_b_split_with_mean_and_median(synthetic):
    """Atom level: the random-atom split only (the synthetic structure split is 0.1 higher, so
    pooling both would read 0.400), and each title gives the off-diagonal mean and median."""
    cfg = {**copy.deepcopy(RENDER_CFG), "item": "reconstruction", "reconstruction_level": "atom"}
    figure = FIGURES["reconstruction"](load_results(synthetic), cfg)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title().startswith("LFRE")]
    plt.close(figure)
    assert titles == [
        "LFRE(X → Y), qm9, atom level; 0 = Y reconstructed\n"
        "off-diagonal pairs: mean 0.350, median 0.350"
    ]


def default_run_models() -> tuple[list[tuple], dict[str, str]]:
    """The enabled entries of the default registry as synthetic models, with their labels."""
    registry = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())["models"]
    models, labels = [], {}
    for k, (name, entry) in enumerate(registry.items()):
        if not entry.get("enabled", True):
            continue
        mirrored = registry.get(entry.get("of"), {})
        family = entry.get("family", mirrored.get("family"))
        target = entry.get("target", mirrored.get("target", "none"))
        periodic = family in ("sevennet", "chgnet")
        models.append((name, family, entry["source"], target, periodic, 0.1 + 0.025 * k))
        labels[name] = entry["label"]
    return models, labels


@pytest.fixture(scope="module")
def default_like(tmp_path_factory) -> dict:
    models, labels = default_run_models()
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    groups = {family: list(g) for family, g in config["render"]["routing"]["groups"].items()}
    root = tmp_path_factory.mktemp("default_like")
    return write_synthetic_results(root, models=models, labels=labels, groups=groups)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_no_text_overlaps_with_the_default_runs_models(default_like, name):
    """Every figure laid out for the default run's 19 models and their labels: no two drawn
    texts (tick labels, titles, legends, annotations, cell values) overlap."""
    figure = FIGURES[name](load_results(default_like), {**copy.deepcopy(RENDER_CFG), "item": name})
    assert overlapping_texts(figure) == []
    plt.close(figure)


def test_overlapping_texts_finds_a_planted_overlap():
    figure, ax = plt.subplots()
    ax.text(0.5, 0.5, "one label")
    ax.text(0.52, 0.5, "another label")
    ax.text(0.1, 0.1, "apart")
    assert overlapping_texts(figure) == [("one label", "another label")]
    plt.close(figure)
