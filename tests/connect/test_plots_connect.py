"""Connectivity figures, checked on the Figure objects: labels, tick labels, finite data, the
threshold and endpoint lines at their values, one series per path or task."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from landscape import LandscapeError, optim
from landscape.connect import Profile, dss, interpolate
from landscape.plots._checks import check_figure, data_lines, reference_lines, series_labels
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


def _line_profile(basin) -> Profile:
    loss, batch, a, b = basin
    line = interpolate(loss, a, b, batch, grid=9)
    return Profile(
        s=line.t,
        distance=line.t,
        loss=line.loss,
        measure=None,
        bead_s=line.t[[0, -1]],
        bead_distance=line.t[[0, -1]],
        bead_loss=line.loss[[0, -1]],
    )


def test_path_profile_draws_curve_beads_and_threshold(string):
    fig = plot_path_profile(string.profile, threshold=0.1, x="s", title="two basins")
    assert isinstance(fig, Figure)
    check_figure(fig, xlabel="bead index", ylabel="loss", hlines=[0.1], vlines=[])
    (ax,) = fig.axes
    curve, beads = data_lines(ax)
    np.testing.assert_allclose(curve.get_xdata(), string.profile.s.numpy())
    np.testing.assert_allclose(curve.get_ydata(), string.profile.loss.numpy())
    np.testing.assert_allclose(beads.get_xdata(), np.arange(string.bead_count + 2))
    np.testing.assert_allclose(beads.get_ydata(), string.profile.bead_loss.numpy())
    assert beads.get_linestyle() == "None" and beads.get_marker() == "o"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["beads", "threshold L0 = 0.1"]
    assert ax.get_title() == "two basins"


def test_path_profile_overlays_labelled_paths_on_a_readable_log_axis(string, basin):
    fig = plot_path_profile(
        {"linear": _line_profile(basin), "DSS": string.profile}, threshold=0.1, logy=True
    )
    check_figure(fig, xlabel="distance along path", hlines=[0.1], series=2)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert series_labels(ax) == ["linear", f"DSS ({string.bead_count} beads)"]
    dss_line = next(ln for ln in data_lines(ax) if str(ln.get_label()).startswith("DSS"))
    np.testing.assert_allclose(dss_line.get_xdata(), string.profile.distance.numpy())


def test_path_profile_rejects_bad_input(string):
    with pytest.raises(LandscapeError, match="profiles"):
        plot_path_profile([string.profile])
    with pytest.raises(LandscapeError, match="x="):
        plot_path_profile(string.profile, x="time")
    with pytest.raises(LandscapeError, match="no measure"):
        plot_path_profile(string.profile, quantity="measure")


def test_interpolation_has_a_measure_panel_with_the_threshold(basin):
    loss, batch, a, b = basin
    r = interpolate(loss, a, b, batch, grid=9, measure=lambda p, bt: 2 * loss(p, bt))
    fig = plot_interpolation({"before": r, "after": r}, threshold=1.5, title="alignment")
    check_figure(
        fig,
        xlabel="t",
        ylabel={0: "loss", 1: r.measure_name},
        vlines=[0.0, 1.0],  # the two endpoints on both panels
        hlines={0: [], 1: [1.5]},  # the threshold on the measure panel only
        series=2,
    )
    loss_ax, measure_ax = fig.axes
    assert series_labels(loss_ax)[0].startswith("before: barrier ")
    np.testing.assert_allclose(data_lines(loss_ax)[0].get_ydata(), r.loss.numpy())
    np.testing.assert_allclose(data_lines(measure_ax)[1].get_ydata(), r.measure.numpy())
    plain = plot_interpolation(interpolate(loss, a, b, batch, grid=9), threshold=0.5)
    check_figure(plain, ylabel="loss", vlines=[0.0, 1.0], hlines=[0.5], series=1)
    assert len(plain.axes) == 1


def test_geodesic_length_mean_and_std_over_pairs_ignoring_nan():
    th = np.array([0.1, 0.05, 0.2])  # unsorted on purpose
    lengths = np.array([[1.2, 1.5, 1.0], [1.4, np.nan, 1.0], [1.3, 1.7, 1.0]])
    fig = plot_geodesic_length(th, lengths, title="cubic")
    # the dotted line at 1 is the straight segment's length
    check_figure(fig, xlabel="threshold L0", ylabel="geodesic length", hlines=[1.0], series=1)
    (ax,) = fig.axes
    (mean_line,) = data_lines(ax)
    np.testing.assert_allclose(mean_line.get_xdata(), [0.05, 0.1, 0.2])
    np.testing.assert_allclose(mean_line.get_ydata(), [1.6, 1.3, 1.0])
    band = ax.collections[0].get_paths()[0].vertices
    assert np.isclose(band[:, 1].max(), 1.6 + 0.1)  # std of (1.5, 1.7) is 0.1


def test_a_threshold_where_no_pair_connected_is_marked_not_drawn_as_nan():
    th = np.array([0.05, 0.1, 0.2])
    lengths = np.array([[np.nan, 1.5, 1.0], [np.nan, 1.3, 1.0]])
    fig = plot_geodesic_length(th, {"cubic": lengths})
    check_figure(fig, hlines=[1.0], series=2)  # no NaN in any plotted line or band
    (ax,) = fig.axes
    assert series_labels(ax) == ["cubic mean ± std (2 pairs)", "cubic no pair connected"]
    mean_line, missing = data_lines(ax)
    np.testing.assert_allclose(mean_line.get_xdata(), [0.1, 0.2])
    np.testing.assert_allclose(missing.get_xdata(), [0.05])
    assert missing.get_marker() == "x"


def test_bead_count_and_sweep_panels_on_a_log_threshold_axis():
    th = np.array([0.1, 0.05, 0.2])
    lengths = np.array([[1.2, 1.5, 1.0], [1.4, 1.6, 1.0]])
    counts = torch.tensor([[1, 3, 0], [2, 5, 0]])
    fig = plot_bead_count(th, {"cubic": counts}, invert_x=True)
    check_figure(fig, ylabel="number of beads", hlines=[], series=1)
    assert fig.axes[0].xaxis_inverted()
    np.testing.assert_allclose(data_lines(fig.axes[0])[0].get_ydata(), [4.0, 1.5, 0.0])
    # thresholds spanning less than a decade on a log axis: still labelled ticks
    both = plot_threshold_sweep(th, lengths, counts, logx=True, title="sweep")
    check_figure(
        both,
        xlabel="threshold L0",
        ylabel={0: "normalized geodesic length", 1: "number of beads"},
        hlines={0: [1.0], 1: []},
        series=1,
    )
    assert [ax.get_xscale() for ax in both.axes] == ["log", "log"]
    assert reference_lines(both.axes[0]) == ([], [1.0])


def test_sweep_shape_mismatch_raises():
    with pytest.raises(LandscapeError, match="shape"):
        plot_geodesic_length([0.1, 0.2], np.ones((3, 4)))
