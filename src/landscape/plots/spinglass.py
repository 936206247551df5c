"""Figures of the spin-glass experiment: data in, a matplotlib ``Figure`` out, no computation.

The theory values drawn as reference lines (``−E_0``, ``−E_1``, ``−E_∞``) come from
:mod:`landscape.spinglass.theory`; the caller computes them and passes them in, so these
functions only draw. Figures are built with :class:`matplotlib.figure.Figure` (no pyplot
state, safe in threads and without a display); save them with
:func:`landscape.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from numpy.typing import ArrayLike

from .._errors import LandscapeError
from ._util import finish_axes, finite_points, histogram_edges, to_numpy

__all__ = ["complexity_curves", "energy_histograms", "saddle_energies"]

_REF_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))


def _reference_lines(ax: Axes, reference: Mapping[str, float], vertical: bool = True) -> None:
    for i, (label, value) in enumerate(reference.items()):
        style = dict(color="black", linestyle=_REF_STYLES[i % len(_REF_STYLES)], linewidth=1.2)
        if vertical:
            ax.axvline(float(value), label=f"{label} = {float(value):.4f}", **style)
        else:
            ax.axhline(float(value), label=f"{label} = {float(value):.4f}", **style)


def _titled(text: str, *parts: tuple[str, object]) -> str:
    """``text`` followed by the ``name = value`` parts that are set."""
    given = ", ".join(f"{name} = {value}" for name, value in parts if value)
    return text + (f", {given}" if given else "")


def _finish(
    ax: Axes,
    reference: Mapping[str, float] | None,
    xlabel: str,
    ylabel: str,
    title: str,
    legend: str,
    vertical: bool = True,
) -> None:
    """Reference lines, axis labels, title and legend of a spin-glass panel."""
    _reference_lines(ax, reference or {}, vertical=vertical)
    finish_axes(ax, xlabel, ylabel, title, grid=False, legend=legend)


def _as_array(name: str, values: ArrayLike) -> np.ndarray:
    arr = to_numpy(values)
    if arr.ndim != 1:
        raise LandscapeError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def energy_histograms(
    energies: Mapping[int, ArrayLike],
    reference: Mapping[str, float] | None = None,
    H: int | None = None,
    bins: int = 40,
    title: str | None = None,
) -> Figure:
    """Normalised histograms of the final energies ``L/Λ``, one per ``Λ``, overlaid.

    After Choromanska et al. 2015, Fig. 2: the distribution narrows and moves down toward
    ``−E_∞`` as ``Λ`` grows.

    Args:
        energies: ``{Λ: energies}`` (1-D arrays or tensors of ``L/Λ``, e.g. the converged
            replicas of :func:`landscape.spinglass.sample_minima`).
        reference: vertical lines ``{label: energy}``, e.g.
            ``{"−E_0(3)": -threshold(3, 0), "−E_∞(3)": -e_inf(3)}``.
        H: interaction order, for the title.
        bins: bins over the common range of all energies.
        title: overrides the default title.

    Returns:
        The figure (one axes: x ``L/Λ``, y density).

    Raises:
        LandscapeError: no energies, or a set that is not 1-D.
    """
    if not energies:
        raise LandscapeError("energies is empty; pass {Λ: energies} for at least one Λ")
    data = {int(n): _as_array(f"energies[{n}]", e) for n, e in energies.items()}
    if not any(np.isfinite(e).any() for e in data.values()):
        raise LandscapeError("energies has no finite value to plot")
    edges = histogram_edges(data.values(), bins, include=(reference or {}).values())

    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.subplots()
    for n in sorted(data):
        e = data[n][np.isfinite(data[n])]
        if e.size == 0:
            continue
        ax.hist(
            e,
            bins=edges,
            density=True,
            histtype="step",
            linewidth=1.6,
            label=f"Λ = {n} (n = {e.size})",
        )
    title = title or _titled("Energies of minima from random starts", ("H", H))
    _finish(ax, reference, "final energy L/Λ", "density", title, "upper right")
    return fig


def complexity_curves(
    u: ArrayLike,
    curves: Mapping[str, ArrayLike],
    reference: Mapping[str, float] | None = None,
    H: int | None = None,
    title: str | None = None,
    zoom: bool = True,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """The complexities ``Θ_{k,H}(u)`` against the energy ``u``, with reference energies.

    After Auffinger, Ben Arous & Černý 2013 and Choromanska et al. 2015, Fig. 1: the zero of
    ``Θ_{k,H}`` is ``−E_k``; the curves for growing ``k`` pile up at ``−E_∞``.

    Args:
        u: energy grid ``L/Λ``, 1-D.
        curves: ``{label: Θ values on u}``, e.g. ``{"k = 0": complexity(u, 3, 0), …}``.
        reference: vertical lines ``{label: energy}``, e.g. ``−E_0``, ``−E_1``, ``−E_∞``.
        H: interaction order, for the title.
        title: overrides the default title.
        zoom: show ``Θ`` from ``−3 m`` to ``2 m`` with ``m`` the largest value plotted, so
            the zero crossings (the thresholds) are visible next to the steep large-``k``
            curves; ignored when ``ylim`` is given or no value is positive.
        ylim: explicit y-range.

    Returns:
        The figure (x ``u = L/Λ``, y ``Θ(u)``, a horizontal line at 0).

    Raises:
        LandscapeError: no curves, or a curve whose length differs from ``u``.
    """
    if not curves:
        raise LandscapeError("curves is empty; pass {label: Θ values} for at least one curve")
    x = _as_array("u", u)
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.subplots()
    top = -np.inf
    for label, values in curves.items():
        y = _as_array(f"curves[{label!r}]", values)
        if y.shape != x.shape:
            raise LandscapeError(
                f"curves[{label!r}] has {y.size} values but u has {x.size}; they must match"
            )
        xs, ys = finite_points(x, y)
        ax.plot(xs, ys, linewidth=1.6, label=str(label))
        if ys.size:
            top = max(top, float(ys.max()))
    ax.axhline(0.0, color="grey", linewidth=0.8)
    if ylim is not None:
        ax.set_ylim(*ylim)
    elif zoom and top > 0:
        ax.set_ylim(-3.0 * top, 2.0 * top)
    title = title or _titled("Complexity of critical points", ("H", H))
    _finish(ax, reference, "energy u = L/Λ", "complexity Θ(u)", title, "lower right")
    return fig


def saddle_energies(
    index: ArrayLike,
    energy: ArrayLike,
    reference: Mapping[str, float] | None = None,
    minima: ArrayLike | None = None,
    H: int | None = None,
    n_spins: int | None = None,
    title: str | None = None,
) -> Figure:
    """Energy ``L/Λ`` of critical points against their index: energy rises with the index.

    Args:
        index: indices of the (converged) critical points, 1-D.
        energy: their energies ``L/Λ``, 1-D, same length.
        reference: horizontal lines ``{label: energy}`` (``−E_0``, ``−E_∞``, …).
        minima: optional energies of minima from descent, drawn at index 0 as well.
        H, n_spins: for the title.
        title: overrides the default title.

    Returns:
        The figure (x index, y ``L/Λ``; points and the mean per index).

    Raises:
        LandscapeError: lengths differ.
    """
    k = _as_array("index", index)
    e = _as_array("energy", energy)
    if k.shape != e.shape:
        raise LandscapeError(f"index has {k.size} entries but energy has {e.size}; they must match")
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.subplots()
    if minima is not None:
        (m,) = finite_points(_as_array("minima", minima))
        ax.scatter(np.zeros_like(m), m, s=8, alpha=0.3, color="tab:green", label="minima (descent)")
    n_given = k.size
    k, e = finite_points(k, e)
    label = "critical points" + (
        f" ({n_given - k.size} not finite, left out)" if k.size < n_given else ""
    )
    ax.scatter(k, e, s=14, alpha=0.6, color="tab:blue", label=label)
    ks: Sequence[float] = sorted(set(k.tolist()))
    if ks:
        means = [e[k == kk].mean() for kk in ks]
        ax.plot(ks, means, "o-", color="tab:red", markersize=4, label="mean per index")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    title = title or _titled("Critical points by index", ("H", H), ("Λ", n_spins))
    xlabel = "index (negative Hessian eigenvalues)"
    _finish(ax, reference, xlabel, "energy L/Λ", title, "upper left", vertical=False)
    return fig
