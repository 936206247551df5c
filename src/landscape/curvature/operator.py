"""Curvature matrices as linear operators: the Hessian and the generalized Gauss–Newton.

A curvature operator ``A`` (``P × P``, symmetric) is used only through products ``A @ X``
with a vector ``(P,)`` or a matrix of ``K`` columns ``(P, K)``; nothing ``P × P`` is ever
formed unless asked for (:meth:`CurvatureOperator.to_dense`, :func:`dense_hessian`).

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
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import Tensor
from torch.func import grad, jvp, vjp, vmap

from .._errors import LandscapeError, check_choice
from .._validate import LOW_PRECISION, check_pure_function, curvature_dtype, is_batch, split_frozen
from ..functional import Batch, Data, FunctionalModel, get_loss, iter_chunks
from ..params import Params, flatten, num_params, unflatten

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

__all__ = [
    "CurvatureOperator",
    "GGNOperator",
    "HessianOperator",
    "MatrixOperator",
    "as_operator",
    "dense_hessian",
    "loss_and_gradient",
]

Backend = Literal["forward", "cached"]
#: ``loss(params, (x, y)) -> scalar`` (batch-mean), or ``loss(params) -> scalar`` with no data
PureLoss = Callable[..., Tensor]
OutputLoss = Callable[[Tensor, Tensor], Tensor]


# ---------------------------------------------------------------- inputs


def _check_params_tensors(params: Mapping[str, Tensor]) -> None:
    num_params(params)  # validates: a non-empty dict of tensors
    devices = {v.device for v in params.values()}
    if len(devices) > 1:
        raise LandscapeError(f"params live on several devices {sorted(map(str, devices))}; use one")
    for k, v in params.items():
        if not torch.is_floating_point(v):
            raise LandscapeError(
                f"params[{k!r}] has dtype {v.dtype}; curvature needs floating point"
            )


def _resolve(
    params: Mapping[str, Tensor],
    device: str | torch.device | None,
    dtype: torch.dtype | None,
    include_frozen: bool = True,
) -> tuple[Params, Params]:
    """Detached copies of ``params`` on ``device`` in ``dtype``, split into free and frozen.

    Defaults: the params' own device and dtype, at least float32 (float16/bfloat16 are
    upcast, see :func:`landscape._validate.curvature_dtype`). Frozen tensors
    (``requires_grad=False`` among tensors that require grad) are split off unless
    ``include_frozen``; see :func:`landscape._validate.split_frozen`.
    """
    _check_params_tensors(params)
    free, frozen = split_frozen(params, include_frozen)
    first = next(iter(free.values()))
    device = first.device if device is None else torch.device(device)
    dtype = curvature_dtype(first.dtype, dtype)

    def move(v: Tensor) -> Tensor:
        return v.detach().to(device=device, dtype=dtype).clone()

    return {k: move(v) for k, v in free.items()}, {k: move(v) for k, v in frozen.items()}


def _with_frozen(loss: Callable[..., Tensor], frozen: Params, order: list[str]) -> Callable:
    """``loss`` of the free tensors alone: frozen ones are filled in, in the original order."""
    if not frozen:
        return loss

    def merged(p: Mapping[str, Tensor], *rest: object) -> Tensor:
        return loss({k: p[k] if k in p else frozen[k] for k in order}, *rest)

    return merged


class _DataSource:
    """A dataset that can be iterated many times, chunk by chunk, on one device and dtype.

    A pair of tensors is split into chunks once (moved and cast once); a re-iterable such as a
    ``DataLoader`` or a list is iterated anew on every pass and each batch moved then; a
    one-shot iterator (a generator) is materialised into a list. Floating-point inputs are
    cast to the operator's dtype; targets keep theirs.
    """

    def __init__(
        self,
        data: Data,
        chunk_size: int | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.device, self.dtype = device, dtype
        self._stream: Iterable | None = None
        self._chunks: list[Batch] | None = None
        if _is_pair(data):
            self._chunks = [self._move(b) for b in iter_chunks(data, chunk_size)]
        elif isinstance(data, Tensor) or not isinstance(data, Iterable):
            next(iter_chunks(data))  # raises the one-line error for a bad type
        elif iter(data) is data:
            self._chunks = [self._move(b) for b in iter_chunks(data)]
            if not self._chunks:
                raise LandscapeError("the dataset is empty")
        else:
            self._stream = data

    def _move(self, batch: Batch) -> Batch:
        x, y = batch
        x = x.to(device=self.device, dtype=self.dtype if x.is_floating_point() else x.dtype)
        return x, y.to(self.device)

    def __iter__(self) -> Iterator[Batch]:
        if self._chunks is not None:
            yield from self._chunks
            return
        empty = True
        for batch in iter_chunks(self._stream):
            empty = False
            yield self._move(batch)
        if empty:
            raise LandscapeError("the dataset is empty")


_is_pair = is_batch


def _as_source(
    data: Data | _DataSource | None,
    chunk_size: int | None,
    device: torch.device,
    dtype: torch.dtype,
) -> _DataSource | None:
    if data is None:
        return None
    if isinstance(data, _DataSource) and data.device == device and data.dtype == dtype:
        return data
    return _DataSource(data, chunk_size, device, dtype)


def _bind(loss: PureLoss, batch: Batch | None) -> Callable[[Params], Tensor]:
    if batch is None:
        return lambda p: loss(p)
    return lambda p: loss(p, batch)


def _check_scalar(value: object, what: str) -> None:
    if not isinstance(value, Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise LandscapeError(
            f"{what} must return a scalar tensor (the batch-mean loss), got {shape}"
        )


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


# ---------------------------------------------------------------- Hessian


class HessianOperator(CurvatureOperator):
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
        if int(vector_chunk) <= 0:
            raise LandscapeError(f"vector_chunk must be positive, got {vector_chunk}")
        self.user_loss = loss
        self._order = list(params) if isinstance(params, Mapping) else []
        self.params, self.frozen = _resolve(params, device, dtype, include_frozen)
        self.loss = _with_frozen(loss, self.frozen, self._order)
        first = next(iter(self.params.values()))
        self.device, self.dtype = first.device, first.dtype
        p = sum(v.numel() for v in self.params.values())
        self.shape = (p, p)
        self.backend = backend
        self.vector_chunk = int(vector_chunk)
        self.data = _as_source(data, chunk_size, self.device, self.dtype)
        self._cache: tuple[list[Tensor], list[Tensor]] | None = None
        self._check_loss()

    def _batches(self) -> Iterator[Batch | None]:
        if self.data is None:
            yield None
        else:
            yield from self.data

    def _check_loss(self) -> None:
        batch = next(iter(self._batches()))
        with torch.no_grad():
            _check_scalar(_bind(self.loss, batch)(self.params), "loss")

    def at(self, params: Mapping[str, Tensor]) -> HessianOperator:
        """The same operator (loss, data, options) at another point ``params``.

        Counters start at zero; the data chunks are shared, not copied. ``params`` holds the
        free tensors (``self.params``' names), optionally with new values of the frozen ones.

        Raises:
            LandscapeError: ``params`` has other names or shapes than this operator's.
        """
        _check_params_tensors(params)
        frozen_given = {k: v for k, v in params.items() if k in self.frozen}
        params = {k: v for k, v in params.items() if k not in self.frozen}
        new_params, _ = _resolve(params, self.device, self.dtype)
        mine = {k: tuple(v.shape) for k, v in self.params.items()}
        theirs = {k: tuple(v.shape) for k, v in new_params.items()}
        if mine != theirs:
            raise LandscapeError(
                f"params for at() must have the operator's names and shapes {mine}, got {theirs}"
            )
        new = copy.copy(self)
        new.params = new_params
        if frozen_given:
            new.frozen = {**self.frozen, **_resolve(frozen_given, self.device, self.dtype)[0]}
            new.loss = _with_frozen(self.user_loss, new.frozen, self._order)
        new._cache = None
        new.num_hvps = new.num_passes = 0
        return new

    # -- forward-over-reverse, vmapped over columns
    def _forward_rows(self, rows: Tensor) -> Tensor:
        total: Tensor | None = None
        count = 0
        for batch in self._batches():
            g = grad(_bind(self.loss, batch))
            n = 1 if batch is None else int(batch[0].shape[0])
            parts = []
            for start in range(0, rows.shape[0], self.vector_chunk):
                v = unflatten(rows[start : start + self.vector_chunk], self.params)
                hv = vmap(lambda t, g=g: jvp(g, (self.params,), (t,))[1])(v)
                parts.append(flatten(hv, 1))
            out = torch.cat(parts) * n
            total = out if total is None else total + out
            count += n
        self.num_passes += 1
        return total / count

    # -- reverse-over-reverse through the stored gradient graph
    def _build_cache(self) -> tuple[list[Tensor], list[Tensor]]:
        leaves = [v.clone().requires_grad_(True) for v in self.params.values()]
        named = dict(zip(self.params, leaves, strict=True))
        total: list[Tensor] | None = None
        count = 0
        with torch.enable_grad():
            for batch in self._batches():
                n = 1 if batch is None else int(batch[0].shape[0])
                value = _bind(self.loss, batch)(named)
                gs = torch.autograd.grad(value * n, leaves, create_graph=True, allow_unused=True)
                gs = [
                    torch.zeros_like(l) if g is None else g for g, l in zip(gs, leaves, strict=True)
                ]
                total = gs if total is None else [a + b for a, b in zip(total, gs, strict=True)]
                count += n
        assert total is not None
        return leaves, [g / count for g in total]

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
        return self._forward_rows(rows)

    def release(self) -> None:
        """Free the stored gradient graph of the ``"cached"`` backend (rebuilt on next use)."""
        self._cache = None


# ---------------------------------------------------------------- generalized Gauss–Newton


class GGNOperator(CurvatureOperator):
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
        if int(vector_chunk) <= 0:
            raise LandscapeError(f"vector_chunk must be positive, got {vector_chunk}")
        order = list(params) if isinstance(params, Mapping) else []
        self.params, self.frozen = _resolve(params, device, dtype, include_frozen)
        self.forward = _with_frozen(self.forward, self.frozen, order)
        first = next(iter(self.params.values()))
        self.device, self.dtype = first.device, first.dtype
        p = sum(v.numel() for v in self.params.values())
        self.shape = (p, p)
        self.vector_chunk = int(vector_chunk)
        self.data = _as_source(data, chunk_size, self.device, self.dtype)
        x, y = next(iter(self.data))
        with torch.no_grad():
            _check_scalar(self.output_loss(self.forward(self.params, x), y), "output_loss")

    def _apply(self, rows: Tensor) -> Tensor:
        total: Tensor | None = None
        count = 0
        for x, y in self.data:
            n = int(x.shape[0])

            def f(p: Params, x: Tensor = x) -> Tensor:
                return self.forward(p, x)

            out, vjp_fn = vjp(f, self.params)
            loss_grad = grad(lambda o, y=y: self.output_loss(o, y))

            def ggn_v(v: Params, f=f, out=out, vjp_fn=vjp_fn, loss_grad=loss_grad) -> Params:
                jv = jvp(f, (self.params,), (v,))[1]
                hjv = jvp(loss_grad, (out,), (jv,))[1]
                return vjp_fn(hjv)[0]

            parts = []
            for start in range(0, rows.shape[0], self.vector_chunk):
                v = unflatten(rows[start : start + self.vector_chunk], self.params)
                parts.append(flatten(vmap(ggn_v)(v), 1))
            res = torch.cat(parts) * n
            total = res if total is None else total + res
            count += n
        self.num_passes += 1
        return total / count


# ---------------------------------------------------------------- dense reference and gradient


#: default memory bound of :func:`dense_hessian`'s vmapped passes (bytes)
DENSE_MEMORY_BUDGET = 2**30
# a forward-over-reverse pass keeps the primal and tangent activations of the forward and
# backward passes: about this many copies of the saved activations per tangent
_JVP_FACTOR = 4


def _saved_bytes_per_row(loss: PureLoss, params: Params, batch: Batch, rows: int = 64) -> float:
    """Bytes autograd saves for the backward pass of ``loss`` on one row (measured on a few)."""
    x, y = batch
    k = max(1, min(int(x.shape[0]), rows))
    probe = (x[:k], y[:k])
    seen: dict[tuple, int] = {}

    def pack(t: Tensor) -> Tensor:
        seen[(t.data_ptr(), tuple(t.shape), t.dtype)] = t.numel() * t.element_size()
        return t

    leaves = {k_: v.detach().requires_grad_(True) for k_, v in params.items()}
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss(leaves, probe)
    saved = sum(seen.values()) + x[:k].numel() * x.element_size()
    return saved / k


def _dense_plan(
    num_params: int, rows: int, row_bytes: float, elem_bytes: int, budget: int, split_rows: bool
) -> tuple[int, int]:
    """Rows per data chunk and tangents per vmapped pass so that one pass fits ``budget``.

    One pass over ``r`` rows with ``K`` tangents holds about
    ``_JVP_FACTOR · (K + 1) · (r · row_bytes + P · elem_bytes)`` bytes. The whole data set
    and all ``P`` tangents at once when that fits; else fewer rows (down to 32, only when
    ``split_rows``), then fewer tangents (down to 1).

    Returns:
        ``(rows_per_chunk, tangents_per_pass)``.
    """

    def cost(r: int, k: int) -> float:
        return _JVP_FACTOR * (k + 1) * (r * row_bytes + num_params * elem_bytes)

    r, k = max(1, rows), num_params
    if cost(r, k) <= budget:
        return r, k
    if split_rows and row_bytes > 0:
        room = budget / (_JVP_FACTOR * (k + 1)) - num_params * elem_bytes
        r = max(min(rows, 32), min(rows, int(room // row_bytes)))
    per_tangent = _JVP_FACTOR * (r * row_bytes + num_params * elem_bytes)
    k = int(max(1, min(num_params, budget // per_tangent - 1)))
    return r, k


def _split_rows(batch: Batch, rows: int) -> Iterator[Batch]:
    x, y = batch
    for i in range(0, int(x.shape[0]), rows):
        yield x[i : i + rows], y[i : i + rows]


def _is_train_mode(loss: object) -> bool:
    """A FunctionalModel (or its bound method) in train mode: batch statistics per chunk."""
    owner = getattr(loss, "__self__", loss)
    return getattr(owner, "mode", None) == "train"


def dense_hessian(
    loss: PureLoss,
    params: Mapping[str, Tensor],
    data: Data | None = None,
    *,
    chunk_size: int | None = None,
    max_params: int = 10_000,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    memory_budget: int | None = None,
    include_frozen: bool = False,
) -> Tensor:
    """The exact ``P × P`` Hessian of the dataset-mean loss, column block by column block.

    The slow, obvious reference: the loss is written as a function of the flat parameter
    vector ``w`` and ``H e_i = jvp(∇L, w, e_i)`` is computed for every unit vector, vmapped
    over a block of them (what :func:`torch.func.hessian`, ``jacfwd(jacrev(·))``, does for
    all ``P`` at once), on each chunk, chunks weighted by their row counts. Use float64 for
    references.

    **Memory.** Pushing all ``P`` tangents through the whole data set at once needs ``P``
    copies of its activations. The activation bytes per row are measured on a few rows, and
    rows per chunk (when ``chunk_size`` is not given) and tangents per pass are chosen so
    that one pass stays within ``memory_budget`` (plus the ``P × P`` result). A
    :class:`~landscape.functional.FunctionalModel` in train mode is never re-chunked by
    rows (its batch statistics depend on the chunk).

    Args:
        loss, params, data, chunk_size, device, dtype, include_frozen: as for
            :class:`HessianOperator` (``chunk_size`` fixes the rows per chunk).
        max_params: refuse models with more parameters (``P²`` memory).
        memory_budget: bytes one vmapped pass may take (default
            :data:`DENSE_MEMORY_BUDGET`, 1 GiB).

    Returns:
        A symmetric ``(P, P)`` tensor in the flatten order of ``params`` (of the free
        tensors, see ``include_frozen``).

    Raises:
        LandscapeError: more than ``max_params`` parameters, a non-positive
            ``memory_budget``, or bad inputs.
    """
    check_pure_function(loss, "loss")
    if memory_budget is None:
        memory_budget = DENSE_MEMORY_BUDGET
    if isinstance(memory_budget, bool) or not memory_budget > 0:
        raise LandscapeError(
            f"memory_budget must be a positive number of bytes, got {memory_budget!r}"
        )
    order = list(params) if isinstance(params, Mapping) else []
    split_rows = chunk_size is None and not _is_train_mode(loss)
    params, frozen = _resolve(params, device, dtype, include_frozen)
    loss = _with_frozen(loss, frozen, order)
    first = next(iter(params.values()))
    p = sum(v.numel() for v in params.values())
    if p > max_params:
        raise LandscapeError(
            f"dense_hessian needs P² memory; P={p} exceeds max_params={max_params} "
            "(raise max_params, or use HessianOperator)"
        )
    flat = flatten(params)
    source = _as_source(data, chunk_size, first.device, first.dtype)
    batches: Iterable[Batch | None] = [None] if source is None else source
    total = torch.zeros(p, p, device=first.device, dtype=first.dtype)
    count = 0
    plan: tuple[int, int] | None = None
    for batch in batches:
        if plan is None:
            rows = 1 if batch is None else int(batch[0].shape[0])
            row_bytes = 0.0 if batch is None else _saved_bytes_per_row(loss, params, batch)
            plan = _dense_plan(
                p, rows, row_bytes, first.element_size(), int(memory_budget), split_rows
            )
        rows_per_chunk, block = plan
        if batch is None or not split_rows:
            pieces: Iterable[Batch | None] = [batch]
        else:
            pieces = _split_rows(batch, rows_per_chunk)
        for piece in pieces:
            bound = _bind(loss, piece)
            n = 1 if piece is None else int(piece[0].shape[0])
            g = grad(lambda w, bound=bound: bound(unflatten(w, params)))
            for start in range(0, p, block):
                size = min(block, p - start)
                eye = torch.zeros(size, p, device=first.device, dtype=first.dtype)
                eye[:, start : start + size].fill_diagonal_(1.0)
                cols = vmap(lambda t, g=g: jvp(g, (flat,), (t,))[1])(eye)
                total[start : start + size] += cols * n
            count += n
    h = total / count
    return (h + h.T) / 2


def loss_and_gradient(
    loss: PureLoss,
    params: Mapping[str, Tensor],
    data: Data | None = None,
    *,
    chunk_size: int | None = None,
) -> tuple[Tensor, Params]:
    """The dataset-mean loss and its gradient at ``params``, chunk by chunk (row-weighted).

    ``params`` is used as given (device and dtype); ``data`` as for :class:`HessianOperator`.

    Returns:
        ``(loss, grads)``: a scalar tensor and a dict shaped like ``params``.
    """
    check_pure_function(loss, "loss")
    _check_params_tensors(params)
    first = next(iter(params.values()))
    params = {k: v.detach() for k, v in params.items()}
    source = _as_source(data, chunk_size, first.device, first.dtype)
    batches: Iterable[Batch | None] = [None] if source is None else source
    total_g: Params | None = None
    total_l: Tensor | None = None
    count = 0
    for batch in batches:
        n = 1 if batch is None else int(batch[0].shape[0])
        g, value = torch.func.grad_and_value(_bind(loss, batch))(params)
        _check_scalar(value, "loss")
        if total_g is None:
            total_g, total_l = {k: v * n for k, v in g.items()}, value * n
        else:
            total_g = {k: total_g[k] + v * n for k, v in g.items()}
            total_l = total_l + value * n
        count += n
    assert total_g is not None and total_l is not None
    return (total_l / count).detach(), {k: v.detach() / count for k, v in total_g.items()}
