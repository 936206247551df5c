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

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.func import grad, vmap

from .._errors import LandscapeError
from ..ensemble import batch_order
from ..functional import Batch, Data, dataset_mean
from ..optim import Adam, Optimizer
from ..params import Params, stack
from ._common import (
    CONNECTED,
    NOT_CONNECTED,
    LossFn,
    Objective,
    PathResult,
    Profile,
    check_alpha,
    check_batch_size,
    check_endpoint_levels,
    check_endpoints,
    check_int,
    check_optimizer,
    check_positive,
    normalized_lengths,
    prepare,
)

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


def bezier(
    loss: LossFn,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data,
    threshold: float,
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
    measure: LossFn | None = None,
    measure_data: Data | None = None,
    measure_name: str | None = None,
    chunk_size: int | None = None,
    points_chunk: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> PathResult:
    """Train a quadratic Bezier curve between ``θ_A`` and ``θ_B`` (Garipov et al. 2018).

    The control point starts at the midpoint ``½(θ_A + θ_B)`` (or ``control``). Each step
    draws ``t_per_step`` values ``t ~ U(0, 1)`` and takes one optimiser step on
    ``mean_t L(φ_θ(t))`` with respect to ``θ``. Every ``check_every`` steps the measure is
    evaluated on the ``grid`` (one batched pass); training stops early once the curve's
    maximum is ``≤ α·L0``.

    Args:
        loss: pure ``loss(params, batch) -> scalar``.
        a, b: the endpoints (not modified, never moved).
        data: training data (``(x, y)`` or an iterable of batches).
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
        measure, measure_data, measure_name, chunk_size, points_chunk, device, dtype: as
            in :func:`~landscape.connect.dss`.

    Returns:
        :class:`~landscape.connect.PathResult` with ``method="bezier"``; ``beads`` holds
        the control points ``(θ_A, θ, θ_B)``, ``segment_max`` the one maximum of the curve.

    Raises:
        LandscapeError: ``threshold ≤ 0``, ``alpha ∉ (0, 1)``, endpoints from different
            architectures or above the threshold, a control point of another shape.
    """
    check_endpoints(a, b, distinct=True)
    threshold = check_positive("threshold", threshold)
    alpha = check_alpha(alpha)
    check_int("steps", steps, 0)
    check_int("t_per_step", t_per_step, 1)
    check_int("check_every", check_every, 0)
    check_int("grid", grid, 3)
    check_int("length_points", length_points, 3)
    check_batch_size(batch_size, data)
    optimizer = check_optimizer(Adam(lr=1e-3) if optimizer is None else optimizer)
    if control is not None:
        check_endpoints(a, control)
    a, b, data, measure_data = prepare(a, b, data, measure_data, device, dtype)
    obj = Objective(loss, data, measure, measure_data, measure_name, chunk_size, points_chunk)
    check_endpoint_levels(obj, a, b, threshold)
    first = next(iter(a.values()))
    if control is None:
        theta = {k: 0.5 * (a[k] + b[k]) for k in a}
    else:
        theta = {
            k: v.detach().to(device=first.device, dtype=first.dtype).clone()
            for k, v in control.items()
        }
    ts = torch.linspace(0.0, 1.0, grid, dtype=first.dtype, device=first.device)
    target = alpha * threshold

    vloss = vmap(loss, in_dims=(0, None))

    def curve_loss(ctrl: Params, tt: Tensor, batch: Batch) -> Tensor:
        return vloss(bezier_points(a, ctrl, b, tt), batch).mean()

    gen = torch.Generator().manual_seed(int(seed))
    state = optimizer.init(theta)
    log: list[dict[str, Any]] = []
    epoch, pos, order = 0, 0, None
    taken = 0
    for step in range(steps):
        tt = torch.rand(t_per_step, generator=gen, dtype=torch.float64).to(
            first.device, first.dtype
        )
        if batch_size is None:
            g = dataset_mean(
                lambda p, bt, tt=tt: grad(curve_loss)(p, tt, bt), theta, data, chunk_size
            )
        else:
            x_all, y_all = data
            n = x_all.shape[0]
            if order is None or pos + batch_size > n:
                order = torch.as_tensor(batch_order(seed, epoch, n), device=x_all.device)
                epoch, pos = epoch + 1, 0
            idx = order[pos : pos + batch_size]
            pos += batch_size
            g = grad(curve_loss)(theta, tt, (x_all[idx], y_all[idx]))
        new = optimizer.update(g, state, theta)
        if not all(bool(torch.isfinite(v).all()) for v in new[0].values()):
            log.append({"event": "diverged", "step": step})
            break
        theta, state = new
        taken = step + 1
        if check_every and taken % check_every == 0:
            peak = float(obj.values(bezier_points(a, theta, b, ts)).max())
            log.append({"event": "check", "step": taken, "max": peak})
            if peak <= target:
                break

    curve = bezier_points(a, theta, b, ts)
    loss_t, measure_t = obj.both(curve)
    values = loss_t if measure_t is None else measure_t
    peak, idx = values.max(dim=0)
    fine = bezier_points(a, theta, b, torch.linspace(0.0, 1.0, length_points, dtype=first.dtype))
    cum_all, cum_w = normalized_lengths(fine)
    grid_cum, _ = normalized_lengths(curve)
    ends = stack([a, b])
    bead_loss, bead_measure = obj.both(ends)
    connected = bool(peak <= threshold)
    profile = Profile(
        s=ts,
        distance=grid_cum,
        loss=loss_t,
        measure=measure_t,
        bead_s=ts.new_tensor([0.0, 1.0]),
        bead_distance=grid_cum[[0, -1]],
        bead_loss=bead_loss,
        bead_measure=bead_measure,
        measure_name=obj.measure_name,
    )
    diverged = any(e["event"] == "diverged" for e in log)
    return PathResult(
        method="bezier",
        threshold=threshold,
        beads=stack([a, theta, b]),
        segment_max=peak.reshape(1),
        segment_argmax=ts[idx].reshape(1),
        length=float(cum_all[-1]),
        length_weights=float(cum_w[-1]) if cum_w is not None else math.nan,
        connected=connected,
        status=CONNECTED if connected else NOT_CONNECTED,
        reason=None if connected else ("diverged" if diverged else "max_steps"),
        profile=profile,
        steps=taken,
        depth=0,
        measure_name=obj.measure_name,
        log=tuple(log),
    )
