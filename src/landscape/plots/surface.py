"""Figures of loss surfaces (Li et al. 2018): profiles, contours, 3-D, zoom panels, HTML.

Data in (:class:`~landscape.surface.Surface` records), figure out; nothing here evaluates a
model. Contour levels are log-spaced when the values span more than two decades. The centre
``θ`` (``α = β = 0``) is marked on every plane and drawn as a reference line on profiles.

* :func:`plot_line` — 1-D profiles (several overlaid).
* :func:`plot_contour` — contour or filled contour, optional trajectory and named points.
* :func:`plot_surface_3d` — the surface as a 3-D PNG.
* :func:`plot_panels` — several planes side by side (the four zoom levels, with and
  without skip connections).
* :func:`surface_html` — an interactive plotly figure (rotate; hover shows α, β, loss,
  error), or ``None`` with a note when plotly is not installed.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

from .._errors import LandscapeError, check_choice
from ._util import ReadableFormatter, ReadableLogLocator, finish_axes, log_scale

__all__ = [
    "contour_levels",
    "plot_contour",
    "plot_line",
    "plot_panels",
    "plot_surface_3d",
    "surface_html",
]

Measure = Literal["loss", "error"]


def _values(surface: Any, measure: str) -> np.ndarray:
    check_choice("measure", measure, ("loss", "error"))
    z = surface.loss if measure == "loss" else surface.error
    if z is None:
        raise LandscapeError(f"this surface has no {measure} values (not a classification task)")
    return np.asarray(z, dtype=np.float64)


def _label(measure: str, surface: Any = None) -> str:
    if measure == "error":
        return "error rate (fraction misclassified)"
    return "loss (dataset mean)"


def _axis_name(surface: Any, i: int) -> str:
    kind = getattr(surface.directions, "kind", "")
    unit = "parameter distance" if kind in ("three", "pca", "hessian") else "× direction"
    return f"{'αβ'[i]} ({unit} d{i + 1})"


def contour_levels(z: np.ndarray, n: int = 20) -> tuple[np.ndarray, bool]:
    """``n + 1`` contour levels over the finite values of ``z``; log-spaced (and ``True``)
    when they are positive and span more than two decades."""
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        raise LandscapeError("the surface has no finite value to draw")
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        hi = lo + max(abs(lo), 1.0) * 1e-6
    if lo > 0 and hi / lo > 100:
        return np.geomspace(lo, hi, n + 1), True
    return np.linspace(lo, hi, n + 1), False


def plot_line(
    surfaces: Any | Mapping[str, Any],
    measure: Measure = "loss",
    title: str | None = None,
    logy: bool = False,
    figsize: tuple[float, float] = (6.4, 4.0),
) -> Figure:
    """1-D profiles ``L(θ + α d)``; the centre ``α = 0`` as a dashed reference line."""
    items = surfaces if isinstance(surfaces, Mapping) else {"": surfaces}
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    for label, s in items.items():
        ax.plot(s.alpha, _values(s, measure), marker=".", label=label or None)
    ax.axvline(0.0, color="0.4", linestyle="--", linewidth=1.0, label="centre θ")
    lo = min(float(np.min(s.alpha)) for s in items.values())
    hi = max(float(np.max(s.alpha)) for s in items.values())
    if hi > lo:  # the whole grid, also where the loss is not finite (not drawn)
        ax.set_xlim(lo, hi)
    if logy:
        log_scale(ax, "y")
    first = next(iter(items.values()))
    finish_axes(ax, _axis_name(first, 0), _label(measure), title)
    return fig


def _draw_plane(
    fig: Figure,
    ax: Axes,
    surface: Any,
    measure: str,
    filled: bool,
    levels: int,
    trajectory: np.ndarray | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
    colorbar: bool = True,
) -> None:
    if not surface.is_plane:
        raise LandscapeError("a contour needs a plane (two directions), got a line")
    z = _values(surface, measure)
    lev, log = contour_levels(z, levels)
    norm = colors.LogNorm(lev[0], lev[-1]) if log else None
    a, b = np.meshgrid(surface.alpha, surface.beta, indexing="ij")
    zz = np.where(np.isfinite(z), z, np.nan)
    if filled:
        cs = ax.contourf(a, b, zz, levels=lev, norm=norm, cmap="viridis", extend="both")
    else:
        cs = ax.contour(a, b, zz, levels=lev, norm=norm, cmap="viridis")
    if trajectory is not None and len(trajectory):
        t = np.asarray(trajectory, dtype=np.float64)
        ax.plot(t[:, 0], t[:, 1], "-o", color="tab:red", markersize=3, label="trajectory")
    for name, (pa, pb) in (points or {}).items():
        ax.plot([pa], [pb], "s", color="black", markersize=5)
        ax.annotate(name, (pa, pb), textcoords="offset points", xytext=(4, 4), fontsize="small")
    ax.plot(
        [0.0],
        [0.0],
        "*",
        color="white" if filled else "black",
        markersize=10,
        mec="k",
        label="centre θ",
    )
    if colorbar:
        cb = fig.colorbar(cs, ax=ax)
        cb.set_label(_label(measure) + (" (log levels)" if log else ""))
        if log:
            cb.ax.yaxis.set_major_locator(ReadableLogLocator())
            cb.ax.yaxis.set_major_formatter(ReadableFormatter())
            cb.ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(surface.alpha.min(), surface.alpha.max())
    ax.set_ylim(surface.beta.min(), surface.beta.max())
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.ticklabel_format(axis="both", style="sci", scilimits=(-2, 3))  # ±0.001: 1e-3 offset


def plot_contour(
    surface: Any,
    measure: Measure = "loss",
    filled: bool = True,
    levels: int = 20,
    trajectory: np.ndarray | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.0, 5.0),
) -> Figure:
    """Contour (``filled=False``) or filled contour of a plane, the centre starred.

    Args:
        surface: a plane.
        measure: ``"loss"`` or ``"error"``.
        levels: number of level bands (log-spaced when the values span > 2 decades).
        trajectory: ``(T, 2)`` projected coordinates to overlay (see
            :func:`landscape.surface.project_trajectory`).
        points: named points to mark (e.g. the three models of a three-model plane).
    """
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    _draw_plane(fig, ax, surface, measure, filled, levels, trajectory, points)
    finish_axes(ax, _axis_name(surface, 0), _axis_name(surface, 1), title, grid=False)
    return fig


def plot_panels(
    surfaces: Mapping[str, Any],
    measure: Measure = "loss",
    filled: bool = True,
    levels: int = 20,
    title: str | None = None,
    ncols: int | None = None,
) -> Figure:
    """Several planes side by side, each with its own levels and colour bar (the zoom
    levels of one minimum; the same architecture with and without skip connections)."""
    if not isinstance(surfaces, Mapping) or not surfaces:
        raise LandscapeError("surfaces must be a non-empty dict of title -> Surface")
    n = len(surfaces)
    ncols = ncols or (2 if n == 4 else n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(5.0 * ncols, 4.2 * nrows), layout="constrained")
    for i, (name, s) in enumerate(surfaces.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        _draw_plane(fig, ax, s, measure, filled, levels)
        finish_axes(ax, _axis_name(s, 0), _axis_name(s, 1), name, grid=False, legend=None)
    if title:
        fig.suptitle(title)
    return fig


def plot_surface_3d(
    surface: Any,
    measure: Measure = "loss",
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 5.2),
) -> Figure:
    """The plane as a 3-D surface (log10 of the values when they span > 2 decades)."""
    if not surface.is_plane:
        raise LandscapeError("a 3-D surface needs a plane (two directions), got a line")
    z = _values(surface, measure)
    _, log = contour_levels(z)
    shown = np.log10(z) if log else z
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot(projection="3d")
    a, b = np.meshgrid(surface.alpha, surface.beta, indexing="ij")
    ax.plot_surface(
        a,
        b,
        np.where(np.isfinite(shown), shown, np.nan),
        cmap="viridis",
        linewidth=0,
        antialiased=True,
    )
    c = shown[np.argmin(np.abs(surface.alpha)), np.argmin(np.abs(surface.beta))]
    ax.scatter([0.0], [0.0], [c], color="red", s=30, label="centre θ")
    ax.set_xlabel(_axis_name(surface, 0))
    ax.set_ylabel(_axis_name(surface, 1))
    ax.set_zlabel(("log10 " if log else "") + _label(measure))
    if title:
        ax.set_title(title)
    return fig


def surface_html(surface: Any, title: str | None = None) -> Any | None:
    """An interactive plotly view of a plane: a contour (SVG, shown even where the browser
    has no WebGL) beside the rotatable 3-D surface; hovering either shows α, β, loss and
    error. Returns ``None`` (with a one-line warning) when plotly is not installed
    (``pip install "landscape[plot]"``)."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        warnings.warn(
            "plotly is not installed: no interactive HTML (pip install 'landscape[plot]')",
            UserWarning,
            stacklevel=2,
        )
        return None
    if not surface.is_plane:
        raise LandscapeError("an interactive surface needs a plane (two directions)")
    loss = np.asarray(surface.loss, dtype=np.float64)
    err = surface.error if surface.error is not None else np.full_like(loss, np.nan)
    # what both panels plot and show on hover
    values = {
        "x": surface.alpha,
        "y": surface.beta,
        "z": loss.T,
        "customdata": np.asarray(err, dtype=np.float64).T[..., None],
        "colorscale": "Viridis",
        "hovertemplate": "α=%{x:.4g}<br>β=%{y:.4g}<br>loss=%{z:.5g}<br>"
        "error=%{customdata[0]:.4f}<extra></extra>",
    }
    fig = make_subplots(
        rows=1,
        cols=2,
        specs=[[{"type": "xy"}, {"type": "scene"}]],
        column_widths=[0.45, 0.55],
        subplot_titles=("contour (centre θ at α = β = 0)", "3-D surface (drag to rotate)"),
    )
    fig.add_trace(go.Contour(**values, colorbar={"title": "loss", "x": 0.43}), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=[0.0], y=[0.0], mode="markers", marker={"color": "red"}, name="θ"),
        row=1,
        col=1,
    )
    fig.add_trace(go.Surface(**values, showscale=False), row=1, col=2)
    fig.update_xaxes(title_text=_axis_name(surface, 0), row=1, col=1)
    fig.update_yaxes(title_text=_axis_name(surface, 1), row=1, col=1)
    fig.update_layout(
        title=title or "loss surface",
        showlegend=False,
        height=540,
        margin={"l": 50, "r": 20, "t": 80, "b": 40},
        scene={
            "xaxis_title": _axis_name(surface, 0),
            "yaxis_title": _axis_name(surface, 1),
            "zaxis_title": "loss",
            "camera": {"eye": {"x": 1.6, "y": 1.6, "z": 1.1}},
        },
    )
    return fig
