"""Curvature of loss landscapes: Hessian operators, spectra, trace, index, critical points.

* :mod:`.operator` — :class:`HessianOperator` (exact Hessian of the dataset-mean loss,
  forward-over-reverse, vmapped over many vectors, chunked over the data),
  :class:`GGNOperator` and :class:`MatrixOperator`.
* :mod:`.dense` — :func:`dense_hessian`, the reference, and :func:`loss_and_gradient`.
* :mod:`.spectrum` — :func:`eigenpairs` (Lanczos or ARPACK, tolerance checked and
  reported), :func:`slq` and :func:`spectral_density` (Ghorbani et al. 2019).
* :mod:`.index` — :func:`exact_index` and :func:`estimate_index` (Dauphin et al. 2014),
  counting eigenvalues below ``−τ`` with the one threshold :func:`index_threshold`
  (relative to ``max|λ|``, with an absolute floor) that the spin glass uses too.
* :mod:`.trace` — :func:`hutchinson_trace` with a standard error.
* :mod:`.newton` — Newton-MR, damped (Levenberg–Marquardt) Newton and L-BFGS on the
  gradient norm find critical points of any index; saddle-free Newton finds minima.
* :mod:`.following` — eigenvector following to a critical point of a chosen index, in a
  trust region; its step and radius rules are shared with the spin-glass saddle search.
* :mod:`.finders` — :data:`FINDERS` by name and :func:`find_critical_point`.

Example:
    >>> import torch
    >>> from landscape import FunctionalModel, MLPSpec, build
    >>> from landscape.curvature import HessianOperator, eigenpairs, exact_index
    >>> fm = FunctionalModel(build(MLPSpec(in_features=4, widths=(3,), out_features=2), seed=0))
    >>> x, y = torch.randn(32, 4, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 2
    >>> H = HessianOperator(fm, fm.params(), (x, y), dtype=torch.float64)
    >>> top = eigenpairs(H, k=2, tol=1e-8)
    >>> top.converged, top.num_hvps < H.num_params
    (True, True)
"""

from __future__ import annotations

from ._finder import CriticalPointResult
from .dense import dense_hessian, loss_and_gradient
from .finders import FINDERS, find_critical_point
from .following import eigenvector_following
from .index import (
    INDEX_RTOL,
    IndexResult,
    count_negative,
    estimate_index,
    exact_index,
    index_threshold,
)
from .newton import damped_newton, gradient_norm_lbfgs, newton_mr, saddle_free_newton
from .operator import (
    CurvatureOperator,
    GGNOperator,
    HessianOperator,
    MatrixOperator,
    as_operator,
)
from .spectrum import (
    DensityResult,
    EigenResult,
    SLQResult,
    eigenpairs,
    gaussian_density,
    lanczos_basis,
    slq,
    spectral_density,
)
from .trace import TraceResult, hutchinson_trace

__all__ = [
    "FINDERS",
    "INDEX_RTOL",
    "CriticalPointResult",
    "CurvatureOperator",
    "DensityResult",
    "EigenResult",
    "GGNOperator",
    "HessianOperator",
    "IndexResult",
    "MatrixOperator",
    "SLQResult",
    "TraceResult",
    "as_operator",
    "count_negative",
    "damped_newton",
    "dense_hessian",
    "eigenpairs",
    "eigenvector_following",
    "estimate_index",
    "exact_index",
    "find_critical_point",
    "gaussian_density",
    "gradient_norm_lbfgs",
    "hutchinson_trace",
    "index_threshold",
    "lanczos_basis",
    "loss_and_gradient",
    "newton_mr",
    "saddle_free_newton",
    "slq",
    "spectral_density",
]
