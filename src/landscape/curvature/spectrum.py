"""Spectra of curvature operators: extreme eigenpairs and the spectral density.

* :func:`eigenpairs` — the ``k`` largest or smallest eigenvalues and eigenvectors by Lanczos
  with full reorthogonalisation (Lanczos 1950; Paige 1971; Golub & Van Loan, *Matrix
  Computations*, §10.3), or by scipy's ARPACK ``eigsh`` on the same operator. Convergence is
  judged on the residual ``‖A y − θ y‖`` of each Ritz pair, which is *recomputed
  explicitly* before returning: a pair reported as converged has ``‖A y − θ y‖ ≤ tol ·
  scale`` with ``scale`` the largest ``|θ|`` seen (an estimate of ``‖A‖₂``). For a symmetric
  matrix this bounds the eigenvalue error, ``|λ − θ| ≤ ‖r‖`` (and ``≤ ‖r‖² / gap``).
* :func:`slq` / :func:`spectral_density` — stochastic Lanczos quadrature (Golub & Meurant
  1994; Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019, *An Investigation into
  Neural Net Optimization via Hessian Eigenvalue Density*): ``m`` Lanczos steps from each of
  ``V`` random unit probes give Ritz values ``θ_vi`` and weights ``w_vi = (e₁ᵀ s_vi)²``
  (summing to 1 per probe); the density ``φ(t) = (1/V) Σ_v Σ_i w_vi 𝒩(t; θ_vi, σ²)``
  estimates the spectral density ``(1/P) Σ_j δ(t − λ_j)`` smoothed by a Gaussian of width
  ``σ``. All ``V`` probes advance together, one batched operator product per step.

The index (the count of negative eigenvalues), exact or from the SLQ quadrature, is in
:mod:`.index`.

Shape letters: ``P`` parameters, ``k`` eigenpairs, ``V`` probes, ``m`` Lanczos steps,
``G`` grid points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from torch import Tensor

from .._errors import LandscapeError, check_choice
from .._validate import check_int, check_positive
from .operator import CurvatureOperator, as_operator

__all__ = [
    "DensityResult",
    "EigenResult",
    "SLQResult",
    "eigenpairs",
    "gaussian_density",
    "lanczos_basis",
    "slq",
    "spectral_density",
]

Which = Literal["top", "bottom"]


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class EigenResult:
    """Extreme eigenpairs of a symmetric operator and how well they were computed.

    Attributes:
        eigenvalues: ``(k,)`` Ritz values, descending for ``"top"``, ascending for ``"bottom"``.
        eigenvectors: ``(P, k)`` orthonormal Ritz vectors (columns).
        residuals: ``(k,)`` explicitly recomputed ``‖A y_i − θ_i y_i‖``.
        tol: the requested relative tolerance.
        scale: the norm the tolerance is relative to (largest ``|θ|`` seen, ≈ ``‖A‖₂``).
        converged: every residual is ``≤ tol · scale``.
        num_hvps: operator products spent (including the final residual check).
        iterations: Lanczos steps (or ARPACK's operator calls for ``method="scipy"``).
        which, method: what was asked for and how it was computed.
    """

    eigenvalues: Tensor
    eigenvectors: Tensor
    residuals: Tensor
    tol: float
    scale: float
    converged: bool
    num_hvps: int
    iterations: int
    which: str
    method: str

    @property
    def max_relative_residual(self) -> float:
        """``max_i ‖r_i‖ / scale`` — compare with ``tol``."""
        return float(self.residuals.max()) / self.scale if self.scale > 0 else 0.0

    def summary(self) -> dict[str, object]:
        """Plain-Python numbers for a table or a run store (no eigenvectors)."""
        return {
            "which": self.which,
            "method": self.method,
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "residuals": [float(v) for v in self.residuals],
            "tol": self.tol,
            "max_relative_residual": self.max_relative_residual,
            "converged": self.converged,
            "num_hvps": self.num_hvps,
            "iterations": self.iterations,
        }


@dataclass(frozen=True)
class SLQResult:
    """The Gauss quadrature of stochastic Lanczos: nodes and weights per probe.

    Attributes:
        nodes: ``(V, m)`` Ritz values of each probe's tridiagonal matrix (a probe whose Krylov
            space closed early is padded with its own nodes at zero weight).
        weights: ``(V, m)`` non-negative weights, each row summing to 1.
        num_params: ``P``.
        num_steps: Lanczos steps per probe ``m``.
        num_hvps: operator products spent.
        seed: seed of the probes.
    """

    nodes: Tensor
    weights: Tensor
    num_params: int
    num_steps: int
    num_hvps: int
    seed: int

    @property
    def num_probes(self) -> int:
        return int(self.nodes.shape[0])

    @property
    def spectral_range(self) -> tuple[float, float]:
        """Smallest and largest node (Lanczos extremes converge fast to ``λ_min``, ``λ_max``)."""
        return float(self.nodes.min()), float(self.nodes.max())


@dataclass(frozen=True)
class DensityResult:
    """A smoothed spectral density on a grid.

    Attributes:
        grid: ``(G,)`` eigenvalue axis.
        density: ``(G,)`` values of ``φ``; integrates to ≈ 1 over the grid.
        sigma: Gaussian broadening width.
        quadrature: the SLQ nodes and weights it came from (``None`` for exact eigenvalues).
    """

    grid: Tensor
    density: Tensor
    sigma: float
    quadrature: SLQResult | None = None

    def integral(self) -> float:
        """Trapezoid integral of the density over the grid (≈ 1)."""
        return float(torch.trapezoid(self.density, self.grid))


# ---------------------------------------------------------------- helpers


def _start_vectors(
    n: int, p: int, seed: int, kind: str, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """``n`` unit vectors in ``R^p``, drawn on the CPU (same seed, same vectors on any device)."""
    gen = torch.Generator().manual_seed(int(seed))
    if kind == "rademacher":
        z = torch.randint(0, 2, (n, p), generator=gen, dtype=torch.int8).to(torch.float64) * 2 - 1
    else:
        z = torch.randn(n, p, generator=gen, dtype=torch.float64)
    z = z / z.norm(dim=1, keepdim=True)
    return z.to(device=device, dtype=dtype)


def _tridiag_eig(alpha: list[float], beta: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of the symmetric tridiagonal ``T`` (diagonal ``alpha``)."""
    d = np.asarray(alpha, dtype=np.float64)
    if d.size == 1:
        return d.copy(), np.ones((1, 1))
    e = np.asarray(beta[: d.size - 1], dtype=np.float64)
    return eigh_tridiagonal(d, e)


def _orthogonalize(w: Tensor, basis: Tensor) -> Tensor:
    """Remove from ``w`` (``(P,)``) its components along the orthonormal rows of ``basis``.

    Classical Gram–Schmidt applied twice ("twice is enough", Parlett 1980).
    """
    for _ in range(2):
        w = w - basis.T @ (basis @ w)
    return w


def lanczos_basis(
    operator: CurvatureOperator | Tensor, num_steps: int, *, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """An orthonormal Krylov basis ``V`` (``(m, P)``, rows) and ``T = V A Vᵀ``'s diagonal.

    ``num_steps`` Lanczos steps from a seeded Gaussian start, fully reorthogonalised (a
    closed Krylov space continues from a fresh orthogonal random vector), so
    ``V Vᵀ = I`` to working precision and ``tr(V A Vᵀ) = Σ α_i`` exactly. Used to deflate
    the trace estimator; the basis concentrates on the spectrum's extremes.

    Returns:
        ``(V, alpha)``: ``(m, P)`` basis and ``(m,)`` diagonal of ``T`` (float64, CPU).
    """
    op = as_operator(operator)
    check_int("num_steps", num_steps, 1)
    p, device, dtype = op.shape[0], op.device, op.dtype
    m = min(int(num_steps), p)
    basis = torch.empty(m, p, device=device, dtype=dtype)
    basis[0] = _start_vectors(1, p, seed, "gaussian", device, dtype)[0]
    gen = torch.Generator().manual_seed(int(seed) + 1)
    alpha, b_prev, scale = [], 0.0, 0.0
    eps = torch.finfo(dtype).eps
    for j in range(m):
        w = op.apply_rows(basis[j : j + 1])[0]
        a = float(basis[j] @ w)
        alpha.append(a)
        if j + 1 == m:
            break
        w = w - a * basis[j] - (b_prev * basis[j - 1] if j else 0.0)
        w = _orthogonalize(w, basis[: j + 1])
        b = float(w.norm())
        scale = max(scale, abs(a) + b + b_prev)
        if b <= 100 * eps * scale:
            w = _orthogonalize(
                torch.randn(p, generator=gen, dtype=torch.float64).to(device, dtype),
                basis[: j + 1],
            )
            b, b_prev = float(w.norm()), 0.0
        else:
            b_prev = b
        basis[j + 1] = w / b
    return basis, torch.tensor(alpha, dtype=torch.float64)


# ---------------------------------------------------------------- eigenpairs


def eigenpairs(
    operator: CurvatureOperator | Tensor,
    k: int = 1,
    which: Which = "top",
    *,
    tol: float = 1e-4,
    max_iter: int | None = None,
    method: Literal["lanczos", "scipy"] = "lanczos",
    seed: int = 0,
) -> EigenResult:
    """The ``k`` largest (``"top"``) or smallest (``"bottom"``) eigenpairs of a symmetric operator.

    Lanczos with full reorthogonalisation grows a Krylov basis one operator product at a
    time. After each step the Ritz residuals are estimated for free (``|β_m s_{m,i}|``);
    once the wanted ``k`` look converged, the Ritz vectors are formed and their residuals
    recomputed with one batched product — only if that check passes is the result marked
    converged (otherwise the iteration continues, up to ``max_iter``). When the Krylov space
    closes (an invariant subspace: exactly repeated eigenvalues, low rank) the recursion
    restarts from a random vector orthogonal to it, and returns once a whole restarted
    subspace leaves the wanted values unchanged — single-vector Lanczos finds one copy of
    a repeated eigenvalue per such subspace.

    Args:
        operator: a :class:`~landscape.curvature.operator.CurvatureOperator` or a dense
            symmetric ``(P, P)`` tensor.
        k: number of eigenpairs.
        which: ``"top"`` (largest algebraic) or ``"bottom"`` (smallest algebraic, e.g. the most
            negative curvature).
        tol: relative residual tolerance, ``‖A y − θ y‖ ≤ tol · ‖A‖₂`` (the eigenvalue error
            is at most that; ≈ the float's resolution is the floor: ~1e-6 in float32).
        max_iter: most Lanczos steps (basis vectors kept: memory ``max_iter × P``); default
            ``min(P, max(300, 4k))``. For ``"scipy"``, ARPACK's ``maxiter``.
        method: ``"lanczos"`` (this module) or ``"scipy"`` (ARPACK ``eigsh`` through
            :meth:`~landscape.curvature.operator.CurvatureOperator.to_scipy`).
        seed: seed of the start vector.

    Returns:
        :class:`EigenResult` (on the operator's device, in its dtype).

    Raises:
        LandscapeError: ``k`` not in ``1..P``, unknown ``which``/``method``, ``tol <= 0``.
    """
    op = as_operator(operator)
    p = op.shape[0]
    check_choice("which", which, ("top", "bottom"))
    check_choice("method", method, ("lanczos", "scipy"))
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= p:
        raise LandscapeError(f"k must be an integer in 1..{p} (the operator size), got {k!r}")
    check_positive("tol", tol)
    if max_iter is not None:
        check_int("max_iter", max_iter, 1)
    start = op.num_hvps
    if method == "scipy":
        return _eigsh(op, int(k), which, tol, max_iter, seed, start)
    m_max = min(p, max(300, 4 * int(k))) if max_iter is None else min(p, int(max_iter))
    m_max = max(m_max, int(k))
    return _lanczos_eig(op, int(k), which, tol, m_max, seed, start)


def _finish(
    op: CurvatureOperator,
    theta: Tensor,
    vectors: Tensor,
    which: str,
    tol: float,
    scale: float,
    start: int,
    iterations: int,
    method: str,
) -> EigenResult:
    """Recompute residuals explicitly (one batched product) and package the result."""
    av = op.apply_rows(vectors.T)  # (k, P)
    res = (av - theta[:, None] * vectors.T).norm(dim=1)
    scale = max(scale, float(theta.abs().max()))
    return EigenResult(
        eigenvalues=theta,
        eigenvectors=vectors,
        residuals=res,
        tol=float(tol),
        scale=scale,
        converged=bool((res <= tol * scale).all()),
        num_hvps=op.num_hvps - start,
        iterations=iterations,
        which=which,
        method=method,
    )


def _select(theta: np.ndarray, k: int, which: str) -> np.ndarray:
    """Indices of the wanted Ritz values, in output order."""
    order = np.argsort(theta)
    return order[::-1][:k] if which == "top" else order[:k]


def _lanczos_eig(
    op: CurvatureOperator, k: int, which: str, tol: float, m_max: int, seed: int, start: int
) -> EigenResult:
    p, device, dtype = op.shape[0], op.device, op.dtype
    basis = torch.empty(m_max, p, device=device, dtype=dtype)
    basis[0] = _start_vectors(1, p, seed, "gaussian", device, dtype)[0]
    alpha: list[float] = []
    beta: list[float] = []
    gen = torch.Generator().manual_seed(int(seed) + 1)
    eps = torch.finfo(dtype).eps
    margin = 1.0  # shrinks if an estimate-based convergence claim fails the explicit check
    scale = 0.0
    next_check = k
    restarts = 0
    previous: np.ndarray | None = None  # wanted Ritz values at the last invariant subspace
    for j in range(m_max):
        w = op.apply_rows(basis[j : j + 1])[0]
        a = float(basis[j] @ w)
        w = w - a * basis[j]
        if j > 0:
            w = w - beta[-1] * basis[j - 1]
        w = _orthogonalize(w, basis[: j + 1])
        b = float(w.norm())
        alpha.append(a)
        beta.append(b)
        m = j + 1
        scale = max(scale, abs(a) + b + (beta[-2] if j > 0 else 0.0))
        broke = b <= 100 * eps * scale
        last = m == m_max
        if m >= next_check or broke or last:
            theta, s = _tridiag_eig(alpha, beta)
            sel = _select(theta, k, which) if m >= k else None
            ritz_scale = float(np.abs(theta).max())
            accept = last
            if sel is not None and broke:
                # An invariant subspace holds one copy of each eigenvalue it touches; repeated
                # eigenvalues need more restarts. Accept once a whole restarted subspace left
                # the wanted values unchanged.
                accept = accept or (
                    previous is not None
                    and bool(np.all(np.abs(theta[sel] - previous) <= tol * ritz_scale))
                )
                previous = theta[sel]
            elif sel is not None and restarts == 0:
                est = np.abs(b * s[-1, sel])
                accept = accept or bool((est <= margin * tol * ritz_scale).all())
            if accept and sel is not None:
                coef = torch.as_tensor(s[:, sel], device=device, dtype=dtype)
                vectors = basis[:m].T @ coef
                th = torch.as_tensor(theta[sel], device=device, dtype=dtype)
                result = _finish(op, th, vectors, which, tol, ritz_scale, start, m, "lanczos")
                if result.converged or last:
                    return result
                margin *= 0.1
            # check every step while the basis is small, then every ~5 % of it
            next_check = m + max(1, m // 20)
        if last:
            break
        if broke:
            # invariant subspace: continue from a fresh random direction orthogonal to it
            restarts += 1
            fresh = torch.randn(p, generator=gen, dtype=torch.float64).to(device, dtype)
            w = _orthogonalize(fresh, basis[:m])
            beta[-1] = 0.0
            b = float(w.norm())
        basis[m] = w / b
    raise AssertionError("unreachable")  # pragma: no cover


def _eigsh(
    op: CurvatureOperator,
    k: int,
    which: str,
    tol: float,
    max_iter: int | None,
    seed: int,
    start: int,
) -> EigenResult:
    from scipy.sparse.linalg import ArpackNoConvergence, eigsh

    p = op.shape[0]
    if k >= p:
        raise LandscapeError(f"method='scipy' needs k < P={p}; use method='lanczos'")
    v0 = _start_vectors(1, p, seed, "gaussian", torch.device("cpu"), torch.float64)[0].numpy()
    np_dtype = np.float64 if op.dtype == torch.float64 else np.float32
    try:
        vals, vecs = eigsh(
            op.to_scipy(),
            k=k,
            which="LA" if which == "top" else "SA",
            tol=tol,
            v0=v0.astype(np_dtype),
            maxiter=max_iter,
        )
    except ArpackNoConvergence as err:
        vals, vecs = err.eigenvalues, err.eigenvectors
        if len(vals) == 0:
            vals = np.zeros(1)
            vecs = v0.reshape(-1, 1)
    order = np.argsort(vals)[::-1] if which == "top" else np.argsort(vals)
    theta = torch.as_tensor(vals[order].copy(), device=op.device, dtype=op.dtype)
    vectors = torch.as_tensor(vecs[:, order].copy(), device=op.device, dtype=op.dtype)
    calls = op.num_hvps - start
    return _finish(op, theta, vectors, which, tol, 0.0, start, calls, "scipy")


# ---------------------------------------------------------------- stochastic Lanczos quadrature


def slq(
    operator: CurvatureOperator | Tensor,
    num_probes: int = 8,
    num_steps: int = 64,
    *,
    seed: int = 0,
    probes: Literal["rademacher", "gaussian"] = "rademacher",
    reorthogonalize: bool = True,
) -> SLQResult:
    """Stochastic Lanczos quadrature of the spectral density (Ghorbani et al. 2019).

    Each of ``V`` probes (Rademacher or Gaussian, normalised) starts an ``m``-step Lanczos
    recursion; all probes advance together, so each step is one batched operator product
    over ``V`` vectors (one dataset pass). The eigen-decomposition ``T_v = S Θ Sᵀ`` of each
    tridiagonal matrix gives nodes ``θ_vi`` and weights ``w_vi = S[0, i]²``: for any smooth
    ``f``, ``(1/P) tr f(A) ≈ (1/V) Σ_v Σ_i w_vi f(θ_vi)``.

    Args:
        operator: a curvature operator or a dense symmetric tensor.
        num_probes: ``V``.
        num_steps: ``m`` (capped at ``P``); 60–100 resolve a network Hessian's density well.
        seed: seed of the probes.
        probes: ``"rademacher"`` (±1) or ``"gaussian"``.
        reorthogonalize: full reorthogonalisation against all previous Lanczos vectors
            (memory ``V × m × P``); without it only three vectors per probe are kept and
            spurious copies of converged Ritz values appear (the density is still usable).

    Returns:
        :class:`SLQResult`.

    Raises:
        LandscapeError: non-positive ``num_probes``/``num_steps`` or unknown ``probes``.
    """
    op = as_operator(operator)
    check_choice("probes", probes, ("rademacher", "gaussian"))
    check_int("num_probes", num_probes, 1)
    check_int("num_steps", num_steps, 1)
    p, device, dtype = op.shape[0], op.device, op.dtype
    n_v, m = int(num_probes), min(int(num_steps), p)
    start = op.num_hvps
    q = _start_vectors(n_v, p, seed, probes, device, dtype)
    basis = torch.empty(n_v, m, p, device=device, dtype=dtype) if reorthogonalize else None
    q_prev = torch.zeros_like(q)
    alpha = np.zeros((n_v, m))
    beta = np.zeros((n_v, m))
    length = np.full(n_v, m)
    active = np.ones(n_v, dtype=bool)
    eps = torch.finfo(dtype).eps
    scale = np.zeros(n_v)
    for j in range(m):
        if basis is not None:
            basis[:, j] = q
        live = np.flatnonzero(active)
        w = torch.zeros_like(q)
        w[live] = op.apply_rows(q[live])
        a = (q * w).sum(dim=1)
        b_prev = torch.as_tensor(beta[:, j - 1] if j else np.zeros(n_v), dtype=dtype).to(device)
        w = w - a[:, None] * q - b_prev[:, None] * q_prev
        if basis is not None:
            for _ in range(2):
                coef = torch.einsum("vjp,vp->vj", basis[:, : j + 1], w)
                w = w - torch.einsum("vj,vjp->vp", coef, basis[:, : j + 1])
        b = w.norm(dim=1)
        a_np, b_np = a.double().cpu().numpy(), b.double().cpu().numpy()
        alpha[live, j] = a_np[live]
        beta[live, j] = b_np[live]
        scale = np.maximum(scale, np.abs(alpha[:, j]) + beta[:, j] + (beta[:, j - 1] if j else 0))
        done = active & (b_np <= 100 * eps * np.maximum(scale, np.finfo(np.float64).tiny))
        length[done] = j + 1
        active &= ~done
        if j + 1 == m or not active.any():
            break
        keep = torch.as_tensor(active, device=device)
        safe = torch.where(keep, b, torch.ones_like(b))
        q_prev, q = q, torch.where(keep[:, None], w / safe[:, None], torch.zeros_like(w))
    nodes = np.zeros((n_v, m))
    weights = np.zeros((n_v, m))
    for v in range(n_v):
        n = int(length[v])
        theta, s = _tridiag_eig(list(alpha[v, :n]), list(beta[v, :n]))
        nodes[v, :n], weights[v, :n] = theta, s[0] ** 2
        nodes[v, n:] = theta[0]
    weights /= weights.sum(axis=1, keepdims=True)
    return SLQResult(
        nodes=torch.as_tensor(nodes, dtype=dtype).to(device),
        weights=torch.as_tensor(weights, dtype=dtype).to(device),
        num_params=p,
        num_steps=m,
        num_hvps=op.num_hvps - start,
        seed=int(seed),
    )


def gaussian_density(nodes: Tensor, weights: Tensor, grid: Tensor, sigma: float) -> Tensor:
    """``φ(t) = Σ_i w_i 𝒩(t; θ_i, σ²)`` on ``grid``, the weights normalised to sum to 1.

    With ``weights`` ``(V, m)`` (SLQ) the rows are averaged; with exact eigenvalues pass
    ``weights = torch.ones_like(eigenvalues)``.

    Args:
        nodes: eigenvalues or Ritz values, any shape.
        weights: non-negative, same shape as ``nodes``.
        grid: ``(G,)`` points ``t``.
        sigma: broadening width ``σ > 0``.

    Returns:
        ``(G,)`` density values.
    """
    check_positive("sigma", sigma)
    if nodes.shape != weights.shape:
        raise LandscapeError(
            f"nodes {tuple(nodes.shape)} and weights {tuple(weights.shape)} must have one shape"
        )
    th, w = nodes.reshape(-1), weights.reshape(-1).to(nodes.dtype)
    w = w / w.sum()
    grid = grid.to(device=nodes.device, dtype=nodes.dtype)
    z = (grid[:, None] - th[None, :]) / sigma
    return (torch.exp(-0.5 * z * z) @ w) / (sigma * math.sqrt(2 * math.pi))


def spectral_density(
    source: CurvatureOperator | Tensor | SLQResult,
    *,
    sigma: float | None = None,
    grid: Tensor | None = None,
    num_points: int = 1024,
    num_probes: int = 8,
    num_steps: int = 64,
    seed: int = 0,
) -> DensityResult:
    """Smoothed spectral density by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    Args:
        source: an operator or dense symmetric tensor (SLQ is run with ``num_probes``,
            ``num_steps``, ``seed``), or an :class:`SLQResult` already computed.
        sigma: Gaussian broadening; default 1 % of the spectral range ``λ_max − λ_min``.
        grid: evaluation points; default ``num_points`` points over
            ``[λ_min − 6σ, λ_max + 6σ]`` (so the density integrates to ≈ 1).
        num_points: grid size when ``grid`` is not given.
        num_probes, num_steps, seed: SLQ settings (see :func:`slq`).

    Returns:
        :class:`DensityResult`.

    Raises:
        LandscapeError: non-positive ``sigma`` or ``num_points``.
    """
    quad = (
        source if isinstance(source, SLQResult) else slq(source, num_probes, num_steps, seed=seed)
    )
    lo, hi = quad.spectral_range
    width = hi - lo
    if sigma is None:
        sigma = 0.01 * width if width > 0 else max(abs(hi), 1.0) * 1e-3
    check_positive("sigma", sigma)
    if grid is None:
        check_int("num_points", num_points, 1)
        grid = torch.linspace(lo - 6 * sigma, hi + 6 * sigma, int(num_points), dtype=torch.float64)
    grid = grid.to(device=quad.nodes.device, dtype=quad.nodes.dtype)
    dens = gaussian_density(quad.nodes, quad.weights, grid, sigma)
    return DensityResult(grid=grid, density=dens, sigma=float(sigma), quadrature=quad)
