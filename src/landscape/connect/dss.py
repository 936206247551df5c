"""Dynamic String Sampling: connect two models inside a level set (Freeman & Bruna 2017).

Freeman & Bruna, *Topology and Geometry of Half-Rectified Network Optimization* (ICLR 2017),
ask whether the level sets ``Ω(λ) = {θ : F(θ) ≤ λ}`` of a network's loss are connected (if
they are, there are no poor local minima) and how curved they are. Their instrument is a
*string of beads*: a piecewise-linear path ``θ_A = θ_0, θ_1, …, θ_{E−1} = θ_B`` whose
segments all stay in ``Ω(L0)``.

Greedy DSS (their Algorithm 1), :func:`dss`: on a segment whose interpolated maximum
``max_t F((1 − t) θ_i + t θ_{i+1})`` exceeds ``L0``, put a bead at the argmax ``t*`` (or at
``t = ½``), train it down to ``α·L0`` (``α < 1``) and recurse, depth first, on the two new
segments. Constrained DSS (their breadth-first variant), :func:`dss_constrained`: every
round splits all offending segments at once and trains all beads of the string together,
as one batched ensemble step, with a spring term or the equidistant-hyperplane constraint.

The curvature of the level set is measured by the normalized geodesic length
``Σ_i ‖θ_i − θ_{i+1}‖ / ‖θ_A − θ_B‖ ≥ 1`` (reported over all parameters and over weights
only; Freeman & Bruna's figures use weights only) and by the number of beads needed.

The threshold may be put on any scalar measure, not just the loss the beads descend: give
``measure`` as an :class:`~landscape.evaluate.Evaluator` (e.g. of
:func:`~landscape.evaluate.error_rate` on the test split) to reproduce thresholds "in
terms of test error". Segment maxima are taken on a grid of ``grid`` values of ``t`` per
segment, evaluated in one batched pass.

A search that stops at a limit (depth, beads, training steps) reports
``"not connected within limits"``: a failure of the search, not a proof that ``Ω(L0)`` is
disconnected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from .._errors import check_choice
from .._validate import check_int, check_positive
from ..evaluate import Evaluator, PureFn
from ..functional import Data
from ..optim import Optimizer
from ..params import Params, flatten, lerp, stack, unflatten
from .records import PathResult
from .string import BeadTraining, descend, finish, grid_ts, prepare_training, scan_segments

__all__ = ["dss", "dss_constrained"]

InsertAt = Literal["argmax", "midpoint"]
Constraint = Literal["spring", "equidistant", "none"]


# ---------------------------------------------------------------- one search, two orders


@dataclass(frozen=True)
class _Search:
    """The validated settings of one DSS search, shared by the greedy and constrained loops."""

    training: BeadTraining
    threshold: float
    ts: Tensor
    insert_at: str
    max_depth: int
    max_beads: int
    max_steps: int
    max_total_steps: int | None

    def budget(self, steps: int) -> int:
        """Steps the next bead (or round) may take after ``steps`` spent."""
        if self.max_total_steps is None:
            return self.max_steps
        return min(self.max_steps, self.max_total_steps - steps)

    def limit(self, depth: int, beads: int, budget: int) -> str | None:
        """The limit that forbids a split at ``depth`` making ``beads`` inner beads (or None)."""
        if depth >= self.max_depth:
            return "max_depth"
        if beads > self.max_beads:
            return "max_beads"
        if budget <= 0 < self.max_steps:
            return "max_total_steps"
        return None

    def failure(self, diverged: bool, budget: int) -> str:
        """Why a trained bead stayed above the threshold."""
        if diverged:
            return "diverged"
        return "max_steps" if budget >= self.max_steps else "max_total_steps"

    def split_at(self, t_max: Tensor) -> float:
        """Where a segment is split: its argmax ``t*`` or its midpoint."""
        return float(t_max) if self.insert_at == "argmax" else 0.5

    def result(
        self, method: str, beads: Mapping[str, Tensor], reason: str | None, **extra: Any
    ) -> PathResult:
        """The final record of the string (one batched scan)."""
        t = self.training
        return finish(
            method, self.threshold, t.objective, t.measure, beads, self.ts, reason, **extra
        )


def _limits(
    insert_at: str,
    grid: int,
    max_depth: int,
    max_beads: int,
    max_steps: int,
    max_total_steps: int | None,
) -> tuple[str, int, int, int, int | None]:
    """Validate the DSS-only options: where to split and the limits (``grid`` is checked)."""
    check_choice("insert_at", insert_at, ("argmax", "midpoint"))
    check_int("grid", grid, 3)
    check_int("max_depth", max_depth, 0)
    check_int("max_beads", max_beads, 0)
    check_int("max_steps", max_steps, 0)
    if max_total_steps is not None:
        check_int("max_total_steps", max_total_steps, 0)
    return insert_at, max_depth, max_beads, max_steps, max_total_steps


# ---------------------------------------------------------------- greedy


def dss(
    loss: Evaluator | PureFn,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data | None = None,
    threshold: float | None = None,
    *,
    alpha: float = 0.95,
    insert_at: InsertAt = "argmax",
    grid: int = 33,
    max_depth: int = 8,
    max_beads: int = 32,
    max_steps: int = 5_000,
    max_total_steps: int | None = None,
    optimizer: Optimizer | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    check_every: int = 10,
    measure: Evaluator | PureFn | None = None,
) -> PathResult:
    """Greedy Dynamic String Sampling (Freeman & Bruna 2017, Algorithm 1).

    Starting from the string ``(θ_A, θ_B)``, segments are visited depth first, left to
    right. A segment ``(θ_i, θ_{i+1})`` whose grid maximum
    ``max_t m((1 − t) θ_i + t θ_{i+1})`` of the measure ``m`` exceeds ``L0`` gets a new
    bead at ``θ(t*)`` (``insert_at="argmax"``) or ``θ(½)`` (``"midpoint"``), which is
    trained on ``loss`` until ``m ≤ α·L0`` (or ``max_steps``); then both new segments are
    visited. The search stops at the first limit hit; the result says which.

    Args:
        loss: what the beads descend: a pure ``loss(params, batch) -> scalar`` (e.g.
            ``FunctionalModel(m, loss="mae").loss``) with its ``data``, or an
            :class:`~landscape.evaluate.Evaluator` that holds its data, chunking, device and
            dtype (then leave ``data`` out). Also the measure by default.
        a, b: the endpoints ``θ_A``, ``θ_B``: params of one model each, both in ``Ω(L0)``
            (not modified; moved to the evaluator's device and dtype when it sets them).
        data: training data for a pure ``loss``: ``(x, y)`` tensors or an iterable of
            batches.
        threshold: ``L0 > 0``, the level of the level set.
        alpha: beads are trained down to ``alpha · L0``; ``0 < alpha < 1``.
        insert_at: ``"argmax"`` (Freeman & Bruna) or ``"midpoint"``.
        grid: ``t`` values per segment (ends included) for the interpolated maximum.
        max_depth: deepest recursion level; a segment of depth ``max_depth`` that is still
            above ``L0`` stops the search (``reason="max_depth"``).
        max_beads: most inner beads (``reason="max_beads"``).
        max_steps: optimiser steps per bead; a bead still above ``L0`` after them stops the
            search (``reason="max_steps"``; a bead between ``α·L0`` and ``L0`` is kept).
        max_total_steps: optional budget over all beads (``reason="max_total_steps"``).
        optimizer: :class:`~landscape.optim.Adam` (default, lr 1e-3 as Freeman & Bruna) or
            :class:`~landscape.optim.SGD`; a fresh state for each bead.
        batch_size: minibatch size (needs ``data`` as a pair of tensors) or ``None`` for
            full-batch gradients.
        seed: minibatch order; bead ``k`` (in insertion order) uses ``seed + k``.
        check_every: steps between checks of the measure during a bead's training.
        measure: what the threshold is checked on: ``None`` (the loss), a pure function
            evaluated on the loss's data, or an :class:`~landscape.evaluate.Evaluator` with
            its own data and name (e.g. ``Evaluator.of_model(fm, test, measure="error")``);
            must work under ``vmap``.

    Returns:
        :class:`~landscape.connect.PathResult` with ``method="dss"``: the beads, each
        segment's interpolated maximum, the bead count, the normalized geodesic lengths,
        ``connected``/``status`` and the profile along the string.

    Raises:
        LandscapeError: ``threshold ≤ 0``, ``alpha ∉ (0, 1)``, endpoints from different
            architectures or above the threshold, an unknown ``insert_at``, bad limits.
    """
    limits = _limits(insert_at, grid, max_depth, max_beads, max_steps, max_total_steps)
    training, threshold, a, b = prepare_training(
        loss, a, b, data, threshold, measure, alpha, optimizer, batch_size, check_every
    )
    search = _Search(training, threshold, grid_ts(grid, next(iter(a.values()))), *limits)
    beads: list[Params] = [a, b]
    depths = [0]  # depth of each segment
    log: list[dict[str, Any]] = []
    steps, i = 0, 0
    reason: str | None = None
    while i < len(beads) - 1:
        best, arg = scan_segments(search.training.measure, stack(beads[i : i + 2]), search.ts)
        peak = float(best[0])
        if peak <= search.threshold:
            i += 1
            continue
        d, budget = depths[i], search.budget(steps)
        reason = search.limit(d, len(beads) - 1, budget)
        if reason is not None:
            log.append({"event": "limit", "reason": reason, "segment": i, "depth": d, "max": peak})
            break
        t = search.split_at(arg[0])
        start = stack([lerp(beads[i], beads[i + 1], t)])
        trainable = torch.ones(1, dtype=torch.bool, device=search.ts.device)
        res = descend(search.training, start, trainable, budget, seed + len(beads) - 2)
        steps += res.steps
        beads.insert(i + 1, {k: v[0] for k, v in res.params.items()})
        depths[i : i + 1] = [d + 1, d + 1]
        value = float(res.values[0])
        log.append(
            {
                "event": "insert",
                "segment": i,
                "depth": d + 1,
                "t": t,
                "max": peak,
                "value": value,
                "steps": res.steps,
            }
        )
        if not value <= search.threshold:
            reason = search.failure(bool(res.diverged[0]), budget)
            log.append({"event": "limit", "reason": reason, "segment": i + 1, "value": value})
            break
    return search.result("dss", stack(beads), reason, steps=steps, depth=max(depths), log=log)


# ---------------------------------------------------------------- constrained


def _spring_grad(beads: Mapping[str, Tensor], zeta: float) -> Params:
    """Gradient of ``ζ (‖θ_{i−1} − θ_i‖ + ‖θ_{i+1} − θ_i‖)`` for each inner bead ``i``.

    Neighbours are held fixed (each bead feels the pull of its two neighbours, as in the
    nudged elastic band); the endpoints get zero.
    """
    f = flatten(beads, batch_dims=1)
    g = torch.zeros_like(f)
    if f.shape[0] > 2:
        mid = f[1:-1]
        for nb in (f[:-2], f[2:]):
            diff = mid - nb
            g[1:-1] += diff / diff.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unflatten(zeta * g, {k: v[0] for k, v in beads.items()})


def _project_equidistant(beads: Mapping[str, Tensor], active: Tensor) -> Params:
    """Project each active inner bead onto the hyperplane equidistant from its neighbours.

    ``{θ : ‖θ − θ_{i−1}‖ = ‖θ − θ_{i+1}‖}`` is the hyperplane through the midpoint
    ``m = ½(θ_{i−1} + θ_{i+1})`` with normal ``n = θ_{i+1} − θ_{i−1}``;
    ``θ_i ← θ_i − ((θ_i − m)·n / ‖n‖²) n``.
    """
    f = flatten(beads, batch_dims=1)
    if f.shape[0] <= 2:
        return dict(beads)
    left, right, mid = f[:-2], f[2:], f[1:-1]
    n = right - left
    m = 0.5 * (left + right)
    coef = ((mid - m) * n).sum(dim=1, keepdim=True) / (n * n).sum(dim=1, keepdim=True).clamp_min(
        1e-30
    )
    projected = mid - coef * n
    keep = active[1:-1].reshape(-1, 1)
    out = f.clone()
    out[1:-1] = torch.where(keep, projected, mid)
    return unflatten(out, {k: v[0] for k, v in beads.items()})


def _constraint(
    constraint: str, spring: float
) -> tuple[Callable[[Params], Params] | None, Callable[[Params, Tensor], Params] | None]:
    """``(extra_grad, project)`` of a constraint: the spring's gradient or the projection."""
    check_choice("constraint", constraint, ("spring", "equidistant", "none"))
    extra_grad = (lambda p: _spring_grad(p, spring)) if constraint == "spring" and spring else None
    project = _project_equidistant if constraint == "equidistant" else None
    return extra_grad, project


def _split(search: _Search, beads: Params, split: Tensor, arg: Tensor) -> tuple[Params, Tensor]:
    """The string with a new bead in every ``split`` segment, and the ``(E',)`` new-bead mask."""
    e = int(split.shape[0]) + 1
    points: list[Params] = []
    is_new: list[bool] = []
    for i in range(e - 1):
        left = {k: v[i] for k, v in beads.items()}
        points.append(left)
        is_new.append(False)
        if bool(split[i]):
            right = {k: v[i + 1] for k, v in beads.items()}
            points.append(lerp(left, right, search.split_at(arg[i])))
            is_new.append(True)
    points.append({k: v[-1] for k, v in beads.items()})
    is_new.append(False)
    return stack(points), torch.tensor(is_new, device=search.ts.device)


def dss_constrained(
    loss: Evaluator | PureFn,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data | None = None,
    threshold: float | None = None,
    *,
    alpha: float = 0.95,
    alpha1: float = 0.1,
    constraint: Constraint = "spring",
    spring: float = 0.01,
    insert_at: InsertAt = "argmax",
    grid: int = 33,
    max_depth: int = 8,
    max_beads: int = 32,
    max_steps: int = 5_000,
    max_total_steps: int | None = None,
    optimizer: Optimizer | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    check_every: int = 10,
    measure: Evaluator | PureFn | None = None,
) -> PathResult:
    """Constrained (breadth-first) Dynamic String Sampling (Freeman & Bruna 2017).

    Each round scans every segment of the string in one batched pass and splits, at once,
    every pair whose interpolated maximum exceeds ``min(L0, (1 + α1)·ℓ)``, where
    ``ℓ = α·L0`` is the string's current level (the level its beads are trained to). Then
    all beads of the string are trained together, one batched step for the whole string
    (``vmap`` over the beads, the optimiser's ``active`` mask freezing the endpoints and
    every bead already at or below ``α·L0``), on

    * ``constraint="spring"``: ``L(θ_i) + ζ (‖θ_{i−1} − θ_i‖ + ‖θ_{i+1} − θ_i‖)`` with the
      neighbours held fixed, which keeps the beads from wandering off along the level set;
    * ``constraint="equidistant"``: ``L(θ_i)`` with each active bead projected, after every
      step, onto the hyperplane of points equidistant from its two neighbours (a new bead
      therefore starts at its segment's midpoint);
    * ``constraint="none"``: ``L(θ_i)`` alone (greedy DSS, breadth first and batched).

    The string is connected when every segment maximum is ``≤ L0``. ``max_depth`` bounds
    the rounds; the other limits and arguments are those of :func:`dss`.

    Args:
        loss, a, b, data, threshold, alpha, insert_at, grid, max_beads, max_steps,
            max_total_steps, optimizer, batch_size, seed, check_every, measure: as in
            :func:`dss` (``max_steps`` is per round; ``seed + round`` orders minibatches).
        alpha1: split tolerance ``α1 ≥ 0`` above the current level; ``0`` splits every pair
            that rises above the beads' own level ``α·L0``, large values split only pairs
            above ``L0``.
        constraint: ``"spring"``, ``"equidistant"`` or ``"none"``.
        spring: the spring constant ``ζ ≥ 0``.
        max_depth: most insertion rounds (``reason="max_depth"``).

    Returns:
        :class:`~landscape.connect.PathResult` with ``method="dss-constrained"``;
        ``depth`` counts the rounds.

    Raises:
        LandscapeError: as :func:`dss`, and ``alpha1 < 0``, ``spring < 0`` or an unknown
            ``constraint``.
    """
    alpha1 = check_positive("alpha1", alpha1, strict=False)
    spring = check_positive("spring", spring, strict=False)
    extra_grad, project = _constraint(constraint, spring)
    limits = _limits(insert_at, grid, max_depth, max_beads, max_steps, max_total_steps)
    training, threshold, a, b = prepare_training(
        loss, a, b, data, threshold, measure, alpha, optimizer, batch_size, check_every
    )
    search = _Search(training, threshold, grid_ts(grid, next(iter(a.values()))), *limits)
    split_level = min(search.threshold, (1.0 + alpha1) * search.training.target)
    beads = stack([a, b])
    log: list[dict[str, Any]] = []
    steps, rounds = 0, 0
    reason: str | None = None
    while True:
        best, arg = scan_segments(search.training.measure, beads, search.ts)
        split = best > split_level
        if not bool(split.any()):
            break
        n_new, budget = int(split.sum()), search.budget(steps)
        reason = search.limit(rounds, int(best.shape[0]) - 1 + n_new, budget)
        if reason is not None:
            log.append({"event": "limit", "reason": reason, "round": rounds, "split": n_new})
            break
        beads, is_new = _split(search, beads, split, arg)
        if project is not None:
            beads = project(beads, is_new)
        inner = torch.ones_like(is_new)
        inner[[0, -1]] = False
        res = descend(search.training, beads, inner, budget, seed + rounds, extra_grad, project)
        beads, steps, rounds = res.params, steps + res.steps, rounds + 1
        worst = float(res.values[1:-1].max())
        log.append(
            {
                "event": "round",
                "round": rounds,
                "inserted": n_new,
                "beads": int(is_new.shape[0]) - 2,
                "steps": res.steps,
                "worst_bead": worst,
            }
        )
        if not worst <= search.threshold:
            reason = search.failure(bool(res.diverged.any()), budget)
            log.append({"event": "limit", "reason": reason, "round": rounds, "value": worst})
            break
    return search.result("dss-constrained", beads, reason, steps=steps, depth=rounds, log=log)
