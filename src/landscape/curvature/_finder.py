"""What every critical-point finder shares: the problem, the loop, the result, the history.

:class:`Problem` evaluates a pure loss, its gradient and Hessian products at flat points and
counts what it spent; :func:`solve` is the outer loop every Newton-type finder runs
(evaluate, stop at ``‖∇L‖ ≤ grad_tol``, take the method's step, record it, stop on a stall);
:class:`Tracker` keeps the per-iteration history; :func:`make_result` measures the end point
honestly (``converged`` only when ``‖∇L‖ ≤ grad_tol`` there). The finders themselves live by
family in :mod:`.newton` (Krylov / Newton-type) and :mod:`.following` (eigenvector
following); :mod:`.finders` names them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from .._errors import LandscapeError, check_choice
from .._validate import check_int, check_positive
from ..functional import Data
from ..params import Params, flatten, unflatten
from .dense import dense_hessian, loss_and_gradient
from .operator import CurvatureOperator, HessianOperator, MatrixOperator, PureLoss

__all__ = [
    "CriticalPointResult",
    "FinderBackend",
    "Problem",
    "Step",
    "Tracker",
    "check_common",
    "make_result",
    "solve",
]


FinderBackend = Literal["forward", "cached", "dense"]


@dataclass(frozen=True)
class CriticalPointResult:
    """Outcome of a critical-point search.

    Attributes:
        params: the final point (a new dict on the computation device, in its dtype).
        loss: dataset-mean loss at ``params``.
        grad_norm: ``‖∇L‖`` at ``params``, over the whole dataset.
        converged: ``grad_norm ≤ grad_tol`` — nothing else makes a point critical.
        grad_tol: the threshold asked for.
        iterations: outer iterations taken.
        num_hvps: Hessian-vector products spent.
        num_grads: loss-and-gradient evaluations (dataset passes) spent.
        num_hessians: dense Hessians formed (``backend="dense"``; each costs about as much
            as ``P`` batched products, after which products are matrix multiplications
            and counted in ``num_hvps``).
        method: the finder's name.
        message: why it stopped.
        history: per outer iteration (row 0 is the start): ``loss``, ``grad_norm``,
            ``step`` (the accepted step length ``α ‖p‖``; 0 at the start).
        index: the number of negative Hessian eigenvalues at ``params``, where the finder
            measured it (:func:`~landscape.curvature.eigenvector_following` does, from the
            exact Hessian); ``None`` otherwise.
    """

    params: Params
    loss: float
    grad_norm: float
    converged: bool
    grad_tol: float
    iterations: int
    num_hvps: int
    num_grads: int
    num_hessians: int
    method: str
    message: str
    history: dict[str, list[float]] = field(default_factory=dict, repr=False)
    index: int | None = None

    def summary(self) -> dict[str, object]:
        """Plain-Python numbers for a table or a run store (no parameters, no history)."""
        return {
            "method": self.method,
            "loss": self.loss,
            "grad_norm": self.grad_norm,
            "grad_tol": self.grad_tol,
            "converged": self.converged,
            "iterations": self.iterations,
            "num_hvps": self.num_hvps,
            "num_grads": self.num_grads,
            "num_hessians": self.num_hessians,
            "message": self.message,
            "index": self.index,
        }


# ---------------------------------------------------------------- the problem


class Problem:
    """Loss, gradient and Hessian products of a pure loss at flat points, with counters."""

    def __init__(
        self,
        loss: PureLoss,
        params: Mapping[str, Tensor],
        data: Data | None,
        chunk_size: int | None,
        backend: FinderBackend,
        device: str | torch.device | None,
        dtype: torch.dtype | None,
    ) -> None:
        check_choice("backend", backend, ("forward", "cached", "dense"))
        self.dense = backend == "dense"
        self.op = HessianOperator(
            loss,
            params,
            data,
            chunk_size=chunk_size,
            backend="forward" if self.dense else backend,
            device=device,
            dtype=dtype,
        )
        if self.dense and self.op.num_params > 10_000:
            raise LandscapeError(
                f"backend='dense' forms P × P Hessians; P={self.op.num_params} is too many "
                "(use backend='forward' or 'cached')"
            )
        self.loss = self.op.loss  # frozen tensors (if any) filled in
        self.like = self.op.params
        self.num_hvps = 0
        self.num_grads = 0
        self.num_hessians = 0

    def start(self) -> Tensor:
        return flatten(self.like)

    def evaluate(self, theta: Tensor) -> tuple[float, Tensor]:
        """Dataset-mean loss and flat gradient at ``theta``."""
        self.num_grads += 1
        value, g = loss_and_gradient(self.loss, unflatten(theta, self.like), self.op.data)
        return float(value), flatten(g)

    def operator(self, theta: Tensor) -> CurvatureOperator:
        params = unflatten(theta, self.like)
        if self.dense:
            self.num_hessians += 1
            h = dense_hessian(self.loss, params, self.op.data)
            return MatrixOperator(h, check_symmetric=False)
        return self.op.at(params)

    def hvp(self, op: CurvatureOperator, rows: Tensor) -> Tensor:
        self.num_hvps += rows.shape[0]
        return op.apply_rows(rows)


STALL = "stalled: ‖∇L‖ fell by < 0.1 % in {patience} iterations (a non-critical minimum of ‖∇L‖?)"


def check_common(grad_tol: float, max_iter: int, patience: int = 0) -> None:
    """The arguments every finder takes: ``grad_tol > 0``, ``max_iter, patience >= 0``."""
    check_positive("grad_tol", grad_tol)
    check_int("max_iter", max_iter, 0)
    check_int("patience", patience, 0)


class Tracker:
    def __init__(self, loss: float, gnorm: float) -> None:
        self.history: dict[str, list[float]] = {"loss": [loss], "grad_norm": [gnorm], "step": [0.0]}

    def add(self, loss: float, gnorm: float, step: float) -> None:
        self.history["loss"].append(loss)
        self.history["grad_norm"].append(gnorm)
        self.history["step"].append(step)

    def stalled(self, patience: int) -> bool:
        """``‖∇L‖`` fell by less than 0.1 % over the last ``patience`` iterations."""
        g = self.history["grad_norm"]
        return patience > 0 and len(g) > patience and g[-1] > 0.999 * g[-1 - patience]


@dataclass(frozen=True)
class Step:
    """An accepted step: the new point, its loss and gradient, and the step's length."""

    theta: Tensor
    loss: float
    grad: Tensor
    length: float


#: ``step(theta, loss, grad) -> Step``, or a message saying why the search must stop there
StepFn = Callable[[Tensor, float, Tensor], "Step | str"]


def solve(
    prob: Problem,
    step: StepFn,
    *,
    method: str,
    grad_tol: float,
    max_iter: int,
    patience: int = 0,
    start: Callable[[Tensor, Tensor], None] | None = None,
) -> CriticalPointResult:
    """The outer loop of a critical-point search, written once.

    From ``prob.start()``: evaluate; until ``‖∇L‖ ≤ grad_tol`` or ``max_iter`` steps, ask the
    method for a ``step`` (:class:`Step`, or a message when it cannot take one), record it,
    and stop early when ``‖∇L‖`` stalled over ``patience`` iterations. The end point is
    measured by :func:`make_result`.

    Args:
        prob: the problem (loss, data, counters).
        step: the method: ``step(theta, loss, grad) -> Step | str``.
        method: the finder's name, for the result.
        grad_tol, max_iter, patience: as for :func:`~landscape.curvature.newton_mr`.
        start: called once with the start's ``(theta, grad)`` before the first step (for
            methods that keep state, such as L-BFGS's ``H ∇L``).

    Returns:
        :class:`CriticalPointResult`.
    """
    theta = prob.start()
    value, g = prob.evaluate(theta)
    if start is not None:
        start(theta, g)
    tracker = Tracker(value, float(g.norm()))
    message = f"max_iter={max_iter} reached"
    it = 0
    while it < max_iter and not float(g.norm()) <= grad_tol:
        out = step(theta, value, g)
        if isinstance(out, str):
            message = out
            break
        theta, value, g = out.theta, out.loss, out.grad
        tracker.add(value, float(g.norm()), out.length)
        it += 1
        if tracker.stalled(patience):
            message = STALL.format(patience=patience)
            break
    return make_result(prob, theta, value, g, grad_tol, it, method, message, tracker)


def make_result(
    prob: Problem,
    theta: Tensor,
    loss: float,
    g: Tensor,
    grad_tol: float,
    iterations: int,
    method: str,
    message: str,
    tracker: Tracker,
    index: int | None = None,
    target_index: int | None = None,
) -> CriticalPointResult:
    """The result at ``theta``; ``converged`` needs ``‖∇L‖ ≤ grad_tol`` (and, when a
    ``target_index`` is given, the measured ``index`` to equal it)."""
    gnorm = float(g.norm())
    converged = gnorm <= grad_tol
    if converged and target_index is not None and index != target_index:
        converged = False
        message = (
            f"reached a critical point (‖∇L‖ = {gnorm:.3e}) of index {index}, "
            f"not the target index {target_index}"
        )
    elif converged:
        message = f"‖∇L‖ = {gnorm:.3e} ≤ grad_tol = {grad_tol:.1e}"
    return CriticalPointResult(
        params={k: v.clone() for k, v in unflatten(theta, prob.like).items()},
        loss=loss,
        grad_norm=gnorm,
        converged=converged,
        grad_tol=float(grad_tol),
        iterations=iterations,
        num_hvps=prob.num_hvps,
        num_grads=prob.num_grads,
        num_hessians=prob.num_hessians,
        method=method,
        message=message,
        history=tracker.history,
        index=index,
    )
