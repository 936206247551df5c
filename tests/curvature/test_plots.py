"""Curvature figures, checked on the Figure objects: labels, tick labels on every axis (the
log density and count axes too), finite data, the zero line and one series per group."""

from __future__ import annotations

import numpy as np
import torch

from landscape.curvature import exact_index, spectral_density
from landscape.plots._checks import check_figure, data_lines, series_labels
from landscape.plots.curvature import eigenvalue_histogram, loss_vs_index, spectral_density_plot


def test_spectral_density_plot_from_result_and_from_arrays():
    lam = torch.cat([torch.linspace(-0.5, 1.0, 40), torch.tensor([5.0, 8.0])]).double()
    d = spectral_density(torch.diag(lam), num_probes=4, num_steps=20, seed=0)
    fig = spectral_density_plot(d, eigenvalues=lam, title="digits MLP")
    check_figure(
        fig, xlabel="eigenvalue λ", ylabel="density φ(λ)", vlines=[0.0], hlines=[], series=2
    )
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and ax.get_title() == "digits MLP"
    assert sorted(series_labels(ax)) == [
        f"SLQ density (σ = {d.sigma:.2g})",
        "exact eigenvalues (P=42)",
    ]
    (curve,) = data_lines(ax)
    np.testing.assert_allclose(curve.get_ydata(), d.density.numpy())
    assert ax.get_ylim()[0] > 0  # the floor keeps the log axis on the density's range
    fig2 = spectral_density_plot(d.grid.numpy(), d.density.numpy(), log=False)
    check_figure(fig2, vlines=[0.0], series=1)
    assert fig2.axes[0].get_yscale() == "linear"
    np.testing.assert_allclose(data_lines(fig2.axes[0])[0].get_ydata(), d.density.numpy())


def test_eigenvalue_histogram_panels_per_point():
    at_min = torch.linspace(0.0, 2.0, 100)
    at_saddle = torch.linspace(-1.0, 2.0, 100)
    r = exact_index(at_saddle, zero_tol=1e-3, relative=False)
    fig = eigenvalue_histogram(
        {"minimum, index 0": at_min, f"saddle, index {r.count:.0f}": at_saddle},
        threshold=r.threshold,
        title="Hessian eigenvalues",
    )
    # log count axes whose counts span 1 to 2: labelled all the same
    check_figure(fig, xlabel="eigenvalue λ", ylabel="count", vlines=[0.0], hlines=[])
    left, right = fig.axes
    assert [left.get_title(), right.get_title()] == ["minimum, index 0", "saddle, index 33"]
    assert left.get_yscale() == right.get_yscale() == "log"
    assert series_labels(left) == ["λ ≥ −τ", "λ < −τ (index)"]
    # the second set of bars counts the negative eigenvalues: the index, 33 on the right
    assert sum(bar.get_height() for bar in right.containers[1]) == r.count == 33
    assert sum(bar.get_height() for bar in left.containers[1]) == 0
    assert sum(bar.get_height() for bar in left.containers[0]) == 100
    one = eigenvalue_histogram(np.array([-1.0, 0.0, 1.0, np.nan]), log=False)
    check_figure(one, vlines=[0.0])
    assert len(one.axes) == 1 and sum(p.get_height() for p in one.axes[0].patches) == 3


def test_loss_vs_index_scatter_with_groups_and_correlation():
    alpha = np.array([0.0, 0.05, 0.1, 0.2, 0.15])
    loss = np.array([0.1, 0.3, 0.5, 0.9, np.nan])
    fig = loss_vs_index(
        alpha, loss, fraction_stderr=[0, 0.01, 0.01, 0.02, 0.01], spearman=1.0,
        kind=["minimum", "saddle", "saddle", "saddle", "not critical (‖∇L‖ > 1e-3)"],
        title="digits MLP",
    )  # fmt: skip
    check_figure(fig, xlabel="index fraction α", ylabel="training loss", series=2)
    (ax,) = fig.axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == [
        "1 with non-finite loss or α: not shown",
        "Spearman ρ = 1.00",
        "minimum",
        "saddle",
    ]
    points = {c.get_label(): c.lines[0] for c in ax.containers}  # errorbar: data line first
    assert len(data_lines(ax)) == 2  # the non-finite "not critical" point is not drawn
    np.testing.assert_allclose(points["saddle"].get_ydata(), [0.3, 0.5, 0.9])
    np.testing.assert_allclose(points["minimum"].get_xdata(), [0.0])
