"""Helpers shared by the figure modules: arrays in, readable axes, one way to save.

* :func:`to_numpy` — a float64 numpy copy of a tensor (any device), array or sequence.
* :func:`finish_axes` — labels, grid, legend and title, written once for every panel.
* :func:`log_scale` — a logarithmic axis that always shows at least two labelled ticks,
  whatever its span (:class:`ReadableLogLocator`, :class:`ReadableFormatter`).
* :func:`save_figure` — the one place a figure is written to disk.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, LogLocator, MaxNLocator, NullFormatter

from .._errors import LandscapeError

__all__ = [
    "ReadableFormatter",
    "ReadableLogLocator",
    "finish_axes",
    "finite_points",
    "histogram_edges",
    "log_scale",
    "save_figure",
    "to_numpy",
]


def to_numpy(values: Any) -> np.ndarray:
    """A float64 numpy copy of a tensor (any device), array or (nested) sequence."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def finite_points(*columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """The entries where every column is finite (a point with a NaN or inf is not drawn).

    Matplotlib silently leaves a gap for such a point; dropping it here keeps the plotted
    data finite and lets the caller say how many were left out.
    """
    keep = np.logical_and.reduce([np.isfinite(c) for c in columns])
    return tuple(c[keep] for c in columns)


def histogram_edges(arrays: Iterable[Any], bins: int, include: Iterable[float] = ()) -> np.ndarray:
    """Common bin edges over the finite values of several arrays, padded by 2% each side.

    Args:
        arrays: the data sets to be drawn on the same bins.
        bins: number of bins.
        include: values the range must cover as well (e.g. reference lines).

    Raises:
        LandscapeError: no finite value at all.
    """
    values = [to_numpy(a).ravel() for a in arrays] + [to_numpy(list(include)).ravel()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    if finite.size == 0:
        raise LandscapeError("no finite value to draw a histogram of")
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.02 * (hi - lo or 1.0)
    return np.linspace(lo - pad, hi + pad, bins + 1)


def finish_axes(
    ax: Axes,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    *,
    grid: bool = True,
    legend: str | None = "best",
    legend_size: str | float | None = "small",
) -> None:
    """Label a panel, and add the grid, the legend (if anything is labelled) and the title.

    Args:
        ax: the panel.
        xlabel, ylabel: axis labels (with units where there are any).
        title: panel title; ``None`` or ``""`` for none.
        grid: draw a light grid.
        legend: legend location, or ``None`` for no legend.
        legend_size: legend font size.
    """
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if grid:
        ax.grid(alpha=0.3)
    if legend is not None and ax.get_legend_handles_labels()[1]:
        ax.legend(loc=legend, fontsize=legend_size)
    if title:
        ax.set_title(title)


class ReadableLogLocator(LogLocator):
    """Major ticks for a logarithmic axis: at least two, usually three to six, in view.

    Tries decades, then ``1, 3 × 10^k``, ``1, 2, 5 × 10^k``, ``1, 2, 3, 5 × 10^k`` and every
    ``m × 10^k``, and takes the sparsest that puts three to six ticks inside the view
    (decades may be more: matplotlib thins them to the axis length). An axis spanning less
    than a decade where none does gets evenly spaced round ticks (``0.03, 0.035, 0.04``).
    Matplotlib's default locator puts ticks only at decades, so an axis spanning less than
    a decade (say 0.031 to 0.045) can show no labelled tick at all. Limits are expanded as
    a log axis expects (a single value gets a decade either side).
    """

    _SUBS: tuple[tuple[float, ...], ...] = (
        (1.0,),
        (1.0, 3.0),
        (1.0, 2.0, 5.0),
        (1.0, 2.0, 3.0, 5.0),
        tuple(float(m) for m in range(1, 10)),
    )

    def __init__(self) -> None:
        super().__init__(base=10.0)

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        lo, hi = sorted((float(vmin), float(vmax)))
        if not (hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
            return np.array([])
        lo = lo if lo > 0 else hi * 1e-3

        def inside(ticks: np.ndarray) -> int:
            return int(((ticks >= lo * (1 - 1e-9)) & (ticks <= hi * (1 + 1e-9))).sum())

        fallback = None
        for subs in self._SUBS:
            locator = LogLocator(base=10.0, subs=subs)
            locator.set_axis(self.axis)  # thins decades to the axis length, as matplotlib does
            ticks = locator.tick_values(lo, hi)
            n = inside(ticks)
            if n >= 3 and (n <= 6 or len(subs) == 1):
                return ticks
            if n >= 2 and fallback is None:
                fallback = ticks
        if hi < 10 * lo:
            linear = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
            if inside(linear) >= 3 or fallback is None:
                return linear
        return fallback if fallback is not None else np.array([lo, hi])


def _tick_text(value: float, digits: int, positional: bool) -> str:
    if value == 0:
        return "0"
    if positional:
        return np.format_float_positional(value, precision=digits, fractional=False, trim="-")
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    return f"{mantissa}e{int(exponent)}"


class ReadableFormatter(Formatter):
    """Tick labels a reader takes in at a glance, with as many digits as the ticks need.

    Decades spanning at least three of them read ``10^k`` (mathtext); other ticks are plain
    numbers (``0.035``, ``250``; ``2.5e-5`` on an axis whose ticks in view are not all
    between 0.001 and 10⁵) with the fewest significant digits (one to eight) that write
    every tick exactly and keep the labels of an axis distinct.
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.format_ticks([x])[0]

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        values = [float(v) for v in values]
        positive = [v for v in values if v > 0]
        if len(positive) == len(values) >= 2 and max(values) / min(values) >= 1e3:
            exponents = np.log10(values)
            if np.allclose(exponents, np.round(exponents), atol=1e-9):
                return [f"$\\mathdefault{{10^{{{int(k)}}}}}$" for k in np.round(exponents)]
        scale = max((abs(v) for v in values), default=0.0)
        shown = values
        if self.axis is not None:  # one notation for the ticks in view
            lo, hi = sorted(self.axis.get_view_interval())
            shown = [v for v in values if lo <= v <= hi] or values
        positional = all(1e-3 <= abs(v) < 1e5 for v in shown if v != 0)
        labels: list[str] = []
        for digits in range(1, 9):
            labels = [_tick_text(v, digits, positional) for v in values]
            exact = all(
                abs(float(t) - v) <= 1e-9 * scale for t, v in zip(labels, values, strict=True)
            )
            if exact and len(set(labels)) == len(labels):
                break
        return labels


def log_scale(ax: Axes, axis: Literal["x", "y"] = "y") -> None:
    """Make ``axis`` of ``ax`` logarithmic with labelled ticks whatever its span.

    Major ticks from :class:`ReadableLogLocator`, labelled by :class:`ReadableFormatter`;
    minor ticks stay as grid marks without labels.
    """
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_locator(ReadableLogLocator())
    target.set_major_formatter(ReadableFormatter())
    target.set_minor_formatter(NullFormatter())


def save_figure(fig: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Write a figure to ``path`` and return the path written: the one way figures are saved.

    A matplotlib figure is saved with a tight bounding box, as PNG when ``path`` has no
    suffix (any format matplotlib knows otherwise, e.g. ``.pdf``, ``.svg``). A plotly figure
    (anything with ``write_html``) is written as a self-contained ``.html`` page that opens
    offline. The folder is created if needed. A figure that pyplot manages is closed
    afterwards; a plain :class:`~matplotlib.figure.Figure` holds no global state and is freed
    with its last reference.

    Args:
        fig: a :class:`matplotlib.figure.Figure` or a plotly figure.
        path: file to write; a missing suffix becomes ``.png`` (``.html`` for plotly).
        dpi: resolution of raster formats (matplotlib only).

    Returns:
        The path written (with the suffix that was added, if any).

    Raises:
        LandscapeError: ``dpi`` is not positive, the suffix is not a format the figure can
            be written in, or ``fig`` is neither kind of figure.
    """
    path = Path(path)
    if isinstance(dpi, bool) or not isinstance(dpi, int | float) or not dpi > 0:
        raise LandscapeError(f"dpi must be a positive number, got {dpi!r}")
    if isinstance(fig, Figure):
        path = path if path.suffix else path.with_suffix(".png")
        formats = fig.canvas.get_supported_filetypes()
        fmt = path.suffix[1:].lower()
        if fmt not in formats:
            raise LandscapeError(
                f"cannot save a matplotlib figure as {path.suffix!r} ({path}); "
                f"use one of: {', '.join('.' + f for f in sorted(formats))}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        if getattr(fig.canvas, "manager", None) is not None:
            import matplotlib.pyplot as plt

            plt.close(fig)
        return path
    if hasattr(fig, "write_html"):
        path = path if path.suffix else path.with_suffix(".html")
        if path.suffix.lower() != ".html":
            raise LandscapeError(
                f"a plotly figure is saved as .html, got {path.suffix!r} ({path}); "
                "give a path ending in .html"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.write_html(path, include_plotlyjs=True, full_html=True)
        return path
    raise LandscapeError(
        f"fig must be a matplotlib Figure or a plotly figure, got {type(fig).__name__}"
    )
