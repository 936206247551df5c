"""A string of beads: segment scans, lengths, profiles and the batched descent of beads.

The pieces that greedy and constrained Dynamic String Sampling (:mod:`.dss`) share, and
that the single curves (:mod:`.interpolate`, :mod:`.bezier`) reuse for their profiles and
lengths. A string is a stacked params dict ``(E, ...)``, ``θ_A`` at index 0 and ``θ_B`` at
index ``E − 1``; every evaluation at many points is one vmapped pass of an
:class:`~landscape.evaluate.Evaluator`.

Shape letters: ``E`` beads (points of a string, endpoints included), ``S = E − 1`` segments,
``T`` grid points per segment, ``M`` points of a profile, ``N`` samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.func import grad, vmap

from .._errors import LandscapeError
from .._validate import (
    check_batch_size,
    check_endpoints,
    check_fraction,
    check_int,
    check_optimizer,
    check_positive,
)
from ..ensemble import minibatches
from ..evaluate import Evaluator, PureFn, objective_and_measure
from ..functional import Batch, Data
from ..optim import Adam, Optimizer, masked_step
from ..params import Params, distance, lerp, select, stack
from .records import PathResult, Profile, path_result

__all__ = [
    "BeadTraining",
    "Descent",
    "check_endpoint_levels",
    "descend",
    "finish",
    "grid_ts",
    "normalized_lengths",
    "prepare_training",
    "scan_segments",
    "segment_points",
    "string_profile",
    "values_at",
]


# ---------------------------------------------------------------- evaluation


def values_at(
    objective: Evaluator, measure: Evaluator, stacked: Mapping[str, Tensor]
) -> tuple[Tensor, Tensor | None]:
    """``(loss, measure or None)``: ``(E,)`` dataset means at stacked points, batched.

    The measure is ``None`` when it is the objective itself (nothing separate to report).
    """
    loss = objective.points(stacked)
    return loss, (None if measure is objective else measure.points(stacked))


def check_endpoint_levels(measure: Evaluator, a: Params, b: Params, threshold: float) -> Tensor:
    """``(2,)`` thresholded values at the endpoints; raises if either is above the threshold.

    Compared in the values' own precision, as the bead training and the segment checks
    compare (a float32 error of exactly 0.3 is at ``L0 = 0.3``, not above it).
    """
    ends = measure.points(stack([a, b]))
    inside = (ends <= threshold).tolist()
    for name, v, ok in zip(("a", "b"), ends.tolist(), inside, strict=True):
        if not ok:
            raise LandscapeError(
                f"endpoint {name} has {measure.name} {v:.6g} > threshold "
                f"{threshold:.6g}; both endpoints must lie in the level set (raise the "
                "threshold or train them further)"
            )
    return ends


# ---------------------------------------------------------------- segments and lengths


def grid_ts(grid: int, like: Tensor) -> Tensor:
    """``grid`` evenly spaced ``t ∈ [0, 1]``, on the device and dtype of ``like``."""
    return torch.linspace(0.0, 1.0, grid, dtype=like.dtype, device=like.device)


def segment_points(beads: Mapping[str, Tensor], ts: Tensor) -> Params:
    """All grid points of all segments of a stacked string, stacked ``(S·T, ...)``."""
    e = next(iter(beads.values())).shape[0]
    parts = []
    for i in range(e - 1):
        left = {k: v[i] for k, v in beads.items()}
        right = {k: v[i + 1] for k, v in beads.items()}
        parts.append(lerp(left, right, ts))
    return {k: torch.cat([p[k] for p in parts]) for k in beads}


def scan_segments(
    measure: Evaluator, beads: Mapping[str, Tensor], ts: Tensor
) -> tuple[Tensor, Tensor]:
    """Maximum of the thresholded quantity along every segment, in one batched pass.

    Returns:
        ``(max, argmax_t)``, each ``(S,)``.
    """
    t = ts.shape[0]
    values = measure.points(segment_points(beads, ts)).reshape(-1, t)
    best, idx = values.max(dim=1)
    return best, ts[idx]


def _length(stacked: Mapping[str, Tensor], which: str) -> Tensor:
    left = {k: v[:-1] for k, v in stacked.items()}
    right = {k: v[1:] for k, v in stacked.items()}
    return distance(left, right, which, batch_dims=1)


def normalized_lengths(points: Mapping[str, Tensor]) -> tuple[Tensor, Tensor | None]:
    """Cumulative polyline length through stacked ``points``, divided by the chord.

    Returns:
        ``(cum_all, cum_weights)``: ``(E,)`` normalized distance travelled to each point over
        all parameters and over weights only (``None`` when there are no weight tensors).
        The last entries are the normalized geodesic lengths.
    """
    first = {k: v[0] for k, v in points.items()}
    last = {k: v[-1] for k, v in points.items()}
    out: list[Tensor | None] = []
    for which in ("all", "weights"):
        try:
            select(first, which)
        except LandscapeError:
            out.append(None)
            continue
        seg = _length(points, which)
        chord = distance(first, last, which)
        cum = torch.cat([seg.new_zeros(1), seg.cumsum(0)])
        out.append(cum / chord if float(chord) > 0 else torch.full_like(cum, math.nan))
    return out[0], out[1]


def string_profile(
    objective: Evaluator, measure: Evaluator, beads: Mapping[str, Tensor], ts: Tensor
) -> tuple[Profile, Tensor, Tensor]:
    """The profile along a stacked string, its segment maxima and their positions.

    One batched pass over all ``S·T`` grid points for the thresholded quantity (and one for
    the loss when the measure differs).
    """
    e = next(iter(beads.values())).shape[0]
    t = ts.shape[0]
    loss, values = values_at(objective, measure, segment_points(beads, ts))
    best, idx = (loss if values is None else values).reshape(e - 1, t).max(dim=1)
    cum, _ = normalized_lengths(beads)
    seg_len = cum[1:] - cum[:-1]
    seg_index = torch.arange(e - 1, dtype=ts.dtype, device=ts.device)
    bead_loss, bead_measure = values_at(objective, measure, beads)
    profile = Profile(
        s=(seg_index[:, None] + ts[None, :]).reshape(-1),
        distance=(cum[:-1, None] + seg_len[:, None] * ts[None, :]).reshape(-1),
        loss=loss,
        measure=values,
        bead_s=torch.arange(e, dtype=ts.dtype, device=ts.device),
        bead_distance=cum,
        bead_loss=bead_loss,
        bead_measure=bead_measure,
        measure_name=measure.name,
    )
    return profile, best, ts[idx]


def finish(
    method: str,
    threshold: float,
    objective: Evaluator,
    measure: Evaluator,
    beads: Mapping[str, Tensor],
    ts: Tensor,
    reason: str | None,
    **extra: Any,
) -> PathResult:
    """The :class:`PathResult` of a finished string (final scan in one batched pass).

    ``extra``: ``steps``, ``depth`` and ``log`` of the search.
    """
    profile, best, arg = string_profile(objective, measure, beads, ts)
    lengths = normalized_lengths(beads)
    return path_result(method, threshold, beads, best, arg, lengths, profile, reason, **extra)


# ---------------------------------------------------------------- descent of beads


@dataclass(frozen=True)
class BeadTraining:
    """How beads are trained: descend ``objective`` until ``measure ≤ target``.

    Attributes:
        objective: the loss the beads descend (its data gives the gradients).
        measure: the quantity checked against ``target`` (may be ``objective`` itself).
        target: the level a bead is trained down to, ``α·L0``.
        optimizer: pure SGD/Adam; a fresh state for each call of :func:`descend`.
        check_every: steps between checks of the measure.
        batch_size: minibatch size, or ``None`` for full-batch (chunked) gradients.
    """

    objective: Evaluator
    measure: Evaluator
    target: float
    optimizer: Optimizer
    check_every: int
    batch_size: int | None


def prepare_training(
    loss: Evaluator | PureFn,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data | None,
    threshold: float | None,
    measure: Evaluator | PureFn | None,
    alpha: float,
    optimizer: Optimizer | None,
    batch_size: int | None,
    check_every: int,
    min_check_every: int = 1,
) -> tuple[BeadTraining, float, Params, Params]:
    """Validate what every trained path finder (DSS, Bezier) takes, once.

    The objective and the measure (:func:`~landscape.evaluate.objective_and_measure`), two
    distinct endpoints of one architecture, ``threshold > 0``, ``0 < alpha < 1``, the
    optimiser (default Adam, lr 1e-3 as Freeman & Bruna), the minibatch size and the check
    interval (``>= min_check_every``).

    Returns:
        ``(training, threshold, a, b)``: the endpoints detached and on the objective's
        device and dtype, both checked to lie in the level set.

    Raises:
        LandscapeError: any bad argument, or an endpoint above the threshold.
    """
    objective, measure = objective_and_measure(loss, data, measure)
    check_endpoints(a, b, distinct=True)
    threshold = check_positive("threshold", threshold)
    alpha = check_fraction("alpha", alpha, "the path is trained down to alpha * threshold")
    check_int("check_every", check_every, min_check_every)
    check_batch_size(batch_size, objective.data)
    optimizer = check_optimizer(Adam(lr=1e-3) if optimizer is None else optimizer)
    a, b = objective.prepare(a), objective.prepare(b)
    check_endpoint_levels(measure, a, b, threshold)
    target = alpha * threshold
    return (
        BeadTraining(objective, measure, target, optimizer, check_every, batch_size),
        threshold,
        a,
        b,
    )


@dataclass
class Descent:
    """Outcome of :func:`descend`: the new stacked beads and what happened to each."""

    params: Params
    values: Tensor  # (E,) thresholded quantity at the end
    steps: int  # optimiser steps taken (batched: all beads at once)
    reached: Tensor  # (E,) bool: trainable bead ended at or below the target
    diverged: Tensor  # (E,) bool


def _gradients(
    vgrad: Callable[..., Params],
    objective: Evaluator,
    params: Params,
    active: Tensor,
    batches: Iterator[Batch] | None,
) -> Params:
    """Loss gradients of the active beads (one vmapped pass), zero for the others.

    Full-batch (the chunked dataset mean of ``objective``) or the next minibatch.
    """
    live = active.nonzero().squeeze(1)
    sub = {k: v[live] for k, v in params.items()}
    g_live = objective.mean_of(vgrad, sub) if batches is None else vgrad(sub, next(batches))
    return {k: torch.zeros_like(v).index_copy(0, live, g_live[k]) for k, v in params.items()}


def descend(
    training: BeadTraining,
    beads: Mapping[str, Tensor],
    trainable: Tensor,
    max_steps: int,
    seed: int,
    extra_grad: Callable[[Params], Params] | None = None,
    project: Callable[[Params, Tensor], Params] | None = None,
) -> Descent:
    """Train the ``trainable`` beads of a stacked string until each is at or below the target.

    One optimiser step moves every still-active bead at once: the loss gradients of the
    active beads come from one ``vmap(grad(loss))`` pass over them, the update is the pure
    optimiser's on the whole stack with an ``active`` mask
    (:func:`~landscape.optim.masked_step`), so finished beads (and the endpoints) stay where
    they are and a bead that goes non-finite is rolled back and frozen. Every
    ``check_every`` steps the measure of the active beads is evaluated (one batched pass)
    and those at or below the target are frozen; a frozen bead never moves again within
    this call.

    Args:
        training: objective, measure, target, optimiser, check interval, batch size.
        beads: stacked ``(E, ...)`` starting points (not modified).
        trainable: ``(E,)`` bool, which beads may move.
        max_steps: step budget.
        seed: minibatch order (:func:`landscape.ensemble.minibatches`, shared by all beads).
        extra_grad: adds a penalty's gradient (e.g. the spring term) to the loss gradient.
        project: maps the updated params back onto a constraint set, given the active mask.
    """
    params = {k: v.detach().clone() for k, v in beads.items()}
    values = training.measure.points(params)
    active = trainable & (values > training.target)
    diverged = torch.zeros_like(trainable)
    state = training.optimizer.init(params)
    batches = None
    if training.batch_size is not None:
        batches = minibatches(training.objective.data, training.batch_size, seed)
    vgrad = vmap(grad(training.objective.fn), in_dims=(0, None))
    steps = 0
    while bool(active.any()) and steps < max_steps:
        g = _gradients(vgrad, training.objective, params, active, batches)
        if extra_grad is not None:
            extra = extra_grad(params)
            g = {k: g[k] + extra[k] for k in g}
        step = masked_step(training.optimizer, g, state, params, active, project=project)
        params, state, active = step.params, step.state, step.active
        diverged |= step.diverged
        steps += 1
        if steps % training.check_every == 0 or steps == max_steps:
            live = active.nonzero().squeeze(1)
            if live.numel():
                checked = training.measure.points({k: v[live] for k, v in params.items()})
                values = values.index_copy(0, live, checked)
            active = active & (values > training.target)
    return Descent(
        params=params,
        values=values,
        steps=steps,
        reached=trainable & (values <= training.target),
        diverged=diverged,
    )
