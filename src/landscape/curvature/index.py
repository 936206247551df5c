"""The index of a point: how many Hessian eigenvalues are negative, by one convention.

The index (Dauphin et al. 2014, *Identifying and attacking the saddle point problem in
high-dimensional non-convex optimization*) is the number of negative eigenvalues of the
Hessian; ``α = index / P`` is the index fraction. Computed eigenvalues are never exactly zero,
so a threshold decides what "negative" means. Everywhere in ``landscape`` — the networks'
:func:`exact_index` and :func:`estimate_index`, the spin glass's
:meth:`~landscape.spinglass.SpinGlass.index` — it is the same:

    an eigenvalue is negative when ``λ < −τ`` and zero when ``|λ| ≤ τ``, with
    ``τ = max(rtol · max_i |λ_i|, atol)``

(:func:`index_threshold`): a tolerance *relative* to the spectral radius, because an
eigensolver resolves eigenvalues to about ``eps · ‖H‖`` whatever the Hessian's scale, with an
*absolute floor* ``atol`` for what the point itself leaves open — at a point that is critical
only to ``‖∇L‖ ≤ gtol``, eigenvalues within about ``gtol`` of zero have no reliable sign. The
relative part defaults to :data:`INDEX_RTOL` everywhere; the floor defaults to 0 for a
network's Hessian and to the gradient tolerance (``1e-4``) for the spin glass, whose
eigenvalues are of order one.

Shape letters: ``P`` parameters, ``V`` probes, ``m`` Lanczos steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .._errors import LandscapeError
from .._validate import check_positive
from .operator import CurvatureOperator, as_operator
from .spectrum import SLQResult, slq

__all__ = [
    "INDEX_RTOL",
    "IndexResult",
    "count_negative",
    "estimate_index",
    "exact_index",
    "index_threshold",
]

#: the relative part of every index threshold: ``|λ| ≤ 1e-6 · max|λ|`` is zero
INDEX_RTOL = 1e-6


@dataclass(frozen=True)
class IndexResult:
    """Index of a point: the count and fraction of negative Hessian eigenvalues.

    Attributes:
        count: number of eigenvalues ``< −threshold`` (an estimate for ``method="slq"``).
        fraction: ``count / num_params`` (Dauphin et al.'s ``α``).
        count_stderr, fraction_stderr: standard error across probes (0 for exact).
        num_zero: eigenvalues with ``|λ| ≤ threshold`` (estimated for SLQ).
        num_params: ``P``.
        threshold: the zero threshold ``τ`` used (see :func:`index_threshold`).
        method: ``"exact"`` or ``"slq"``.
        eigenvalues: all eigenvalues, ascending, for ``"exact"`` (else ``None``).
    """

    count: float
    fraction: float
    count_stderr: float
    fraction_stderr: float
    num_zero: float
    num_params: int
    threshold: float
    method: str
    eigenvalues: Tensor | None = field(default=None, repr=False)

    def summary(self) -> dict[str, object]:
        """Plain-Python numbers for a table or a run store (no eigenvalues)."""
        return {
            "method": self.method,
            "index": self.count,
            "index_stderr": self.count_stderr,
            "fraction": self.fraction,
            "fraction_stderr": self.fraction_stderr,
            "num_zero": self.num_zero,
            "num_params": self.num_params,
            "threshold": self.threshold,
        }


def index_threshold(eigenvalues: Tensor, rtol: float = INDEX_RTOL, atol: float = 0.0) -> Tensor:
    """The zero threshold ``τ = max(rtol · max_i |λ_i|, atol)`` of each spectrum.

    Eigenvalues ``λ < −τ`` count in the index, ``|λ| ≤ τ`` count as zero (see the module
    docs for why a relative tolerance with an absolute floor).

    Args:
        eigenvalues: ``(…, n)``: one spectrum per row (the maximum is taken over the last
            axis).
        rtol: the tolerance relative to the spectral radius ``max|λ|``.
        atol: the absolute floor.

    Returns:
        ``τ`` of shape ``(…)``, in float64.

    Raises:
        LandscapeError: a negative (or non-finite) ``rtol`` or ``atol``.

    Example:
        >>> lam = torch.tensor([[-2.0, -1e-3, 0.5, 4.0], [-1e-5, 0.0, 1e-5, 2e-5]])
        >>> index_threshold(lam, rtol=1e-3, atol=1e-4).tolist()  # 4e-3, and the floor
        [0.004, 0.0001]
        >>> (lam < -index_threshold(lam, 1e-3, 1e-4)[:, None]).sum(-1).tolist()
        [1, 0]
    """
    check_positive("rtol", rtol, strict=False)
    check_positive("atol", atol, strict=False)
    scale = eigenvalues.detach().abs().amax(dim=-1).to(torch.float64)
    return (scale * float(rtol)).clamp(min=float(atol))


def count_negative(eigenvalues: Tensor, rtol: float = INDEX_RTOL, atol: float = 0.0) -> Tensor:
    """The index of each spectrum: how many eigenvalues are below ``−τ`` (:func:`index_threshold`).

    Args:
        eigenvalues: ``(…, n)``, one spectrum per row.
        rtol, atol: as for :func:`index_threshold`.

    Returns:
        ``(…)`` int64 counts.

    Example:
        >>> count_negative(torch.tensor([-2.0, -1e-7, 1.0]), rtol=1e-6).item()
        1
    """
    return _below(eigenvalues, index_threshold(eigenvalues, rtol, atol)).sum(-1)


def _below(values: Tensor, tau: Tensor) -> Tensor:
    """``values < −τ`` with ``τ`` (broadcast over the last axis) in the values' precision."""
    return values < -tau.to(values.dtype)[..., None]


def _zero(values: Tensor, tau: Tensor) -> Tensor:
    return values.abs() <= tau.to(values.dtype)[..., None]


def _tolerances(zero_tol: float, relative: bool, atol: float) -> tuple[float, float]:
    """``(rtol, atol)`` of the convention from the ``zero_tol``/``relative`` arguments."""
    check_positive("zero_tol", zero_tol, strict=False)
    check_positive("atol", atol, strict=False)
    return (float(zero_tol), float(atol)) if relative else (0.0, max(float(zero_tol), atol))


def exact_index(
    hessian: CurvatureOperator | Tensor,
    *,
    zero_tol: float = INDEX_RTOL,
    relative: bool = True,
    atol: float = 0.0,
) -> IndexResult:
    """The exact index from the full spectrum (small models).

    Args:
        hessian: a dense symmetric ``(P, P)`` tensor, a 1-D tensor of its eigenvalues, or an
            operator (made dense with ``to_dense()``: ``P`` products).
        zero_tol: ``rtol`` of :func:`index_threshold`: eigenvalues with
            ``|λ| ≤ τ = max(zero_tol · max|λ|, atol)`` count as zero.
        relative: ``False`` makes ``zero_tol`` an absolute threshold,
            ``τ = max(zero_tol, atol)``.
        atol: the absolute floor of ``τ``.

    Returns:
        :class:`IndexResult` with ``method="exact"`` and all eigenvalues.

    Raises:
        LandscapeError: no eigenvalues, or a negative tolerance.

    Example:
        >>> r = exact_index(torch.diag(torch.tensor([-2.0, -1e-9, 1.0, 3.0])))
        >>> (r.count, r.num_zero, r.fraction)
        (1.0, 1.0, 0.25)
    """
    rtol, atol = _tolerances(zero_tol, relative, atol)
    if isinstance(hessian, Tensor) and hessian.dim() == 1:
        eig = torch.sort(hessian.detach())[0]
    else:
        matrix = as_operator(hessian).to_dense()
        eig = torch.linalg.eigvalsh(matrix.to(torch.float64)).to(matrix.dtype)
    p = int(eig.numel())
    if p == 0:
        raise LandscapeError("exact_index needs at least one eigenvalue")
    tau = index_threshold(eig, rtol, atol)
    neg = float(_below(eig, tau).sum())
    return IndexResult(
        count=neg,
        fraction=neg / p,
        count_stderr=0.0,
        fraction_stderr=0.0,
        num_zero=float(_zero(eig, tau).sum()),
        num_params=p,
        threshold=float(tau),
        method="exact",
        eigenvalues=eig,
    )


def estimate_index(
    source: CurvatureOperator | Tensor | SLQResult,
    *,
    zero_tol: float = 1e-3,
    relative: bool = True,
    atol: float = 0.0,
    num_probes: int = 16,
    num_steps: int = 64,
    seed: int = 0,
) -> IndexResult:
    """The index estimated from the SLQ quadrature, with a standard error (large models).

    The fraction of negative eigenvalues is ``∫_{−∞}^{−τ} φ``; per probe it is
    ``f_v = Σ_{i: θ_vi < −τ} w_vi``, and the estimate is the mean of ``f_v`` with standard
    error ``std(f_v) / √V``. This error covers the probe randomness, not the quadrature's
    resolution: Ritz values near zero stand for a whole cluster, so ``τ`` should be well
    above the spacing of the quadrature near zero (the default is relative ``1e-3``, coarser
    than :func:`exact_index`'s), and more ``num_steps`` sharpen the split.

    Args:
        source: an operator or dense tensor (SLQ is run), or an :class:`SLQResult`.
        zero_tol, relative, atol: the zero threshold ``τ`` (see :func:`exact_index`),
            relative to the largest ``|θ|`` of the quadrature.
        num_probes, num_steps, seed: SLQ settings when ``source`` is not an SLQResult.

    Returns:
        :class:`IndexResult` with ``method="slq"``.
    """
    rtol, atol = _tolerances(zero_tol, relative, atol)
    quad = (
        source if isinstance(source, SLQResult) else slq(source, num_probes, num_steps, seed=seed)
    )
    nodes, weights = quad.nodes.double(), quad.weights.double()
    tau = index_threshold(nodes.reshape(-1), rtol, atol)
    f_neg = (weights * _below(nodes, tau)).sum(dim=1)
    f_zero = (weights * _zero(nodes, tau)).sum(dim=1)
    v = f_neg.numel()
    frac = float(f_neg.mean())
    se = float(f_neg.std(unbiased=True) / math.sqrt(v)) if v > 1 else float("nan")
    p = quad.num_params
    return IndexResult(
        count=frac * p,
        fraction=frac,
        count_stderr=se * p,
        fraction_stderr=se,
        num_zero=float(f_zero.mean()) * p,
        num_params=p,
        threshold=float(tau),
        method="slq",
    )
