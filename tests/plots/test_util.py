"""save_figure, and log axes that show labelled ticks whatever their span."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from landscape import LandscapeError
from landscape.plots import save_figure
from landscape.plots._checks import drawn_tick_labels, figure_problems
from landscape.plots._util import ReadableFormatter, histogram_edges, log_scale, to_numpy

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _figure() -> Figure:
    fig = Figure(figsize=(2, 1.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    return fig


def test_save_figure_writes_png_in_a_new_folder_and_returns_the_path(tmp_path):
    out = save_figure(_figure(), tmp_path / "run" / "figs" / "curve")
    assert out == tmp_path / "run" / "figs" / "curve.png"
    assert out.read_bytes()[:8] == PNG_MAGIC
    svg = save_figure(_figure(), tmp_path / "curve.svg")
    assert svg.suffix == ".svg" and b"<svg" in svg.read_bytes()[:400]


def test_save_figure_uses_dpi_and_a_tight_box(tmp_path):
    small = matplotlib.image.imread(save_figure(_figure(), tmp_path / "a.png", dpi=50))
    large = matplotlib.image.imread(save_figure(_figure(), tmp_path / "b.png", dpi=100))
    assert large.shape[0] == pytest.approx(2 * small.shape[0], abs=2)
    # a tight box takes in what sticks out of the 2 × 1.5 inch canvas instead of cutting it
    fig = _figure()
    fig.text(1.1, 0.5, "a note beyond the right edge")
    wide = matplotlib.image.imread(save_figure(fig, tmp_path / "c.png", dpi=100))
    assert wide.shape[1] > 300


def test_save_figure_closes_a_pyplot_figure(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    with matplotlib.rc_context({"backend": "agg"}):
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        assert plt.fignum_exists(fig.number)
        save_figure(fig, tmp_path / "p")
        assert not plt.fignum_exists(fig.number)


def test_save_figure_writes_plotly_as_html(tmp_path):
    go = pytest.importorskip("plotly.graph_objects")
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))
    out = save_figure(fig, tmp_path / "sub" / "surface")
    assert out == tmp_path / "sub" / "surface.html"
    assert "<html>" in out.read_text()[:200].lower()
    with pytest.raises(LandscapeError, match=r"plotly figure is saved as \.html"):
        save_figure(fig, tmp_path / "surface.png")


@pytest.mark.parametrize(
    ("fig", "path", "kwargs", "match"),
    [
        (_figure(), "x.html", {}, r"cannot save a matplotlib figure as '\.html'"),
        (_figure(), "x.png", {"dpi": 0}, "dpi must be a positive number"),
        ("not a figure", "x.png", {}, "fig must be a matplotlib Figure or a plotly figure"),
    ],
)
def test_save_figure_refuses_bad_input(tmp_path, fig, path, kwargs, match):
    with pytest.raises(LandscapeError, match=match):
        save_figure(fig, tmp_path / path, **kwargs)
    assert not (tmp_path / path).exists()


@pytest.mark.parametrize("low", [3.1e-2, 2e-6])
@pytest.mark.parametrize("ratio", [1.05, 1.5, 3.0, 8.0, 30.0, 1e3, 1e9])
def test_log_scale_always_shows_labelled_ticks(low, ratio):
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.plot([1, 2, 3], [low, low * ratio**0.5, low * ratio], "o-")
    log_scale(ax, "y")
    log_scale(ax, "x")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    assert figure_problems(fig) == []
    labels = drawn_tick_labels(ax.yaxis)
    assert 2 <= len(labels) <= 9, [t.get_text() for t in labels]


def test_readable_formatter_writes_plain_distinct_numbers():
    fmt = ReadableFormatter()
    assert fmt.format_ticks([0.03, 0.035, 0.04]) == ["0.03", "0.035", "0.04"]
    assert fmt.format_ticks([10, 30, 100, 300]) == ["10", "30", "100", "300"]
    assert fmt.format_ticks([0.0312, 0.03125]) == ["0.0312", "0.03125"]
    assert fmt.format_ticks([2e-6, 5e-6]) == ["2e-6", "5e-6"]
    assert fmt.format_ticks([1e-6, 1e-3, 1.0]) == [
        "$\\mathdefault{10^{-6}}$",
        "$\\mathdefault{10^{-3}}$",
        "$\\mathdefault{10^{0}}$",
    ]


def test_to_numpy_and_histogram_edges():
    x = to_numpy(torch.tensor([1, 2], dtype=torch.float32))
    assert x.dtype == np.float64 and x.tolist() == [1.0, 2.0]
    edges = histogram_edges([[0.0, np.nan, 1.0], np.array([2.0])], bins=4, include=[-1.0])
    assert edges.size == 5 and edges[0] < -1.0 and edges[-1] > 2.0
    assert np.ptp(histogram_edges([[3.0]], bins=2)) > 0  # one value: a range all the same
    with pytest.raises(LandscapeError, match="no finite value"):
        histogram_edges([[np.nan]], bins=3)
