"""Checks on a drawn :class:`~matplotlib.figure.Figure`: can a reader read it?

Tests call :func:`check_figure` (raises ``AssertionError`` listing every problem) or
:func:`figure_problems` (returns the list) on the Figure a plot function returns; they
assert on the objects, not on the bytes of a PNG. The figure is drawn without output
(:meth:`~matplotlib.figure.Figure.draw_without_rendering`) so that tick labels are the
ones a reader would see.

Always checked, on every axes that shows data (``ax.has_data()``):

* x and y (and z on 3-D axes) labels are non-empty (a colorbar needs its long-axis label);
* every visible axis draws at least ``min_tick_labels`` distinct, non-empty tick labels
  inside its view, counting minor-tick labels only when they are drawn (a log axis that
  spans less than a decade shows none with matplotlib's defaults), and the labels do not
  overlap one another;
* lines, collections, patches hold no NaN or inf (images and meshes: some finite value).

Checked when asked for: reference lines (``axvline``/``axhline``) at given positions, the
number of series, substrings of the axis labels.

The helpers :func:`reference_lines`, :func:`data_lines`, :func:`series_labels` and
:func:`drawn_tick_labels` give tests the same view of an axes for their own assertions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import TypeVar

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.collections import Collection, LineCollection, QuadMesh
from matplotlib.container import Container
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import Bbox

__all__ = [
    "check_figure",
    "data_lines",
    "drawn_tick_labels",
    "figure_problems",
    "reference_lines",
    "series_labels",
]

T = TypeVar("T")
PerAxes = Mapping[int, T] | T | None


def reference_lines(ax: Axes) -> tuple[list[float], list[float]]:
    """Positions of the ``axvline`` and ``axhline`` reference lines of ``ax``.

    Returns:
        ``(vertical x positions, horizontal y positions)``, in drawing order.
    """
    vertical = [
        float(line.get_xdata()[0])
        for line in ax.get_lines()
        if line.get_transform() is ax.get_xaxis_transform()
    ]
    horizontal = [
        float(line.get_ydata()[0])
        for line in ax.get_lines()
        if line.get_transform() is ax.get_yaxis_transform()
    ]
    return vertical, horizontal


def _is_reference(ax: Axes, artist: Artist) -> bool:
    return isinstance(artist, Line2D) and (
        artist.get_transform() is ax.get_xaxis_transform()
        or artist.get_transform() is ax.get_yaxis_transform()
    )


def data_lines(ax: Axes) -> list[Line2D]:
    """The lines of ``ax`` that carry data: not reference lines, not empty legend proxies."""
    return [ln for ln in ax.get_lines() if not _is_reference(ax, ln) and len(ln.get_xdata())]


def _holds_data(ax: Axes, handle: object) -> bool:
    if isinstance(handle, Container):
        return any(_holds_data(ax, child) for child in handle.get_children())
    if isinstance(handle, Line2D):
        return not _is_reference(ax, handle) and len(handle.get_xdata()) > 0
    if isinstance(handle, Collection):
        return len(handle.get_offsets()) > 0 or len(handle.get_paths()) > 0
    return isinstance(handle, Patch)


def series_labels(ax: Axes) -> list[str]:
    """Labels of the data series of ``ax``: labelled artists (legend entries) that hold data.

    Reference lines and empty legend proxies (a marker key, a line of text) are not series.
    """
    handles, labels = ax.get_legend_handles_labels()
    return [lbl for h, lbl in zip(handles, labels, strict=True) if _holds_data(ax, h)]


def _ticks_in_view(axis: Axis, which: str) -> list:
    locs = axis.get_majorticklocs() if which == "major" else axis.get_minorticklocs()
    ticks = axis.get_major_ticks(len(locs)) if which == "major" else axis.get_minor_ticks(len(locs))
    lo, hi = axis.get_transform().transform(np.sort(axis.get_view_interval()))
    tol = 1e-10 * max(abs(hi - lo), 1e-300)
    shown = []
    for loc, tick in zip(locs, ticks, strict=True):
        with np.errstate(all="ignore"):
            t = float(axis.get_transform().transform(np.array([loc]))[0])
        if np.isfinite(t) and lo - tol <= t <= hi + tol:
            shown.append(tick)
    return shown


def drawn_tick_labels(axis: Axis) -> list:
    """The tick-label :class:`~matplotlib.text.Text` objects a reader sees on ``axis``.

    Major and minor ticks inside the view whose label is visible and non-empty, sorted by
    position. The figure must have been drawn (:func:`check_figure` draws it).
    """
    out = []
    for which in ("major", "minor"):
        for tick in _ticks_in_view(axis, which):
            for label in (tick.label1, tick.label2):
                if label.get_visible() and label.get_text().strip():
                    out.append(label)
    out.sort(key=lambda t: t.get_position()[0 if axis.axis_name == "x" else 1])
    return out


def _nonfinite(artist: Artist) -> bool:
    """The artist's data holds a NaN or inf (images and meshes: no finite value at all)."""
    if isinstance(artist, Line2D):
        arrays = [artist.get_xydata()]
    elif isinstance(artist, QuadMesh):
        return not np.isfinite(np.ma.filled(artist.get_array(), np.nan)).any()
    elif isinstance(artist, LineCollection):
        arrays = [*artist.get_segments(), artist.get_offsets()]
    elif isinstance(artist, Collection):
        arrays = [p.vertices for p in artist.get_paths()] + [artist.get_offsets()]
    elif isinstance(artist, Patch):  # get_verts() would drop a polygon with a NaN corner
        arrays = [artist.get_patch_transform().transform(artist.get_path().vertices)]
    elif hasattr(artist, "get_array") and artist.get_array() is not None:  # images
        return not np.isfinite(np.ma.filled(artist.get_array(), np.nan)).any()
    else:
        return False
    # matplotlib masks NaN and inf (scatter) or leaves a gap (lines): look under the mask
    return any(not np.isfinite(np.ma.getdata(a).astype(float)).all() for a in arrays)


def _siblings_show_labels(ax: Axes, axis: Axis) -> bool:
    """Another axes sharing this axis shows its tick labels (``label_outer`` layouts)."""
    shared = getattr(ax, f"get_shared_{axis.axis_name}_axes", None)
    if shared is None:
        return False
    for other in shared().get_siblings(ax):
        if other is not ax and drawn_tick_labels(getattr(other, f"{axis.axis_name}axis")):
            return True
    return False


def _tick_problems(ax: Axes, axis: Axis, min_labels: int) -> list[str]:
    name = f"{axis.axis_name} axis"
    labels = drawn_tick_labels(axis)
    if not labels and _siblings_show_labels(ax, axis):
        return []
    texts = [t.get_text() for t in labels]
    if len(set(texts)) < min_labels:
        scale = axis.get_scale()
        lo, hi = sorted(axis.get_view_interval())
        return [
            f"{name} ({scale} scale, view {lo:.4g} to {hi:.4g}) shows {len(set(texts))} "
            f"distinct tick label(s) {texts}; a reader needs at least {min_labels}"
        ]
    problems = []
    if len(set(texts)) < len(texts):
        problems.append(f"{name} repeats tick labels {texts}")
    boxes = [(t.get_window_extent(), t.get_text()) for t in labels]
    for (a, ta), (b, tb) in pairwise(boxes):  # neighbours along the axis
        overlap = Bbox.intersection(a, b)  # None when they do not meet
        if overlap is not None and min(overlap.width, overlap.height) > 0.5:  # pixels
            problems.append(f"{name} tick labels {ta!r} and {tb!r} overlap")
    return problems


def _axes_problems(index: int, ax: Axes, min_labels: int) -> list[str]:
    where = f"axes {index}" + (f" ({ax.get_title()!r})" if ax.get_title() else "")
    colorbar = getattr(ax, "_colorbar", None)
    axes_list: list[Axis] = (
        [colorbar.long_axis]
        if colorbar is not None
        else [a for a in (ax.xaxis, ax.yaxis, getattr(ax, "zaxis", None)) if a is not None]
    )
    problems = []
    for axis in axes_list:
        if not axis.get_visible():
            continue
        if not axis.get_label_text().strip():
            problems.append(f"{where}: {axis.axis_name} axis has no label")
        problems += [f"{where}: {p}" for p in _tick_problems(ax, axis, min_labels)]
    artists = [*ax.get_lines(), *ax.collections, *ax.patches, *ax.images]
    for artist in artists:
        if _nonfinite(artist):
            label = artist.get_label()
            problems.append(
                f"{where}: {type(artist).__name__} {label!r} holds NaN or inf in its data"
            )
    return problems


def _per_axes(value: PerAxes[T], index: int) -> T | None:
    if isinstance(value, Mapping):
        return value.get(index)
    return value


def _positions_problem(
    what: str, found: list[float], expected: Sequence[float], rtol: float, atol: float
) -> str | None:
    found_s, expected_s = sorted(found), sorted(float(v) for v in expected)
    if len(found_s) == len(expected_s) and np.allclose(found_s, expected_s, rtol=rtol, atol=atol):
        return None
    return f"{what} at {[round(v, 6) for v in found_s]}, expected {expected_s}"


def _expectation_problems(
    index: int,
    ax: Axes,
    *,
    xlabel: str | None,
    ylabel: str | None,
    vlines: Sequence[float] | None,
    hlines: Sequence[float] | None,
    series: int | None,
    rtol: float,
    atol: float,
) -> list[str]:
    where = f"axes {index}"
    problems = []
    for name, want, got in (("x", xlabel, ax.get_xlabel()), ("y", ylabel, ax.get_ylabel())):
        if want is not None and want not in got:
            problems.append(f"{where}: {name} label {got!r} does not contain {want!r}")
    vertical, horizontal = reference_lines(ax)
    for what, found, expected in (
        ("vertical reference lines", vertical, vlines),
        ("horizontal reference lines", horizontal, hlines),
    ):
        if expected is not None:
            problem = _positions_problem(what, found, expected, rtol, atol)
            if problem:
                problems.append(f"{where}: {problem}")
    if series is not None and len(labels := series_labels(ax)) != series:
        problems.append(f"{where}: {len(labels)} series {labels}, expected {series}")
    return problems


def figure_problems(
    fig: Figure,
    *,
    xlabel: PerAxes[str] = None,
    ylabel: PerAxes[str] = None,
    vlines: PerAxes[Sequence[float]] = None,
    hlines: PerAxes[Sequence[float]] = None,
    series: PerAxes[int] = None,
    min_tick_labels: int = 2,
    rtol: float = 1e-9,
    atol: float = 1e-12,
) -> list[str]:
    """Everything that would stop a reader from reading ``fig``; empty when it reads well.

    Each expectation is either one value, applied to every axes that shows data, or a
    mapping ``{index in fig.axes: value}``.

    Args:
        fig: the figure a plot function returned.
        xlabel, ylabel: a substring each axis label must contain.
        vlines, hlines: the positions of the ``axvline`` / ``axhline`` reference lines,
            exactly these (as a multiset, within ``rtol``/``atol``).
        series: the number of labelled data series (see :func:`series_labels`).
        min_tick_labels: distinct tick labels every visible axis must show.
        rtol, atol: tolerance of the reference-line positions.

    Returns:
        One line per problem, naming the axes (its index in ``fig.axes``) and the axis.
    """
    fig.draw_without_rendering()
    shown = [(i, ax) for i, ax in enumerate(fig.axes) if ax.get_visible() and ax.has_data()]
    if not shown:
        return ["the figure has no axes that shows data"]
    problems = []
    for i, ax in shown:
        if ax.axison:
            problems += _axes_problems(i, ax, min_tick_labels)
        problems += _expectation_problems(
            i,
            ax,
            xlabel=_per_axes(xlabel, i),
            ylabel=_per_axes(ylabel, i),
            vlines=_per_axes(vlines, i),
            hlines=_per_axes(hlines, i),
            series=_per_axes(series, i),
            rtol=rtol,
            atol=atol,
        )
    return problems


def check_figure(fig: Figure, **expect: object) -> None:
    """Assert that ``fig`` reads well; the message lists every problem found.

    Args:
        fig: the figure a plot function returned.
        **expect: as for :func:`figure_problems`.

    Raises:
        AssertionError: :func:`figure_problems` found something.
    """
    problems = figure_problems(fig, **expect)  # type: ignore[arg-type]
    if problems:
        raise AssertionError(
            f"the figure has {len(problems)} problem(s):\n  - " + "\n  - ".join(problems)
        )
