"""What every curvature computation does with its inputs before any arithmetic.

Copies of the parameters on the right device in the right dtype, with frozen tensors split
off (:func:`resolve`); a dataset that can be iterated many times, chunk by chunk, moved and
cast once (:class:`DataSource`); the loss bound to one chunk (:func:`bind`); and the check
that a loss returns a scalar. Shared by :mod:`.operator` and :mod:`.dense`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Literal

import torch
from torch import Tensor

from .._errors import LandscapeError
from .._validate import curvature_dtype, is_batch, split_frozen
from ..functional import Batch, Data, iter_chunks
from ..params import Params, num_params

__all__ = [
    "Backend",
    "DataSource",
    "OutputLoss",
    "PureLoss",
    "as_source",
    "bind",
    "check_params_tensors",
    "check_scalar",
    "resolve",
    "with_frozen",
]

Backend = Literal["forward", "cached"]
#: ``loss(params, (x, y)) -> scalar`` (batch-mean), or ``loss(params) -> scalar`` with no data
PureLoss = Callable[..., Tensor]
OutputLoss = Callable[[Tensor, Tensor], Tensor]


def check_params_tensors(params: Mapping[str, Tensor]) -> None:
    num_params(params)  # validates: a non-empty dict of tensors
    devices = {v.device for v in params.values()}
    if len(devices) > 1:
        raise LandscapeError(f"params live on several devices {sorted(map(str, devices))}; use one")
    for k, v in params.items():
        if not torch.is_floating_point(v):
            raise LandscapeError(
                f"params[{k!r}] has dtype {v.dtype}; curvature needs floating point"
            )


def resolve(
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
    check_params_tensors(params)
    free, frozen = split_frozen(params, include_frozen)
    first = next(iter(free.values()))
    device = first.device if device is None else torch.device(device)
    dtype = curvature_dtype(first.dtype, dtype)

    def move(v: Tensor) -> Tensor:
        return v.detach().to(device=device, dtype=dtype).clone()

    return {k: move(v) for k, v in free.items()}, {k: move(v) for k, v in frozen.items()}


def with_frozen(loss: Callable[..., Tensor], frozen: Params, order: list[str]) -> Callable:
    """``loss`` of the free tensors alone: frozen ones are filled in, in the original order."""
    if not frozen:
        return loss

    def merged(p: Mapping[str, Tensor], *rest: object) -> Tensor:
        return loss({k: p[k] if k in p else frozen[k] for k in order}, *rest)

    return merged


class DataSource:
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
        if is_batch(data):
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


def as_source(
    data: Data | DataSource | None,
    chunk_size: int | None,
    device: torch.device,
    dtype: torch.dtype,
) -> DataSource | None:
    if data is None:
        return None
    if isinstance(data, DataSource) and data.device == device and data.dtype == dtype:
        return data
    return DataSource(data, chunk_size, device, dtype)


def bind(loss: PureLoss, batch: Batch | None) -> Callable[[Params], Tensor]:
    if batch is None:
        return lambda p: loss(p)
    return lambda p: loss(p, batch)


def check_scalar(value: object, what: str) -> None:
    if not isinstance(value, Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise LandscapeError(
            f"{what} must return a scalar tensor (the batch-mean loss), got {shape}"
        )
