"""``landscape line CKPT --data NAME``: the loss along a line through a trained model.

Li et al. 2018: the 1-D slice ``L(θ + α d)`` along a filter-normalised random direction (or
the first PCA / Hessian direction), two-sided through ``θ`` itself (``α = 0`` is always a
grid point for an odd ``--steps``). The same options, tasks and files as ``landscape
plane`` (:mod:`landscape.experiments.tools.plane`), with one direction: ``surface.npz``
holds ``alpha`` and ``loss`` (``beta`` empty), ``directions.pt`` the direction as
``alpha.<name>``. The table has one row per zoom range: the loss at the centre, its minimum
and maximum along the line, and the mean at the two ends.
"""

from __future__ import annotations

from ..lifecycle import Results, Summary
from .plane import Config, draw, make_tasks, next_tasks, summarize

__all__ = ["NAME", "Config", "figures", "more_tasks", "reduce", "tasks"]

NAME = "line"
TASKS_LABEL = "direction"
MORE_LABEL = "line points"


def tasks(cfg: Config) -> list:
    """The direction first; the points of the line follow (:func:`more_tasks`)."""
    return make_tasks(NAME, cfg)


def more_tasks(cfg: Config, results: Results) -> list:
    return next_tasks(NAME, cfg, results)


def reduce(cfg: Config, results: Results) -> Summary:
    return summarize(NAME, cfg, results)


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    return draw(NAME, cfg, summary)
