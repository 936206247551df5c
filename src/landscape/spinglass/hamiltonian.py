"""The spherical H-spin glass: couplings, energy, gradients and Hessians on the sphere.

The model (Choromanska et al. 2015, *The Loss Surfaces of Multilayer Networks*, after
Auffinger, Ben Arous & Černý 2013, *Random Matrices and Complexity of Spin Glasses*, CPAM 66)
is the random homogeneous polynomial

.. math::

    L_{Λ,H}(w) = Λ^{-(H-1)/2} \\sum_{i_1,…,i_H=1}^{Λ} J_{i_1…i_H}\\, w_{i_1} ⋯ w_{i_H},
    \\qquad \\sum_i w_i^2 = Λ,

with ``J`` i.i.d. N(0, 1) (±1 and uniform couplings of unit variance are also offered).
Energies are reported normalised, ``L / Λ``; as ``Λ → ∞`` the ground state tends to
``−E_0(H)`` and local minima crowd near ``−E_∞(H) = −2\\sqrt{(H-1)/H}`` (see
:mod:`landscape.spinglass.theory`); at ``Λ ≤ 500`` minima from random starts lie above it.

Only the symmetric part of ``J`` enters ``L``, so :class:`SpinGlass` stores
``J^s = (1/H!) Σ_π J∘π`` once. Then, with ``s = Λ^{-(H-1)/2}``,

.. math::

    ∇L = sH\\, J^s[w^{H-1}], \\qquad ∇^2 L = sH(H-1)\\, J^s[w^{H-2}],
    \\qquad ⟨∇L, w⟩ = H L \\;\\text{(Euler)}.

Every contraction is one matrix–matrix product for a whole batch of replicas: the rows of
``X = w^{⊗m}`` (``(R, Λ^m)``) times ``J^s`` reshaped to ``(Λ^m, Λ^{H-m})``. ``J^s`` is read
once per step for all replicas (once per chunk of replicas that bounds ``X``), never once
per replica. The gradient of a batch on a CPU uses only the rows ``w_j w_k ⋯`` with
``j ≤ k`` (``J^s`` is symmetric: half the arithmetic, :attr:`SpinGlass.half_rows`), on the
faster of the BLAS and oneDNN (:mod:`landscape.kernels`).

On the sphere of radius ``√Λ`` (more generally, of radius ``‖w‖``) with tangent projection
``P = I − w wᵀ/‖w‖²``, the Riemannian gradient and Hessian are (Absil, Mahony & Sepulchre
2008, *Optimization Algorithms on Matrix Manifolds*, §5.5)

.. math::

    \\operatorname{grad} L = P∇L, \\qquad
    \\operatorname{Hess} L = P\\big(∇^2 L − \\tfrac{⟨∇L, w⟩}{‖w‖^2} I\\big)P ,

the second restricted to the ``Λ − 1``-dimensional tangent space and written in an
orthonormal tangent basis (a Householder reflection that maps ``e_1`` to ``±w/‖w‖``), so the
spurious zero eigenvalue along ``w`` never appears. The index of a critical point is the
number of negative eigenvalues of that ``(Λ−1) × (Λ−1)`` matrix.

Shape letters: ``R`` replicas (the ``E`` axis of the design notes), ``Λ`` spins, ``H``
interaction order. Functions accept one point ``(Λ,)`` or a batch ``(R, Λ)`` and return
results with the same leading shape, on the couplings' device.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from .. import kernels
from .._errors import LandscapeError, check_choice
from .._validate import check_int, check_positive
from ..curvature.index import INDEX_RTOL, count_negative

__all__ = [
    "DISTRIBUTIONS",
    "SpinGlass",
    "couplings",
    "random_sphere",
    "retract",
    "symmetrize",
    "tangent_basis",
    "tangent_project",
]

Distribution = Literal["gaussian", "rademacher", "uniform"]
#: coupling distributions, all with mean 0 and variance 1
DISTRIBUTIONS: tuple[str, ...] = ("gaussian", "rademacher", "uniform")

#: refuse to build coupling tensors larger than this (bytes); the error says how to fix it
_MAX_COUPLING_BYTES = 16 * 2**30
#: default bound on the elements of one batched intermediate (``R_chunk · Λ^m``)
_CHUNK_ELEMENTS = 2**26
#: default cache budget (floats) of one block of ``w^{⊗m}`` rows on a CPU (``contraction_block``)
_BLOCK_ELEMENTS = 2**19
#: batches smaller than this are contracted one index at a time (see ``_contract``)
_SMALL_BATCH = 8
#: inner dimension aimed at by one block of the half-rows product (``_contract_half``)
_HALF_BLOCK_INNER = 1024
#: ``half_rows="auto"`` uses the half rows where a batch's full rows ``R·Λ^{H−1}`` are this many
_HALF_MIN_WORK = 2**22
#: the typical replicas per half-rows product (a chunk whose rows block fills the cache
#: budget), a hint for the couplings' prepacked layout
_HALF_ROWS_HINT = _BLOCK_ELEMENTS // _HALF_BLOCK_INNER
#: on oneDNN, the replicas of one half-rows product are a multiple of this (zero rows pad)
_ONEDNN_ROWS = 128


def _check_order(n_spins: int, H: int) -> None:
    check_int("n_spins (Λ)", n_spins, 2)
    check_int("H (interaction order)", H, 2)


def _check_cubical(J: object) -> None:
    if not isinstance(J, Tensor) or J.dim() < 2 or len(set(J.shape)) != 1:
        shape = tuple(J.shape) if isinstance(J, Tensor) else type(J).__name__
        raise LandscapeError(f"couplings must be a cubical tensor (Λ,)*H with H >= 2, got {shape}")


def _check_float_dtype(dtype: torch.dtype) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise LandscapeError(f"dtype must be a floating torch dtype, got {dtype!r}")


def _check_size(n_spins: int, H: int, dtype: torch.dtype) -> None:
    nbytes = n_spins**H * torch.empty((), dtype=dtype).element_size()
    if nbytes > _MAX_COUPLING_BYTES:
        raise LandscapeError(
            f"couplings for n_spins={n_spins}, H={H} need {nbytes / 2**30:.1f} GiB "
            f"(limit {_MAX_COUPLING_BYTES / 2**30:.0f} GiB); reduce n_spins or H"
        )


def couplings(
    n_spins: int,
    H: int,
    seed: int,
    distribution: Distribution = "gaussian",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """I.i.d. couplings ``J_{i_1…i_H}`` of mean 0 and variance 1, shape ``(Λ,) * H``.

    Drawn with NumPy's ``default_rng(seed)`` in float64, one slice ``J[i_1]`` at a time, then
    cast and moved, so one seed gives the same couplings (to rounding) on every device and in
    every dtype, and the peak extra memory is one slice.

    Args:
        n_spins: ``Λ ≥ 2``.
        H: interaction order ``≥ 2``.
        seed: seed of the generator.
        distribution: ``"gaussian"`` (N(0, 1), the model of Auffinger et al.),
            ``"rademacher"`` (±1 with probability ½) or ``"uniform"`` (U[−√3, √3]).
        device: where the tensor lives.
        dtype: floating dtype of the tensor.

    Returns:
        The raw (non-symmetrised) coupling tensor.

    Raises:
        LandscapeError: ``Λ < 2``, ``H < 2``, unknown distribution, non-float dtype, or a
            tensor too large to build.
    """
    _check_order(n_spins, H)
    check_choice("distribution", distribution, DISTRIBUTIONS)
    _check_float_dtype(dtype)
    _check_size(n_spins, H, dtype)
    rng = np.random.default_rng(int(seed))
    out = torch.empty((n_spins,) * H, dtype=dtype, device=device)
    shape = (n_spins,) * (H - 1)
    for i in range(n_spins):
        if distribution == "gaussian":
            part = rng.standard_normal(shape)
        elif distribution == "rademacher":
            part = rng.integers(0, 2, shape).astype(np.float64) * 2.0 - 1.0
        else:
            part = rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), shape)
        out[i] = torch.from_numpy(part).to(device=device, dtype=dtype)
    return out


def symmetrize(J: Tensor) -> Tensor:
    """The symmetric part ``(1/H!) Σ_π J_{π(i_1…i_H)}`` of a cubical tensor.

    The energy only sees the symmetric part, and with it the gradient and Hessian are
    single contractions. Costs one extra tensor of memory.

    Raises:
        LandscapeError: ``J`` is not cubical with order ``≥ 2``.
    """
    _check_cubical(J)
    perms = list(itertools.permutations(range(J.dim())))
    out = J.clone()
    for perm in perms[1:]:
        out.add_(J.permute(perm))
    return out.div_(len(perms))


def random_sphere(
    replicas: int,
    n_spins: int,
    seed: int,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``R`` points drawn uniformly on the sphere ``‖w‖² = Λ``, shape ``(R, Λ)``.

    Gaussian vectors rescaled to radius ``√Λ``; drawn with NumPy in float64 so a seed gives
    the same points on every device and dtype.

    Raises:
        LandscapeError: ``replicas < 1`` or ``n_spins < 2``.
    """
    check_int("replicas", replicas, 1)
    _check_order(n_spins, 2)
    _check_float_dtype(dtype)
    w = torch.from_numpy(np.random.default_rng(int(seed)).standard_normal((replicas, n_spins)))
    return retract(w).to(device=device, dtype=dtype)


def retract(w: Tensor) -> Tensor:
    """Rescale each row of ``w`` to the sphere of radius ``√Λ`` (metric-projection retraction)."""
    n = w.shape[-1]
    return w * (math.sqrt(n) / w.norm(dim=-1, keepdim=True))


def tangent_project(w: Tensor, v: Tensor) -> Tensor:
    """``P v = v − (⟨v, w⟩/‖w‖²) w``: the component of ``v`` tangent to the sphere at ``w``."""
    return v - (v * w).sum(-1, keepdim=True) / (w * w).sum(-1, keepdim=True) * w


def _householder(w: Tensor) -> tuple[Tensor, Tensor]:
    """``v, β`` with ``Q = I − β v vᵀ`` symmetric orthogonal and ``Q e_1 = ±w/‖w‖``."""
    u = w / w.norm(dim=-1, keepdim=True)
    sign = torch.where(u[..., :1] >= 0, 1.0, -1.0).to(u.dtype)
    v = u.clone()
    v[..., :1] += sign
    beta = 1.0 / (1.0 + u[..., 0].abs())
    return v, beta


def tangent_basis(w: Tensor) -> Tensor:
    """An orthonormal basis of the tangent space at ``w``: shape ``(…, Λ, Λ−1)``.

    Columns 2…Λ of the Householder reflection ``Q = I − β v vᵀ`` that maps ``e_1`` to
    ``±w/‖w‖``; the same basis :meth:`SpinGlass.riemannian_hessian` uses.
    """
    v, beta = _householder(w)
    eye = torch.eye(w.shape[-1], dtype=w.dtype, device=w.device)
    q = eye - beta[..., None, None] * v[..., :, None] * v[..., None, :]
    return q[..., :, 1:]


def _to_tangent_coords(w: Tensor, g: Tensor) -> Tensor:
    """``Bᵀ g`` for the basis of :func:`tangent_basis`, in ``O(Λ)``: shape ``(…, Λ−1)``."""
    v, beta = _householder(w)
    qg = g - (beta * (v * g).sum(-1))[..., None] * v
    return qg[..., 1:]


def _from_tangent_coords(w: Tensor, y: Tensor) -> Tensor:
    """``B y`` for the basis of :func:`tangent_basis`, in ``O(Λ)``: shape ``(…, Λ)``."""
    v, beta = _householder(w)
    full = torch.cat([torch.zeros_like(y[..., :1]), y], dim=-1)
    return full - (beta * (v * full).sum(-1))[..., None] * v


def _tangent_hessian(w: Tensor, grad: Tensor, hess: Tensor) -> Tensor:
    """``Bᵀ(∇²L − (⟨∇L, w⟩/‖w‖²) I)B`` from the Euclidean gradient and Hessian, ``O(Λ²)``."""
    v, beta = _householder(w)
    a = (hess @ v[..., None])[..., 0]  # A v
    b = beta[..., None]
    va = (v * a).sum(-1, keepdim=True)
    # Q A Q = A − β v aᵀ − β a vᵀ + β² (vᵀa) v vᵀ
    left = b * v
    right = a - 0.5 * b * va * v
    qaq = hess - left[..., :, None] * right[..., None, :]
    qaq = qaq - right[..., :, None] * left[..., None, :]
    curv = (grad * w).sum(-1) / (w * w).sum(-1)
    out = qaq[..., 1:, 1:].clone()
    out.diagonal(dim1=-2, dim2=-1).sub_(curv[..., None])
    return out


class SpinGlass:
    """One instance of the spherical H-spin glass: its symmetrised couplings and scale.

    Build it with :meth:`random` (couplings from a seed) or from a coupling tensor. All
    methods take one point ``w`` of shape ``(Λ,)`` or a batch ``(R, Λ)`` on the couplings'
    device and dtype, and process a batch with one matrix–matrix product per contraction
    (in chunks of replicas that bound the intermediate's size).

    Attributes:
        couplings: the symmetric tensor ``J^s``, shape ``(Λ,) * H``.
        n_spins: ``Λ``.
        H: interaction order.
        scale: ``Λ^{-(H-1)/2}``.

    Example:
        >>> g = SpinGlass.random(n_spins=8, H=3, seed=0, dtype=torch.float64)
        >>> w = random_sphere(4, 8, seed=1, dtype=torch.float64)
        >>> bool(torch.allclose((g.gradient(w) * w).sum(-1), 3 * g.loss(w)))  # Euler
        True
    """

    #: floats per block of ``w^{⊗m}`` rows (``None``: chosen from the device, see
    #: :meth:`contraction_block`); never changes results beyond float rounding
    block_elements: int | None = None
    #: the gradient's contraction on a CPU uses only the rows ``w_j w_k ⋯`` with ``j ≤ k``
    #: (:meth:`_contract_half`, half the arithmetic): ``"auto"`` for batches whose full rows
    #: are large (``R · Λ^{H−1} ≥ 2^22``, e.g. ``R ≥ 68`` at ``Λ = 250``, ``H = 3``: below,
    #: its more numerous small products cost more than the arithmetic saved), ``True``
    #: always (batches of 8 or more), ``False`` never
    half_rows: bool | str = "auto"
    #: matrix-product backend of the half-rows contraction (:func:`landscape.kernels.backend`:
    #: ``None`` reads ``LANDSCAPE_MATMUL``, else ``"auto"``, ``"blas"`` or ``"onednn"``)
    matmul: str | None = None

    def __init__(self, J: Tensor, *, symmetric: bool = False) -> None:
        """Wrap a coupling tensor.

        Args:
            J: couplings of shape ``(Λ,) * H`` (``Λ ≥ 2``, ``H ≥ 2``), floating dtype.
            symmetric: ``J`` is already symmetric under index permutations (it is then
                used as it is, without a copy); otherwise it is symmetrised.

        Raises:
            LandscapeError: ``J`` is not a cubical floating tensor of order ``≥ 2``.
        """
        _check_cubical(J)
        if not J.dtype.is_floating_point:
            raise LandscapeError(f"couplings must have a floating dtype, got {J.dtype}")
        _check_order(J.shape[0], J.dim())
        self.couplings: Tensor = J.detach() if symmetric else symmetrize(J.detach())
        self.n_spins: int = J.shape[0]
        self.H: int = J.dim()
        self.scale: float = self.n_spins ** (-(self.H - 1) / 2)

    @classmethod
    def random(
        cls,
        n_spins: int,
        H: int,
        seed: int,
        distribution: Distribution = "gaussian",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> SpinGlass:
        """A glass with couplings from :func:`couplings` (same arguments), symmetrised once."""
        J = couplings(n_spins, H, seed, distribution, device, dtype)
        out = cls.__new__(cls)
        out.couplings = symmetrize(J)
        del J
        out.n_spins, out.H = n_spins, H
        out.scale = n_spins ** (-(H - 1) / 2)
        return out

    def __repr__(self) -> str:
        c = self.couplings
        return f"SpinGlass(n_spins={self.n_spins}, H={self.H}, dtype={c.dtype}, device={c.device})"

    @property
    def device(self) -> torch.device:
        return self.couplings.device

    @property
    def dtype(self) -> torch.dtype:
        return self.couplings.dtype

    # --- validation -------------------------------------------------------------------------

    def check_points(self, w: Tensor, name: str = "w") -> Tensor:
        """Validate ``w`` (``(Λ,)`` or ``(R, Λ)``, this glass's device and dtype); return it 2-D."""
        if not isinstance(w, Tensor):
            raise LandscapeError(f"{name} must be a Tensor, got {type(w).__name__}")
        if w.dim() not in (1, 2) or w.shape[-1] != self.n_spins:
            raise LandscapeError(
                f"{name} must have shape (Λ,) or (R, Λ) with Λ={self.n_spins}, got {tuple(w.shape)}"
            )
        if w.device != self.device or w.dtype != self.dtype:
            raise LandscapeError(
                f"{name} is {w.dtype} on {w.device} but the couplings are {self.dtype} on "
                f"{self.device}; use {name}.to(glass.couplings)"
            )
        return w.reshape(-1, self.n_spins)

    # --- contractions -----------------------------------------------------------------------

    def _chunk(self, m: int, chunk: int | None) -> int:
        if chunk is not None:
            return check_int("chunk (replicas per product)", chunk, 1)
        widest = max(self.n_spins ** max(m - 1, 1), self.n_spins ** (self.H - m))
        return max(1, _CHUNK_ELEMENTS // widest)

    def contraction_block(self, replicas: int, m: int | None = None) -> int:
        """Leading indices of ``w^{⊗m}`` formed per matrix product (see :meth:`_contract`).

        The block of rows ``w_{i}·w^{⊗(m−1)}`` for ``b`` consecutive ``i`` is ``(R_c, b·Λ^{m−1})``;
        ``b`` is chosen so that block stays in cache (:attr:`block_elements` floats, default
        ``2^19`` on a CPU — half of a 4 MiB share of the last-level cache) while the product's
        inner dimension ``b·Λ^{m−1}`` stays long enough (``≥ 512``) for the matrix kernel.
        On a GPU the whole ``Λ`` is one block. Set :attr:`block_elements` to override.
        """
        n, m = self.n_spins, self.H - 1 if m is None else m
        if m < 2:
            return n
        budget = self.block_elements
        if budget is None:
            if self.couplings.device.type != "cpu":
                return n
            budget = _BLOCK_ELEMENTS
        inner = n ** (m - 1)
        b = budget // max(1, replicas * inner)
        b = max(b, -(-512 // inner))  # a long enough inner dimension
        return int(min(n, max(1, b)))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_half_cache", None)  # rebuilt on use; never shipped to other processes
        return state

    def _use_half_rows(self, m: int, replicas: int) -> bool:
        if self.device.type != "cpu" or self.half_rows is False:
            return False
        return self.half_rows is True or replicas * self.n_spins**m >= _HALF_MIN_WORK

    def _half_blocks(self, m: int, which: str) -> tuple[list[tuple[int, int]], list[Tensor]]:
        """Blocks ``[j0, j1)`` of the first row index and their packed couplings (cached).

        For ``m = H − 1`` and ``J^s`` symmetric in its first two row indices ``(j, k)``,
        ``Σ_{j,k} J_{i j k …} w_j w_k ⋯ = Σ_{j ≤ k} c_{jk} J_{i j k …} w_j w_k ⋯`` with
        ``c = 2`` for ``j < k`` and ``c = 1`` for ``j = k``. Block ``[j0, j1)`` holds the rows
        ``j ∈ [j0, j1)``, ``k ∈ [j0, Λ)`` (the few pairs ``k < j`` inside the block get
        ``c = 0``); its couplings are one ``(Λ, (j1−j0)(Λ−j0)Λ^{m−2})`` matrix in the layout
        of a ``linear`` weight (:func:`landscape.kernels.prepack` for backend ``which``).
        Together the blocks hold about half of ``J^s``.
        """
        cache = self.__dict__.setdefault("_half_cache", {})
        if (m, which) in cache:
            return cache[m, which]
        n = self.n_spins
        inner = n ** (m - 2)
        J4 = self.couplings.reshape(n, n, n, inner)  # (i, j, k, rest): J^s is symmetric
        blocks: list[tuple[int, int]] = []
        weights: list[Tensor] = []
        j0 = 0
        while j0 < n:
            tail = n - j0
            # a long enough inner dimension, and few wasted pairs (k < j) inside the block
            s = max(1, min(_HALF_BLOCK_INNER // (tail * inner), tail // 8))
            j1 = min(n, j0 + s)
            j = torch.arange(j0, j1, device=self.device)[:, None]
            k = torch.arange(j0, n, device=self.device)[None, :]
            factor = ((k > j).to(self.dtype) * 2 + (k == j).to(self.dtype))[..., None]
            block = (J4[:, j0:j1, j0:, :] * factor).reshape(n, -1)
            blocks.append((j0, j1))
            weights.append(kernels.prepack(block, which, _HALF_ROWS_HINT))
            j0 = j1
        cache[m, which] = (blocks, weights)
        return cache[m, which]

    def _contract_half(self, w: Tensor, m: int, chunk: int | None) -> Tensor:
        """``J^s[w^m]`` for ``m = H − 1 ≥ 2`` from the rows with ``j ≤ k`` only, ``(R, Λ)``.

        Half the arithmetic of :meth:`_contract`'s full rows, and half the couplings read.
        For each block of :meth:`_half_blocks`, the rows ``w_j w_k ⋯`` of a chunk of replicas
        (``(R_c, K_b)``, ``K_b ≈ 1024``, ``R_c ≤ 512``: in cache) times the block's packed
        couplings, accumulated. The products run on :func:`landscape.kernels.backend`
        (oneDNN on AVX-512 CPUs that are not Intel's, with the couplings prepacked in its
        layout); the accumulation is in blocks of ``K_b`` terms as in the full-rows product,
        so the rounding is of the same order.
        """
        n, r = self.n_spins, w.shape[0]
        which = kernels.backend(self.device, self.dtype, self.matmul)
        blocks, weights = self._half_blocks(m, which)
        step = self._chunk(m, chunk)
        if chunk is None:  # a block of rows, (R_c, K_b), stays in cache
            widest = max((j1 - j0) * (n - j0) for j0, j1 in blocks) * n ** (m - 2)
            step = min(step, max(_SMALL_BATCH, _BLOCK_ELEMENTS // widest))
        if which == "onednn":  # whole multiples of the row bucket per product (see below)
            step = max(_ONEDNN_ROWS, step // _ONEDNN_ROWS * _ONEDNN_ROWS)
        parts = []
        for start in range(0, r, step):
            wc = w[start : start + step]
            rc = wc.shape[0]
            if which == "onednn" and rc % _ONEDNN_ROWS:
                # oneDNN compiles a kernel per shape (~0.6 ms each): with the active replicas
                # shrinking every step, fresh row counts would compile one per block and
                # step. Zero rows pad the chunk to a multiple of the bucket instead.
                pad = _ONEDNN_ROWS - rc % _ONEDNN_ROWS
                wc = torch.cat([wc, wc.new_zeros(pad, n)])
            rows_c = wc.shape[0]
            rest = None  # w^{⊗(m−2)} of the chunk, (R_c, Λ^{m−2})
            for _ in range(m - 2):
                rest = (
                    wc if rest is None else (rest[:, :, None] * wc[:, None, :]).reshape(rows_c, -1)
                )
            out: Tensor | None = None
            for (j0, j1), weight in zip(blocks, weights, strict=True):
                rows = (wc[:, j0:j1, None] * wc[:, None, j0:]).reshape(rows_c, -1)
                if rest is not None:
                    rows = (rows[:, :, None] * rest[:, None, :]).reshape(rows_c, -1)
                prod = kernels.linear(rows, weight, which)
                out = prod if out is None else out.add_(prod)
            parts.append(out[:rc])
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _contract(self, w: Tensor, m: int, chunk: int | None = None) -> Tensor:
        """``J^s[w^m]`` for every row of ``w`` (``(R, Λ)``): shape ``(R, Λ^{H−m})``.

        Matrix–matrix products for a whole chunk of replicas: the rows ``w^{⊗m}``
        (``(R_c, Λ^m)``) times ``J^s`` reshaped to ``(Λ^m, Λ^{H−m})``. The rows are never
        built whole (``R·Λ^m`` floats would stream through memory before the product): they
        are formed ``b`` leading indices at a time (:meth:`contraction_block`), a block that
        stays in cache, and each block's product is accumulated into the output, so the
        product runs at the matrix-multiply rate and ``J^s`` is still read once per chunk.
        Fewer than ``_SMALL_BATCH`` rows go one index at a time instead (``m`` products
        with inner dimension ``Λ``): the long ``Λ^m`` inner dimension of a matrix–vector
        product accumulates about 20× more float32 rounding than the blocked matrix–matrix
        kernel, which would put a floor of ``~2e-5`` under the gradient norm at ``Λ = 250``.
        """
        n, r = self.n_spins, w.shape[0]
        if m == 0:
            return self.couplings.reshape(1, -1).expand(r, -1)
        if r < _SMALL_BATCH:
            out = w @ self.couplings.reshape(n, n ** (self.H - 1))
            for j in range(1, m):
                out = (w[:, None, :] @ out.reshape(r, n, n ** (self.H - 1 - j)))[:, 0]
            return out
        if m == self.H - 1 and m >= 2 and self._use_half_rows(m, r):
            return self._contract_half(w, m, chunk)
        mat = self.couplings.reshape(n**m, n ** (self.H - m))
        step = self._chunk(m, chunk)
        inner = n ** (m - 1)
        parts = []
        for start in range(0, r, step):
            wc = w[start : start + step]
            rc = wc.shape[0]
            if m == 1:
                parts.append(wc @ mat)
                continue
            tail = wc  # w^{⊗(m−1)} of the chunk, (R_c, Λ^{m−1})
            for _ in range(m - 2):
                tail = (tail[:, :, None] * wc[:, None, :]).reshape(rc, -1)
            block = self.contraction_block(rc, m)
            out = wc.new_zeros(rc, mat.shape[1])
            for i in range(0, n, block):
                j = min(n, i + block)
                rows = (wc[:, i:j, None] * tail[:, None, :]).reshape(rc, -1)
                out.addmm_(rows, mat[i * inner : j * inner])
            parts.append(out)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def loss_and_gradient(self, w: Tensor, chunk: int | None = None) -> tuple[Tensor, Tensor]:
        """``L(w)`` (shape ``(…,)``) and the Euclidean gradient ``∇L(w)`` (shape ``(…, Λ)``).

        One contraction ``J^s[w^{H−1}]`` gives both (``L = ⟨∇L, w⟩/H``).

        Args:
            w: ``(Λ,)`` or ``(R, Λ)``.
            chunk: replicas per matrix product (default: bounded by ``2^26`` elements).
        """
        w2 = self.check_points(w)
        grad = self._contract(w2, self.H - 1, chunk) * (self.scale * self.H)
        loss = (grad * w2).sum(-1) / self.H
        return loss.reshape(w.shape[:-1]), grad.reshape(w.shape)

    def loss(self, w: Tensor, chunk: int | None = None) -> Tensor:
        """The Hamiltonian ``L(w) = Λ^{-(H-1)/2} Σ J w_{i_1}⋯w_{i_H}``, shape ``(…,)``."""
        return self.loss_and_gradient(w, chunk)[0]

    def energy(self, w: Tensor, chunk: int | None = None) -> Tensor:
        """The normalised energy ``L(w)/Λ``, shape ``(…,)``."""
        return self.loss(w, chunk) / self.n_spins

    def gradient(self, w: Tensor, chunk: int | None = None) -> Tensor:
        """Euclidean gradient ``∇L(w) = sH J^s[w^{H−1}]``, shape ``(…, Λ)``."""
        return self.loss_and_gradient(w, chunk)[1]

    def riemannian_gradient(self, w: Tensor, chunk: int | None = None) -> Tensor:
        """Riemannian gradient ``P∇L(w)`` on the sphere through ``w``; orthogonal to ``w``."""
        return tangent_project(w, self.gradient(w, chunk))

    def hessian(self, w: Tensor, chunk: int | None = None) -> Tensor:
        """Euclidean Hessian ``∇²L(w) = sH(H−1) J^s[w^{H−2}]``, shape ``(…, Λ, Λ)``."""
        w2 = self.check_points(w)
        hess = self._contract(w2, self.H - 2, chunk) * (self.scale * self.H * (self.H - 1))
        return hess.reshape(*w.shape, self.n_spins)

    def riemannian_hessian(self, w: Tensor, chunk: int | None = None) -> Tensor:
        """Riemannian Hessian on the tangent space, in the basis of :func:`tangent_basis`.

        ``Bᵀ(∇²L − (⟨∇L, w⟩/‖w‖²) I)B`` with ``B`` the ``Λ × (Λ−1)`` orthonormal tangent
        basis; the second term is the curvature of the constraint (it equals ``H L/Λ`` on
        the sphere ``‖w‖² = Λ``). Computed as ``(Q ∇²L Q)_{2:,2:}`` for the Householder
        reflection ``Q`` in ``O(Λ²)`` per replica.

        Returns:
            Symmetric matrices of shape ``(…, Λ−1, Λ−1)``.
        """
        w2 = self.check_points(w)
        grad = self.gradient(w2, chunk)
        hess = self.hessian(w2, chunk)
        return _tangent_hessian(w2, grad, hess).reshape(
            *w.shape[:-1], self.n_spins - 1, self.n_spins - 1
        )

    def hessian_eigenvalues(self, w: Tensor, chunk: int | None = None) -> Tensor:
        """Ascending eigenvalues of :meth:`riemannian_hessian`, shape ``(…, Λ−1)``.

        Batched ``eigvalsh`` over replicas, in chunks of ``chunk`` replicas (default 64).
        """
        w2 = self.check_points(w)
        if w2.shape[0] == 0:
            return w2.new_empty(*w.shape[:-1], self.n_spins - 1)
        step = 64 if chunk is None else self._chunk(0, chunk)
        parts = [
            torch.linalg.eigvalsh(self.riemannian_hessian(w2[i : i + step]))
            for i in range(0, w2.shape[0], step)
        ]
        return torch.cat(parts).reshape(*w.shape[:-1], self.n_spins - 1)

    def index(
        self, w: Tensor, tol: float = 1e-4, chunk: int | None = None, *, rtol: float = INDEX_RTOL
    ) -> Tensor:
        """Number of eigenvalues of the Riemannian Hessian below ``−τ``, shape ``(…,)``.

        At a critical point this is its Morse index (0 for a local minimum). Only
        meaningful at critical points: check the gradient norm first. The threshold is the
        one index convention of :func:`landscape.curvature.index_threshold`,
        ``τ = max(rtol · max|λ|, tol)`` per point: the floor ``tol`` decides here (the
        Hessian's eigenvalues are of order one, so ``rtol · max|λ| ≈ 1e-5``).

        Args:
            w: ``(Λ,)`` or ``(R, Λ)``.
            tol: the absolute floor of ``τ``: eigenvalues in ``[−τ, 0)`` are not counted (the
                default suits float32 and a gradient tolerance ``~1e-4``).
            chunk: replicas per batched eigendecomposition.
            rtol: the part of ``τ`` relative to ``max|λ|``.

        Raises:
            LandscapeError: ``tol < 0`` or ``rtol < 0``.
        """
        check_positive("tol", tol, strict=False)
        return count_negative(self.hessian_eigenvalues(w, chunk), rtol, tol)

    # --- stochastic splitting ---------------------------------------------------------------

    def split(self, parts: int, seed: int) -> list[SpinGlass]:
        """Split the couplings into ``P`` glasses with ``J = Σ_p J^{(p)}``.

        Given ``J``, ``J^{(p)} = J/P + (Z^{(p)} − Z̄)/√P`` with ``Z^{(p)}`` i.i.d. N(0, 1) and
        ``Z̄`` their mean: each ``J^{(p)}`` has N(0, 1/P) entries and they sum to ``J``
        exactly, so the ``P`` partial losses sum to ``L`` (the stochastic setting of
        Choromanska et al. 2015, §5). The partial glasses keep this glass's scale
        ``Λ^{-(H-1)/2}``. Splitting the symmetrised couplings is the same as symmetrising
        the split ones (symmetrisation is linear). Memory: ``P`` more coupling tensors.

        Args:
            parts: ``P ≥ 1``.
            seed: seed of the splitting noise.

        Raises:
            LandscapeError: ``parts < 1``.
        """
        check_int("parts (P)", parts, 1)
        if parts == 1:
            return [self]
        total: Tensor | None = None
        noise = []
        for p in range(parts):
            sub_seed = int(np.random.SeedSequence([int(seed), p]).generate_state(1)[0])
            z = couplings(self.n_spins, self.H, sub_seed, "gaussian", self.device, self.dtype)
            z = symmetrize(z)
            total = z.clone() if total is None else total.add_(z)
            noise.append(z)
        mean = total.div_(parts)
        return [
            SpinGlass(
                z.sub_(mean).div_(math.sqrt(parts)).add_(self.couplings, alpha=1.0 / parts),
                symmetric=True,
            )
            for z in noise
        ]
