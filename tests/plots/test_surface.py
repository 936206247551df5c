"""Surface figures: readable axes, the centre marked, log levels, interactive HTML."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from landscape.plots import save_figure
from landscape.plots._checks import check_figure
from landscape.plots.surface import (
    contour_levels,
    plot_contour,
    plot_line,
    plot_panels,
    plot_surface_3d,
    surface_html,
)
from landscape.surface import Directions, Surface


def _surface(scale=1.0, span=1.0, n=9):
    a = np.linspace(-span, span, n)
    aa, bb = np.meshgrid(a, a, indexing="ij")
    loss = scale * (0.1 + aa**2 + 0.5 * bb**2)
    err = np.clip(loss / loss.max(), 0, 1)
    return Surface(a, a, loss, err, Directions((), "random"), {}, {"range": span})


def test_contour_marks_the_centre_and_labels_the_colorbar():
    s = _surface()
    for filled in (True, False):
        fig = plot_contour(
            s,
            filled=filled,
            trajectory=np.array([[0.5, 0.5], [0.0, 0.0]]),
            points={"b": (0.3, -0.2)},
        )
        check_figure(fig, xlabel={0: "α"}, ylabel={0: "β"})
        ax = fig.axes[0]
        centre = [ln for ln in ax.get_lines() if ln.get_label() == "centre θ"]
        assert len(centre) == 1 and list(centre[0].get_xydata()[0]) == [0.0, 0.0]
        assert "loss" in fig.axes[1].get_ylabel()


def test_levels_are_log_spaced_when_the_loss_spans_decades():
    lev, log = contour_levels(np.array([1e-4, 1.0, 10.0]))
    assert log and np.allclose(np.diff(np.log(lev)), np.diff(np.log(lev))[0])
    lev, log = contour_levels(np.array([1.0, 2.0]))
    assert not log and np.allclose(np.diff(lev), np.diff(lev)[0])
    fig = plot_contour(_surface(scale=1.0, span=30.0))
    check_figure(fig)
    assert "log" in fig.axes[1].get_ylabel()


def test_line_panels_and_3d_read_well(tmp_path):
    s = _surface()
    ln = Surface(s.alpha, None, s.loss[:, 4], s.error[:, 4], s.directions, {}, {})
    check_figure(plot_line({"a": ln, "b": ln}, title="t"), vlines=[0.0], series=2)
    check_figure(plot_line(ln, measure="error"), ylabel="error")
    panel = plot_panels({f"±{r}": _surface(span=r) for r in (1, 0.1, 0.01, 0.001)})
    check_figure(panel)
    assert len([ax for ax in panel.axes if ax.get_title()]) == 4
    fig3 = plot_surface_3d(s)
    check_figure(fig3)
    assert fig3.axes[0].get_zlabel()
    assert save_figure(fig3, tmp_path / "s").suffix == ".png"


def test_html_hover_shows_alpha_beta_loss_error(tmp_path):
    pytest.importorskip("plotly")
    s = _surface()
    fig = surface_html(s)
    tr = fig.data[0]
    assert "α" in tr.hovertemplate and "error" in tr.hovertemplate
    np.testing.assert_allclose(np.asarray(tr.z), s.loss.T)
    np.testing.assert_allclose(np.asarray(tr.customdata)[..., 0], s.error.T)
    path = save_figure(fig, tmp_path / "surface")
    assert path.suffix == ".html" and path.stat().st_size > 1000


def test_html_degrades_to_a_note_without_plotly(monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.warns(UserWarning, match="plotly is not installed"):
        assert surface_html(_surface()) is None
