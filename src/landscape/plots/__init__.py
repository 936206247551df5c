"""Figure functions: results in, ``matplotlib.figure.Figure`` out; no computation here.

Modules: :mod:`.training`, :mod:`.ensemble`, :mod:`.spinglass`, :mod:`.curvature`,
:mod:`.connect`. Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so
they work headless and in threads and display in notebooks. Save them with
:func:`save_figure` (PNG with a tight bounding box; ``.html`` for plotly figures).

Every logarithmic axis is drawn with :func:`._util.log_scale`, so it shows labelled ticks
whatever its span. Tests check the figures with :mod:`._checks` (labels, tick labels,
reference lines, finite data).
"""

from ._util import save_figure

__all__ = ["save_figure"]
