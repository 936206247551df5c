"""Figures for many trained networks: loss distributions by size, spread vs size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from ._util import finish_axes, finite_points, histogram_edges, log_scale, to_numpy

__all__ = ["loss_histograms", "spread_vs_size"]


def loss_histograms(
    losses_by_size: Mapping[int, np.ndarray], title: str = "", bins: int = 40
) -> Figure:
    """Overlaid histograms of final test losses, one per hidden size (Choromanska et al. Fig. 2).

    Args:
        losses_by_size: hidden size ``n1`` → final test losses of its runs (non-finite
            losses, from diverged runs, are left out).
        title: figure title.
        bins: histogram bins over the common range.

    Raises:
        LandscapeError: no finite loss at all.
    """
    finite = {size: finite_points(to_numpy(v).ravel())[0] for size, v in losses_by_size.items()}
    edges = histogram_edges(finite.values(), bins)
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    for i, (size, v) in enumerate(finite.items()):
        if v.size == 0:
            continue
        std = f"std {v.std(ddof=1):.3g}" if v.size > 1 else "one run"
        ax.hist(v, bins=edges, density=True, histtype="stepfilled", alpha=0.25, color=f"C{i}")
        ax.hist(
            v, bins=edges, density=True, histtype="step", lw=1.6, color=f"C{i}",
            label=f"n1 = {size} ({std})",
        )  # fmt: skip
    finish_axes(ax, "final test loss (cross-entropy, nats)", "density (runs)", legend_size=None)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def spread_vs_size(rows: Sequence[Mapping[str, float]]) -> Figure:
    """Std of the test loss and the train/test correlation against hidden size ``n1``.

    Both x axes are logarithmic with a tick at each size; the std axis is logarithmic with
    labelled ticks whatever its span (:func:`~landscape.plots._util.log_scale`). Sizes whose
    std or correlation is not finite (fewer than two finished nets) or whose std is zero
    are left out of that panel and named in its legend.

    Args:
        rows: the experiment's table rows (keys ``n1``, ``std``, ``corr(train, test)``).
    """
    n1 = np.array([r["n1"] for r in rows], dtype=float)
    std = np.array([r["std"] for r in rows], dtype=float)
    corr = np.array([r["corr(train, test)"] for r in rows], dtype=float)
    fig = Figure(figsize=(10, 4), layout="constrained")
    a, b = fig.subplots(1, 2)
    # a spread of zero cannot sit on a log axis: left out like a missing one
    _size_panel(a, n1, np.where(std > 0, std, np.nan), "o-", "C0", "std not finite or zero")
    log_scale(a, "y")
    _size_panel(b, n1, corr, "s-", "C3", "correlation not finite")
    finite_corr = corr[np.isfinite(corr)]
    b.set_ylim(min(-0.05, finite_corr.min() - 0.05) if finite_corr.size else -1, 1.02)
    b.axhline(0, color="gray", lw=0.8)
    finish_axes(
        a, "hidden units n1", "std of final test loss (nats)",
        "spread of test loss across random starts",
    )  # fmt: skip
    finish_axes(
        b, "hidden units n1", "Pearson corr(train loss, test loss)", "train/test correlation"
    )
    for ax in (a, b):
        ax.grid(alpha=0.3, which="both")
    return fig


def _size_panel(
    ax: Axes, n1: np.ndarray, values: np.ndarray, style: str, color: str, why_missing: str
) -> None:
    """``values`` against ``n1`` on a log x axis with one labelled tick per size."""
    x, y = finite_points(n1, values)
    ax.plot(x, y, style, color=color)
    missing = n1[~np.isfinite(values)]
    if missing.size:
        sizes = ", ".join(str(int(v)) for v in missing)
        ax.plot([], [], " ", label=f"not shown: n1 = {sizes} ({why_missing})")
    ax.set_xscale("log")
    ax.set_xticks(n1, [str(int(v)) for v in n1])
    ax.xaxis.set_minor_locator(NullLocator())
