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

from pydantic import model_validator

from ..lifecycle import Results, Summary
from . import plane
from .plane import check, draw, make_tasks, next_tasks, summarize

__all__ = ["NAME", "Config", "check", "figures", "more_tasks", "reduce", "tasks"]

NAME = "line"
TASKS_LABEL = "direction"
MORE_LABEL = "line points"


class Config(plane.Config):
    """The options of ``landscape plane``, one direction: no second to orthogonalise, no
    three-model plane (plane's rules then refuse ``second`` and ``third``)."""

    @model_validator(mode="after")
    def _one_direction(self) -> Config:
        if self.orthogonalize:
            raise ValueError("orthogonalize does nothing for a line: a line has one direction")
        if self.directions == "three":
            raise ValueError("directions 'three' makes a plane; use landscape plane")
        return self


def tasks(cfg: Config) -> list:
    """The direction first; the points of the line follow (:func:`more_tasks`)."""
    return make_tasks(NAME, cfg)


def more_tasks(cfg: Config, results: Results) -> list:
    return next_tasks(NAME, cfg, results)


def reduce(cfg: Config, results: Results) -> Summary:
    return summarize(NAME, cfg, results)


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    return draw(NAME, cfg, summary)
