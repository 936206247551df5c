"""Shared pieces of the path finders: records, validation, batched segment scans, bead descent.

Private module; the public names are re-exported by :mod:`landscape.connect`.

Shape letters: ``E`` beads (points of a string, endpoints included), ``S = E − 1`` segments,
``T`` grid points per segment, ``M`` points of a profile, ``N`` samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.func import grad, vmap

from .._errors import LandscapeError
from ..ensemble import batch_order
from ..functional import Batch, Data, dataset_mean, evaluate_points
from ..optim import SGD, Adam, Optimizer
from ..params import Params, distance, lerp, select, stack

LossFn = Callable[[Params, Batch], Tensor]

CONNECTED = "connected"
NOT_CONNECTED = "not connected within limits"


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Profile:
    """Values along a path, ready to plot.

    The path coordinate ``s`` puts bead ``i`` of a string at ``s = i`` (so segment ``i`` is
    ``s ∈ [i, i + 1]``); for a single curve (linear interpolation, Bezier) ``s = t ∈ [0, 1]``.
    ``distance`` is the Euclidean length travelled along the path from ``θ_A`` divided by
    ``‖θ_A − θ_B‖`` (so the last entry is the normalized geodesic length).

    Attributes:
        s: ``(M,)`` path coordinate of each evaluated point.
        distance: ``(M,)`` normalized distance travelled along the path.
        loss: ``(M,)`` the training loss at each point.
        measure: ``(M,)`` the thresholded quantity (e.g. test error) when it differs from the
            loss, else ``None``.
        bead_s: ``(E,)`` path coordinates of the beads (for a curve: its two endpoints).
        bead_distance: ``(E,)`` normalized distance travelled to each bead.
        bead_loss: ``(E,)`` loss at the beads.
        bead_measure: ``(E,)`` measure at the beads, or ``None``.
        measure_name: what ``values`` holds (``"loss"`` when there is no separate measure).
    """

    s: Tensor
    distance: Tensor
    loss: Tensor
    measure: Tensor | None
    bead_s: Tensor
    bead_distance: Tensor
    bead_loss: Tensor
    bead_measure: Tensor | None = None
    measure_name: str = "loss"

    @property
    def values(self) -> Tensor:
        """The thresholded quantity along the path: ``measure`` if given, else ``loss``."""
        return self.loss if self.measure is None else self.measure

    @property
    def bead_values(self) -> Tensor:
        """The thresholded quantity at the beads."""
        return self.bead_loss if self.bead_measure is None else self.bead_measure

    _ARRAYS = (
        "s",
        "distance",
        "loss",
        "measure",
        "bead_s",
        "bead_distance",
        "bead_loss",
        "bead_measure",
    )

    def to_arrays(self, prefix: str = "profile.") -> dict[str, Any]:
        """The tensors as CPU numpy arrays keyed ``prefix + field`` (for a run store)."""
        out: dict[str, Any] = {}
        for name in self._ARRAYS:
            value = getattr(self, name)
            if value is not None:
                out[prefix + name] = value.detach().cpu().numpy()
        return out

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, Any], measure_name: str = "loss", prefix: str = "profile."
    ) -> Profile:
        """Inverse of :meth:`to_arrays` (missing optional fields become ``None``)."""
        fields = {
            n: torch.as_tensor(arrays[prefix + n]) if prefix + n in arrays else None
            for n in cls._ARRAYS
        }
        return cls(**fields, measure_name=measure_name)


@dataclass(frozen=True)
class PathResult:
    """Outcome of a path finder (greedy or constrained DSS, Bezier, or the straight line).

    ``connected`` is ``True`` when every segment's interpolated maximum (on the grid) is at
    most the threshold. ``False`` means only that no path was found *within the limits*;
    ``status`` then reads ``"not connected within limits"`` and ``reason`` names the limit.
    Nothing here ever claims that the level set is disconnected.

    Attributes:
        method: ``"dss"``, ``"dss-constrained"``, ``"bezier"`` or ``"linear"``.
        threshold: the level ``L0`` of the level set ``Ω(L0) = {θ : F(θ) ≤ L0}``.
        beads: stacked params ``(E, ...)``: the string from ``θ_A`` (index 0) to ``θ_B``
            (index ``E − 1``). For ``"bezier"`` these are the control points
            ``(θ_A, θ_control, θ_B)``, which do not all lie on the curve.
        segment_max: ``(S,)`` maximum of the thresholded quantity along each segment,
            on the grid (``S = E − 1``; ``S = 1`` for a Bezier curve).
        segment_argmax: ``(S,)`` the ``t ∈ [0, 1]`` where each maximum sits.
        length: normalized geodesic length ``Σ_i ‖θ_i − θ_{i+1}‖ / ‖θ_A − θ_B‖`` over all
            parameters (``≥ 1``; for a curve, the length of its fine polyline).
        length_weights: the same over weights only (tensors with ≥ 2 dimensions), the
            quantity of Freeman & Bruna's figures; ``nan`` if the params have no weights.
        connected: whether every segment maximum is ``≤ threshold``.
        status: ``"connected"`` or ``"not connected within limits"``.
        reason: for ``status != "connected"``, the limit that stopped the search.
        profile: the thresholded quantity and the loss along the whole path.
        steps: optimiser steps spent (all beads together).
        depth: recursion depth (greedy DSS) or insertion rounds (constrained DSS) reached.
        measure_name: the name of the thresholded quantity.
        log: one record per event (bead inserted, round finished, limit hit).
    """

    method: str
    threshold: float
    beads: Params
    segment_max: Tensor
    segment_argmax: Tensor
    length: float
    length_weights: float
    connected: bool
    status: str
    reason: str | None
    profile: Profile
    steps: int = 0
    depth: int = 0
    measure_name: str = "loss"
    log: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def bead_count(self) -> int:
        """Inner beads of the string (``E − 2``; for Bezier, its one control point)."""
        return int(next(iter(self.beads.values())).shape[0]) - 2

    @property
    def max_value(self) -> float:
        """The largest value of the thresholded quantity along the whole path."""
        return float(self.segment_max.max())

    def summary(self) -> dict[str, Any]:
        """Plain-Python scalars for a summary table or a run store."""
        return {
            "method": self.method,
            "threshold": self.threshold,
            "measure": self.measure_name,
            "status": self.status,
            "connected": self.connected,
            "reason": self.reason,
            "bead_count": self.bead_count,
            "max_value": self.max_value,
            "length": self.length,
            "length_weights": self.length_weights,
            "steps": self.steps,
            "depth": self.depth,
        }


# ---------------------------------------------------------------- validation


def _is_batch(data: object) -> bool:
    """An ``(inputs, targets)`` pair of tensors, as opposed to an iterable of such pairs."""
    return (
        isinstance(data, tuple | list)
        and len(data) == 2
        and all(isinstance(t, Tensor) for t in data)
    )


def check_loss(loss: object, name: str = "loss") -> None:
    if not callable(loss):
        raise LandscapeError(
            f"{name} must be a pure function {name}(params, batch) -> scalar "
            f"(e.g. FunctionalModel(model).loss), got {type(loss).__name__}"
        )


def check_endpoints(a: object, b: object, distinct: bool = False) -> None:
    """Both endpoints: dicts of tensors of one model, same names, shapes, dtype and device.

    With ``distinct``, also require ``θ_A ≠ θ_B`` (a normalized length needs ``‖θ_A − θ_B‖ > 0``).
    """
    for name, p in (("a", a), ("b", b)):
        if not isinstance(p, Mapping) or not p:
            raise LandscapeError(
                f"endpoint {name} must be a non-empty dict of name -> Tensor "
                f"(e.g. dict(model.named_parameters())), got {type(p).__name__}"
            )
        for k, v in p.items():
            if not isinstance(v, Tensor):
                raise LandscapeError(
                    f"endpoint {name}[{k!r}] must be a Tensor, got {type(v).__name__}"
                )
            if not torch.is_floating_point(v):
                raise LandscapeError(
                    f"endpoint {name}[{k!r}] must be floating point, got {v.dtype}"
                )
    if list(a) != list(b):
        missing, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise LandscapeError(
            f"endpoints come from different architectures: b lacks {missing} and has extra "
            f"{extra} (names must match, in the same order)"
        )
    for k in a:
        if a[k].shape != b[k].shape:
            raise LandscapeError(
                f"endpoints come from different architectures: a[{k!r}] has shape "
                f"{tuple(a[k].shape)}, b[{k!r}] has {tuple(b[k].shape)}"
            )
        if a[k].dtype != b[k].dtype or a[k].device != b[k].device:
            raise LandscapeError(
                f"endpoints differ in dtype/device at {k!r}: a is {a[k].dtype} on {a[k].device}, "
                f"b is {b[k].dtype} on {b[k].device}; move both with the same .to(...)"
            )
    if distinct and float(distance(a, b)) == 0.0:
        raise LandscapeError("endpoints a and b are the same point; there is no path to find")


def check_positive(name: str, value: float, strict: bool = True) -> float:
    ok = isinstance(value, int | float) and math.isfinite(value)
    ok = ok and (value > 0 if strict else value >= 0)
    if not ok:
        bound = "> 0" if strict else ">= 0"
        raise LandscapeError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LandscapeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_alpha(alpha: float) -> float:
    if not isinstance(alpha, int | float) or not 0.0 < alpha < 1.0:
        raise LandscapeError(
            f"alpha must be in (0, 1) (beads are trained down to alpha * threshold), got {alpha!r}"
        )
    return float(alpha)


def check_optimizer(optimizer: object) -> Optimizer:
    if not isinstance(optimizer, SGD | Adam):
        raise LandscapeError(
            f"optimizer must be landscape.optim.SGD or landscape.optim.Adam, "
            f"got {type(optimizer).__name__}"
        )
    return optimizer


def check_batch_size(batch_size: int | None, data: Data) -> None:
    if batch_size is None:
        return
    if not _is_batch(data):
        raise LandscapeError(
            "batch_size needs data as an (inputs, targets) pair of tensors; with an iterable "
            "of batches (e.g. a DataLoader) leave batch_size=None and let the loader batch"
        )
    n = data[0].shape[0]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 < batch_size <= n:
        raise LandscapeError(f"batch_size must be in 1..{n} (the sample count), got {batch_size!r}")


def prepare(
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data,
    measure_data: Data | None,
    device: str | torch.device | None,
    dtype: torch.dtype | None,
) -> tuple[Params, Params, Data, Data | None]:
    """Detached copies of the endpoints, moved to ``device``/``dtype`` when given.

    Pairs of tensors follow: floating inputs/targets are cast to ``dtype``; an iterable of
    batches is left as it is (``dataset_mean`` moves each batch to the endpoints' device).
    """
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise LandscapeError(f"dtype must be a floating torch.dtype, got {dtype!r}")

    def move(p: Mapping[str, Tensor]) -> Params:
        return {
            k: v.detach().to(device=device or v.device, dtype=dtype or v.dtype)
            for k, v in p.items()
        }

    def cast(d: Data | None) -> Data | None:
        if d is None or not _is_batch(d):
            return d
        x, y = d
        dev = device or next(iter(a.values())).device
        x = (
            x.to(device=dev, dtype=dtype)
            if dtype is not None and x.is_floating_point()
            else x.to(dev)
        )
        y = (
            y.to(device=dev, dtype=dtype)
            if dtype is not None and y.is_floating_point()
            else y.to(dev)
        )
        return (x, y)

    return move(a), move(b), cast(data), cast(measure_data)


# ---------------------------------------------------------------- objectives


class Objective:
    """The loss that beads descend and the measure that the threshold is checked on.

    ``measure`` defaults to ``loss`` and ``measure_data`` to ``data``. Both are dataset means
    of pure, vmappable functions ``f(params, batch) -> scalar``.
    """

    def __init__(
        self,
        loss: LossFn,
        data: Data,
        measure: LossFn | None,
        measure_data: Data | None,
        measure_name: str | None,
        chunk_size: int | None,
        points_chunk: int | None,
    ) -> None:
        check_loss(loss)
        if measure is not None:
            check_loss(measure, "measure")
        self.loss = loss
        self.data = data
        self.separate = measure is not None or measure_data is not None
        self.measure = measure if measure is not None else loss
        self.measure_data = measure_data if measure_data is not None else data
        default = "loss"
        if measure is not None:
            default = getattr(measure, "__name__", "measure")
            default = "measure" if default.startswith("<") else default
        if measure is None and measure_data is not None:
            default = "loss (measure data)"
        self.measure_name = measure_name or default
        self.chunk_size = chunk_size
        self.points_chunk = points_chunk

    def losses(self, stacked: Mapping[str, Tensor]) -> Tensor:
        """``(E,)`` dataset-mean loss at each stacked point."""
        with torch.no_grad():
            return evaluate_points(
                self.loss, stacked, self.data, self.chunk_size, self.points_chunk
            )

    def measures(self, stacked: Mapping[str, Tensor]) -> Tensor:
        """``(E,)`` dataset-mean measure at each stacked point."""
        with torch.no_grad():
            return evaluate_points(
                self.measure, stacked, self.measure_data, self.chunk_size, self.points_chunk
            )

    def both(self, stacked: Mapping[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """``(loss, measure or None)`` at each stacked point."""
        loss = self.losses(stacked)
        return loss, (self.measures(stacked) if self.separate else None)

    def values(self, stacked: Mapping[str, Tensor]) -> Tensor:
        """The thresholded quantity at each stacked point."""
        return self.measures(stacked)


def classification_error(forward: Callable[[Params, Tensor], Tensor]) -> LossFn:
    """A pure, vmappable error rate ``error(params, (x, y)) = mean[argmax f(x) ≠ y]``.

    Use it as the ``measure`` of a path finder to put the threshold on (test) error, as
    Freeman & Bruna do for their classification experiments, while the beads descend the
    differentiable loss.

    Args:
        forward: ``forward(params, x) -> logits (N, C)``, e.g. ``FunctionalModel(m).forward``.

    Returns:
        ``error(params, batch) -> scalar`` in ``[0, 1]``.
    """
    if not callable(forward):
        raise LandscapeError(f"forward must be callable, got {type(forward).__name__}")

    def error(params: Params, batch: Batch) -> Tensor:
        x, y = batch
        out = forward(params, x)
        return (out.argmax(dim=-1) != y).to(out.dtype).mean()

    error.__name__ = "error"
    return error


# ---------------------------------------------------------------- segments and lengths


def grid_ts(grid: int, like: Tensor) -> Tensor:
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
    objective: Objective, beads: Mapping[str, Tensor], ts: Tensor
) -> tuple[Tensor, Tensor]:
    """Maximum of the thresholded quantity along every segment, in one batched pass.

    Returns:
        ``(max, argmax_t)``, each ``(S,)``.
    """
    t = ts.shape[0]
    values = objective.values(segment_points(beads, ts)).reshape(-1, t)
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
    objective: Objective, beads: Mapping[str, Tensor], ts: Tensor
) -> tuple[Profile, Tensor, Tensor]:
    """The profile along a stacked string, its segment maxima and their positions.

    One batched pass over all ``S·T`` grid points for the thresholded quantity (and one for
    the loss when the measure differs).
    """
    e = next(iter(beads.values())).shape[0]
    t = ts.shape[0]
    pts = segment_points(beads, ts)
    loss, measure = objective.both(pts)
    values = (loss if measure is None else measure).reshape(e - 1, t)
    best, idx = values.max(dim=1)
    cum, _ = normalized_lengths(beads)
    seg_len = cum[1:] - cum[:-1]
    seg_index = torch.arange(e - 1, dtype=ts.dtype, device=ts.device)
    s = (seg_index[:, None] + ts[None, :]).reshape(-1)
    dist = (cum[:-1, None] + seg_len[:, None] * ts[None, :]).reshape(-1)
    bead_loss, bead_measure = objective.both(beads)
    profile = Profile(
        s=s,
        distance=dist,
        loss=loss,
        measure=measure,
        bead_s=torch.arange(e, dtype=ts.dtype, device=ts.device),
        bead_distance=cum,
        bead_loss=bead_loss,
        bead_measure=bead_measure,
        measure_name=objective.measure_name,
    )
    return profile, best, ts[idx]


def finish(
    method: str,
    threshold: float,
    objective: Objective,
    beads: Mapping[str, Tensor],
    ts: Tensor,
    reason: str | None,
    steps: int,
    depth: int,
    log: list[dict[str, Any]],
) -> PathResult:
    """Build the :class:`PathResult` of a finished string (final scan in one batched pass)."""
    profile, best, arg = string_profile(objective, beads, ts)
    cum_all, cum_w = normalized_lengths(beads)
    connected = bool((best <= threshold).all())
    return PathResult(
        method=method,
        threshold=threshold,
        beads=dict(beads),
        segment_max=best,
        segment_argmax=arg,
        length=float(cum_all[-1]),
        length_weights=float(cum_w[-1]) if cum_w is not None else math.nan,
        connected=connected,
        status=CONNECTED if connected else NOT_CONNECTED,
        reason=None if connected else (reason or "segment above threshold"),
        profile=profile,
        steps=steps,
        depth=depth,
        measure_name=objective.measure_name,
        log=tuple(log),
    )


def check_endpoint_levels(objective: Objective, a: Params, b: Params, threshold: float) -> Tensor:
    """``(2,)`` thresholded values at the endpoints; raises if either is above the threshold."""
    ends = objective.values(stack([a, b]))
    for name, v in zip(("a", "b"), ends.tolist(), strict=True):
        if not v <= threshold:
            raise LandscapeError(
                f"endpoint {name} has {objective.measure_name} {v:.6g} > threshold "
                f"{threshold:.6g}; both endpoints must lie in the level set (raise the "
                "threshold or train them further)"
            )
    return ends


# ---------------------------------------------------------------- descent of beads


@dataclass
class Descent:
    """Outcome of :func:`descend`: the new stacked beads and what happened to each."""

    params: Params
    values: Tensor  # (E,) thresholded quantity at the end
    steps: int  # optimiser steps taken (batched: all beads at once)
    reached: Tensor  # (E,) bool: trainable bead ended at or below the target
    diverged: Tensor  # (E,) bool


def _finite(params: Mapping[str, Tensor], e: int) -> Tensor:
    ok = torch.ones(e, dtype=torch.bool, device=next(iter(params.values())).device)
    for v in params.values():
        ok &= torch.isfinite(v.reshape(e, -1)).all(dim=1)
    return ok


def descend(
    objective: Objective,
    beads: Mapping[str, Tensor],
    trainable: Tensor,
    target: float,
    optimizer: Optimizer,
    max_steps: int,
    check_every: int,
    batch_size: int | None,
    seed: int,
    extra_grad: Callable[[Params], Params] | None = None,
    project: Callable[[Params, Tensor], Params] | None = None,
) -> Descent:
    """Train the ``trainable`` beads of a stacked string until each is at or below ``target``.

    One optimiser step moves every still-active bead at once: the loss gradients of the
    active beads come from one ``vmap(grad(loss))`` pass over them, the update is the pure
    optimiser's on the whole stack with an ``active`` mask, so finished beads (and the
    endpoints) stay where they are. Every ``check_every`` steps the thresholded quantity of
    the active beads is evaluated (one batched pass) and those at or below ``target`` are
    frozen; a frozen bead never moves again within this call.

    Args:
        objective: loss (descended) and measure (checked).
        beads: stacked ``(E, ...)`` starting points (not modified).
        trainable: ``(E,)`` bool, which beads may move.
        target: stop level for the measure, ``α·L0``.
        optimizer: pure SGD/Adam.
        max_steps: step budget.
        check_every: steps between measure checks.
        batch_size: minibatch size, or ``None`` for full-batch (chunked) gradients.
        seed: minibatch order (``ensemble.batch_order(seed, epoch, N)``, shared by all beads).
        extra_grad: adds a penalty's gradient (e.g. the spring term) to the loss gradient.
        project: maps the updated params back onto a constraint set, given the active mask.
    """
    e = int(trainable.shape[0])
    params = {k: v.detach().clone() for k, v in beads.items()}
    values = objective.values(params)
    active = trainable & (values > target)
    diverged = torch.zeros_like(trainable)
    vgrad = vmap(grad(objective.loss), in_dims=(0, None))
    state = optimizer.init(params)
    steps = 0
    epoch, pos, order = 0, 0, None
    if batch_size is not None:
        x_all, y_all = objective.data
        n = x_all.shape[0]
    while bool(active.any()) and steps < max_steps:
        # the loss gradient (the expensive part) only for active beads, in one vmapped pass
        live = active.nonzero().squeeze(1)
        sub = {k: v[live] for k, v in params.items()}
        if batch_size is None:
            g_live = dataset_mean(vgrad, sub, objective.data, objective.chunk_size)
        else:
            if order is None or pos + batch_size > n:
                order = torch.as_tensor(batch_order(seed, epoch, n), device=x_all.device)
                epoch, pos = epoch + 1, 0
            rows = order[pos : pos + batch_size]
            pos += batch_size
            g_live = vgrad(sub, (x_all[rows], y_all[rows]))
        g = {k: torch.zeros_like(v).index_copy(0, live, g_live[k]) for k, v in params.items()}
        if extra_grad is not None:
            extra = extra_grad(params)
            g = {k: g[k] + extra[k] for k in g}
        new_params, new_state = optimizer.update(g, state, params, active=active)
        if project is not None:
            new_params = project(new_params, active)
        ok = _finite(new_params, e)
        if not bool(ok[active].all()):
            diverged |= active & ~ok
            active = active & ok
            new_params, new_state = optimizer.update(g, state, params, active=active)
            if project is not None:
                new_params = project(new_params, active)
        params, state = new_params, new_state
        steps += 1
        if steps % check_every == 0 or steps == max_steps:
            live = active.nonzero().squeeze(1)
            if live.numel():
                values = values.index_copy(
                    0, live, objective.values({k: v[live] for k, v in params.items()})
                )
            active = active & (values > target)
    return Descent(
        params=params,
        values=values,
        steps=steps,
        reached=trainable & (values <= target),
        diverged=diverged,
    )
