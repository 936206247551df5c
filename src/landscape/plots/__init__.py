"""Figure functions: results in, ``matplotlib.figure.Figure`` out; no computation here.

Modules: :mod:`.training`, :mod:`.ensemble`, :mod:`.spinglass`, :mod:`.curvature`,
:mod:`.connect`, :mod:`.overparam`. Figures are built with ``matplotlib.figure.Figure``
(no pyplot state), so they work headless and in threads and display in notebooks. Save them with
:func:`save_figure` (PNG with a tight bounding box; ``.html`` for plotly figures).

Every logarithmic axis is drawn with :func:`._util.log_scale`, so it shows labelled ticks
whatever its span. Tests check the figures with :mod:`._checks` (labels, tick labels,
reference lines, finite data).
"""

from ._util import save_figure
from .surface import plot_contour, plot_line, plot_panels, plot_surface_3d, surface_html

__all__ = [
    "plot_contour",
    "plot_line",
    "plot_panels",
    "plot_surface_3d",
    "save_figure",
    "surface_html",
]
