"""Pure losses from any ``nn.Module``, dataset means in chunks, many parameter points at once.

The user's module is never modified: :class:`FunctionalModel` keeps its own deep copy (and
its own copy of the buffers) and evaluates it through
:func:`torch.func.functional_call`, so ``loss(params, batch)`` is a pure function of its
arguments that :func:`torch.func.vmap`, :func:`torch.func.grad` and friends can transform.

Shape letters: ``N`` samples, ``E`` parameter points (models, beads, grid points).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Literal, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ._errors import LandscapeError, check_choice
from .params import Params

__all__ = [
    "LOSSES",
    "Batch",
    "Data",
    "FunctionalModel",
    "dataset_mean",
    "evaluate_points",
    "get_loss",
    "iter_chunks",
    "model_params",
]

Batch = tuple[Tensor, Tensor]
#: a (inputs, targets) pair of tensors, or any iterable of such batches (e.g. a DataLoader)
Data = Union[Batch, Iterable[Batch]]  # noqa: UP007 - a runtime alias, kept 3.10-safe
LossFn = Callable[[Tensor, Tensor], Tensor]


def _match(output: Tensor, target: Tensor) -> Tensor:
    """Reshape a regression target to the output's shape when only singleton dims differ."""
    if target.shape != output.shape and target.numel() == output.numel():
        return target.reshape(output.shape).to(output.dtype)
    return target.to(output.dtype)


def _cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(output, target.long())


def _mse(output: Tensor, target: Tensor) -> Tensor:
    return (output - _match(output, target)).pow(2).mean()


def _mae(output: Tensor, target: Tensor) -> Tensor:
    return (output - _match(output, target)).abs().mean()


def _bce(output: Tensor, target: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(output, _match(output, target))


#: built-in losses, each the mean over the batch of a per-sample loss
LOSSES: dict[str, LossFn] = {
    "cross_entropy": _cross_entropy,
    "mse": _mse,
    "mae": _mae,
    "bce": _bce,
}


def get_loss(loss: str | LossFn) -> LossFn:
    """Resolve a loss name (``cross_entropy``, ``mse``, ``mae``, ``bce``); pass callables through.

    A callable must map ``(output, target)`` to the *mean* loss over the batch.
    """
    if callable(loss):
        return loss
    check_choice("loss", loss, LOSSES)
    return LOSSES[loss]


def model_params(model: nn.Module) -> Params:
    """Detached copies of a module's named parameters (the module is not touched)."""
    if not isinstance(model, nn.Module):
        raise LandscapeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return {k: v.detach().clone() for k, v in model.named_parameters()}


class FunctionalModel:
    """A pure view of an ``nn.Module``: ``forward(params, x)`` and ``loss(params, batch)``.

    The module is deep-copied once at construction, so neither its parameters, its buffers
    nor its train/eval flag are ever changed by anything ``landscape`` does.

    Args:
        model: any ``nn.Module``.
        loss: a name from :data:`LOSSES` or a callable ``(output, target) -> mean loss``.
        mode: ``"eval"`` (default; dropout off, batch-norm uses running statistics, which is
            what a landscape of a trained model means) or ``"train"``.

    Example:
        >>> fm = FunctionalModel(torch.nn.Linear(3, 2), loss="cross_entropy")
        >>> p = fm.params()
        >>> x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1])
        >>> logits = x @ p["weight"].T + p["bias"]
        >>> bool(torch.isclose(fm.loss(p, (x, y)), F.cross_entropy(logits, y)))
        True
    """

    def __init__(
        self,
        model: nn.Module,
        loss: str | LossFn = "cross_entropy",
        mode: Literal["eval", "train"] = "eval",
    ) -> None:
        if not isinstance(model, nn.Module):
            raise LandscapeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        check_choice("mode", mode, ("eval", "train"))
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "custom")
        self.output_loss: LossFn = get_loss(loss)
        """The loss on the module's output, ``output_loss(output, target) -> mean``."""
        self.module = copy.deepcopy(model)
        self.module.train(mode == "train")
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.buffers: dict[str, Tensor] = {
            k: v.detach().clone() for k, v in self.module.named_buffers()
        }
        self.names = [k for k, _ in self.module.named_parameters()]

    def params(self) -> Params:
        """A detached copy of the parameters the module had when it was wrapped."""
        return {k: v.detach().clone() for k, v in self.module.named_parameters()}

    def forward(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """The module's output at ``params`` (pure)."""
        return functional_call(self.module, (dict(params), self.buffers), (x,), strict=True)

    def loss(self, params: Mapping[str, Tensor], batch: Batch) -> Tensor:
        """Mean loss of ``params`` on ``batch = (x, y)`` (pure)."""
        x, y = batch
        return self.output_loss(self.forward(params, x), y)

    __call__ = loss

    def metrics(self, params: Mapping[str, Tensor], batch: Batch) -> dict[str, Tensor]:
        """Mean loss and, for class targets, accuracy (fraction correct), on one batch."""
        x, y = batch
        out = self.forward(params, x)
        result = {"loss": self.output_loss(out, y)}
        if not torch.is_floating_point(y) and out.dim() == 2 and out.shape[1] > 1:
            result["accuracy"] = (out.argmax(dim=1) == y).to(out.dtype).mean()
        return result


def _is_batch(data: object) -> bool:
    return (
        isinstance(data, tuple | list)
        and len(data) == 2
        and all(isinstance(t, Tensor) for t in data)
    )


def iter_chunks(data: Data, chunk_size: int | None = None) -> Iterator[Batch]:
    """Yield ``(x, y)`` chunks of a dataset.

    ``data`` is either a pair of tensors (split into chunks of ``chunk_size`` rows; the
    whole set when ``None``) or any iterable of pairs such as a ``DataLoader`` (its batches
    are used as they come).
    """
    if _is_batch(data):
        x, y = data
        if x.shape[0] != y.shape[0]:
            raise LandscapeError(
                f"inputs have {x.shape[0]} rows but targets have {y.shape[0]}; they must match"
            )
        n = x.shape[0]
        if n == 0:
            raise LandscapeError("the dataset is empty")
        step = n if chunk_size is None else int(chunk_size)
        if step <= 0:
            raise LandscapeError(f"chunk_size must be positive, got {chunk_size}")
        for i in range(0, n, step):
            yield x[i : i + step], y[i : i + step]
        return
    if isinstance(data, Tensor) or not isinstance(data, Iterable):
        raise LandscapeError(
            f"data must be an (inputs, targets) pair of tensors or an iterable of such pairs "
            f"(e.g. a DataLoader), got {type(data).__name__}"
        )
    for batch in data:
        if not _is_batch(batch):
            raise LandscapeError(
                "each batch from the data iterable must be an (inputs, targets) pair of tensors"
            )
        yield batch[0], batch[1]


def _first_device(params: Mapping[str, Tensor]) -> torch.device:
    return next(iter(params.values())).device


def dataset_mean(
    fn: Callable[[Params, Batch], Tensor | dict[str, Tensor]],
    params: Mapping[str, Tensor],
    data: Data,
    chunk_size: int | None = None,
) -> Tensor | dict[str, Tensor]:
    """Mean of a per-batch mean over a whole dataset, computed chunk by chunk.

    Each chunk's value is weighted by its number of rows, so the result equals ``fn`` on the
    full batch (up to floating-point rounding) whatever the chunking. Gradients flow through.

    Args:
        fn: ``fn(params, (x, y))`` returning a batch-mean tensor (any shape, e.g. ``(E,)``
            for a vmapped function) or a dict of them.
        params: passed to ``fn`` unchanged.
        data: a pair of tensors or an iterable of pairs (see :func:`iter_chunks`).
        chunk_size: rows per chunk for a pair of tensors.

    Returns:
        The dataset mean, on the device of ``params``.
    """
    device = _first_device(params)
    total: Tensor | dict[str, Tensor] | None = None
    count = 0
    for x, y in iter_chunks(data, chunk_size):
        x, y = x.to(device), y.to(device)
        n = x.shape[0]
        value = fn(params, (x, y))
        if isinstance(value, dict):
            weighted = {k: v * n for k, v in value.items()}
            total = weighted if total is None else {k: total[k] + weighted[k] for k in total}
        else:
            total = value * n if total is None else total + value * n
        count += n
    if total is None:
        raise LandscapeError("the dataset is empty")
    if isinstance(total, dict):
        return {k: v / count for k, v in total.items()}
    return total / count


def evaluate_points(
    fn: Callable[[Params, Batch], Tensor | dict[str, Tensor]],
    stacked: Mapping[str, Tensor],
    data: Data,
    chunk_size: int | None = None,
    points_chunk: int | None = None,
) -> Tensor | dict[str, Tensor]:
    """Evaluate ``fn`` at many parameter points in batched passes.

    ``stacked`` has a leading axis ``E`` (models, beads, grid points). ``fn`` is lifted with
    ``vmap`` over that axis and averaged over the dataset in chunks; ``points_chunk`` bounds
    how many points go through one pass (memory).

    Returns:
        A tensor of shape ``(E, ...)`` (or a dict of them) of dataset means.
    """
    from .params import batch_size

    e = batch_size(stacked)
    step = e if points_chunk is None else int(points_chunk)
    if step <= 0:
        raise LandscapeError(f"points_chunk must be positive, got {points_chunk}")
    vfn = vmap(fn, in_dims=(0, None))
    parts = []
    for i in range(0, e, step):
        chunk = {k: v[i : i + step] for k, v in stacked.items()}
        parts.append(dataset_mean(vfn, chunk, data, chunk_size))
    if isinstance(parts[0], dict):
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    return torch.cat(parts)
