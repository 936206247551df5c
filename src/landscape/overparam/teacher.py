"""The Gaussian-input ReLU teacher–student loss in closed form, with its gradient and Hessian.

Safran & Shamir 2018, *Spurious Local Minima are Common in Two-Layer ReLU Neural Networks*:
a student ``x ↦ Σ_i relu(w_i·x)`` with ``n`` neurons (rows of ``W``, ``n×d``) learns a
teacher ``x ↦ Σ_j relu(v_j·x)`` (rows of ``V``, ``m×d``) under ``x ~ N(0, I_d)``:

    F(W; V) = ½ E_x[(Σ_i relu(w_i·x) − Σ_j relu(v_j·x))²]
            = ½ Σ_{i,i'} k(w_i, w_i') − Σ_{i,j} k(w_i, v_j) + ½ Σ_{j,j'} k(v_j, v_j'),

with the arc-cosine kernel (Cho & Saul 2009)

    k(u, w) = E[relu(u·x) relu(w·x)] = ‖u‖‖w‖ (sin θ + (π − θ) cos θ) / (2π),

``θ`` the angle between ``u`` and ``w``. Its derivative in the first argument is
``g(u, w) = (‖w‖ sin θ ū + (π − θ) w) / (2π)`` (``ū = u/‖u‖``), so

    ∇_{w_i} F = Σ_{i'} g(w_i, w_i') − Σ_j g(w_i, v_j),     g(w, w) = w/2.

The Hessian blocks follow from ``∂_u g = ‖w‖ sin θ (I − ūūᵀ + n_u n_uᵀ) / (2π‖u‖)`` and
``∂_w g = ((π − θ) I + sin θ (ū w̄ᵀ + n_u n_wᵀ)) / (2π)``, where ``n_u`` is the unit vector
along ``w̄ − cos θ ū`` (and ``n_w`` along ``ū − cos θ w̄``); both appear multiplied by
``sin θ``, so parallel pairs (the diagonal ``θ = 0`` and ``θ = π``) are finite: the
direction is set to zero there. The angle is ``arccos`` of the Gram matrix of unit
vectors, recomputed as ``θ = 2 atan2(‖ū − w̄‖, ‖ū + w̄‖)`` for nearly (anti)parallel pairs,
where ``arccos`` loses half the digits.

Every function takes one student ``W`` (``n×d``) or a batch (``R×n×d``, one student per
row of the leading axis) and the teacher ``V`` (``m×d``, or ``R×m×d``); parameters are
flattened neuron by neuron (index ``i·d + a``) in the Hessian. Work in float64 for
critical points: the search stops at gradient norms of 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .._errors import LandscapeError

__all__ = [
    "arccos_kernel",
    "relu_population_grad",
    "relu_population_hessian",
    "relu_population_loss",
]

_TWO_PI = 2.0 * math.pi
#: |cos θ| above which the angle is recomputed as 2 atan2(‖ū − w̄‖, ‖ū + w̄‖)
_NEAR_PARALLEL = 0.9


def _as_tensor(name: str, x: object, like: Tensor | None = None) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor):
        raise LandscapeError(
            f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise LandscapeError(
            f"{name} must be floating point (float64 for critical points), got {x.dtype}"
        )
    if like is not None:
        x = x.to(device=like.device, dtype=like.dtype)
    return x


def _check(W: object, V: object) -> tuple[Tensor, Tensor, bool]:
    """Tensors ``(R×n×d, R×m×d or 1×m×d, batched)``; one-line errors for bad shapes."""
    W = _as_tensor("W", W)
    V = _as_tensor("V", V, like=W)
    if W.ndim not in (2, 3) or W.shape[-1] == 0 or W.shape[-2] == 0:
        raise LandscapeError(
            f"W must be n×d (one student) or R×n×d (R students), rows are neurons; "
            f"got shape {tuple(W.shape)}"
        )
    if V.ndim not in (2, 3) or V.shape[-2] == 0:
        raise LandscapeError(f"V (the teacher) must be m×d or R×m×d, got shape {tuple(V.shape)}")
    if V.shape[-1] != W.shape[-1]:
        raise LandscapeError(
            f"W and V must have the same input dimension d: W is {tuple(W.shape)}, "
            f"V is {tuple(V.shape)}"
        )
    batched = W.ndim == 3
    if V.ndim == 3 and (not batched or V.shape[0] != W.shape[0]):
        raise LandscapeError(
            f"a batched teacher V {tuple(V.shape)} needs a batched W with the same R, "
            f"got W {tuple(W.shape)}"
        )
    Wb = W if batched else W.unsqueeze(0)
    Vb = V if V.ndim == 3 else V.unsqueeze(0)
    return Wb, Vb, batched


class _Pairs:
    """Angles and unit vectors of every pair ``(u_i, w_b)`` of two stacks of vectors."""

    def __init__(self, U: Tensor, W: Tensor, same: bool = False) -> None:
        tiny = torch.finfo(U.dtype).tiny
        self.nu = U.norm(dim=-1)  # R×n
        self.nw = W.norm(dim=-1)  # R×m
        self.ub = U / self.nu.clamp_min(tiny).unsqueeze(-1)
        self.wb = W / self.nw.clamp_min(tiny).unsqueeze(-1)
        cos = (self.ub @ self.wb.transpose(-1, -2)).clamp(-1.0, 1.0)  # R×n×m
        # arccos loses half the digits near ±1: recompute those pairs from the differences
        near = cos.abs() > _NEAR_PARALLEL
        theta = torch.arccos(torch.where(near, torch.zeros_like(cos), cos))
        if bool(near.any()):
            r, i, b = near.nonzero(as_tuple=True)
            ru = r if self.ub.shape[0] > 1 else torch.zeros_like(r)
            rw = r if self.wb.shape[0] > 1 else torch.zeros_like(r)
            u, w = self.ub[ru, i], self.wb[rw, b]
            theta = theta.index_put(
                (r, i, b), 2.0 * torch.atan2((u - w).norm(dim=-1), (u + w).norm(dim=-1))
            )
        if same:  # a neuron with itself: exactly parallel
            theta = theta * (1 - torch.eye(theta.shape[-1], dtype=theta.dtype, device=theta.device))
        self.theta = theta
        self.sin = torch.sin(theta)
        self.cos = torch.cos(theta)

    def kernel(self) -> Tensor:
        """``k(u_i, w_b)``, ``R×n×m``."""
        shape = self.sin + (math.pi - self.theta) * self.cos
        return self.nu.unsqueeze(-1) * self.nw.unsqueeze(-2) * shape / _TWO_PI

    def normals(self) -> tuple[Tensor, Tensor]:
        """``n_u`` (along ``w̄ − cos θ ū``) and ``n_w`` (along ``ū − cos θ w̄``), ``R×n×m×d``;
        zero where the pair is parallel (they are only used multiplied by ``sin θ``)."""
        c = self.cos.unsqueeze(-1)
        ub, wb = self.ub.unsqueeze(-2), self.wb.unsqueeze(-3)
        a = wb - c * ub
        b = ub - c * wb
        eps = 64 * torch.finfo(a.dtype).eps
        na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
        a = torch.where(na > eps, a / na.clamp_min(eps), torch.zeros_like(a))
        b = torch.where(nb > eps, b / nb.clamp_min(eps), torch.zeros_like(b))
        return a, b

    def grad_first(self, W: Tensor) -> Tensor:
        """``Σ_b g(u_i, w_b)``, ``R×n×d``."""
        coef = self.nw.unsqueeze(-2) * self.sin  # R×n×m
        along_u = coef.sum(-1, keepdim=True) * self.ub
        along_w = torch.einsum("rnm,rmd->rnd", math.pi - self.theta, W)
        return (along_u + along_w) / _TWO_PI


def arccos_kernel(U: Tensor, W: Tensor) -> Tensor:
    """The arc-cosine kernel ``k(u_i, w_b) = E[relu(u_i·x) relu(w_b·x)]`` of every pair.

    Args:
        U: ``n×d`` or ``R×n×d``.
        W: ``m×d`` or ``R×m×d``.

    Returns:
        ``n×m`` (or ``R×n×m``).

    Raises:
        LandscapeError: shapes that do not match.
    """
    Ub, Wb, batched = _check(U, W)
    out = _Pairs(Ub, Wb).kernel()
    return out if batched else out[0]


def _loss(W: Tensor, V: Tensor) -> Tensor:
    kww = _Pairs(W, W, same=True).kernel().sum((-1, -2))
    kwv = _Pairs(W, V).kernel().sum((-1, -2))
    kvv = _Pairs(V, V, same=True).kernel().sum((-1, -2))
    return 0.5 * kww - kwv + 0.5 * kvv


def _grad(W: Tensor, V: Tensor) -> Tensor:
    return _Pairs(W, W, same=True).grad_first(W) - _Pairs(W, V).grad_first(V)


def relu_population_loss(W: Tensor, V: Tensor) -> Tensor:
    """``F(W; V) = ½ E_{x~N(0,I)}[(Σ_i relu(w_i·x) − Σ_j relu(v_j·x))²]`` in closed form.

    Safran & Shamir 2018, equation (1).

    Args:
        W: the student, ``n×d`` or ``R×n×d`` (rows are neurons).
        V: the teacher, ``m×d`` (shared) or ``R×m×d``.

    Returns:
        ``F``: a scalar, or ``(R,)``.

    Raises:
        LandscapeError: not a floating tensor, or shapes that do not match.

    Example:
        >>> import torch
        >>> float(relu_population_loss(torch.eye(3), torch.eye(3)))
        0.0
    """
    Wb, Vb, batched = _check(W, V)
    out = _loss(Wb, Vb)
    return out if batched else out[0]


def relu_population_grad(W: Tensor, V: Tensor) -> Tensor:
    """The exact gradient ``∇_W F(W; V)``, the same shape as ``W``.

    Safran & Shamir's code (and their stopping rule) use ``2π ∇F``; multiply by ``2π``
    to compare with it.

    Raises:
        LandscapeError: as :func:`relu_population_loss`.
    """
    Wb, Vb, batched = _check(W, V)
    out = _grad(Wb, Vb)
    return out if batched else out[0]


def _hessian(W: Tensor, V: Tensor) -> Tensor:
    R, n, d = W.shape
    eye = torch.eye(d, dtype=W.dtype, device=W.device)
    ww, wv = _Pairs(W, W, same=True), _Pairs(W, V)

    def diag_part(p: _Pairs, sign: float) -> Tensor:
        # Σ_b ‖w_b‖ sin θ_ib / (2π‖u_i‖) (I − ū_i ū_iᵀ + n n ᵀ)
        nu, _ = p.normals()
        a = p.nw.unsqueeze(-2) * p.sin / (_TWO_PI * p.nu.clamp_min(1e-300).unsqueeze(-1))
        proj = eye - torch.einsum("rna,rnb->rnab", p.ub, p.ub)
        return sign * (
            a.sum(-1)[..., None, None] * proj + torch.einsum("rnm,rnma,rnmb->rnab", a, nu, nu)
        )

    diag = 0.5 * eye + diag_part(ww, 1.0) + diag_part(wv, -1.0)  # R×n×d×d
    nu, nw = ww.normals()
    s = ww.sin
    cross = (
        (math.pi - ww.theta)[..., None, None] * eye
        + s[..., None, None] * torch.einsum("rna,rmb->rnmab", ww.ub, ww.wb)
        + torch.einsum("rnm,rnma,rnmb->rnmab", s, nu, nw)
    ) / _TWO_PI  # R×n×n×d×d, block (i, b) for b ≠ i
    mask = torch.eye(n, dtype=torch.bool, device=W.device)
    cross = torch.where(mask[None, :, :, None, None], diag.unsqueeze(2), cross)
    return cross.permute(0, 1, 3, 2, 4).reshape(R, n * d, n * d)


def relu_population_hessian(W: Tensor, V: Tensor) -> Tensor:
    """The exact Hessian of ``F`` in ``W``, flattened neuron by neuron (index ``i·d + a``).

    Returns:
        ``(n·d)×(n·d)``, or ``R×(n·d)×(n·d)`` for a batch; symmetric up to rounding.

    Raises:
        LandscapeError: as :func:`relu_population_loss`.
    """
    Wb, Vb, batched = _check(W, V)
    out = _hessian(Wb, Vb)
    out = 0.5 * (out + out.transpose(-1, -2))
    return out if batched else out[0]
