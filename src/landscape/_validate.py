"""Boundary checks shared by the public functions: batches, pure losses, dtypes, frozen tensors.

Every check raises a one-line :class:`~landscape._errors.LandscapeError` that names what was
received, what is allowed and how to fix it. Nothing here does arithmetic on the user's
tensors beyond casting copies.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ._errors import LandscapeError

__all__ = [
    "LOW_PRECISION",
    "check_pure_function",
    "curvature_dtype",
    "floating_dtype",
    "is_batch",
    "split_frozen",
]

#: floating dtypes too coarse for curvature (eps 1e-3 and 8e-3): upcast to float32
LOW_PRECISION = (torch.float16, torch.bfloat16)


def is_batch(data: object) -> bool:
    """``data`` is one ``(inputs, targets)`` pair of tensors (a tuple or list of two)."""
    return (
        isinstance(data, tuple | list)
        and len(data) == 2
        and all(isinstance(t, Tensor) for t in data)
    )


def check_pure_function(fn: object, name: str = "loss") -> None:
    """Refuse an ``nn.Module`` (or a non-callable) where a pure ``fn(params, batch)`` is expected.

    A module's ``forward(x)`` takes inputs, not ``(params, batch)``; torch would fail deep
    inside with ``forward() takes 2 positional arguments``.

    Raises:
        LandscapeError: ``fn`` is a module or not callable.
    """
    if isinstance(fn, nn.Module):
        raise LandscapeError(
            f"{name} is an nn.Module ({type(fn).__name__}), not a pure loss(params, batch); "
            f"pass FunctionalModel(model, loss='cross_entropy') (or 'mse', …) instead"
        )
    if not callable(fn):
        raise LandscapeError(
            f"{name} must be callable: a pure {name}(params, batch) -> scalar "
            f"(e.g. a FunctionalModel), got {type(fn).__name__}"
        )


def floating_dtype(params: Mapping[str, Tensor]) -> torch.dtype | None:
    """The dtype of the first floating-point tensor of ``params`` (``None`` if there is none)."""
    for v in params.values():
        if isinstance(v, Tensor) and v.is_floating_point():
            return v.dtype
    return None


def curvature_dtype(params_dtype: torch.dtype, requested: torch.dtype | None) -> torch.dtype:
    """The dtype curvature is computed in: ``requested``, else the params' own, at least float32.

    float16/bfloat16 parameters are upcast to float32: with 3 (or 2) significant digits the
    Hessian-vector products of a network are mostly rounding error, and Lanczos returns
    wrong eigenvalues. Asking for a low precision explicitly is refused.

    Raises:
        LandscapeError: ``requested`` is not a floating dtype, or is float16/bfloat16.
    """
    if requested is not None:
        if not isinstance(requested, torch.dtype) or not requested.is_floating_point:
            raise LandscapeError(f"dtype must be a floating-point torch.dtype, got {requested!r}")
        if requested in LOW_PRECISION:
            raise LandscapeError(
                f"dtype={requested} is too coarse for curvature (products are mostly rounding "
                "error); use dtype=torch.float32 (the default for half-precision params) or "
                "torch.float64"
            )
        return requested
    return torch.float32 if params_dtype in LOW_PRECISION else params_dtype


def split_frozen(
    params: Mapping[str, Tensor], include_frozen: bool
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Split ``params`` into the tensors to differentiate and the frozen ones held fixed.

    A tensor is frozen when it has ``requires_grad=False`` while another tensor of the same
    dict has ``requires_grad=True`` — what ``dict(model.named_parameters())`` gives for a
    model with frozen layers. Detached copies (all ``False``) and all-``True`` dicts are
    all free. ``include_frozen=True`` makes every tensor free.

    Returns:
        ``(free, frozen)``, both in the order of ``params``.
    """
    flags = {k: bool(getattr(v, "requires_grad", False)) for k, v in params.items()}
    if include_frozen or all(flags.values()) or not any(flags.values()):
        return dict(params), {}
    free = {k: v for k, v in params.items() if flags[k]}
    frozen = {k: v for k, v in params.items() if not flags[k]}
    return free, frozen
