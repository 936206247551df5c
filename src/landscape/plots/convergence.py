"""Convergence of over-parameterized training: kernels, lazy training, Kawaguchi, Auer.

Figure functions for :mod:`landscape.experiments.papers.lazy`, ``kawaguchi`` and ``auer``:
table rows or task results in, :class:`~matplotlib.figure.Figure` out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ._util import finish_axes, log_scale

__all__ = [
    "auer_minima",
    "kawaguchi_losses",
    "kawaguchi_unit",
    "kernel_vs_width",
    "lazy_training_curves",
    "movement_vs_width",
    "second_derivatives_vs_width",
]


def _by_data(rows: Sequence[Mapping]) -> dict[str, list[Mapping]]:
    out: dict[str, list[Mapping]] = {}
    for r in rows:
        out.setdefault(str(r["data"]), []).append(r)
    return out


def _width_panels(rows: Sequence[Mapping]) -> tuple[Figure, list[tuple]]:
    """One panel per data set: the figure and ``(ax, data name, its rows, their widths n)``."""
    groups = _by_data(rows)
    fig = Figure(figsize=(5.2 * len(groups), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups)))
    panels = [
        (ax, name, rs, np.array([r["n"] for r in rs], float))
        for ax, (name, rs) in zip(axes, groups.items(), strict=True)
    ]
    return fig, panels


def _fit(ax, n: np.ndarray, y: np.ndarray, color: str, label: str) -> None:
    """Points, and the least-squares line of log y on log n labelled with its slope."""
    ok = (y > 0) & np.isfinite(y)
    ax.plot(n[ok], y[ok], "o", color=color)
    if ok.sum() >= 2:
        k, c = np.polyfit(np.log(n[ok]), np.log(y[ok]), 1)
        ax.plot(n[ok], np.exp(c) * n[ok] ** k, "-", color=color, label=f"{label}: slope {k:.2f}")


def _log_log(ax) -> None:
    ax.set_xscale("log")
    log_scale(ax, "x")
    log_scale(ax, "y")
    ax.grid(alpha=0.3, which="both")


def kernel_vs_width(rows: Sequence[Mapping], samples: int) -> Figure:
    """λ_min(K̄) against n on log–log axes, one panel per data set, with n/m for reference.

    Args:
        rows: the lazy experiment's kernel rows (``data``, ``n``, ``λ_min(K̄)``,
            ``λ_min(K̄), θ1~N(0,1/n)``).
        samples: m.
    """
    fig, panels = _width_panels(rows)
    for ax, name, rs, n in panels:
        _fit(ax, n, np.array([r["λ_min(K̄)"] for r in rs], float), "C0", "θ1 ~ N(0, 1/(d+1))")
        _fit(ax, n, np.array([r["λ_min(K̄), θ1~N(0,1/n)"] for r in rs]), "C1", "θ1 ~ N(0, 1/n)")
        ax.plot(n, n / samples, "--", color="gray", label="n/m")
        _log_log(ax)
        finish_axes(ax, "hidden units n", "λ_min(K̄_Θ) at initialisation", f"{name}, m = {samples}")
    return fig


def lazy_training_curves(per: Mapping[str, Mapping[int, Mapping[str, np.ndarray]]]) -> Figure:
    """Risk r(θ_t) per width (mean over members; log y), and the inequality ratio with K̄_Θ0.

    Row 1: the risk under full-batch GD, one curve per width. Row 2: the smallest over
    members of ‖∇r‖² / ((4/m²) λ_min(K̄_Θ0) ‖Φ − y‖²), with the line 1 below which the
    initial kernel no longer bounds the gradient.
    """
    fig = Figure(figsize=(5.2 * len(per), 7), layout="constrained")
    axes = fig.subplots(2, len(per), squeeze=False)
    for j, (name, by_n) in enumerate(per.items()):
        top, bottom = axes[0, j], axes[1, j]
        colors = _colors(len(by_n))
        for c, n in zip(colors, sorted(by_n), strict=True):
            r = by_n[n]
            steps = np.asarray(r["steps"], float)
            loss = np.asarray(r["loss"], float).mean(1)
            ok = loss > 0
            top.plot(steps[ok], loss[ok], color=c, label=f"n = {n}")
            bottom.plot(steps, np.asarray(r["ratio_init"], float).min(1), color=c)
        log_scale(top, "y")
        finish_axes(top, "gradient step t", "risk r(θ_t) (mean squared error)", name)
        log_scale(bottom, "y")
        bottom.axhline(1.0, color="k", ls="--", lw=1)
        finish_axes(
            bottom,
            "gradient step t",
            "‖∇r‖² / ((4/m²)·λ_min(K̄_Θ0)·‖Φ−y‖²)",
            "gradient inequality with the initial kernel (min over seeds)",
        )
    return fig


def _colors(k: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.0, 0.85, k)]


def movement_vs_width(rows: Sequence[Mapping]) -> Figure:
    """‖θ_T − θ_0‖/‖θ_0‖ and ‖K_T − K_0‖/‖K_0‖ against n (log–log), fitted slopes."""
    fig, panels = _width_panels(rows)
    for ax, name, rs, n in panels:
        _fit(ax, n, np.array([r["‖θ_T−θ_0‖/‖θ_0‖"] for r in rs], float), "C0", "‖θ_T−θ_0‖/‖θ_0‖")
        _fit(ax, n, np.array([r["‖K_T−K_0‖/‖K_0‖"] for r in rs], float), "C3", "‖K_T−K_0‖/‖K_0‖")
        _log_log(ax)
        finish_axes(ax, "hidden units n", "relative change after training", name)
    return fig


def second_derivatives_vs_width(rows: Sequence[Mapping]) -> Figure:
    """Mean squares of ∂²Φ/∂θ2_i∂θ1_i and ∂²Φ/∂θ1_i∂θ1_i at initialisation against n.

    The blocks that are exactly zero (θ2θ2, and every i ≠ j entry) are listed in the
    legend with their largest value rather than drawn (a log axis cannot show 0).
    """
    keys = {"t2t1_same": "θ2_i θ1_i", "t1t1_same": "θ1_i θ1_i"}
    groups: dict[tuple[str, str], list[Mapping]] = {}
    for r in rows:
        groups.setdefault((str(r["data"]), str(r["ρ"])), []).append(r)
    names = sorted({d for d, _ in groups})
    fig = Figure(figsize=(5.2 * len(names), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, name in zip(axes, names, strict=True):
        i = 0
        zero = 0.0
        for (data, act), rs in groups.items():
            if data != name:
                continue
            n = np.array([r["n"] for r in rs], float)
            for key, label in keys.items():
                y = np.array([r[key] for r in rs], float)
                if (y > 0).any():
                    _fit(ax, n, y, f"C{i}", f"{label} ({act})")
                    i += 1
                else:
                    ax.plot([], [], " ", label=f"{label} ({act}): 0 at every n")
            zero = max(zero, *(r[k] for r in rs for k in ("t2t2", "t2t1_other", "t1t1_other")))
        ax.plot([], [], " ", label=f"θ2θ2 and all i ≠ j entries: max {zero:.1g}")
        _log_log(ax)
        finish_axes(ax, "hidden units n", "mean square of the Hessian entry of Φ", name)
    return fig


def auer_minima(rows: Sequence[Mapping], losses: Mapping[int, np.ndarray]) -> Figure:
    """Verified local minima against d (log y) with the line 2^d; their losses per d."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    a, b = fig.subplots(1, 2)
    d = np.array([r["d"] for r in rows], float)
    a.plot(d, [r["verified"] for r in rows], "o", ms=8, label="verified minima found")
    a.plot(d, 2.0**d, "--", color="gray", label="2^d")
    log_scale(a, "y")
    a.set_xticks(d, [str(int(v)) for v in d])
    finish_axes(a, "dimension d", "number of local minima", "one logistic neuron, square loss")
    for k, v in losses.items():
        b.plot(np.full(len(v), float(k)), v, "_", ms=14, color="C0")
    b.set_xticks(d, [str(int(v)) for v in d])
    finish_axes(b, "dimension d", "loss at the minimum (mean squared error)", "their loss values")
    return fig


def _kawaguchi_style(kind: str, u: int) -> dict:
    """Line style of one run: solid colours from the spurious minimum, grey/black controls."""
    if kind == "spurious":
        return {"color": f"C{u % 10}", "lw": 1.5}
    if kind == "teacher + noise":
        return {"color": "k", "lw": 1.2, "ls": "--"}
    return {"color": "0.55", "lw": 1.0, "ls": "-."}


def _kawaguchi_label(kind: str, u: int, kinds: Sequence[str]) -> str | None:
    if kind == "spurious":
        return f"from the spurious min., unit draw {u}"
    if list(kinds).index(kind) != u:
        return None
    n = list(kinds).count(kind)
    where = f"the {kind}" if kind.startswith("teacher") else kind
    return f"control: from {where}" + (f" ({n} runs)" if n > 1 else "")


def kawaguchi_losses(
    traj: Mapping[str, np.ndarray],
    kinds: Sequence[str],
    start: float,
    global_value: float = 0.0,
    margin: float = 1e-3,
    best: float | None = None,
) -> Figure:
    """L̃ and the original loss L(θ_t) of θ alone along the descent on L̃, one curve per run.

    Both axes logarithmic (steps from the first recorded step after 0). Reference lines: the
    spurious minimum's loss, the global minimum value plus ``margin`` (a log axis cannot
    show the value 0 itself: θ counts as global below this line) and, when given, the best
    student loss of the search. Runs whose loss is identically 0 (the exact teacher) are not
    drawn; the y axis stops at 10⁻³·(global value + margin), and a run that goes further
    down (to the global minimum) says in its legend entry how far.
    """
    fig = Figure(figsize=(12, 5.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    steps = np.asarray(traj["steps"], float)
    keep = steps > 0
    for ax, key, title in (
        (left, "modified", "modified loss L̃(θ, W, a, b)"),
        (right, "original", "original loss L(θ_t) of θ alone (a set to 0)"),
    ):
        vals = np.asarray(traj[key], float)
        floor = 1e-3 * (global_value + margin)
        low = np.inf
        for u, kind in enumerate(kinds):
            v = vals[keep, u]
            if not np.all(v > 0):
                continue
            label = _kawaguchi_label(kind, u, kinds)
            if label is not None and v.min() < floor:
                label += f" (down to {v.min():.0e})"
            ax.plot(steps[keep], v, label=label, **_kawaguchi_style(kind, u))
            low = min(low, float(v.min()))
        if np.isfinite(start):
            ax.axhline(
                start, color="darkviolet", ls="--", lw=1, label=f"spurious minimum L = {start:.4g}"
            )
        ax.axhline(
            global_value + margin,
            color="darkgreen",
            ls=":",
            lw=1.2,
            label=f"global min. value {global_value:g} (+ margin {margin:g})",
        )
        if best is not None and best > global_value + margin:
            ax.axhline(best, color="0.4", ls=(0, (1, 3)), lw=1, label=f"best student {best:.3g}")
        if low < floor:
            ax.set_ylim(bottom=floor)
        log_scale(ax, "x")
        log_scale(ax, "y")
        finish_axes(ax, "gradient step t", "mean squared error", title, legend=None)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize="small")
    return fig


def kawaguchi_unit(traj: Mapping[str, np.ndarray], kinds: Sequence[str]) -> Figure:
    """|a|, b, ‖W‖ and the amplitude max_i |a e^{W x_i + b}| of the exponential unit along
    the descent on L̃ from the spurious minimum (one curve per unit draw; log step axis).

    The b panel adds, dashed, the least-squares line b = c·log t + d over the second half.
    """
    fig = Figure(figsize=(14, 7.5), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    steps = np.asarray(traj["steps"], float)
    keep = steps > 0
    runs = [u for u, k in enumerate(kinds) if k == "spurious"]
    half = keep & (steps >= steps[-1] / 2)
    for ax, key, label, unit, log_y in (
        (axes[0], "a", "|a|", "output units", True),
        (axes[1], "b", "b", "exponent, dimensionless", False),
        (axes[2], "W", "‖W‖", "1 / input units", False),
        (axes[3], "amplitude", "max_i |a e^(W x_i + b)|", "output units", True),
    ):
        vals = np.asarray(traj[key], float)
        vals = np.abs(vals) if key == "a" else vals
        for u in runs:
            ax.plot(steps[keep], vals[keep, u], color=f"C{u % 10}", label=f"unit draw {u}")
            if key == "b" and half.sum() >= 2:
                c, d = np.polyfit(np.log(steps[half]), vals[half, u], 1)
                ax.plot(
                    steps[half],
                    c * np.log(steps[half]) + d,
                    color=f"C{u % 10}",
                    ls="--",
                    lw=2.5,
                    alpha=0.6,
                    label=f"fit: {c:.2f}·log t {'+' if d >= 0 else '−'} {abs(d):.2f}",
                )
        log_scale(ax, "x")
        if log_y:
            log_scale(ax, "y")
        finish_axes(ax, "gradient step t", f"{label} ({unit})", f"exponential unit: {label}")
    return fig
