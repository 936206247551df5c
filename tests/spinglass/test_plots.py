"""Spin-glass figures, checked on the Figure objects: labels, tick labels, finite data, the
reference lines at the theory's energies and one series per data set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from landscape import LandscapeError
from landscape import spinglass as sg
from landscape.plots import spinglass as plots
from landscape.plots._checks import check_figure, data_lines, reference_lines, series_labels

H = 3
E0, E1, EINF = sg.threshold(H, 0), sg.threshold(H, 1), sg.e_inf(H)
REF = {"−E₀(3)": -E0, "−E∞(3)": -EINF}


def test_theory_values_the_figures_are_checked_against():
    # E∞(H) = 2√((H−1)/H) in closed form; E₀(3) ≈ 1.657 (Auffinger, Ben Arous & Černý)
    assert EINF == pytest.approx(2 * math.sqrt(2 / 3), rel=1e-12)
    assert E0 == pytest.approx(1.6570, abs=1e-4)
    assert E0 > E1 > EINF


def test_energy_histograms_one_series_per_size_and_the_two_thresholds():
    rng = np.random.default_rng(0)
    energies = {
        25: rng.normal(-1.62, 0.03, 200),
        100: torch.tensor(rng.normal(-1.64, 0.015, 200)),  # tensors are accepted too
    }
    fig = plots.energy_histograms(energies, reference=REF, H=H)
    assert isinstance(fig, Figure)
    check_figure(
        fig,
        xlabel="final energy L/Λ",
        ylabel="density",
        vlines=[-E0, -EINF],
        hlines=[],
        series=2,
    )
    (ax,) = fig.axes
    assert "H = 3" in ax.get_title()
    assert series_labels(ax) == ["Λ = 25 (n = 200)", "Λ = 100 (n = 200)"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"−E₀(3) = {-E0:.4f}" in legend and f"−E∞(3) = {-EINF:.4f}" in legend
    lo, hi = ax.get_xlim()  # the x-range covers the data and both lines
    assert lo < -E0 and hi > float(energies[25].max())


def test_energy_histograms_leave_out_non_finite_energies():
    fig = plots.energy_histograms({50: [-1.6, np.nan, -1.62, np.inf, -1.61]}, reference=REF)
    check_figure(fig, series=1, vlines=[-E0, -EINF])
    assert series_labels(fig.axes[0]) == ["Λ = 50 (n = 3)"]


def test_complexity_curves_cross_zero_at_the_thresholds():
    u = np.linspace(-E0 - 0.08, -EINF + 0.06, 600)
    curves = {"Θ_3 (all indices)": sg.complexity(u, H)}
    curves.update({f"k = {k}": sg.complexity(u, H, k) for k in (0, 1, 2, 10, 100)})
    fig = plots.complexity_curves(u, curves, reference={"−E₀": -E0, "−E₁": -E1, "−E∞": -EINF}, H=H)
    check_figure(
        fig,
        xlabel="energy u = L/Λ",
        ylabel="complexity Θ(u)",
        vlines=[-E0, -E1, -EINF],
        hlines=[0.0],
        series=6,
    )
    (ax,) = fig.axes
    plotted = {line.get_label(): line for line in data_lines(ax)}
    np.testing.assert_allclose(plotted["k = 0"].get_ydata(), curves["k = 0"])
    # the zero of Θ_{0,3} on the plotted curve is at −E₀, the line drawn there
    y0 = plotted["k = 0"].get_ydata()
    crossing = u[np.argmax(y0 > 0)]
    assert crossing == pytest.approx(-E0, abs=2 * (u[1] - u[0]))
    # zoomed on the zero crossings by default: −3 to 2 times the largest value plotted
    # (Θ_3 reaches 0.037 here, Θ_{100,3} falls to −2.4 at the left end)
    top = max(float(np.max(c)) for c in curves.values())
    assert ax.get_ylim() == pytest.approx((-3 * top, 2 * top))
    assert 0 < top < 0.05
    assert plots.complexity_curves(u, curves, zoom=False).axes[0].get_ylim()[0] < -2
    assert plots.complexity_curves(u, curves, ylim=(-1, 1)).axes[0].get_ylim() == (-1, 1)


def test_saddle_energies_points_means_and_horizontal_thresholds():
    index = np.array([0, 0, 1, 1, 2, 2, 5, 3])
    energy = np.array([-1.6, -1.58, -1.52, -1.5, -1.44, -1.45, -1.2, np.nan])
    fig = plots.saddle_energies(
        index, energy, reference=REF, minima=[-1.61, -1.55, np.nan], H=H, n_spins=50
    )
    check_figure(
        fig,
        xlabel="index",
        ylabel="energy L/Λ",
        hlines=[-E0, -EINF],
        vlines=[],
        series=3,
    )
    (ax,) = fig.axes
    assert "Λ = 50" in ax.get_title()
    assert sorted(series_labels(ax)) == [
        "critical points (1 not finite, left out)",
        "mean per index",
        "minima (descent)",
    ]
    (means,) = data_lines(ax)
    np.testing.assert_allclose(means.get_xdata(), [0, 1, 2, 5])
    np.testing.assert_allclose(means.get_ydata(), [-1.59, -1.51, -1.445, -1.2])
    minima, points = ax.collections
    assert len(minima.get_offsets()) == 2 and len(points.get_offsets()) == 7
    assert all(float(t).is_integer() for t in ax.get_xticks())  # index ticks are integers
    assert sorted(reference_lines(ax)[1]) == pytest.approx(sorted(REF.values()))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plots.energy_histograms({}), "empty"),
        (lambda: plots.energy_histograms({25: np.zeros((2, 2))}), "1-D"),
        (lambda: plots.energy_histograms({25: [np.nan]}), "finite"),
        (lambda: plots.complexity_curves([0, 1], {}), "empty"),
        (lambda: plots.complexity_curves([0, 1], {"a": [1, 2, 3]}), "match"),
        (lambda: plots.saddle_energies([0, 1], [1.0]), "match"),
    ],
)
def test_bad_inputs_raise(call, match):
    with pytest.raises(LandscapeError, match=match):
        call()
