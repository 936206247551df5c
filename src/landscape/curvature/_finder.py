"""What every critical-point finder shares: the problem, the result, the history.

:class:`Problem` evaluates a pure loss, its gradient and Hessian products at flat points and
counts what it spent; :class:`Tracker` keeps the per-iteration history; :func:`make_result`
measures the end point honestly (``converged`` only when ``‖∇L‖ ≤ grad_tol`` there).
The finders themselves live by family in :mod:`.critical` (Krylov / Newton-type) and
:mod:`.following` (eigenvector following).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from .._errors import LandscapeError, check_choice
from ..functional import Data
from ..params import Params, flatten, unflatten
from .operator import (
    CurvatureOperator,
    HessianOperator,
    MatrixOperator,
    PureLoss,
    dense_hessian,
    loss_and_gradient,
)

__all__ = [
    "CriticalPointResult",
    "FinderBackend",
    "Problem",
    "Tracker",
    "check_common",
    "make_result",
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
    if not grad_tol > 0:
        raise LandscapeError(f"grad_tol must be positive, got {grad_tol!r}")
    for name, value in (("max_iter", max_iter), ("patience", patience)):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise LandscapeError(f"{name} must be a non-negative integer, got {value!r}")


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
