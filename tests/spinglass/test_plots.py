"""Spin-glass figures: data in, Figure out; labels, legends and reference lines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from landscape import LandscapeError
from landscape import spinglass as sg
from landscape.plots import spinglass as plots

REF = {"−E_0(3)": -sg.threshold(3, 0), "−E_∞(3)": -sg.e_inf(3)}


def _vlines(ax) -> list[float]:
    return [
        line.get_xdata()[0]
        for line in ax.get_lines()
        if len(set(np.atleast_1d(line.get_xdata()))) == 1
    ]


def test_energy_histograms(tmp_path):
    rng = np.random.default_rng(0)
    energies = {
        25: rng.normal(-1.45, 0.08, 200),
        100: torch.tensor(rng.normal(-1.56, 0.04, 200)),  # tensors are accepted too
    }
    fig = plots.energy_histograms(energies, reference=REF, H=3)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "final energy L/Λ"
    assert ax.get_ylabel() == "density"
    assert "H = 3" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lbl.startswith("Λ = 25") for lbl in labels)
    assert any(lbl.startswith("Λ = 100") for lbl in labels)
    assert any(lbl.startswith("−E_0(3)") for lbl in labels)
    assert any(lbl.startswith("−E_∞(3)") for lbl in labels)
    np.testing.assert_allclose(sorted(_vlines(ax)), sorted(REF.values()))
    # the x-range covers the reference lines
    lo, hi = ax.get_xlim()
    assert lo < min(REF.values()) and hi > max(e.max() for e in [energies[25]])
    fig.savefig(tmp_path / "hist.png")
    assert (tmp_path / "hist.png").stat().st_size > 1000


def test_complexity_curves(tmp_path):
    u = np.linspace(-1.75, -1.55, 200)
    curves = {f"k = {k}": sg.complexity(u, 3, k) for k in (0, 1, 2, 10, 100)}
    ref = {
        "−E_0": -sg.threshold(3, 0),
        "−E_1": -sg.threshold(3, 1),
        "−E_∞": -sg.e_inf(3),
    }
    fig = plots.complexity_curves(u, curves, reference=ref, H=3)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "energy u = L/Λ"
    assert ax.get_ylabel() == "complexity Θ(u)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for k in (0, 1, 2, 10, 100):
        assert f"k = {k}" in labels
    for name in ref:
        assert any(lbl.startswith(name) for lbl in labels)
    np.testing.assert_allclose(sorted(_vlines(ax)), sorted(ref.values()))
    plotted = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    np.testing.assert_allclose(plotted["k = 0"], curves["k = 0"])
    # zoomed on the zero crossings by default: Θ ≤ 0.0133 for H = 3, k = 100 reaches −2.4
    lo, hi = ax.get_ylim()
    assert -0.05 < lo < 0 < hi < 0.03
    assert plots.complexity_curves(u, curves, zoom=False).axes[0].get_ylim()[0] < -2
    assert plots.complexity_curves(u, curves, ylim=(-1, 1)).axes[0].get_ylim() == (-1, 1)
    fig.savefig(tmp_path / "theta.png")
    assert (tmp_path / "theta.png").stat().st_size > 1000


def test_saddle_energies(tmp_path):
    index = np.array([0, 0, 1, 1, 2, 2, 5])
    energy = np.array([-1.6, -1.58, -1.52, -1.5, -1.44, -1.45, -1.2])
    fig = plots.saddle_energies(
        index, energy, reference=REF, minima=[-1.61, -1.55], H=3, n_spins=50
    )
    (ax,) = fig.axes
    assert ax.get_xlabel().startswith("index")
    assert ax.get_ylabel() == "energy L/Λ"
    assert "Λ = 50" in ax.get_title()
    means = next(line for line in ax.get_lines() if line.get_label() == "mean per index")
    np.testing.assert_allclose(means.get_ydata(), [-1.59, -1.51, -1.445, -1.2])
    fig.savefig(tmp_path / "saddles.png")


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
