"""One evaluator: what is measured, on which data, in what chunks, on which device and dtype.

Every tool that evaluates a model at many parameter points — the path finders of
:mod:`landscape.connect`, the surfaces of :mod:`landscape.surface`, the report's checks —
takes an :class:`Evaluator` instead of a tail of keywords (``measure``, ``measure_data``,
``measure_name``, ``chunk_size``, ``points_chunk``, ``device``, ``dtype``). It holds a pure,
vmappable ``fn(params, (x, y)) -> batch mean`` and its data, and computes the exact dataset
mean, chunk by chunk (:func:`~landscape.functional.dataset_mean`), at one point or at many
stacked points in vmapped passes (:func:`~landscape.functional.evaluate_points`).

The measures a model comes with are named in :data:`MEASURES`: ``"loss"`` (its training
loss), ``"error"`` (the classification error rate ``mean[argmax f(x) ≠ y]``) and
``"perplexity"`` (``exp`` of the dataset-mean cross-entropy of a language model: the
evaluator's ``post`` map, applied after the exact mean).

Example:
    >>> import torch
    >>> from landscape import FunctionalModel
    >>> fm = FunctionalModel(torch.nn.Linear(3, 2), loss="cross_entropy")
    >>> x, y = torch.randn(10, 3, generator=torch.Generator().manual_seed(0)), torch.arange(10) % 2
    >>> ev = Evaluator.of_model(fm, (x, y), measure="error", chunk_size=4)
    >>> e = float(ev(fm.params()))  # a fraction of the 10 points, up to rounding
    >>> (ev.name, abs(10 * e - round(10 * e)) < 1e-6)
    ('error', True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor

from ._errors import LandscapeError, check_choice
from ._validate import check_pure_function, is_batch
from .functional import Batch, Data, FunctionalModel, dataset_mean, evaluate_points
from .params import Params

__all__ = ["MEASURES", "Evaluator", "PureFn", "error_rate", "objective_and_measure"]

#: ``fn(params, (x, y)) -> scalar``: a batch mean, pure and vmappable
PureFn = Callable[[Params, Batch], Tensor]

#: the measures :meth:`Evaluator.of_model` knows
MEASURES = ("loss", "error", "perplexity")


def error_rate(forward: Callable[[Params, Tensor], Tensor]) -> PureFn:
    """A pure, vmappable error rate ``error(params, (x, y)) = mean[argmax f(x) ≠ y]``.

    Freeman & Bruna put the threshold of their classification experiments on the (test)
    error while the beads descend the differentiable loss: use it as a ``measure``.

    Args:
        forward: ``forward(params, x) -> logits (N, C)``, e.g. ``FunctionalModel(m).forward``.

    Returns:
        ``error(params, batch) -> scalar`` in ``[0, 1]``.
    """
    if not callable(forward):
        raise LandscapeError(f"forward must be callable, got {type(forward).__name__}")

    def error(params: Params, batch: Batch) -> Tensor:
        x, y = batch
        out = forward(params, x)
        return (out.argmax(dim=-1) != y).to(out.dtype).mean()

    error.__name__ = "error"
    return error


def _check_optional_positive(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise LandscapeError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Evaluator:
    """A pure function, its data, and how to evaluate it: the exact dataset mean.

    Attributes:
        fn: ``fn(params, (x, y)) -> scalar`` batch mean, pure and vmappable (e.g.
            ``FunctionalModel(m).loss`` or :func:`error_rate`).
        data: ``(x, y)`` tensors or an iterable of such batches (e.g. a ``DataLoader``).
        name: what it measures (``"loss"``, ``"error"``, …), for tables and axis labels.
        chunk_size: rows per chunk of ``data`` (memory; never changes the mean).
        points_chunk: parameter points per vmapped pass (memory; never changes values).
        device: where points and data are moved before evaluating (``None``: where the
            parameters are).
        dtype: floating dtype of points and floating data (``None``: the parameters').
        post: a map applied to the dataset mean (``torch.exp`` for perplexity), or ``None``.
    """

    fn: PureFn
    data: Data
    name: str = "loss"
    chunk_size: int | None = None
    points_chunk: int | None = None
    device: torch.device | None = None
    dtype: torch.dtype | None = None
    post: Callable[[Tensor], Tensor] | None = None

    def __post_init__(self) -> None:
        check_pure_function(self.fn, "fn")
        if self.data is None:
            raise LandscapeError("an Evaluator needs data: an (x, y) pair or an iterable")
        _check_optional_positive("chunk_size", self.chunk_size)
        _check_optional_positive("points_chunk", self.points_chunk)
        if self.dtype is not None and not (
            isinstance(self.dtype, torch.dtype) and self.dtype.is_floating_point
        ):
            raise LandscapeError(f"dtype must be a floating torch.dtype, got {self.dtype!r}")
        if self.device is not None:
            object.__setattr__(self, "device", torch.device(self.device))
        if is_batch(self.data) and (self.device is not None or self.dtype is not None):
            object.__setattr__(self, "data", self._move(self.data))

    # ---------------------------------------------------------------- construction

    @classmethod
    def of(
        cls, fn_or_evaluator: PureFn | Evaluator, data: Data | None = None, **options: object
    ) -> Evaluator:
        """An evaluator from a pure function and its data, or one given (with ``options``).

        Raises:
            LandscapeError: a function without data, or data beside an evaluator.
        """
        if isinstance(fn_or_evaluator, Evaluator):
            if data is not None:
                raise LandscapeError(
                    "give data either to the Evaluator or as an argument, not both"
                )
            return replace(fn_or_evaluator, **options) if options else fn_or_evaluator
        if data is None:
            raise LandscapeError(
                "a pure loss needs its data: pass data=(x, y) (or an Evaluator that holds it)"
            )
        name = options.pop("name", None) or getattr(fn_or_evaluator, "__name__", "loss")
        if not isinstance(name, str) or name.startswith("<"):
            name = "loss"
        return cls(fn_or_evaluator, data, name=name, **options)  # type: ignore[arg-type]

    @classmethod
    def of_model(
        cls,
        model: FunctionalModel,
        data: Data,
        measure: Literal["loss", "error", "perplexity"] = "loss",
        **options: object,
    ) -> Evaluator:
        """The ``measure`` (:data:`MEASURES`) of a :class:`FunctionalModel` on ``data``.

        ``options`` are the other fields; ``name`` defaults to ``measure`` (give e.g.
        ``name="test error"`` for the error on a test split).
        """
        if not isinstance(model, FunctionalModel):
            raise LandscapeError(
                f"model must be a FunctionalModel, got {type(model).__name__}; wrap an "
                "nn.Module with FunctionalModel(module, loss=...)"
            )
        check_choice("measure", measure, MEASURES)
        fn = model.loss if measure != "error" else error_rate(model.forward)
        if measure == "perplexity":
            options.setdefault("post", torch.exp)
        options.setdefault("name", measure)
        return cls(fn, data, **options)  # type: ignore[arg-type]

    def with_fn(self, fn: PureFn, name: str) -> Evaluator:
        """The same data, chunking, device and dtype, another function (no ``post``)."""
        return replace(self, fn=fn, name=name, post=None)

    def with_measure(self, measure: Evaluator | PureFn | None) -> Evaluator:
        """The evaluator of ``measure``: this one for ``None``, an :class:`Evaluator` as it
        is, a bare function on this one's data, chunking, device and dtype (named after the
        function, ``"measure"`` for a lambda).

        Raises:
            LandscapeError: ``measure`` is an ``nn.Module`` or not callable.
        """
        if measure is None:
            return self
        if isinstance(measure, Evaluator):
            return measure
        check_pure_function(measure, "measure")
        name = getattr(measure, "__name__", "measure")
        return self.with_fn(measure, "measure" if name.startswith("<") else name)

    # ---------------------------------------------------------------- evaluation

    def _move(self, batch: Batch) -> Batch:
        x, y = batch
        dev = self.device or x.device
        x = x.to(dev, self.dtype) if self.dtype is not None and x.is_floating_point() else x.to(dev)
        y = y.to(dev, self.dtype) if self.dtype is not None and y.is_floating_point() else y.to(dev)
        return x, y

    def prepare(self, params: Mapping[str, Tensor]) -> Params:
        """Detached copies of ``params`` on this evaluator's device and dtype."""
        return {
            k: v.detach().to(device=self.device or v.device, dtype=self.dtype or v.dtype)
            for k, v in params.items()
        }

    def __call__(self, params: Mapping[str, Tensor]) -> Tensor:
        """The dataset mean at one point (gradients flow through ``params``)."""
        value = dataset_mean(self.fn, params, self.data, self.chunk_size)
        return value if self.post is None else self.post(value)

    def mean_of(
        self,
        fn: Callable[[Params, Batch], Tensor | dict[str, Tensor]],
        params: Mapping[str, Tensor],
    ) -> Tensor | dict[str, Tensor]:
        """The dataset mean of another batch function on this data and chunking, e.g. of
        ``vmap(grad(ev.fn))`` for the full-batch gradients of stacked points."""
        return dataset_mean(fn, params, self.data, self.chunk_size)

    def points(self, stacked: Mapping[str, Tensor]) -> Tensor:
        """``(E,)`` dataset means at ``E`` stacked points, in vmapped passes, no gradients."""
        with torch.no_grad():
            v = evaluate_points(self.fn, stacked, self.data, self.chunk_size, self.points_chunk)
        return v if self.post is None else self.post(v)


def objective_and_measure(
    loss: Evaluator | PureFn,
    data: Data | None = None,
    measure: Evaluator | PureFn | None = None,
) -> tuple[Evaluator, Evaluator]:
    """The objective a tool descends and the measure it checks, as two evaluators.

    The calling convention of every tool that trains on one quantity and thresholds (or
    reports) another, e.g. the path finders of :mod:`landscape.connect`:

    * ``loss``: a pure ``loss(params, batch)`` with its ``data`` (named ``"loss"``), or an
      :class:`Evaluator` that holds its data (then ``data`` stays ``None``);
    * ``measure``: ``None`` (the objective itself: the same object is returned twice), a
      bare function evaluated on the objective's data, or an :class:`Evaluator` of its own
      (e.g. the test error on the test split).

    Raises:
        LandscapeError: an ``nn.Module`` or a non-callable as ``loss`` or ``measure``, a
            pure loss without data, data beside an evaluator, or a number given as data.
    """
    if isinstance(data, int | float):
        raise LandscapeError(
            f"data={data!r} is a number, not (x, y) tensors or an iterable of batches; with "
            "an Evaluator as the loss leave data out and pass threshold= by keyword"
        )
    if isinstance(loss, Evaluator):
        objective = Evaluator.of(loss, data)
    else:
        check_pure_function(loss, "loss")
        objective = Evaluator.of(loss, data, name="loss")
    return objective, objective.with_measure(measure)
