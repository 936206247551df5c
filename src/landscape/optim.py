"""Pure optimisers on params dicts: ``opt.init(params)``, then ``opt.update(grads, state, params)``.

The update is elementwise, so the same code steps one model or a whole stacked ensemble
(leading axis ``E``) — or a string of beads — at once. The arithmetic follows
``torch.optim.SGD`` and ``torch.optim.Adam`` operation for operation, so a batched run equals
a per-model PyTorch loop to float rounding. ``active`` (a bool ``(E,)`` mask) freezes
members: their parameters and optimiser state are left untouched.

Learning-rate schedules are functions of the epoch (like PyTorch schedulers stepped once
per epoch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ._errors import LandscapeError, check_choice
from .params import Params

__all__ = [
    "SGD",
    "Adam",
    "MaskedStep",
    "Optimizer",
    "finite_members",
    "make_optimizer",
    "make_schedule",
    "masked_step",
]

OptState = dict[str, Params | int]


def _masked(new: Tensor, old: Tensor, active: Tensor | None) -> Tensor:
    if active is None:
        return new
    mask = active.reshape(-1, *([1] * (new.dim() - 1)))
    return torch.where(mask, new, old)


def finite_members(params: Mapping[str, Tensor]) -> Tensor:
    """``(E,)`` True where every parameter of stacked member ``e`` is finite.

    One reduction per tensor: a member's sum is finite exactly when all its entries are
    (barring a finite sum overflowing, which only happens for entries near the float
    maximum — a divergence all the same).
    """
    e = next(iter(params.values())).shape[0]
    total = sum(v.reshape(e, -1).sum(dim=1) for v in params.values())
    return torch.isfinite(total)


def _finite_positive(x: object) -> bool:
    """A finite number > 0 (NaN, inf, booleans and non-numbers are not)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x > 0


@dataclass(frozen=True)
class SGD:
    """SGD with optional (Nesterov) momentum and L2 weight decay, as ``torch.optim.SGD``."""

    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        if not (_finite_positive(self.lr) and 0 <= self.momentum < 1 and 0 <= self.weight_decay):
            raise LandscapeError(
                f"SGD needs lr > 0, 0 <= momentum < 1, weight_decay >= 0; got lr={self.lr}, "
                f"momentum={self.momentum}, weight_decay={self.weight_decay}"
            )
        if self.nesterov and self.momentum == 0:
            raise LandscapeError("nesterov=True needs momentum > 0")

    def init(self, params: Mapping[str, Tensor]) -> OptState:
        state: OptState = {"step": 0}
        if self.momentum:
            state["buf"] = {k: torch.zeros_like(v) for k, v in params.items()}
        return state

    def update(
        self,
        grads: Mapping[str, Tensor],
        state: OptState,
        params: Mapping[str, Tensor],
        lr: float | None = None,
        active: Tensor | None = None,
    ) -> tuple[Params, OptState]:
        lr = self.lr if lr is None else lr
        first = state["step"] == 0
        new_params, new_buf = {}, {}
        for k, p in params.items():
            g = grads[k]
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                b = g.clone() if first else state["buf"][k] * self.momentum + g
                new_buf[k] = _masked(b, state["buf"][k], active)
                g = g + self.momentum * b if self.nesterov else b
            new_params[k] = _masked(torch.add(p, g, alpha=-lr), p, active)
        new_state: OptState = {"step": state["step"] + 1}
        if self.momentum:
            new_state["buf"] = new_buf
        return new_params, new_state


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015) with L2 weight decay, as ``torch.optim.Adam``."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if not (
            _finite_positive(self.lr)
            and 0 <= self.beta1 < 1
            and 0 <= self.beta2 < 1
            and _finite_positive(self.eps)
            and 0 <= self.weight_decay < math.inf
        ):
            raise LandscapeError(
                f"Adam needs lr > 0, 0 <= beta1, beta2 < 1, eps > 0; got lr={self.lr}, "
                f"betas=({self.beta1}, {self.beta2}), eps={self.eps}"
            )

    def init(self, params: Mapping[str, Tensor]) -> OptState:
        return {
            "step": 0,
            "m": {k: torch.zeros_like(v) for k, v in params.items()},
            "v": {k: torch.zeros_like(v) for k, v in params.items()},
        }

    def update(
        self,
        grads: Mapping[str, Tensor],
        state: OptState,
        params: Mapping[str, Tensor],
        lr: float | None = None,
        active: Tensor | None = None,
    ) -> tuple[Params, OptState]:
        lr = self.lr if lr is None else lr
        t = state["step"] + 1
        bc1 = 1 - self.beta1**t
        bc2_sqrt = math.sqrt(1 - self.beta2**t)
        new_p, new_m, new_v = {}, {}, {}
        for k, p in params.items():
            g = grads[k]
            if self.weight_decay:
                g = g + self.weight_decay * p
            m = torch.lerp(state["m"][k], g, 1 - self.beta1)
            v = state["v"][k] * self.beta2 + (1 - self.beta2) * g * g
            denom = v.sqrt() / bc2_sqrt + self.eps
            p_new = p - (lr / bc1) * (m / denom)
            new_p[k] = _masked(p_new, p, active)
            new_m[k] = _masked(m, state["m"][k], active)
            new_v[k] = _masked(v, state["v"][k], active)
        return new_p, {"step": t, "m": new_m, "v": new_v}


Optimizer = SGD | Adam


@dataclass(frozen=True)
class MaskedStep:
    """Outcome of :func:`masked_step`.

    Attributes:
        params: the stacked parameters after the step (frozen members unchanged).
        state: the optimiser state after the step (frozen members' entries unchanged).
        active: ``(E,)`` the members still moving: the given mask less the diverged ones.
        diverged: ``(E,)`` the members that went non-finite in this step (rolled back).
    """

    params: Params
    state: OptState
    active: Tensor
    diverged: Tensor


def masked_step(
    optimizer: Optimizer,
    grads: Mapping[str, Tensor],
    state: OptState,
    params: Mapping[str, Tensor],
    active: Tensor,
    *,
    lr: float | None = None,
    values: Tensor | None = None,
    project: Callable[[Params, Tensor], Params] | None = None,
) -> MaskedStep:
    """One optimiser step on stacked members; a member that goes non-finite is rolled back.

    The ``active`` members move (the others keep their parameters and state). A member
    whose new parameters (or whose ``values``, e.g. the losses the gradients came with)
    are not finite is marked diverged and frozen at its last finite parameters: the step is
    taken again with it masked out, so the other members' step is the same as if it had
    never been there. Shared by :func:`landscape.ensemble.train_ensemble` and the bead
    descent of :mod:`landscape.connect`.

    Args:
        optimizer: :class:`SGD` or :class:`Adam`.
        grads, state, params: as in ``optimizer.update``; leading axis ``E``.
        active: ``(E,)`` bool, the members that may move.
        lr: learning rate of this step (default the optimiser's).
        values: optional ``(E,)`` values whose non-finite entries also mean divergence.
        project: maps the updated params back onto a constraint set, given the mask.

    Returns:
        :class:`MaskedStep`.
    """

    def step(mask: Tensor) -> tuple[Params, OptState]:
        # every member moving (the usual case): no masking pass over the parameters
        moving = None if bool(mask.all()) else mask
        new_params, new_state = optimizer.update(grads, state, params, lr=lr, active=moving)
        return (new_params if project is None else project(new_params, mask)), new_state

    new_params, new_state = step(active)
    ok = finite_members(new_params)
    if values is not None:
        ok = ok & torch.isfinite(values)
    diverged = active & ~ok
    if bool(diverged.any()):
        active = active & ok
        new_params, new_state = step(active)
    return MaskedStep(new_params, new_state, active, diverged)


def make_optimizer(
    name: str, lr: float, momentum: float = 0.0, weight_decay: float = 0.0
) -> Optimizer:
    """``"sgd"`` or ``"adam"`` by name."""
    check_choice("optimizer", name, ("sgd", "adam"))
    if name == "sgd":
        return SGD(lr=lr, momentum=momentum, weight_decay=weight_decay)
    return Adam(lr=lr, weight_decay=weight_decay)


Schedule = Callable[[int], float]
ScheduleName = Literal["constant", "step", "exponential", "inverse"]


def make_schedule(
    name: ScheduleName = "constant",
    lr: float = 0.1,
    gamma: float = 0.1,
    step_size: int = 30,
    c: float = 0.01,
) -> Schedule:
    """Learning rate as a function of the epoch ``t`` (0-based).

    ``constant``: lr; ``step``: lr·gamma^⌊t/step_size⌋ (``StepLR``); ``exponential``:
    lr·gamma^t (``ExponentialLR``); ``inverse``: lr / (1 + c·t).
    """
    check_choice("schedule", name, ("constant", "step", "exponential", "inverse"))
    if name == "constant":
        return lambda t: lr
    if name == "step":
        if step_size <= 0:
            raise LandscapeError(f"step_size must be positive, got {step_size}")
        return lambda t: lr * gamma ** (t // step_size)
    if name == "exponential":
        return lambda t: lr * gamma**t
    return lambda t: lr / (1 + c * t)
