"""Figures for level-set connectivity: profiles along paths and threshold sweeps.

Data in, :class:`matplotlib.figure.Figure` out; nothing here evaluates a model. The figures
are built on :class:`~matplotlib.figure.Figure` directly (no ``pyplot`` state), so they can
be made in threads and saved with :func:`landscape.plots.save_figure`.

* :func:`plot_path_profile` — the thresholded quantity (or the loss) along one or more
  paths (:class:`~landscape.connect.Profile`), the threshold ``L0`` as a line and the beads
  as markers (Freeman & Bruna 2017, Fig. 2 style).
* :func:`plot_interpolation` — the loss (and measure) along straight segments
  (:class:`~landscape.connect.Interpolation`), e.g. before and after alignment.
* :func:`plot_geodesic_length`, :func:`plot_bead_count`, :func:`plot_threshold_sweep` —
  normalized geodesic length and bead count against the threshold, mean ± std over pairs
  of models (Freeman & Bruna 2017, Fig. 3 style).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from .._errors import LandscapeError, check_choice
from ..connect import Interpolation, Profile
from ._util import finish_axes, log_scale, to_numpy

__all__ = [
    "plot_bead_count",
    "plot_geodesic_length",
    "plot_interpolation",
    "plot_path_profile",
    "plot_threshold_sweep",
]

ArrayLike = np.ndarray | Sequence[float] | Sequence[Sequence[float]]


def _named(items: object, kind: type, what: str) -> dict[str, object]:
    if isinstance(items, kind):
        return {"": items}
    if isinstance(items, Mapping) and items and all(isinstance(v, kind) for v in items.values()):
        return {str(k): v for k, v in items.items()}
    raise LandscapeError(
        f"{what} must be a {kind.__name__} or a non-empty dict of label -> {kind.__name__}, "
        f"got {type(items).__name__}"
    )


def _threshold_line(ax: Axes, threshold: float | None, label: str = "L0") -> None:
    if threshold is not None:
        ax.axhline(
            float(threshold),
            color="0.3",
            linestyle="--",
            linewidth=1.0,
            label=f"threshold {label} = {float(threshold):.4g}",
        )


def plot_path_profile(
    profiles: Profile | Mapping[str, Profile],
    threshold: float | None = None,
    x: Literal["distance", "s"] = "distance",
    quantity: Literal["values", "loss", "measure"] = "values",
    title: str | None = None,
    logy: bool = False,
    figsize: tuple[float, float] = (6.4, 4.0),
) -> Figure:
    """The profile along one or more paths, with the threshold line and the bead positions.

    Args:
        profiles: a :class:`~landscape.connect.Profile` (e.g. ``result.profile``) or a dict
            ``label -> Profile`` to overlay several paths (linear, DSS, Bezier).
        threshold: ``L0``, drawn as a dashed horizontal line (``None``: no line).
        x: ``"distance"`` (distance travelled along the path over ``‖θ_A − θ_B‖``; paths of
            different methods are comparable) or ``"s"`` (bead ``i`` at ``s = i``).
        quantity: ``"values"`` (the thresholded quantity), ``"loss"`` or ``"measure"``.
        title: figure title.
        logy: logarithmic y axis.
        figsize: figure size in inches.

    Returns:
        A :class:`~matplotlib.figure.Figure` with one axes.

    Raises:
        LandscapeError: unknown ``x``/``quantity``, or ``"measure"`` for a profile without one.
    """
    check_choice("x", x, ("distance", "s"))
    check_choice("quantity", quantity, ("values", "loss", "measure"))
    named = _named(profiles, Profile, "profiles")
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    ylabel = None
    for i, (label, p) in enumerate(named.items()):
        if quantity == "measure" and p.measure is None:
            raise LandscapeError(f"profile {label!r} has no measure; use quantity='loss'")
        ys = {"values": p.values, "loss": p.loss, "measure": p.measure}[quantity]
        bead_ys = {"values": p.bead_values, "loss": p.bead_loss, "measure": p.bead_measure}[
            quantity
        ]
        xs = p.distance if x == "distance" else p.s
        bead_xs = p.bead_distance if x == "distance" else p.bead_s
        color = f"C{i}"
        n_inner = max(len(to_numpy(bead_xs)) - 2, 0)
        line_label = label or None
        if label and p.bead_s.numel() > 2:
            line_label = f"{label} ({n_inner} beads)"
        ax.plot(to_numpy(xs), to_numpy(ys), color=color, linewidth=1.6, label=line_label)
        ax.plot(
            to_numpy(bead_xs),
            to_numpy(bead_ys),
            linestyle="none",
            marker="o",
            markersize=5,
            markerfacecolor="white",
            markeredgecolor=color,
            markeredgewidth=1.5,
        )
        ylabel = p.measure_name if quantity == "values" else quantity
    ax.plot(
        [],
        [],
        linestyle="none",
        marker="o",
        markersize=5,
        markerfacecolor="white",
        markeredgecolor="0.3",
        markeredgewidth=1.5,
        label="beads",
    )
    _threshold_line(ax, threshold)
    if logy:
        log_scale(ax, "y")
    xlabel = (
        "distance along path / ‖θ_A − θ_B‖"
        if x == "distance"
        else "position on the string (bead index)"
    )
    finish_axes(ax, xlabel, ylabel or "", title)
    return fig


def plot_interpolation(
    interpolations: Interpolation | Mapping[str, Interpolation],
    threshold: float | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Loss (and, if present, measure) along straight segments ``θ(t) = (1 − t) θ_A + t θ_B``.

    Args:
        interpolations: an :class:`~landscape.connect.Interpolation` or a dict
            ``label -> Interpolation`` (e.g. ``{"before": r.before, "after": r.after}`` from
            :func:`~landscape.connect.align_and_interpolate`).
        threshold: drawn on the measure panel (or on the loss panel without a measure).
        title: figure title.
        figsize: default ``(6.4, 4)`` for one panel, ``(11, 4)`` for two.

    Returns:
        A :class:`~matplotlib.figure.Figure`: one panel for the loss, a second for the
        measure when the interpolations have one. Legends give each barrier.
    """
    named = _named(interpolations, Interpolation, "interpolations")
    has_measure = all(r.measure is not None for r in named.values())
    panels = 2 if has_measure else 1
    fig = Figure(
        figsize=figsize or ((11.0, 4.0) if panels == 2 else (6.4, 4.0)), layout="constrained"
    )
    axes = np.atleast_1d(fig.subplots(1, panels))
    for i, (label, r) in enumerate(named.items()):
        prefix = f"{label}: " if label else ""
        curves = [(r.loss, f"barrier {r.barrier:.3g} ({r.barrier_mean:.3g} above the ends' mean)")]
        if has_measure:
            curves.append((r.measure, f"barrier {r.measure_barrier:.3g}"))
        for ax, (values, text) in zip(axes, curves, strict=True):
            ax.plot(
                to_numpy(r.t), to_numpy(values), color=f"C{i}", marker=".", markersize=3,
                label=prefix + text,
            )  # fmt: skip
    _threshold_line(axes[-1], threshold)
    ylabels = ["loss"] + ([next(iter(named.values())).measure_name] if has_measure else [])
    for ax, ylabel in zip(axes, ylabels, strict=True):
        ax.axvline(0.0, color="0.7", linewidth=0.8)
        ax.axvline(1.0, color="0.7", linewidth=0.8)
        finish_axes(ax, "t   (θ(t) = (1 − t) θ_A + t θ_B)", ylabel)
    if title:
        fig.suptitle(title)
    return fig


def _series(
    values: ArrayLike | Mapping[str, ArrayLike], n_thresholds: int, what: str
) -> dict[str, np.ndarray]:
    raw = values if isinstance(values, Mapping) else {"": values}
    if not raw:
        raise LandscapeError(
            f"{what} is empty; give an array (pairs × thresholds) or a dict of them"
        )
    out = {}
    for label, v in raw.items():
        arr = to_numpy(v)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != n_thresholds:
            raise LandscapeError(
                f"{what}{'[' + repr(label) + ']' if label else ''} must have shape "
                f"(pairs, {n_thresholds}) to match the thresholds, got {arr.shape}"
            )
        out[str(label)] = arr
    return out


def _mean_std_panel(
    ax: Axes,
    thresholds: ArrayLike,
    values: ArrayLike | Mapping[str, ArrayLike],
    ylabel: str,
    what: str,
    logx: bool,
    invert_x: bool,
    reference: float | None,
) -> None:
    th = to_numpy(thresholds).reshape(-1)
    order = np.argsort(th)
    for i, (label, arr) in enumerate(_series(values, len(th), what).items()):
        arr = arr[:, order]
        finite = np.isfinite(arr)
        count = finite.sum(axis=0)
        safe = np.where(finite, arr, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, safe.sum(axis=0) / np.maximum(count, 1), np.nan)
            var = np.where(
                count > 0,
                (np.where(finite, arr - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count, 1),
                np.nan,
            )
        std = np.sqrt(var)
        color = f"C{i}"
        name = f"{label} " if label else ""
        # thresholds where no pair connected have no mean: a cross at the bottom marks them
        ok = count > 0
        x = th[order]
        ax.plot(
            x[ok], mean[ok], color=color, marker="o", markersize=4,
            label=f"{name}mean ± std ({arr.shape[0]} pairs)",
        )  # fmt: skip
        ax.fill_between(x[ok], (mean - std)[ok], (mean + std)[ok], color=color, alpha=0.2, lw=0)
        if not ok.all():
            ax.plot(
                x[~ok], np.full((~ok).sum(), 0.03), linestyle="none", marker="x", color=color,
                transform=blended_transform_factory(ax.transData, ax.transAxes),
                label=f"{name}no pair connected",
            )  # fmt: skip
    if reference is not None:
        ax.axhline(reference, color="0.5", linestyle=":", linewidth=1.0)
    if logx:
        log_scale(ax, "x")
    if invert_x:
        ax.invert_xaxis()
    finish_axes(ax, "threshold L0", ylabel)


def plot_geodesic_length(
    thresholds: ArrayLike,
    lengths: ArrayLike | Mapping[str, ArrayLike],
    ylabel: str = "normalized geodesic length",
    logx: bool = False,
    invert_x: bool = False,
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 4.0),
) -> Figure:
    """Normalized geodesic length against the threshold, mean ± std over pairs of models.

    Args:
        thresholds: ``(T,)`` thresholds ``L0``.
        lengths: ``(P, T)`` lengths for ``P`` pairs (``nan`` where a pair did not connect;
            such entries are left out of the mean and std), or a dict ``label -> (P, T)``
            (e.g. one entry per task).
        ylabel: y-axis label (say "… (weights only)" for Freeman & Bruna's quantity).
        logx: logarithmic threshold axis.
        invert_x: thresholds decreasing to the right (harder to the right).
        title: axes title.
        figsize: figure size in inches.

    Returns:
        A :class:`~matplotlib.figure.Figure`; a dotted line marks the straight segment's 1.
    """
    return _sweep_figure(
        figsize, title, (thresholds, lengths, ylabel, "lengths", logx, invert_x, 1.0)
    )


def plot_bead_count(
    thresholds: ArrayLike,
    counts: ArrayLike | Mapping[str, ArrayLike],
    logx: bool = False,
    invert_x: bool = False,
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 4.0),
) -> Figure:
    """Number of beads against the threshold, mean ± std over pairs.

    Arguments as in :func:`plot_geodesic_length`, with ``counts`` in place of ``lengths``.
    """
    return _sweep_figure(
        figsize, title, (thresholds, counts, "number of beads", "counts", logx, invert_x, None)
    )


def plot_threshold_sweep(
    thresholds: ArrayLike,
    lengths: ArrayLike | Mapping[str, ArrayLike],
    counts: ArrayLike | Mapping[str, ArrayLike],
    length_label: str = "normalized geodesic length",
    logx: bool = False,
    invert_x: bool = False,
    title: str | None = None,
    figsize: tuple[float, float] = (11.0, 4.0),
) -> Figure:
    """Both sweep panels side by side: geodesic length and bead count against ``L0``.

    Arguments as in :func:`plot_geodesic_length` and :func:`plot_bead_count`.
    """
    return _sweep_figure(
        figsize,
        title,
        (thresholds, lengths, length_label, "lengths", logx, invert_x, 1.0),
        (thresholds, counts, "number of beads", "counts", logx, invert_x, None),
    )


def _sweep_figure(figsize: tuple[float, float], title: str | None, *panels: tuple) -> Figure:
    """One :func:`_mean_std_panel` per argument tuple, side by side; the title on the axes
    when there is one panel, above the figure otherwise."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, args in zip(axes, panels, strict=True):
        _mean_std_panel(ax, *args)
    if title:
        (axes[0].set_title if len(panels) == 1 else fig.suptitle)(title)
    return fig
