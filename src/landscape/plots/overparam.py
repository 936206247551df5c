"""Figures for over-parameterization: spurious-minimum rates, families, controls, width gaps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ._util import finish_axes, log_scale

__all__ = [
    "control_path",
    "gap_vs_width",
    "poor_minima_vs_width",
    "spurious_families",
    "spurious_rate",
]


def spurious_rate(
    series: Mapping[str, tuple[Sequence[int], Sequence[float], Sequence[tuple[float, float]]]],
    runs: int,
) -> Figure:
    """Spurious minima (% of starts) against ``k``, one line per student size, with CIs.

    Args:
        series: student size label (``"k"``, ``"k+1"``, …) → ``(ks, percent, (lo, hi) %)``.
        runs: starts per point (for the title).
    """
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, (label, (ks, pct, ci)) in enumerate(series.items()):
        ks, pct = np.asarray(ks, float), np.asarray(pct, float)
        lo = pct - np.array([c[0] for c in ci])
        hi = np.array([c[1] for c in ci]) - pct
        ax.errorbar(
            ks, pct, yerr=[np.clip(lo, 0, None), np.clip(hi, 0, None)], marker="o", capsize=3,
            color=f"C{i}", label=f"n = {label}",
        )  # fmt: skip
    ax.axhline(0.0, color="0.5", lw=0.8, ls=":")
    ax.set_xticks(sorted({int(k) for _, (ks, _, _) in series.items() for k in ks}))
    finish_axes(
        ax, "teacher neurons k (= input dimension d)", "spurious local minima (% of starts)"
    )
    ax.set_title(
        f"Safran–Shamir teacher–student, {runs} starts per point (95% Wilson)", fontsize=10
    )
    return fig


def spurious_families(
    families: Mapping[tuple[str, int], Sequence[tuple[float, int]]], threshold: float
) -> Figure:
    """The loss of every family of spurious minima against ``k`` (log y), area ∝ runs.

    Args:
        families: ``(student label, k)`` → ``[(F of the family, runs in it), …]``.
        threshold: the spurious threshold on ``F`` (drawn as a reference line).
    """
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    labels = list(dict.fromkeys(c for c, _ in families))
    offsets = np.linspace(-0.15, 0.15, len(labels)) if len(labels) > 1 else [0.0]
    for i, c in enumerate(labels):
        xs, ys, sizes = [], [], []
        for (cc, k), fams in families.items():
            if cc != c:
                continue
            for F, count in fams:
                xs.append(k + offsets[i])
                ys.append(F)
                sizes.append(20 + 8 * count)
        if xs:
            ax.scatter(xs, ys, s=sizes, alpha=0.6, color=f"C{i}", label=f"n = {c}")
    ax.axhline(threshold, color="0.4", ls="--", lw=1, label=f"threshold F = {threshold:g}")
    log_scale(ax, "y")
    ks = sorted({k for _, k in families})
    ax.set_xticks(ks)
    ax.set_xlim(ks[0] - 0.5, ks[-1] + 0.5)
    finish_axes(ax, "teacher neurons k", "population loss F of the family (log)")
    return fig


def poor_minima_vs_width(
    series: Mapping[str, tuple[Sequence[int], Sequence[float]]], marked: float, ylabel: str
) -> Figure:
    """Fractions of runs against width, one line per series, the critical width marked.

    Args:
        series: label → ``(widths M, fraction 0…1 of runs at a poor minimum)``.
        marked: the width to mark (``M = 2N``).
        ylabel: the y label.
    """
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    ticks: set[int] = set()
    for i, (label, (widths, fraction)) in enumerate(series.items()):
        ax.plot(widths, np.asarray(fraction) * 100, marker="o", color=f"C{i}", label=label)
        ticks |= {int(w) for w in widths}
    ax.axvline(marked, color="C3", ls="--", lw=1, label=f"M = 2N = {marked:g}")
    ax.set_xticks(sorted(ticks))
    finish_axes(ax, "hidden width M", ylabel)
    return fig


def control_path(
    ts: np.ndarray, curves: Mapping[str, np.ndarray], bound: float, title: str = ""
) -> Figure:
    """Loss along paths between two solutions, with the level ``max(L(θ₁), L(θ₂))``.

    Args:
        ts: path parameter in ``[0, 1]``.
        curves: path name → loss at ``ts``.
        bound: the level to stay below (drawn as a reference line).
        title: panel title.
    """
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    for i, (name, ys) in enumerate(curves.items()):
        ax.plot(ts, ys, color=f"C{i}", label=name)
    ax.axhline(bound, color="0.3", ls="--", lw=1, label="max(L(θ₁), L(θ₂))")
    finish_axes(ax, "path parameter t", "training loss (mean squared error)", title)
    return fig


def gap_vs_width(
    series: Mapping[int, tuple[Sequence[int], Sequence[float], Sequence[float], float]],
) -> Figure:
    """Barriers against width on log–log axes, with ``m^(−1/n)`` through the first point.

    Args:
        series: input dimension ``n`` → ``(widths m, straight-line barrier, aligned barrier,
            fitted exponent of the aligned barrier)``. Non-positive barriers are left out
            (a log axis cannot show them).
    """
    fig = Figure(figsize=(6.5, 4.3), layout="constrained")
    ax = fig.subplots()
    ticks: set[int] = set()
    for i, (n, (ms, line, aligned, slope)) in enumerate(series.items()):
        ms = np.asarray(ms, float)
        for ys, style, what in ((line, ":", "straight line"), (aligned, "-", "aligned")):
            ys = np.asarray(ys, float)
            ok = ys > 0
            if ok.any():
                label = f"n = {n}, {what}" + (f" (slope {slope:.2f})" if what == "aligned" else "")
                ax.plot(ms[ok], ys[ok], style, marker="o", color=f"C{i}", label=label)
        ys = np.asarray(aligned, float)
        ok = ys > 0
        if ok.any():
            m0, y0 = ms[ok][0], ys[ok][0]
            ax.plot(ms, y0 * (ms / m0) ** (-1.0 / n), "--", color=f"C{i}", alpha=0.5,
                    lw=1, label=f"m^(−1/{n}) (Freeman & Bruna)")  # fmt: skip
        ticks |= {int(m) for m in ms}
    log_scale(ax, "x")
    log_scale(ax, "y")
    finish_axes(ax, "hidden width m", "barrier above max(L_A, L_B) (MSE)", legend_size="x-small")
    return fig
