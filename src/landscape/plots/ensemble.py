"""Figures for many trained networks: loss distributions by size, spread vs size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["loss_histograms", "spread_vs_size"]


def loss_histograms(
    losses_by_size: Mapping[int, np.ndarray], title: str = "", bins: int = 40
) -> Figure:
    """Overlaid histograms of final test losses, one per hidden size (Choromanska et al. Fig. 2).

    Args:
        losses_by_size: hidden size ``n1`` → final test losses of its runs.
        title: figure title.
        bins: histogram bins over the common range.
    """
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    finite = [np.asarray(v)[np.isfinite(v)] for v in losses_by_size.values()]
    lo = min(float(v.min()) for v in finite if v.size)
    hi = max(float(v.max()) for v in finite if v.size)
    edges = np.linspace(lo, hi, bins + 1)
    colors = [f"C{i}" for i in range(len(losses_by_size))]
    for (size, v), c in zip(losses_by_size.items(), colors, strict=True):
        v = np.asarray(v)[np.isfinite(v)]
        ax.hist(v, bins=edges, density=True, histtype="stepfilled", alpha=0.25, color=c)
        ax.hist(
            v,
            bins=edges,
            density=True,
            histtype="step",
            lw=1.6,
            color=c,
            label=f"n1 = {size} (std {v.std(ddof=1):.3g})",
        )
    ax.set_xlabel("final test loss (cross-entropy, nats)")
    ax.set_ylabel("density (runs)")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def spread_vs_size(rows: Sequence[Mapping[str, float]]) -> Figure:
    """Std of the test loss and the train/test correlation against hidden size ``n1``.

    Args:
        rows: the experiment's table rows (keys ``n1``, ``std``, ``corr(train, test)``).
    """
    n1 = np.array([r["n1"] for r in rows], dtype=float)
    std = np.array([r["std"] for r in rows], dtype=float)
    corr = np.array([r["corr(train, test)"] for r in rows], dtype=float)
    fig = Figure(figsize=(10, 4), layout="constrained")
    a, b = fig.subplots(1, 2)
    a.loglog(n1, std, "o-", color="C0")
    a.set_xlabel("hidden units n1")
    a.set_ylabel("std of final test loss (nats)")
    a.set_title("spread of test loss across random starts")
    a.grid(alpha=0.3, which="both")
    b.semilogx(n1, corr, "s-", color="C3")
    b.set_xlabel("hidden units n1")
    b.set_ylabel("Pearson corr(train loss, test loss)")
    b.set_ylim(min(-0.05, np.nanmin(corr) - 0.05) if np.isfinite(corr).any() else -1, 1.02)
    b.axhline(0, color="gray", lw=0.8)
    b.set_title("train/test correlation")
    b.grid(alpha=0.3, which="both")
    for ax in (a, b):
        ax.set_xticks(n1, [str(int(v)) for v in n1])
        ax.minorticks_off()
    return fig
