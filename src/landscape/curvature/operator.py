"""Curvature matrices as linear operators: the Hessian and the generalized Gauss–Newton.

A curvature operator ``A`` (``P × P``, symmetric) is used only through products ``A @ X``
with a vector ``(P,)`` or a matrix of ``K`` columns ``(P, K)``; nothing ``P × P`` is ever
formed unless asked for (:meth:`CurvatureOperator.to_dense`,
:func:`~landscape.curvature.dense.dense_hessian`).

**Hessian.** For a pure loss ``L(θ) = (1/N) Σ_c n_c ℓ_c(θ)`` — the mean over a dataset
split into chunks ``c`` of ``n_c`` rows, ``ℓ_c`` the chunk-mean loss — the Hessian-vector
product is

    H v = (1/N) Σ_c n_c ∇²ℓ_c(θ) v,

so chunking changes memory, never the result: it is exactly the Hessian of the
dataset-mean loss. Each ``∇²ℓ_c v`` is computed by forward-over-reverse differentiation,
``jvp(grad(ℓ_c), θ, v)`` (Pearlmutter 1994, *Fast exact multiplication by the Hessian*),
and the ``K`` columns of ``V`` go through one :func:`torch.func.vmap`-ed pass: the primal
forward/backward is computed once per chunk and the tangents for all ``K`` vectors as
batched matrix products.

``backend="cached"`` instead keeps the gradient's autograd graph of every chunk in memory
(built once, ``create_graph=True``) and applies ``H`` by one reverse pass through it per
vector (reverse-over-reverse; PyHessian's single-batch trick, here over all chunks). It is
the faster choice on a CPU for long sequences of single-vector products (Lanczos) when the
whole dataset's activations fit in memory; ``"forward"`` needs only one chunk's memory and
gains the most from batching on a GPU.

**Generalized Gauss–Newton.** With outputs ``f(θ, x)`` and a loss ``ℓ(f, y)`` convex in
the outputs, ``G = (1/N) Σ_c n_c J_cᵀ ∇²_f ℓ_c J_c`` (Schraudolph 2002, *Fast
curvature matrix-vector products for second-order gradient descent*; Martens 2010). ``G`` is
positive semi-definite and equals ``H`` minus the term weighted by the output residuals.

Shape letters: ``P`` parameters, ``K`` vectors, ``N`` samples.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from torch.func import grad, jvp, vjp, vmap

from .._errors import LandscapeError, check_choice
from .._validate import LOW_PRECISION, check_finite, check_int, check_pure_function
from ..functional import Batch, Data, FunctionalModel, batch_rows, get_loss, weighted_mean
from ..params import Params, flatten, unflatten
from ._inputs import (
    Backend,
    DataSource,
    OutputLoss,
    PureLoss,
    as_source,
    bind,
    check_params_tensors,
    check_scalar,
    resolve,
    with_frozen,
)

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

__all__ = [
    "Backend",
    "CurvatureOperator",
    "GGNOperator",
    "HessianOperator",
    "MatrixOperator",
    "OutputLoss",
    "PureLoss",
    "as_operator",
]


# ---------------------------------------------------------------- base class


class CurvatureOperator:
    """A symmetric ``P × P`` matrix known only through products ``A @ X``.

    Subclasses implement :meth:`_apply` on row-stacked vectors ``(K, P) -> (K, P)``.
    ``A @ x`` takes a vector ``(P,)`` or a matrix of columns ``(P, K)``; the result has the
    input's shape, device and dtype (the arithmetic runs on the operator's device in its
    dtype).

    Attributes:
        shape: ``(P, P)``.
        dtype, device: where and in what precision products are computed.
        num_hvps: matrix-vector products computed so far (a ``(P, K)`` product counts ``K``).
        num_passes: passes over the dataset so far (a ``(P, K)`` product is one pass for
            the ``"forward"`` backend, ``K`` for ``"cached"``).
    """

    shape: tuple[int, int]
    dtype: torch.dtype
    device: torch.device

    def __init__(self) -> None:
        self.num_hvps = 0
        self.num_passes = 0

    @property
    def num_params(self) -> int:
        """``P``, the side of the matrix."""
        return self.shape[0]

    def _apply(self, rows: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply_rows(self, rows: Tensor) -> Tensor:
        """``(A @ rows.T).T`` for row-stacked vectors ``(K, P)``, on the operator's device/dtype.

        The form the algorithms use internally; no validation beyond the shape.
        """
        if rows.dim() != 2 or rows.shape[1] != self.shape[0]:
            raise LandscapeError(
                f"rows must have shape (K, {self.shape[0]}), got {tuple(rows.shape)}"
            )
        rows = rows.to(device=self.device, dtype=self.dtype)
        self.num_hvps += rows.shape[0]
        return self._apply(rows)

    def __matmul__(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = torch.as_tensor(np.asarray(x))
        if x.dim() not in (1, 2) or x.shape[0] != self.shape[0]:
            raise LandscapeError(
                f"operator of shape {self.shape} cannot multiply a tensor of shape "
                f"{tuple(x.shape)}; expected ({self.shape[0]},) or ({self.shape[0]}, K)"
            )
        out_dtype = x.dtype if x.is_floating_point() else self.dtype
        if x.dim() == 1:
            out = self.apply_rows(x.reshape(1, -1))[0]
        else:
            out = self.apply_rows(x.T).T
        return out.to(device=x.device, dtype=out_dtype)

    def matvec(self, x: Tensor) -> Tensor:
        """``A @ x`` for one vector ``(P,)``."""
        return self @ x

    def to_dense(self, block: int = 256) -> Tensor:
        """The full ``P × P`` matrix, ``A @ I`` in blocks of ``block`` columns (small models)."""
        p = self.shape[0]
        cols = []
        for start in range(0, p, block):
            eye = torch.zeros(min(block, p - start), p, device=self.device, dtype=self.dtype)
            eye[:, start : start + eye.shape[0]].fill_diagonal_(1.0)
            cols.append(self.apply_rows(eye))
        return torch.cat(cols, dim=0).T.contiguous()

    def to_scipy(self) -> LinearOperator:
        """A :class:`scipy.sparse.linalg.LinearOperator` (numpy in, numpy out) for scipy solvers.

        Products run on the operator's device in its dtype; the numpy dtype matches it
        (float32 or float64).
        """
        from scipy.sparse.linalg import LinearOperator

        np_dtype = np.float64 if self.dtype == torch.float64 else np.float32

        out_dtype = torch.float64 if np_dtype is np.float64 else torch.float32

        def matmat(x: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(np.ascontiguousarray(x), device=self.device, dtype=self.dtype)
            if t.dim() == 1:
                out = self.apply_rows(t.reshape(1, -1))[0]
            else:
                out = self.apply_rows(t.T).T
            return out.to(out_dtype).cpu().numpy()

        return LinearOperator(
            self.shape, matvec=matmat, rmatvec=matmat, matmat=matmat, dtype=np_dtype
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(P={self.shape[0]}, dtype={self.dtype}, "
            f"device={self.device}, num_hvps={self.num_hvps})"
        )


class MatrixOperator(CurvatureOperator):
    """A dense symmetric matrix as an operator: the test oracle, or a small exact Hessian.

    Args:
        matrix: a square symmetric tensor ``(P, P)``.
        check_symmetric: verify ``‖A − Aᵀ‖ ≤ 1e-6 ‖A‖`` (relative) at construction.

    Raises:
        LandscapeError: not square, not floating point, or not symmetric.
    """

    def __init__(self, matrix: Tensor, check_symmetric: bool = True) -> None:
        super().__init__()
        if (
            not isinstance(matrix, Tensor)
            or matrix.dim() != 2
            or matrix.shape[0] != matrix.shape[1]
        ):
            shape = tuple(matrix.shape) if isinstance(matrix, Tensor) else type(matrix).__name__
            raise LandscapeError(f"matrix must be a square (P, P) tensor, got {shape}")
        if not matrix.is_floating_point():
            raise LandscapeError(f"matrix must be floating point, got {matrix.dtype}")
        if matrix.dtype in LOW_PRECISION:  # too coarse for Lanczos: work in float32
            matrix = matrix.float()
        if check_symmetric:
            scale = matrix.abs().max().clamp_min(torch.finfo(matrix.dtype).tiny)
            asym = (matrix - matrix.T).abs().max() / scale
            if asym > 1e-6:
                raise LandscapeError(
                    f"matrix is not symmetric (max |A - A^T| / max |A| = {float(asym):.2e}); "
                    "curvature operators must be symmetric, use (A + A.T) / 2"
                )
        self.matrix = matrix.detach()
        self.shape = (matrix.shape[0], matrix.shape[0])
        self.dtype = matrix.dtype
        self.device = matrix.device

    def _apply(self, rows: Tensor) -> Tensor:
        self.num_passes += 1
        return rows @ self.matrix  # A symmetric: (A Vᵀ)ᵀ = V A

    def to_dense(self, block: int = 256) -> Tensor:
        return self.matrix.clone()


def as_operator(a: CurvatureOperator | Tensor) -> CurvatureOperator:
    """An operator as is, or a dense symmetric tensor wrapped in a :class:`MatrixOperator`.

    Raises:
        LandscapeError: ``a`` is neither.
    """
    if isinstance(a, CurvatureOperator):
        return a
    if isinstance(a, Tensor):
        return MatrixOperator(a)
    raise LandscapeError(f"expected a CurvatureOperator or a (P, P) tensor, got {type(a).__name__}")


# ---------------------------------------------------------------- dataset means


class _EmpiricalOperator(CurvatureOperator):
    """A curvature matrix of a dataset-mean loss, ``A = (1/N) Σ_c n_c A_c``.

    The set-up (parameters resolved, frozen tensors split off, data made re-iterable) and
    the loop over the data chunks, weighted by their row counts
    (:func:`~landscape.functional.weighted_mean`), written once; subclasses give the product
    of one chunk's matrix with row-stacked vectors, :meth:`_chunk_product`.
    """

    params: Params
    frozen: Params
    data: DataSource | None
    vector_chunk: int

    def _setup(
        self,
        params: Mapping[str, Tensor],
        data: Data | None,
        chunk_size: int | None,
        vector_chunk: int,
        device: str | torch.device | None,
        dtype: torch.dtype | None,
        include_frozen: bool,
    ) -> None:
        self.vector_chunk = check_int("vector_chunk", vector_chunk, 1)
        self.params, self.frozen = resolve(params, device, dtype, include_frozen)
        check_finite({**self.params, **self.frozen}, "params")
        first = next(iter(self.params.values()))
        self.device, self.dtype = first.device, first.dtype
        p = sum(v.numel() for v in self.params.values())
        self.shape = (p, p)
        self.data = as_source(data, chunk_size, self.device, self.dtype)

    def _batches(self) -> Iterator[Batch | None]:
        if self.data is None:
            yield None
        else:
            yield from self.data

    def _map_rows(self, fn: Callable[[Params], Params], rows: Tensor) -> Tensor:
        """``fn`` of every row (as params), vmapped ``vector_chunk`` rows at a time: ``(K, P)``."""
        parts = []
        for start in range(0, rows.shape[0], self.vector_chunk):
            v = unflatten(rows[start : start + self.vector_chunk], self.params)
            parts.append(flatten(vmap(fn)(v), 1))
        return torch.cat(parts)

    def _chunk_product(self, batch: Batch | None, rows: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def _apply(self, rows: Tensor) -> Tensor:
        out = weighted_mean((batch_rows(b), self._chunk_product(b, rows)) for b in self._batches())
        self.num_passes += 1
        return out


# ---------------------------------------------------------------- Hessian


class HessianOperator(_EmpiricalOperator):
    """The Hessian of a pure loss, averaged over a dataset, as a linear operator.

    ``H @ V`` is exactly ``∇²L(θ) V`` for the dataset-mean loss ``L(θ) = (1/N) Σ_c n_c ℓ_c(θ)``
    (chunk ``c`` has ``n_c`` rows and batch-mean loss ``ℓ_c``), computed chunk by chunk.

    Args:
        loss: a pure batch-mean loss ``loss(params, (x, y)) -> scalar`` (e.g. a
            :class:`~landscape.functional.FunctionalModel`), or with ``data=None`` a function
            of the parameters alone, ``loss(params) -> scalar``.
        params: the point ``θ`` (a dict of tensors; copied, never modified).
        data: an ``(x, y)`` pair of tensors (split into chunks of ``chunk_size`` rows), any
            re-iterable of pairs (e.g. a ``DataLoader``; iterated once per product), or
            ``None`` for a loss without data.
        chunk_size: rows per chunk for a tensor pair (memory); ``None`` for one chunk.
        backend: ``"forward"`` (forward-over-reverse, all columns in one vmapped pass) or
            ``"cached"`` (reverse-mode through the stored gradient graph; see the module
            docs).
        vector_chunk: most columns pushed through one vmapped pass (memory grows with it).
        device: where to compute (default: the params' device).
        dtype: precision of the products (default: the params' dtype, but at least float32:
            float16/bfloat16 params are upcast, and asking for them is refused; float64 for
            references). Floating-point inputs are cast to it; so are a
            :class:`~landscape.functional.FunctionalModel`'s buffers.
        include_frozen: by default, tensors with ``requires_grad=False`` in a dict where
            others require grad (``dict(model.named_parameters())`` of a partly frozen
            model) are held fixed and left out of the matrix, which then covers the
            trainable parameters only (``op.params``); ``True`` keeps every tensor.

    Attributes:
        params: the free parameters, in the flatten order of the matrix.
        frozen: the frozen tensors held fixed (empty unless some were split off).

    Raises:
        LandscapeError: bad params, data, backend or a loss that does not return a scalar;
            an ``nn.Module`` given as ``loss`` (wrap it in ``FunctionalModel``).

    Example:
        >>> A = torch.tensor([[2.0, 1.0], [1.0, -3.0]], dtype=torch.float64)
        >>> w = {"w": torch.zeros(2, dtype=torch.float64)}
        >>> H = HessianOperator(lambda p: 0.5 * p["w"] @ A @ p["w"], w)
        >>> (H @ torch.tensor([1.0, 0.0], dtype=torch.float64)).tolist()
        [2.0, 1.0]
    """

    def __init__(
        self,
        loss: PureLoss,
        params: Mapping[str, Tensor],
        data: Data | None = None,
        *,
        chunk_size: int | None = None,
        backend: Backend = "forward",
        vector_chunk: int = 64,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        include_frozen: bool = False,
    ) -> None:
        super().__init__()
        check_pure_function(loss, "loss")
        check_choice("backend", backend, ("forward", "cached"))
        self._setup(params, data, chunk_size, vector_chunk, device, dtype, include_frozen)
        self.user_loss = loss
        self._order = list(params) if isinstance(params, Mapping) else []
        self.loss = with_frozen(loss, self.frozen, self._order)
        self.backend = backend
        self._cache: tuple[list[Tensor], list[Tensor]] | None = None
        self._check_loss()

    def _check_loss(self) -> None:
        batch = next(iter(self._batches()))
        with torch.no_grad():
            value = bind(self.loss, batch)(self.params)
        check_scalar(value, "loss")
        if not bool(torch.isfinite(value)):
            bad = [
                name
                for name, t in zip(("inputs", "targets"), batch or (), strict=False)
                if t.is_floating_point() and not bool(torch.isfinite(t).all())
            ]
            why = f"the data's {' and '.join(bad)} hold NaN or inf" if bad else "it overflows"
            raise LandscapeError(
                f"the loss is {float(value)} at these parameters on the first data chunk "
                f"({why}); curvature of an undefined loss is undefined — check the data"
            )

    def at(self, params: Mapping[str, Tensor]) -> HessianOperator:
        """The same operator (loss, data, options) at another point ``params``.

        Counters start at zero; the data chunks are shared, not copied. ``params`` holds the
        free tensors (``self.params``' names), optionally with new values of the frozen ones.

        Raises:
            LandscapeError: ``params`` has other names or shapes than this operator's.
        """
        check_params_tensors(params)
        frozen_given = {k: v for k, v in params.items() if k in self.frozen}
        params = {k: v for k, v in params.items() if k not in self.frozen}
        new_params, _ = resolve(params, self.device, self.dtype)
        check_finite({**new_params, **frozen_given}, "params")
        mine = {k: tuple(v.shape) for k, v in self.params.items()}
        theirs = {k: tuple(v.shape) for k, v in new_params.items()}
        if mine != theirs:
            raise LandscapeError(
                f"params for at() must have the operator's names and shapes {mine}, got {theirs}"
            )
        new = copy.copy(self)
        new.params = new_params
        if frozen_given:
            new.frozen = {**self.frozen, **resolve(frozen_given, self.device, self.dtype)[0]}
            new.loss = with_frozen(self.user_loss, new.frozen, self._order)
        new._cache = None
        new.num_hvps = new.num_passes = 0
        return new

    # -- forward-over-reverse, vmapped over columns
    def _chunk_product(self, batch: Batch | None, rows: Tensor) -> Tensor:
        g = grad(bind(self.loss, batch))
        return self._map_rows(lambda t: jvp(g, (self.params,), (t,))[1], rows)

    # -- reverse-over-reverse through the stored gradient graph
    def _build_cache(self) -> tuple[list[Tensor], list[Tensor]]:
        leaves = [v.clone().requires_grad_(True) for v in self.params.values()]
        named = dict(zip(self.params, leaves, strict=True))

        def chunk_gradient(batch: Batch | None) -> list[Tensor]:
            value = bind(self.loss, batch)(named)
            gs = torch.autograd.grad(value, leaves, create_graph=True, allow_unused=True)
            pairs = zip(gs, leaves, strict=True)
            return [torch.zeros_like(v) if g is None else g for g, v in pairs]

        with torch.enable_grad():
            grads = weighted_mean((batch_rows(b), chunk_gradient(b)) for b in self._batches())
        return leaves, grads

    def _cached_rows(self, rows: Tensor) -> Tensor:
        if self._cache is None:
            self._cache = self._build_cache()
        leaves, grads = self._cache
        if not any(g.requires_grad for g in grads):  # loss linear in the params
            return torch.zeros_like(rows)
        out = []
        for row in rows:
            v = unflatten(row, self.params)
            hv = torch.autograd.grad(
                grads, leaves, grad_outputs=list(v.values()), retain_graph=True, allow_unused=True
            )
            hv = [torch.zeros_like(l) if h is None else h for h, l in zip(hv, leaves, strict=True)]
            out.append(torch.cat([h.reshape(-1) for h in hv]))
            self.num_passes += 1
        return torch.stack(out).detach()

    def _apply(self, rows: Tensor) -> Tensor:
        if self.backend == "cached":
            return self._cached_rows(rows)
        return super()._apply(rows)

    def release(self) -> None:
        """Free the stored gradient graph of the ``"cached"`` backend (rebuilt on next use)."""
        self._cache = None


# ---------------------------------------------------------------- generalized Gauss–Newton


class GGNOperator(_EmpiricalOperator):
    """The generalized Gauss–Newton matrix ``G = (1/N) Σ_c n_c J_cᵀ (∇²_f ℓ_c) J_c``.

    ``G v`` is one Jacobian-vector product (forward mode), one Hessian-vector product of the
    loss in output space, and one vector-Jacobian product (reverse mode), vmapped over the
    columns. For cross-entropy and squared error ``G`` is positive semi-definite.

    Args:
        model: a :class:`~landscape.functional.FunctionalModel` (its ``forward`` and loss
            are used), a pure ``forward(params, x) -> outputs``, or an ``nn.Module`` with
            ``output_loss`` (wrapped in a ``FunctionalModel``, eval mode).
        params: the point ``θ`` (copied).
        data: an ``(x, y)`` pair or a re-iterable of pairs.
        output_loss: ``(outputs, targets) -> batch-mean loss`` or a loss name
            (``"cross_entropy"``, ``"mse"``, …); required when ``model`` is a plain
            function or a module, defaults to the model's loss for a ``FunctionalModel``.
        chunk_size, vector_chunk, device, dtype, include_frozen: as for
            :class:`HessianOperator`.

    Raises:
        LandscapeError: a plain forward function or module without ``output_loss``, or bad
            inputs.
    """

    def __init__(
        self,
        model: FunctionalModel | Callable[[Params, Tensor], Tensor],
        params: Mapping[str, Tensor],
        data: Data,
        *,
        output_loss: str | OutputLoss | None = None,
        chunk_size: int | None = None,
        vector_chunk: int = 64,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        include_frozen: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(model, torch.nn.Module):
            if output_loss is None:
                raise LandscapeError(
                    f"model is an nn.Module ({type(model).__name__}); pass output_loss= "
                    "(e.g. 'cross_entropy' or 'mse'), or FunctionalModel(model, loss=...)"
                )
            model = FunctionalModel(model, loss=output_loss)
        if isinstance(model, FunctionalModel):
            self.forward = model.forward
            # FunctionalModel keeps its resolved output loss privately
            self.output_loss = (
                get_loss(output_loss) if output_loss is not None else model.output_loss
            )
        elif callable(model):
            if output_loss is None:
                raise LandscapeError(
                    "GGNOperator with a plain forward function needs output_loss= "
                    "(a loss name such as 'cross_entropy' or a callable (outputs, targets) -> loss)"
                )
            self.forward, self.output_loss = model, get_loss(output_loss)
        else:
            raise LandscapeError(
                f"model must be a FunctionalModel or a forward(params, x) function, "
                f"got {type(model).__name__}"
            )
        if data is None:
            raise LandscapeError(
                "GGNOperator needs data: an (inputs, targets) pair or a DataLoader"
            )
        self._setup(params, data, chunk_size, vector_chunk, device, dtype, include_frozen)
        order = list(params) if isinstance(params, Mapping) else []
        self.forward = with_frozen(self.forward, self.frozen, order)
        x, y = next(iter(self.data))
        with torch.no_grad():
            check_scalar(self.output_loss(self.forward(self.params, x), y), "output_loss")

    def _chunk_product(self, batch: Batch | None, rows: Tensor) -> Tensor:
        x, y = batch

        def f(p: Params) -> Tensor:
            return self.forward(p, x)

        out, vjp_fn = vjp(f, self.params)
        loss_grad = grad(lambda o: self.output_loss(o, y))

        def ggn_v(v: Params) -> Params:
            jv = jvp(f, (self.params,), (v,))[1]
            hjv = jvp(loss_grad, (out,), (jv,))[1]
            return vjp_fn(hjv)[0]

        return self._map_rows(ggn_v, rows)
