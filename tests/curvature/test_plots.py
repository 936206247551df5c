"""Curvature figures: built from results, rendered headless."""

from __future__ import annotations

import io

import numpy as np
import torch
from matplotlib.figure import Figure

from landscape.curvature import exact_index, spectral_density
from landscape.plots.curvature import eigenvalue_histogram, loss_vs_index, spectral_density_plot


def _render(fig: Figure) -> int:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return len(buf.getvalue())


def test_spectral_density_plot_from_result_and_from_arrays():
    lam = torch.cat([torch.linspace(-0.5, 1.0, 40), torch.tensor([5.0, 8.0])]).double()
    d = spectral_density(torch.diag(lam), num_probes=4, num_steps=20, seed=0)
    fig = spectral_density_plot(d, eigenvalues=lam, title="digits MLP")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 2  # density + zero line
    assert "σ" in ax.get_legend().get_texts()[-1].get_text()
    assert _render(fig) > 0
    fig2 = spectral_density_plot(d.grid.numpy(), d.density.numpy(), log=False)
    assert fig2.axes[0].get_yscale() == "linear"
    np.testing.assert_allclose(fig2.axes[0].lines[0].get_ydata(), d.density.numpy())


def test_eigenvalue_histogram_panels_per_point():
    at_min = torch.linspace(0.0, 2.0, 100)
    at_saddle = torch.linspace(-1.0, 2.0, 100)
    r = exact_index(at_saddle, zero_tol=1e-3, relative=False)
    fig = eigenvalue_histogram(
        {"minimum, index 0": at_min, f"saddle, index {r.count:.0f}": at_saddle},
        threshold=r.threshold,
    )
    assert len(fig.axes) == 2
    assert fig.axes[1].get_title() == "saddle, index 33"
    assert _render(fig) > 0
    assert len(eigenvalue_histogram(np.array([-1.0, 0.0, 1.0]), log=False).axes) == 1


def test_loss_vs_index_scatter_with_groups_and_correlation():
    alpha = np.array([0.0, 0.05, 0.1, 0.2])
    loss = np.array([0.1, 0.3, 0.5, 0.9])
    fig = loss_vs_index(
        alpha, loss, fraction_stderr=[0, 0.01, 0.01, 0.02], spearman=1.0,
        kind=["minimum", "saddle", "saddle", "saddle"],
    )  # fmt: skip
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(labels) == ["Spearman ρ = 1.00", "minimum", "saddle"]
    assert _render(fig) > 0
