"""Curvature of loss landscapes: Hessian operators, spectra, trace, index, critical points.

* :mod:`.operator` — :class:`HessianOperator` (exact Hessian of the dataset-mean loss,
  forward-over-reverse, vmapped over many vectors, chunked over the data),
  :class:`GGNOperator`, :class:`MatrixOperator`, and :func:`dense_hessian`, the reference.
* :mod:`.spectrum` — :func:`eigenpairs` (Lanczos or ARPACK, tolerance checked and
  reported), :func:`slq` and :func:`spectral_density` (Ghorbani et al. 2019),
  :func:`exact_index` and :func:`estimate_index` (Dauphin et al. 2014).
* :mod:`.trace` — :func:`hutchinson_trace` with a standard error.
* :mod:`.critical` — Newton-MR, damped (Levenberg–Marquardt) Newton and L-BFGS on the
  gradient norm find critical points of any index; saddle-free Newton finds minima.
* :mod:`.following` — eigenvector following to a critical point of a chosen index, in a
  trust region; its step and radius rules are shared with the spin-glass saddle search.

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
from .critical import (
    FINDERS,
    damped_newton,
    find_critical_point,
    gradient_norm_lbfgs,
    newton_mr,
    saddle_free_newton,
)
from .following import eigenvector_following
from .operator import (
    CurvatureOperator,
    GGNOperator,
    HessianOperator,
    MatrixOperator,
    as_operator,
    dense_hessian,
    loss_and_gradient,
)
from .spectrum import (
    DensityResult,
    EigenResult,
    IndexResult,
    SLQResult,
    eigenpairs,
    estimate_index,
    exact_index,
    gaussian_density,
    lanczos_basis,
    slq,
    spectral_density,
)
from .trace import TraceResult, hutchinson_trace

__all__ = [
    "FINDERS",
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
    "lanczos_basis",
    "loss_and_gradient",
    "newton_mr",
    "saddle_free_newton",
    "slq",
    "spectral_density",
]
