"""Krylov / Newton-type critical-point finders: drive ``‖∇L‖`` to a threshold, or minimise.

Critical points of every index are what the spin-glass picture of the loss is about
(Dauphin et al. 2014; Choromanska et al. 2015). Gradient descent runs away from saddles;
methods that minimise the *gradient norm* ``φ(θ) = ½‖∇L(θ)‖²`` (whose gradient is the
Hessian-vector product ``∇φ = H ∇L``) or take Newton steps are attracted to any nearby
critical point, whatever its index (Pennington & Bahri 2017; Frye et al. 2019, *Numerically
recovering the critical points of a deep linear autoencoder*).

The Newton-type methods share one building block: ``k`` Lanczos steps from ``g = ∇L``
(with full reorthogonalisation) give an orthonormal basis ``V_k`` and ``H V_k = V_{k+1} T̄_k``
with ``T̄_k`` tridiagonal ``(k+1) × k``. Since ``g = ‖g‖ v₁``, every step ``p = V_k y`` has a
small closed form:

* ``newton_mr`` — Newton-MR (Roosta, Liu, Xu & Mahoney 2022, *Newton-MR: Inexact Newton
  method with minimum residual sub-problem solver*): ``y = argmin ‖T̄ y + ‖g‖ e₁‖``, i.e. the
  MINRES step ``p ≈ −H^† g``, grown until the relative residual is ``≤ inner_rtol``; Armijo
  backtracking on ``‖∇L‖²`` along ``p`` (``⟨p, H g⟩ < 0`` always holds for it).
* ``damped_newton`` — Levenberg–Marquardt on the equations ``∇L(θ) = 0``:
  ``y = argmin ‖T̄ y + ‖g‖ e₁‖² + μ ‖y‖²`` (the step ``−(H² + μ I)^{-1} H g`` restricted to
  the Krylov space), ``μ`` adapted by the gain ratio (Nielsen 1999). Newton near a
  non-degenerate critical point, gradient descent on ``φ`` far from one.
* ``saddle_free_newton`` — Dauphin et al. 2014's saddle-free Newton in the Krylov subspace:
  with ``T_k = U Θ Uᵀ`` the step is ``p = −V_k U (|Θ| + μ)^{-1} Uᵀ ‖g‖ e₁``, a descent
  direction for ``L`` that is repelled by saddles, so it finds minima; Armijo backtracking
  on ``L``.

and one quasi-Newton method:

* ``gradient_norm_lbfgs`` — L-BFGS (Nocedal 1980) on ``φ = ½‖∇L‖²`` with Armijo
  backtracking; one Hessian-vector product per accepted step.

Each is a step rule (``_*_step`` below) inside the one outer loop :func:`._finder.solve`;
the backtracking line search is :func:`_line_search`. The direct method for a chosen index,
eigenvector following, is in :mod:`.following`.

Shape letters: ``P`` parameters, ``k`` Krylov dimension.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from .._errors import check_choice
from .._validate import check_int, check_positive
from ..functional import Data
from ._finder import (
    CriticalPointResult,
    FinderBackend,
    Problem,
    Step,
    check_common,
    solve,
)
from .operator import CurvatureOperator, PureLoss

__all__ = ["damped_newton", "gradient_norm_lbfgs", "newton_mr", "saddle_free_newton"]


# ---------------------------------------------------------------- the Krylov subspace of ∇L


class _Krylov:
    """Lanczos from ``g`` with full reorthogonalisation: ``H V_k = V_{k+1} T̄_k``."""

    def __init__(self, prob: Problem, op: CurvatureOperator, g: Tensor) -> None:
        self.prob, self.op = prob, op
        self.beta0 = float(g.norm())
        self.basis = [g / self.beta0]
        self.alpha: list[float] = []
        self.beta: list[float] = []
        self.closed = False  # Krylov space invariant: T̄'s last row is zero, solves are exact
        self._rotations: list[tuple[float, float]] = []
        self.residual = self.beta0  # min_y ‖T̄ y + ‖g‖ e₁‖, updated by Givens rotations

    @property
    def k(self) -> int:
        return len(self.alpha)

    @classmethod
    def build(
        cls, prob: Problem, theta: Tensor, g: Tensor, size: int, rtol: float | None = None
    ) -> _Krylov:
        """The Krylov space of ``H(θ)`` from ``g``, grown to ``size`` (or until it closes).

        With ``rtol``, growth also stops once the MINRES residual is ``≤ rtol · ‖g‖``, or
        stagnates (``g`` numerically outside the range of a singular ``H``).
        """
        kry = cls(prob, prob.operator(theta), g)
        residuals: list[float] = []
        while kry.k < size and not kry.closed:
            kry.grow()
            if rtol is None:
                continue
            residuals.append(kry.residual)
            if residuals[-1] <= rtol * kry.beta0:
                break
            if len(residuals) > 5 and residuals[-6] - residuals[-1] <= 1e-3 * residuals[-1]:
                break  # least-squares floor: g is (numerically) outside range(H)
        return kry

    def grow(self) -> None:
        q = self.basis[-1]
        w = self.prob.hvp(self.op, q.reshape(1, -1))[0]
        a = float(q @ w)
        w = w - a * q
        if self.beta:
            w = w - self.beta[-1] * self.basis[-2]
        stack = torch.stack(self.basis)
        for _ in range(2):
            w = w - stack.T @ (stack @ w)
        b = float(w.norm())
        self.alpha.append(a)
        self.beta.append(b)
        scale = max(abs(x) for x in self.alpha) + max(self.beta)
        if b <= 1e3 * torch.finfo(w.dtype).eps * scale:
            self.closed = True
            self.beta[-1] = 0.0
        else:
            self.basis.append(w / b)
        self._update_residual()

    def _update_residual(self) -> None:
        """MINRES's recurrence: QR of ``T̄_k`` by Givens rotations, O(1) per step."""
        j = self.k - 1
        below = self.beta[j - 1] if j >= 1 else 0.0  # T̄[j-1, j]
        if j >= 2:
            below = self._rotations[j - 2][0] * below  # rotation j-2 acting on rows j-2, j-1
        diag = self.alpha[j]
        if j >= 1:
            c, s = self._rotations[j - 1]
            diag = -s * below + c * diag
        r = math.hypot(diag, self.beta[j])
        c, s = (diag / r, self.beta[j] / r) if r > 0 else (0.0, 1.0)
        self._rotations.append((c, s))
        self.residual *= abs(s)

    def tbar(self) -> np.ndarray:
        """``T̄_k``, ``(k + 1) × k``."""
        k = self.k
        t = np.zeros((k + 1, k))
        t[np.arange(k), np.arange(k)] = self.alpha
        t[np.arange(1, k + 1), np.arange(k)] = self.beta
        t[np.arange(k - 1), np.arange(1, k)] = self.beta[: k - 1]
        return t

    def rhs(self) -> np.ndarray:
        e = np.zeros(self.k + 1)
        e[0] = -self.beta0
        return e

    def step(self, y: np.ndarray) -> Tensor:
        v = torch.stack(self.basis[: self.k])
        return torch.as_tensor(y, dtype=v.dtype, device=v.device) @ v


def _least_squares(t: np.ndarray, rhs: np.ndarray, mu: float = 0.0) -> np.ndarray:
    """``argmin ‖T y − rhs‖² + μ ‖y‖²`` (minimum-norm when ``μ = 0`` and ``T`` is singular)."""
    if mu > 0:
        k = t.shape[1]
        a = np.vstack([t, math.sqrt(mu) * np.eye(k)])
        b = np.concatenate([rhs, np.zeros(k)])
        return np.linalg.lstsq(a, b, rcond=None)[0]
    return np.linalg.lstsq(t, rhs, rcond=1e-12)[0]


#: ``merit(loss, grad)`` that a line search must lower (NaN: the trial failed)
Merit = Callable[[float, Tensor], float]


def _half_squared_gradient(value: float, g: Tensor) -> float:
    """``φ = ½‖∇L‖²``, or NaN where the loss is not finite (such a trial is never accepted)."""
    return 0.5 * float(g @ g) if math.isfinite(value) else math.nan


def _loss(value: float, g: Tensor) -> float:
    return value


def _line_search(
    prob: Problem,
    theta: Tensor,
    p: Tensor,
    merit: Merit,
    merit0: float,
    slope: float,
    armijo: float,
    max_backtracks: int,
) -> Step | str:
    """Armijo backtracking: the first ``α = 1, ½, ¼, …`` with
    ``merit(θ + α p) ≤ merit₀ + armijo · α · slope`` (``slope`` = the merit's derivative
    along ``p``, negative); a message after ``max_backtracks`` halvings."""
    alpha = 1.0
    for _ in range(max_backtracks):
        trial = theta + alpha * p
        t_value, t_g = prob.evaluate(trial)
        if merit(t_value, t_g) <= merit0 + armijo * alpha * slope:
            return Step(trial, t_value, t_g, alpha * float(p.norm()))
        alpha *= 0.5
    return f"line search failed after {max_backtracks} halvings"


# ---------------------------------------------------------------- Newton-MR


def newton_mr(
    loss: PureLoss,
    params: Mapping[str, Tensor],
    data: Data | None = None,
    *,
    grad_tol: float = 1e-6,
    max_iter: int = 100,
    inner_iter: int = 50,
    inner_rtol: float = 1e-3,
    armijo: float = 1e-4,
    max_backtracks: int = 40,
    patience: int = 20,
    chunk_size: int | None = None,
    backend: FinderBackend = "forward",
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> CriticalPointResult:
    """Newton-MR: minimum-residual Newton steps with Armijo backtracking on ``‖∇L‖²``.

    Each iteration builds the Krylov space of ``H`` from ``g`` until the MINRES residual
    ``‖H p + g‖`` falls below ``inner_rtol · ‖g‖`` (or stagnates: ``g`` outside the range of a
    singular ``H``, or ``inner_iter`` products), then backtracks ``α = 1, ½, ¼, …`` until
    ``‖∇L(θ + α p)‖² ≤ ‖g‖² + 2 armijo · α ⟨p, H g⟩``. Converges to critical points of any
    index (Roosta et al. 2022).

    Args:
        loss, params, data: a pure loss, the starting point and its data (see
            :class:`~landscape.curvature.operator.HessianOperator`; ``data=None`` for a loss
            of the parameters alone).
        grad_tol: stop when ``‖∇L‖ ≤ grad_tol``.
        max_iter: outer iterations.
        inner_iter: most Hessian products per iteration.
        inner_rtol: relative residual of the inner least-squares solve.
        armijo: sufficient-decrease constant ``ρ``.
        max_backtracks: halvings of the step before giving up.
        chunk_size, device, dtype: as for ``HessianOperator`` (float64 recommended).
        backend: ``"forward"`` or ``"cached"`` (see ``HessianOperator``), or ``"dense"``:
            form the exact Hessian at each iterate with :func:`~.dense.dense_hessian` — much faster
            for small models (a few thousand parameters), where Krylov products would
            be dominated by per-call overhead.
        patience: stop early when ``‖∇L‖`` decreased by less than 0.1 % over the last
            ``patience`` iterations (a stall, typically at a minimum of ``‖∇L‖`` that is
            not a critical point); 0 never stops early.

    Returns:
        :class:`CriticalPointResult`.
    """
    check_common(grad_tol, max_iter, patience)
    prob = Problem(loss, params, data, chunk_size, backend, device, dtype)

    def step(theta: Tensor, value: float, g: Tensor) -> Step | str:
        kry = _Krylov.build(prob, theta, g, inner_iter, rtol=inner_rtol)
        tb = kry.tbar()
        y = _least_squares(tb, kry.rhs())
        p = kry.step(y)
        slope = kry.beta0 * float(y @ tb[: kry.k, 0])  # ⟨p, H g⟩ = ‖g‖ yᵀ T̄[:k, 0]
        if not slope < 0:
            return f"no descent direction for ‖∇L‖² (⟨p, Hg⟩ = {slope:.2e})"
        phi = 0.5 * kry.beta0**2
        return _line_search(
            prob, theta, p, _half_squared_gradient, phi, slope, armijo, max_backtracks
        )

    return solve(
        prob, step, method="newton_mr", grad_tol=grad_tol, max_iter=max_iter, patience=patience
    )


# ---------------------------------------------------------------- damped Newton (LM)


def damped_newton(
    loss: PureLoss,
    params: Mapping[str, Tensor],
    data: Data | None = None,
    *,
    grad_tol: float = 1e-6,
    max_iter: int = 100,
    damping: float = 1e-3,
    inner_iter: int = 30,
    max_rejections: int = 30,
    patience: int = 20,
    chunk_size: int | None = None,
    backend: FinderBackend = "forward",
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> CriticalPointResult:
    """Levenberg–Marquardt damped Newton on ``∇L(θ) = 0``, in the Krylov space of ``g``.

    The step minimises ``‖g + H p‖² + μ ‖p‖²`` over ``p ∈ K_k(H, g)``; a step is accepted
    when the actual decrease of ``½‖∇L‖²`` is a positive fraction of the predicted one, and
    ``μ`` shrinks after good steps and grows after rejected ones (Nielsen 1999) — a rejected
    step costs one gradient, no Hessian products. Attracted to critical points of any
    index, like Newton's method.

    Args:
        loss, params, data, grad_tol, max_iter, patience, chunk_size, backend, device,
            dtype: as for :func:`newton_mr`.
        damping: initial ``μ`` relative to ``‖T̄_k‖₂²`` (≈ ``‖H‖²``).
        inner_iter: Krylov dimension ``k`` per iteration.
        max_rejections: consecutive rejected steps before giving up.

    Returns:
        :class:`CriticalPointResult`.
    """
    check_common(grad_tol, max_iter, patience)
    check_positive("damping", damping)
    prob = Problem(loss, params, data, chunk_size, backend, device, dtype)
    mu_rel, nu = float(damping), 2.0

    def step(theta: Tensor, value: float, g: Tensor) -> Step | str:
        nonlocal mu_rel, nu
        kry = _Krylov.build(prob, theta, g, inner_iter)
        tb, rhs = kry.tbar(), kry.rhs()
        norm2 = float(np.linalg.norm(tb, 2)) ** 2
        phi = 0.5 * kry.beta0**2
        for _ in range(max_rejections):
            y = _least_squares(tb, rhs, mu_rel * norm2)
            predicted = phi - 0.5 * float(np.sum((tb @ y - rhs) ** 2))
            p = kry.step(y)
            t_value, t_g = prob.evaluate(theta + p)
            actual = phi - 0.5 * float(t_g @ t_g)
            rho = actual / predicted if predicted > 0 else -1.0
            if rho > 1e-4 and math.isfinite(t_value):
                mu_rel *= max(1 / 3, 1 - (2 * rho - 1) ** 3)
                nu = 2.0
                return Step(theta + p, t_value, t_g, float(p.norm()))
            mu_rel *= nu
            nu *= 2
        return f"{max_rejections} consecutive steps rejected (μ = {mu_rel:.1e} ‖H‖²)"

    return solve(
        prob, step, method="damped_newton", grad_tol=grad_tol, max_iter=max_iter,
        patience=patience,
    )  # fmt: skip


# ---------------------------------------------------------------- saddle-free Newton


def saddle_free_newton(
    loss: PureLoss,
    params: Mapping[str, Tensor],
    data: Data | None = None,
    *,
    grad_tol: float = 1e-6,
    max_iter: int = 100,
    damping: float = 1e-3,
    subspace: int = 20,
    armijo: float = 1e-4,
    max_backtracks: int = 40,
    chunk_size: int | None = None,
    backend: FinderBackend = "forward",
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> CriticalPointResult:
    """Saddle-free Newton (Dauphin et al. 2014) in a Krylov subspace: finds minima.

    In the ``k``-dimensional Krylov space of ``g``, ``T_k = U Θ Uᵀ`` and the step is
    ``p = −V_k U (|Θ| + μ)^{-1} Uᵀ V_kᵀ g``: Newton's step with every negative curvature
    flipped to positive, so it moves downhill along negative-curvature directions instead
    of being attracted to the saddle. ``μ = damping · max|Θ|``. Armijo backtracking on
    ``L``.

    Args:
        loss, params, data, grad_tol, max_iter, armijo, max_backtracks, chunk_size,
            backend, device, dtype: as for :func:`newton_mr`.
        damping: ``μ`` relative to the largest ``|θ|`` of ``T_k``.
        subspace: Krylov dimension ``k``.

    Returns:
        :class:`CriticalPointResult`.
    """
    check_common(grad_tol, max_iter)
    check_positive("damping", damping)
    prob = Problem(loss, params, data, chunk_size, backend, device, dtype)

    def step(theta: Tensor, value: float, g: Tensor) -> Step | str:
        kry = _Krylov.build(prob, theta, g, subspace)
        lam, u = np.linalg.eigh(kry.tbar()[: kry.k])
        mu = damping * max(float(np.abs(lam).max()), np.finfo(np.float64).tiny)
        y = -u @ ((u[0] * kry.beta0) / (np.abs(lam) + mu))  # −U (|Θ|+μ)⁻¹ Uᵀ (‖g‖ e₁)
        p = kry.step(y)
        slope = kry.beta0 * float(y[0])  # ⟨p, g⟩
        if not slope < 0:
            return f"no descent direction (⟨p, g⟩ = {slope:.2e})"
        return _line_search(prob, theta, p, _loss, value, slope, armijo, max_backtracks)

    return solve(prob, step, method="saddle_free_newton", grad_tol=grad_tol, max_iter=max_iter)


# ---------------------------------------------------------------- L-BFGS on the gradient norm


def _two_loop(pairs: list[tuple[Tensor, Tensor, float]], dphi: Tensor, gnorm: float) -> Tensor:
    """L-BFGS's two-loop recursion: ``−B⁻¹ ∇φ`` from the curvature ``pairs`` ``(s, y, 1/sᵀy)``.

    Initial scaling ``γ = sᵀy / yᵀy`` of the newest pair; without pairs, a step of length
    ``min(1, 1/‖∇φ‖) ‖g‖`` along ``−∇φ``.
    """
    q = dphi.clone()
    coefs = []
    for s, yv, rho in reversed(pairs):
        a = rho * float(s @ q)
        coefs.append(a)
        q = q - a * yv
    if pairs:
        s, yv, _ = pairs[-1]
        q = q * (float(s @ yv) / float(yv @ yv))
    else:
        q = q * min(1.0, 1.0 / max(float(dphi.norm()), 1e-300)) * gnorm
    for (s, yv, rho), a in zip(pairs, reversed(coefs), strict=True):
        b = rho * float(yv @ q)
        q = q + (a - b) * s
    return -q


def gradient_norm_lbfgs(
    loss: PureLoss,
    params: Mapping[str, Tensor],
    data: Data | None = None,
    *,
    grad_tol: float = 1e-6,
    max_iter: int = 500,
    history_size: int = 20,
    armijo: float = 1e-4,
    max_backtracks: int = 40,
    patience: int = 20,
    chunk_size: int | None = None,
    backend: Literal["forward", "cached"] = "forward",
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> CriticalPointResult:
    """L-BFGS on ``φ(θ) = ½‖∇L(θ)‖²`` (gradient ``H ∇L``: one Hessian product per step).

    Two-loop recursion over the last ``history_size`` pairs (pairs with ``sᵀy ≤ 0`` are
    skipped), initial scaling ``γ = sᵀy / yᵀy``, Armijo backtracking on ``φ`` (a trial costs
    one gradient; the accepted point one Hessian product).

    Args:
        loss, params, data, grad_tol, max_iter, armijo, max_backtracks, patience,
            chunk_size, device, dtype: as for :func:`newton_mr`.
        backend: ``"forward"`` or ``"cached"`` (one product per step: a dense Hessian would
            not pay).
        history_size: curvature pairs kept.

    Returns:
        :class:`CriticalPointResult`.
    """
    check_common(grad_tol, max_iter, patience)
    history_size = check_int("history_size", history_size, 1)
    check_choice("backend", backend, ("forward", "cached"))
    prob = Problem(loss, params, data, chunk_size, backend, device, dtype)
    pairs: list[tuple[Tensor, Tensor, float]] = []
    dphi = torch.zeros(0)  # ∇φ = H ∇L at the current point

    def grad_phi(th: Tensor, gr: Tensor) -> Tensor:
        return prob.hvp(prob.operator(th), gr.reshape(1, -1))[0]

    def start(theta: Tensor, g: Tensor) -> None:
        nonlocal dphi
        dphi = grad_phi(theta, g) if float(g.norm()) > grad_tol else torch.zeros_like(g)

    def step(theta: Tensor, value: float, g: Tensor) -> Step | str:
        nonlocal dphi
        gnorm = float(g.norm())
        d = _two_loop(pairs, dphi, gnorm)
        slope = float(d @ dphi)
        if not slope < 0:
            pairs.clear()
            d, slope = -dphi, -float(dphi @ dphi)
        out = _line_search(
            prob, theta, d, _half_squared_gradient, 0.5 * gnorm**2, slope, armijo, max_backtracks
        )
        if isinstance(out, str):
            return out
        t_dphi = grad_phi(out.theta, out.grad)
        s, yv = out.theta - theta, t_dphi - dphi
        sy = float(s @ yv)
        if sy > 1e-12 * float(s.norm()) * float(yv.norm()):
            pairs.append((s, yv, 1.0 / sy))
            del pairs[:-history_size]
        dphi = t_dphi
        return replace(out, length=float(s.norm()))

    return solve(
        prob, step, method="gradient_norm_lbfgs", grad_tol=grad_tol, max_iter=max_iter,
        patience=patience, start=start,
    )  # fmt: skip
