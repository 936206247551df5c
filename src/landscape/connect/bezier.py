"""Quadratic Bezier curves between two models (Garipov et al. 2018).

Garipov, Izmailov, Podoprikhin, Vetrov & Wilson, *Loss Surfaces, Mode Connectivity, and
Fast Ensembling of DNNs* (NeurIPS 2018), connect two minima by the curve

    φ_θ(t) = (1 − t)² θ_A + 2 t (1 − t) θ + t² θ_B,   t ∈ [0, 1],

and train the control point ``θ`` to minimise ``E_{t ~ U(0, 1)} L(φ_θ(t))``: each step
draws fresh ``t`` values and descends the loss of the curve points with respect to ``θ``
(the endpoints never move). The result has the same shape as DSS's: a profile along the
curve, its maximum against the threshold, and its normalized length
``∫₀¹ ‖φ'(t)‖ dt / ‖θ_A − θ_B‖`` (a fine polyline).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.func import grad, vmap

from .._errors import LandscapeError
from .._validate import check_endpoints, check_int
from ..ensemble import minibatches
from ..evaluate import Evaluator, PureFn
from ..functional import Batch, Data
from ..optim import Optimizer
from ..params import Params, stack
from .records import PathResult, Profile, path_result
from .string import BeadTraining, grid_ts, normalized_lengths, prepare_training, values_at

__all__ = ["bezier", "bezier_points"]


def bezier_points(
    a: Mapping[str, Tensor], control: Mapping[str, Tensor], b: Mapping[str, Tensor], t: Tensor
) -> Params:
    """Points ``φ(t) = (1 − t)² θ_A + 2t(1 − t) θ + t² θ_B`` of a quadratic Bezier curve.

    Args:
        a, control, b: params of one model each (same names and shapes).
        t: a 1-D tensor of ``T`` values.

    Returns:
        Stacked params with leading axis ``T``; ``φ(0) = θ_A`` and ``φ(1) = θ_B`` exactly.
    """
    t = torch.as_tensor(t)
    if t.dim() != 1:
        raise LandscapeError(f"t must be a 1-D tensor, got shape {tuple(t.shape)}")
    if list(a) != list(control) or list(a) != list(b):
        raise LandscapeError(
            f"a, control and b must have the same parameter names, got {list(a)}, "
            f"{list(control)}, {list(b)}"
        )
    out = {}
    for k in a:
        tk = t.to(device=a[k].device, dtype=a[k].dtype).reshape(-1, *([1] * a[k].dim()))
        u = 1 - tk
        out[k] = u * u * a[k] + 2 * tk * u * control[k] + tk * tk * b[k]
    return out


def _train_control(
    training: BeadTraining,
    ends: tuple[Params, Params],
    theta: Params,
    ts: Tensor,
    steps: int,
    t_per_step: int,
    seed: int,
) -> tuple[Params, int, list[dict[str, Any]]]:
    """Garipov et al.'s training of the control point: ``(θ, steps taken, log)``.

    Each step draws ``t_per_step`` values ``t ~ U(0, 1)`` (seeded) and descends the mean loss
    of those curve points; it stops at a non-finite step (the last finite ``θ`` is kept), or
    once the measure's grid maximum is at or below the target (checked every
    ``check_every`` steps; never when it is 0).
    """
    a, b = ends
    objective, optimizer, check_every = training.objective, training.optimizer, training.check_every
    vloss = vmap(objective.fn, in_dims=(0, None))

    def curve_loss(ctrl: Params, tt: Tensor, batch: Batch) -> Tensor:
        return vloss(bezier_points(a, ctrl, b, tt), batch).mean()

    gen = torch.Generator().manual_seed(int(seed))
    batches = None
    if training.batch_size is not None:
        batches = minibatches(objective.data, training.batch_size, seed)
    state = optimizer.init(theta)
    log: list[dict[str, Any]] = []
    taken = 0
    for step in range(steps):
        tt = torch.rand(t_per_step, generator=gen, dtype=torch.float64).to(ts.device, ts.dtype)
        if batches is None:
            g = objective.mean_of(lambda p, bt, tt=tt: grad(curve_loss)(p, tt, bt), theta)
        else:
            g = grad(curve_loss)(theta, tt, next(batches))
        new = optimizer.update(g, state, theta)
        if not all(bool(torch.isfinite(v).all()) for v in new[0].values()):
            log.append({"event": "diverged", "step": step})
            break
        theta, state = new
        taken = step + 1
        if check_every and taken % check_every == 0:
            peak = float(training.measure.points(bezier_points(a, theta, b, ts)).max())
            log.append({"event": "check", "step": taken, "max": peak})
            if peak <= training.target:
                break
    return theta, taken, log


def _curve_result(
    training: BeadTraining,
    points: tuple[Params, Params, Params],
    ts: Tensor,
    threshold: float,
    length_points: int,
    steps: int,
    log: list[dict[str, Any]],
) -> PathResult:
    """The record of the curve through ``points = (θ_A, θ, θ_B)``: grid profile, fine length."""
    a, theta, b = points
    objective, measure = training.objective, training.measure
    curve = bezier_points(a, theta, b, ts)
    loss_t, measure_t = values_at(objective, measure, curve)
    peak, idx = (loss_t if measure_t is None else measure_t).max(dim=0)
    fine = bezier_points(a, theta, b, torch.linspace(0.0, 1.0, length_points, dtype=ts.dtype))
    grid_cum, _ = normalized_lengths(curve)
    bead_loss, bead_measure = values_at(objective, measure, stack([a, b]))
    profile = Profile(
        s=ts,
        distance=grid_cum,
        loss=loss_t,
        measure=measure_t,
        bead_s=ts.new_tensor([0.0, 1.0]),
        bead_distance=grid_cum[[0, -1]],
        bead_loss=bead_loss,
        bead_measure=bead_measure,
        measure_name=measure.name,
    )
    diverged = any(e["event"] == "diverged" for e in log)
    return path_result(
        "bezier",
        threshold,
        stack([a, theta, b]),
        peak.reshape(1),
        ts[idx].reshape(1),
        normalized_lengths(fine),
        profile,
        "diverged" if diverged else "max_steps",
        steps=steps,
        depth=0,
        log=log,
    )


def bezier(
    loss: Evaluator | PureFn,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data | None = None,
    threshold: float | None = None,
    *,
    control: Mapping[str, Tensor] | None = None,
    steps: int = 2_000,
    t_per_step: int = 1,
    optimizer: Optimizer | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    alpha: float = 0.95,
    check_every: int = 50,
    grid: int = 65,
    length_points: int = 257,
    measure: Evaluator | PureFn | None = None,
) -> PathResult:
    """Train a quadratic Bezier curve between ``θ_A`` and ``θ_B`` (Garipov et al. 2018).

    The control point starts at the midpoint ``½(θ_A + θ_B)`` (or ``control``). Each step
    draws ``t_per_step`` values ``t ~ U(0, 1)`` and takes one optimiser step on
    ``mean_t L(φ_θ(t))`` with respect to ``θ``. Every ``check_every`` steps the measure is
    evaluated on the ``grid`` (one batched pass); training stops early once the curve's
    maximum is ``≤ α·L0``.

    Args:
        loss: a pure ``loss(params, batch) -> scalar`` with its ``data``, or an
            :class:`~landscape.evaluate.Evaluator` (then leave ``data`` out).
        a, b: the endpoints (not modified, never moved).
        data: training data for a pure ``loss`` (``(x, y)`` or an iterable of batches).
        threshold: ``L0 > 0``; ``connected`` says whether the curve stays in ``Ω(L0)``.
        control: initial control point (default the midpoint).
        steps: most optimiser steps.
        t_per_step: curve points drawn per step (their losses are averaged, batched).
        optimizer: :class:`~landscape.optim.Adam` (default lr 1e-3) or SGD.
        batch_size: minibatch size, or ``None`` for full-batch gradients.
        seed: draws of ``t`` and the minibatch order.
        alpha: early stop once the curve's maximum is ``≤ alpha · L0``; ``0 < alpha < 1``.
        check_every: steps between checks (``0`` never stops early).
        grid: ``t`` values on which the profile and the maximum are evaluated.
        length_points: points of the polyline that approximates the curve's length.
        measure: as in :func:`~landscape.connect.dss`.

    Returns:
        :class:`~landscape.connect.PathResult` with ``method="bezier"``; ``beads`` holds
        the control points ``(θ_A, θ, θ_B)``, ``segment_max`` the one maximum of the curve.

    Raises:
        LandscapeError: ``threshold ≤ 0``, ``alpha ∉ (0, 1)``, endpoints from different
            architectures or above the threshold, a control point of another shape.
    """
    check_int("steps", steps, 0)
    check_int("t_per_step", t_per_step, 1)
    check_int("grid", grid, 3)
    check_int("length_points", length_points, 3)
    if control is not None:
        check_endpoints(a, control)
    training, threshold, a, b = prepare_training(
        loss, a, b, data, threshold, measure, alpha, optimizer, batch_size, check_every, 0
    )
    if control is None:
        theta = {k: 0.5 * (a[k] + b[k]) for k in a}
    else:
        theta = {k: v.clone() for k, v in training.objective.prepare(control).items()}
    ts = grid_ts(grid, next(iter(a.values())))
    theta, taken, log = _train_control(training, (a, b), theta, ts, steps, t_per_step, seed)
    return _curve_result(training, (a, theta, b), ts, threshold, length_points, taken, log)
