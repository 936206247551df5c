"""Figure functions for connectivity results: data in, Figure out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from landscape import LandscapeError, optim
from landscape.connect import Profile, dss, interpolate
from landscape.plots.connect import (
    plot_bead_count,
    plot_geodesic_length,
    plot_interpolation,
    plot_path_profile,
    plot_threshold_sweep,
)


@pytest.fixture
def string(basin):
    loss, batch, a, b = basin
    return dss(loss, a, b, batch, 0.1, optimizer=optim.Adam(lr=0.01), grid=9)


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_path_profile_draws_curve_beads_and_threshold(string, tmp_path):
    fig = plot_path_profile(string.profile, threshold=0.1, x="s")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    lines = ax.get_lines()
    curve = lines[0]
    assert np.allclose(curve.get_xdata(), string.profile.s.numpy())
    assert np.allclose(curve.get_ydata(), string.profile.loss.numpy())
    beads = lines[1]
    assert np.allclose(beads.get_xdata(), np.arange(string.bead_count + 2))
    assert np.allclose(beads.get_ydata(), string.profile.bead_loss.numpy())
    threshold = [ln for ln in lines if "threshold" in str(ln.get_label())]
    assert len(threshold) == 1 and np.allclose(threshold[0].get_ydata(), 0.1)
    fig.savefig(tmp_path / "profile.png")
    assert (tmp_path / "profile.png").stat().st_size > 1000


def test_path_profile_overlays_labelled_paths(string, basin):
    loss, batch, a, b = basin
    line = interpolate(loss, a, b, batch, grid=9)
    lin_profile = Profile(
        s=line.t,
        distance=line.t,
        loss=line.loss,
        measure=None,
        bead_s=line.t[[0, -1]],
        bead_distance=line.t[[0, -1]],
        bead_loss=line.loss[[0, -1]],
    )
    fig = plot_path_profile({"linear": lin_profile, "DSS": string.profile}, threshold=0.1)
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert "linear" in labels and f"DSS ({string.bead_count} beads)" in labels
    dss_line = next(ln for ln in fig.axes[0].get_lines() if str(ln.get_label()).startswith("DSS"))
    assert np.allclose(dss_line.get_xdata(), string.profile.distance.numpy())


def test_path_profile_rejects_bad_input(string):
    with pytest.raises(LandscapeError, match="profiles"):
        plot_path_profile([string.profile])
    with pytest.raises(LandscapeError, match="x="):
        plot_path_profile(string.profile, x="time")
    with pytest.raises(LandscapeError, match="no measure"):
        plot_path_profile(string.profile, quantity="measure")


def test_interpolation_figure_has_a_measure_panel_when_there_is_one(basin):
    loss, batch, a, b = basin
    r = interpolate(loss, a, b, batch, grid=9, measure=lambda p, bt: 2 * loss(p, bt))
    fig = plot_interpolation({"before": r, "after": r}, threshold=1.5)
    assert len(fig.axes) == 2
    assert len([ln for ln in fig.axes[1].get_lines() if "threshold" in str(ln.get_label())]) == 1
    plain = plot_interpolation(interpolate(loss, a, b, batch, grid=9))
    assert len(plain.axes) == 1


def test_sweep_panels_show_mean_and_std_ignoring_nan():
    th = np.array([0.1, 0.05, 0.2])  # unsorted on purpose
    lengths = np.array([[1.2, 1.5, 1.0], [1.4, np.nan, 1.0], [1.3, 1.7, 1.0]])
    fig = plot_geodesic_length(th, lengths)
    ax = fig.axes[0]
    mean_line = ax.get_lines()[0]
    assert np.allclose(mean_line.get_xdata(), [0.05, 0.1, 0.2])
    assert np.allclose(mean_line.get_ydata(), [1.6, 1.3, 1.0])
    band = ax.collections[0].get_paths()[0].vertices
    assert np.isclose(band[:, 1].max(), 1.6 + 0.1)  # std of (1.5, 1.7) is 0.1
    counts = torch.tensor([[1, 3, 0], [2, 5, 0]])
    fig2 = plot_bead_count(th, {"cubic": counts}, invert_x=True)
    assert fig2.axes[0].xaxis_inverted()
    assert np.allclose(fig2.axes[0].get_lines()[0].get_ydata(), [4.0, 1.5, 0.0])
    both = plot_threshold_sweep(th, lengths, counts, logx=True)
    assert len(both.axes) == 2 and both.axes[0].get_xscale() == "log"


def test_sweep_shape_mismatch_raises():
    with pytest.raises(LandscapeError, match="shape"):
        plot_geodesic_length([0.1, 0.2], np.ones((3, 4)))
