"""Eigenvector following: critical points of a chosen index, inside a trust region.

With the Hessian ``H = U Λ Uᵀ`` (eigenvalues ascending) and the gradient's components
``c_i = u_iᵀ ∇L``, the step toward a critical point of index ``k`` is Newton's step for a
Hessian that already has the wanted signature: uphill along the ``k`` lowest modes, downhill
along the others (Cerjan & Miller 1981, *J. Chem. Phys.* 75, 2800; Wales 2003, *Energy
Landscapes*, §6.2):

    p = −Σ_i s_i c_i / (max(|λ_i|, c) + μ) · u_i,   s_i = −1 for i < k, +1 otherwise,

with ``μ = 0`` when that step fits in the trust radius ``r`` and otherwise the ``μ > 0`` that
puts it on the sphere ``‖p‖ = r`` (the trust-region solution of the sign-corrected model:
large steps lean toward the gradient, as in Levenberg–Marquardt).

**Which modes go uphill.** The ``k`` lowest, with hysteresis (:func:`select_modes`): a mode
that went uphill at the last step keeps its place unless another eigenvalue is lower by more
than ``hysteresis · max|λ|``. Without it, two nearly equal negative eigenvalues that swap
order make the search go up one and down the other in turn, forever (seen on a small tanh
network: a 4-cycle next to an index-3 saddle while asked for index 2).

**Trust region.** The quadratic model predicts the gradient after the step, ``g + H p``. Its
error relative to the gradient it started from, ``e = ‖∇L(θ + p) − (g + H p)‖ / ‖g‖``, says
whether the model can be trusted at that length; a step is kept when the model held
(``e ≤ 1``) or ``‖∇L‖`` fell, and the radius follows ``e`` (:func:`update_radius`). Unlike a
rule that accepts any step short of doubling ``‖∇L‖``, this cannot take long model-free
steps that raise the gradient, and its decisions do not hinge on the last bits of the
arithmetic: the earlier rule sent one start to an index-10 saddle on one CPU and to a loss
of 10⁴ on another. A search that climbs forever (a bowl has no index-``k`` point along its
lowest modes) is stopped at ``max_distance`` and reported, not followed.

The same two primitives, :func:`signature_step` and :func:`update_radius`, drive
:func:`landscape.spinglass.find_saddles` for a batch of replicas on the sphere.

Shape letters: ``P`` parameters (``n`` eigen-coordinates), ``R`` rows of a batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from .._errors import LandscapeError
from .._validate import check_int, check_positive, check_unit_interval
from ..functional import Data
from ._finder import CriticalPointResult, Problem, Tracker, check_common, make_result
from .index import exact_index
from .operator import PureLoss

__all__ = ["eigenvector_following", "select_modes", "signature_step", "update_radius"]

#: model error ``e`` above which a step is rejected / the radius shrinks / may grow
REJECT, SHRINK, GROW = 1.0, 0.5, 0.25


def select_modes(
    eigenvalues: Tensor, vectors: Tensor, previous: Tensor | None, k: int, hysteresis: float
) -> tuple[Tensor, Tensor]:
    """Signs ``s`` (``−1`` uphill for ``k`` modes, ``+1`` downhill) and the uphill vectors.

    Args:
        eigenvalues: ``λ``, ascending, ``(n,)``.
        vectors: the eigenvectors as columns, ``(n, n)``.
        previous: the uphill vectors of the last step ``(n, k)`` (``None`` at the start: the
            ``k`` lowest modes).
        k: how many modes go uphill.
        hysteresis: a mode's score is ``λ_i − hysteresis · max|λ| · ‖previousᵀ u_i‖²``; the
            ``k`` lowest scores go uphill.

    Returns:
        ``(sign (n,), uphill vectors (n, k))``.

    Example:
        >>> lam, u = torch.tensor([-1.0, -0.99, 2.0]), torch.eye(3)
        >>> select_modes(lam, u, u[:, [1]], 1, 0.01)[0].tolist()  # mode 1 keeps its place
        [1.0, -1.0, 1.0]
    """
    score = eigenvalues
    if previous is not None and k > 0 and hysteresis > 0:
        overlap = (previous.T @ vectors).square().sum(0)
        score = eigenvalues - hysteresis * eigenvalues.abs().max() * overlap
    chosen = torch.sort(torch.topk(-score, k).indices).values
    sign = torch.ones_like(eigenvalues)
    sign[chosen] = -1.0
    return sign, vectors[:, chosen]


def signature_step(
    eigenvalues: Tensor,
    grad_coords: Tensor,
    sign: Tensor,
    radius: Tensor,
    min_curvature: float,
    bisections: int = 64,
) -> tuple[Tensor, Tensor]:
    """The eigenvector-following step in eigen-coordinates, for every row, within ``radius``.

    Args:
        eigenvalues: ``λ``, ``(…, n)``.
        grad_coords: ``c = Uᵀ g``, ``(…, n)``.
        sign: ``s``, ``(n,)`` or ``(…, n)``: ``−1`` to go uphill along a mode, ``+1`` downhill.
        radius: the trust radius per row, ``(…)``.
        min_curvature: ``c``, the floor on ``|λ_i|``.
        bisections: halvings of the bracket on ``μ`` (64 reach the dtype's resolution).

    Returns:
        ``(coef, bounded)``: the step's coordinates ``(…, n)`` and whether it was cut to the
        radius ``(…)``. ``‖coef‖ ≤ radius`` (to the bisection's resolution).

    Example:
        >>> lam, c = torch.tensor([-1.0, 2.0]), torch.tensor([0.5, 1.0])
        >>> coef, cut = signature_step(lam, c, torch.tensor([1.0, 1.0]), torch.tensor(10.0), 1e-6)
        >>> coef.tolist(), bool(cut)   # downhill on both: −c/|λ|
        ([-0.5, -0.5], False)
    """
    mag = eigenvalues.abs().clamp_min(min_curvature)
    full = grad_coords / mag
    bounded = full.norm(dim=-1) > radius
    # ‖c / (|λ| + μ)‖ falls from ‖full‖ to 0 as μ grows; ‖c‖/r already brings it below r
    lo = torch.zeros_like(radius)
    hi = grad_coords.norm(dim=-1) / radius.clamp_min(torch.finfo(radius.dtype).tiny)
    for _ in range(bisections):
        mid = 0.5 * (lo + hi)
        long = (grad_coords / (mag + mid[..., None])).norm(dim=-1) > radius
        lo, hi = torch.where(long, mid, lo), torch.where(long, hi, mid)
    mu = torch.where(bounded, hi, torch.zeros_like(hi))
    return -sign * grad_coords / (mag + mu[..., None]), bounded


def update_radius(
    error: Tensor,
    step_norm: Tensor,
    radius: Tensor,
    bounded: Tensor,
    max_radius: float,
    improved: Tensor,
) -> tuple[Tensor, Tensor]:
    """Accept or reject each row's step; the next trust radius.

    A step is accepted when the quadratic model predicted the new gradient fairly
    (``e ≤ 1``) or when it lowered ``‖∇L‖`` (the merit of every critical-point search); a
    step the model got wrong *and* that raised ``‖∇L‖`` is rejected and retried with
    ``‖p‖/4``. An accepted step that was cut to the radius doubles it (up to
    ``max_radius``) when the model was good (``e < 1/4``), or fair (``e ≤ 1/2``) and
    ``‖∇L‖`` fell; one that raised ``‖∇L‖`` with a poor model (``e > 1/2``) halves it to
    ``‖p‖/2``; the rest keep it.

    Args:
        error: ``e = ‖g_new − (g + H p)‖ / ‖g‖`` per row (non-finite: the step failed).
        step_norm: ``‖p‖``.
        radius: the radius the step was taken with.
        bounded: whether the step was cut to the radius.
        max_radius: the largest radius.
        improved: ``‖g_new‖ < ‖g‖``.

    Returns:
        ``(accept, new_radius)``.

    Example:
        >>> e = torch.tensor([0.1, 0.7, 2.0, 2.0])
        >>> acc, r = update_radius(e, torch.ones(4), torch.ones(4), torch.ones(4, dtype=torch.bool),
        ...                        1.5, torch.tensor([False, False, True, False]))
        >>> acc.tolist(), r.tolist()
        ([True, True, True, False], [1.5, 0.5, 1.0, 0.25])
    """
    ok = torch.isfinite(error)
    e = torch.where(ok, error, torch.full_like(error, math.inf))
    accept = ok & ((e <= REJECT) | improved)
    grow = accept & bounded & ((e < GROW) | (improved & (e <= SHRINK)))
    shrink = accept & (e > SHRINK) & ~improved
    new = torch.where(grow, (2.0 * radius).clamp(max=max_radius), radius)
    new = torch.where(shrink, 0.5 * step_norm, new)
    new = torch.where(accept, new, 0.25 * step_norm)
    return accept, new


def _check_index(target_index: object, num_params: int) -> int:
    check_int("target_index", target_index, 0)
    if target_index >= num_params:
        raise LandscapeError(
            f"target_index={target_index} must be below the parameter count P={num_params}"
        )
    return int(target_index)


def eigenvector_following(
    loss: PureLoss,
    params: Mapping[str, Tensor],
    data: Data | None = None,
    *,
    target_index: int = 1,
    grad_tol: float = 1e-6,
    max_iter: int = 200,
    trust_radius: float = 0.1,
    max_radius: float = 2.0,
    min_curvature: float = 1e-4,
    hysteresis: float = 1e-2,
    max_distance: float | None = None,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> CriticalPointResult:
    """Critical points of a chosen index ``k`` by eigenvector following (small models).

    Each iteration forms the exact Hessian and its eigendecomposition, takes the
    sign-corrected Newton step of :func:`signature_step` within the trust radius, and accepts
    or rejects it by the quadratic model's error (:func:`update_radius`; a rejected step
    retries from the same eigendecomposition). Near an index-``k`` critical point the steps
    are plain Newton steps and convergence is quadratic; unlike plain Newton, critical
    points of other indices do not attract it.

    The result is honest about the target: the index at the end point is *measured* from
    the exact Hessian there (:func:`~landscape.curvature.exact_index`, default tolerance)
    and reported in ``index``; ``converged`` is true only when ``‖∇L‖ ≤ grad_tol`` *and* the
    index is ``k``. Otherwise ``message`` says why: ``max_iter`` reached, the trust radius
    collapsed, the search ran more than ``max_distance`` from its start (there is no
    index-``k`` point near it: climbing a bowl along its lowest modes never ends), or it
    reached a critical point of another index.

    Forms a dense ``P × P`` Hessian each iteration: meant for models with up to a few
    thousand parameters.

    Args:
        loss, params, data, grad_tol, max_iter, chunk_size, device, dtype: as for
            :func:`~landscape.curvature.newton_mr` (float64 recommended). ``max_iter``
            counts accepted steps.
        target_index: ``k ≥ 0`` (``k = 0`` is a Newton-type minimiser).
        trust_radius: the initial trust radius ``r`` (parameter-space length).
        max_radius: the largest ``r``.
        min_curvature: ``c``, the floor on ``|λ_i|`` in the step (flat directions).
        hysteresis: how much lower (relative to ``max|λ|``) another eigenvalue must be to
            take an uphill mode's place (:func:`select_modes`); 0 always takes the ``k``
            lowest.
        max_distance: stop, unconverged, once ``‖θ − θ₀‖`` exceeds it; default
            ``10 (‖θ₀‖ + 1)``; ``math.inf`` never stops for that.

    Returns:
        :class:`~landscape.curvature.CriticalPointResult` (``method="eigenvector_following"``,
        ``index`` measured at the end point).

    Raises:
        LandscapeError: bad arguments, or a model too large for dense Hessians.
    """
    check_common(grad_tol, max_iter)
    for name, value in (
        ("trust_radius", trust_radius),
        ("max_radius", max_radius),
        ("min_curvature", min_curvature),
    ):
        check_positive(name, value)
    if max_distance is not None and max_distance != math.inf:
        check_positive("max_distance", max_distance)
    check_unit_interval("hysteresis", hysteresis)
    prob = Problem(loss, params, data, chunk_size, "dense", device, dtype)
    k = _check_index(target_index, prob.op.num_params)
    theta0 = theta = prob.start()
    limit = 10.0 * (float(theta0.norm()) + 1.0) if max_distance is None else float(max_distance)
    value, g = prob.evaluate(theta)
    tracker = Tracker(value, float(g.norm()))
    uphill = None
    radius = torch.tensor(float(trust_radius), dtype=torch.float64)
    message = f"max_iter={max_iter} reached"
    it = 0
    h = prob.operator(theta).matrix
    lam, u = torch.linalg.eigh(h)
    while float(g.norm()) > grad_tol:
        if it >= max_iter:
            break
        sign, modes = select_modes(lam, u, uphill, k, hysteresis)
        coef, bounded = signature_step(lam, u.T @ g, sign, radius.to(lam.dtype), min_curvature)
        p = u @ coef
        length = p.norm().to(radius.dtype)
        t_value, t_g = prob.evaluate(theta + p)
        error = ((t_g - g - h @ p).norm() / g.norm()).to(radius.dtype)
        if not math.isfinite(t_value):
            error = torch.tensor(math.inf, dtype=radius.dtype)
        improved = torch.tensor(bool(t_g.norm() < g.norm()))
        accept, radius = update_radius(
            error, length, radius, bounded.cpu(), float(max_radius), improved
        )
        if not bool(accept):
            if float(radius) < 1e-12 * (float(theta.norm()) + 1.0):
                message = "trust radius collapsed: the quadratic model fails at every length"
                break
            continue
        theta, value, g, uphill = theta + p, t_value, t_g, modes
        tracker.add(value, float(g.norm()), float(length))
        it += 1
        h = prob.operator(theta).matrix
        lam, u = torch.linalg.eigh(h)
        moved = float((theta - theta0).norm())
        if moved > limit:
            message = f"ran away: ‖θ − θ₀‖ = {moved:.3g} > max_distance = {limit:.3g}"
            break
    index = int(exact_index(lam).count)
    if float(g.norm()) > grad_tol:
        message += (
            f"; ‖∇L‖ = {float(g.norm()):.3e} > grad_tol, the Hessian there has "
            f"{index} negative eigenvalues (target {k})"
        )
    return make_result(
        prob, theta, value, g, grad_tol, it, "eigenvector_following", message, tracker,
        index=index, target_index=k,
    )  # fmt: skip
