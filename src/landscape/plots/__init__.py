"""Figure functions: results in, ``matplotlib.figure.Figure`` out; no computation here.

Modules: :mod:`.training`, :mod:`.spinglass`, :mod:`.curvature`, :mod:`.connect`,
:mod:`.surface`. Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so
they work headless and display in notebooks.
"""
