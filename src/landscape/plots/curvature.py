"""Figures of curvature results: spectral density, eigenvalue histograms, loss against index.

Data in, :class:`matplotlib.figure.Figure` out; nothing is computed here beyond binning for
display. Inputs may be tensors or arrays (or the result records of
:mod:`landscape.curvature`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._util import finish_axes, log_scale, to_numpy

__all__ = ["eigenvalue_histogram", "loss_vs_index", "spectral_density_plot"]


def spectral_density_plot(
    density: Any,
    values: Any = None,
    *,
    eigenvalues: Any = None,
    log: bool = True,
    title: str = "",
    label: str = "SLQ density",
) -> Figure:
    """A smoothed spectral density ``φ(λ)`` (Ghorbani et al. 2019), over exact eigenvalues if given.

    Args:
        density: a :class:`~landscape.curvature.DensityResult`, or the grid ``(G,)`` with the
            density values passed as ``values``.
        values: the density values ``(G,)`` when ``density`` is a grid.
        eigenvalues: exact eigenvalues to overlay as a normalised histogram (a reference).
        log: logarithmic density axis (shows the outliers and the bulk together).
        title: figure title.
        label: legend label of the density curve.
    """
    if values is None:
        grid, dens = to_numpy(density.grid), to_numpy(density.density)
        sigma = getattr(density, "sigma", None)
    else:
        grid, dens, sigma = to_numpy(density), to_numpy(values), None
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    if eigenvalues is not None:
        ev = to_numpy(eigenvalues).ravel()
        ax.hist(
            ev, bins=min(200, max(10, ev.size // 10)), range=(grid[0], grid[-1]), density=True,
            color="tab:gray", alpha=0.45, label=f"exact eigenvalues (P={ev.size})",
        )  # fmt: skip
    text = label if sigma is None else f"{label} (σ = {sigma:.2g})"
    ax.plot(grid, dens, color="tab:blue", lw=1.6, label=text)
    ax.axvline(0.0, color="k", lw=0.8, alpha=0.5)
    if log:
        positive = dens[dens > 0]
        floor = max(positive.max() * 1e-8, positive.min()) if positive.size else 1e-12
        log_scale(ax, "y")
        ax.set_ylim(bottom=floor)
    finish_axes(ax, "eigenvalue λ", "density φ(λ)", title, legend_size=None)
    return fig


def eigenvalue_histogram(
    eigenvalues: Any | Mapping[str, Any],
    *,
    bins: int = 80,
    log: bool = True,
    threshold: float | None = None,
    title: str = "",
) -> Figure:
    """Histogram(s) of Hessian eigenvalues — e.g. at a minimum and at a saddle side by side.

    Args:
        eigenvalues: one array of eigenvalues, or a mapping ``label -> eigenvalues`` drawn as
            one panel each (the label is the panel title, e.g. ``"saddle, index 12"``).
        bins: number of bins.
        log: logarithmic count axis.
        threshold: the zero threshold ``τ``: the band ``|λ| ≤ τ`` is shaded.
        title: figure title.
    """
    panels = (
        {str(k): v for k, v in eigenvalues.items()}
        if isinstance(eigenvalues, Mapping)
        else {"": eigenvalues}
    )
    n = len(panels)
    fig = Figure(figsize=(4.5 * n + 0.5, 3.8), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, ev) in zip(axes, panels.items(), strict=True):
        ev = to_numpy(ev).ravel()
        ev = ev[np.isfinite(ev)]
        neg = ev < (-threshold if threshold is not None else 0.0)
        edges = np.histogram_bin_edges(ev, bins=bins)
        ax.hist(ev[~neg], bins=edges, color="tab:blue", alpha=0.8, label="λ ≥ −τ")
        ax.hist(ev[neg], bins=edges, color="tab:red", alpha=0.8, label="λ < −τ (index)")
        if threshold is not None and threshold > 0:
            ax.axvspan(-threshold, threshold, color="tab:gray", alpha=0.25, lw=0)
        ax.axvline(0.0, color="k", lw=0.8, alpha=0.6)
        if log:
            log_scale(ax, "y")
        finish_axes(ax, "eigenvalue λ", "count", name, legend=None)
    axes[0].legend()
    if title:
        fig.suptitle(title)
    return fig


def loss_vs_index(
    index_fraction: Sequence[float] | Any,
    loss: Sequence[float] | Any,
    *,
    fraction_stderr: Sequence[float] | Any | None = None,
    spearman: float | None = None,
    kind: Sequence[str] | None = None,
    title: str = "",
    ylabel: str = "training loss",
) -> Figure:
    """Training loss against index fraction ``α`` at critical points (Dauphin et al. 2014, Fig. 1).

    Args:
        index_fraction: ``α`` of each critical point.
        loss: its training loss.
        fraction_stderr: horizontal error bars (SLQ estimates).
        spearman: rank correlation to print in the legend (computed by the caller).
        kind: a label per point (e.g. the finder, or ``"minimum"``/``"saddle"``), one
            colour each; labels starting with ``"not critical"`` are drawn hollow grey.
        title: figure title.
        ylabel: vertical axis label.
    """
    alpha, values = to_numpy(index_fraction).ravel(), to_numpy(loss).ravel()
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.subplots()
    groups = ["critical points"] * alpha.size if kind is None else [str(k) for k in kind]
    err = np.zeros_like(alpha) if fraction_stderr is None else to_numpy(fraction_stderr).ravel()
    # a start whose loss or index is not finite (a diverged finder) cannot be placed
    shown = np.isfinite(alpha) & np.isfinite(values)
    colors = iter(f"C{i}" for i in range(10))
    for name in dict.fromkeys(groups):
        sel = np.array([g == name for g in groups]) & shown
        if not sel.any():
            continue
        # points that are not critical (the finder stopped short) are drawn hollow and grey
        hollow = name.startswith("not critical")
        color = "0.55" if hollow else next(colors)
        ax.errorbar(
            alpha[sel], values[sel], xerr=None if fraction_stderr is None else err[sel], fmt="o",
            ms=4, alpha=0.75, color=color, mfc="none" if hollow else color, label=name,
            elinewidth=0.8,
        )  # fmt: skip
    if not shown.all():
        ax.plot([], [], " ", label=f"{int((~shown).sum())} with non-finite loss or α: not shown")
    if spearman is not None:
        ax.plot([], [], " ", label=f"Spearman ρ = {spearman:.2f}")
    finish_axes(ax, "index fraction α (negative eigenvalues / P)", ylabel, title, legend_size=None)
    return fig
