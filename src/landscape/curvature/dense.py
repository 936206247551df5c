"""The dense reference: the exact ``P × P`` Hessian, and the dataset-mean loss and gradient.

:func:`dense_hessian` is the slow, obvious oracle every fast curvature product is tested
against (and, for models with a few thousand parameters, the fastest way to an exact
spectrum); :func:`loss_and_gradient` is the dataset-mean loss and gradient every
critical-point finder evaluates. Both weight each chunk by its row count, so chunking changes
memory, never the result.

Shape letters: ``P`` parameters, ``K`` tangents per vmapped pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import Tensor
from torch.func import grad, jvp, vmap

from .._errors import LandscapeError
from .._validate import check_positive, check_pure_function
from ..functional import Batch, Data, batch_rows, weighted_mean
from ..params import Params, flatten, unflatten
from ._inputs import (
    PureLoss,
    as_source,
    bind,
    check_params_tensors,
    check_scalar,
    resolve,
    with_frozen,
)

__all__ = ["DENSE_MEMORY_BUDGET", "dense_hessian", "loss_and_gradient"]


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
    check_positive("memory_budget", memory_budget)
    order = list(params) if isinstance(params, Mapping) else []
    split_rows = chunk_size is None and not _is_train_mode(loss)
    params, frozen = resolve(params, device, dtype, include_frozen)
    loss = with_frozen(loss, frozen, order)
    first = next(iter(params.values()))
    p = sum(v.numel() for v in params.values())
    if p > max_params:
        raise LandscapeError(
            f"dense_hessian needs P² memory; P={p} exceeds max_params={max_params} "
            "(raise max_params, or use HessianOperator)"
        )
    flat = flatten(params)
    source = as_source(data, chunk_size, first.device, first.dtype)
    batches: Iterable[Batch | None] = [None] if source is None else source
    # Σ n_c H_c accumulated in place, block by block: one P × P buffer (a weighted_mean of
    # per-chunk Hessians would hold a second)
    total = torch.zeros(p, p, device=first.device, dtype=first.dtype)
    count = 0
    plan: tuple[int, int] | None = None
    for batch in batches:
        if plan is None:
            rows = batch_rows(batch)
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
            bound = bind(loss, piece)
            n = batch_rows(piece)
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
    check_params_tensors(params)
    first = next(iter(params.values()))
    params = {k: v.detach() for k, v in params.items()}
    source = as_source(data, chunk_size, first.device, first.dtype)
    batches: Iterable[Batch | None] = [None] if source is None else source

    def value_and_grad(batch: Batch | None) -> tuple[Tensor, Params]:
        g, value = torch.func.grad_and_value(bind(loss, batch))(params)
        check_scalar(value, "loss")
        return value.detach(), {k: v.detach() for k, v in g.items()}

    value, grads = weighted_mean((batch_rows(b), value_and_grad(b)) for b in batches)
    return value, {k: v.to(params[k].dtype) for k, v in grads.items()}
