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
    "check_file",
    "check_finite",
    "check_pure_function",
    "check_seed",
    "curvature_dtype",
    "floating_dtype",
    "is_batch",
    "split_frozen",
]

#: floating dtypes too coarse for curvature (eps 1e-3 and 8e-3): upcast to float32
LOW_PRECISION = (torch.float16, torch.bfloat16)


def _kind_of(mode: int) -> str:
    import stat

    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def check_file(path: object, what: str, max_bytes: int | None = None, exc: type = LandscapeError):
    """``path`` as a :class:`~pathlib.Path` to an existing regular file of at most ``max_bytes``.

    Checked before anything is read, so a directory, a FIFO or ``/dev/zero`` is refused in
    one line instead of being "not found", blocking or read without end.

    Args:
        path: the path the user gave.
        what: what the file should be ("checkpoint", "config file" …), for the message.
        max_bytes: the largest size accepted (``None``: any).
        exc: the :class:`LandscapeError` subclass to raise.

    Raises:
        LandscapeError: missing, not a regular file, or larger than ``max_bytes``.
    """
    import os
    import stat
    from pathlib import Path

    path = Path(path)  # type: ignore[arg-type]
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise exc(f"{what} not found: {path}") from None
    except OSError as err:
        raise exc(f"cannot read {what} {path}: {err.strerror or err}") from None
    if not stat.S_ISREG(st.st_mode):
        raise exc(f"{what} {path} is {_kind_of(st.st_mode)}, not a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise exc(
            f"{what} {path} is {st.st_size / 2**20:.1f} MiB, more than the "
            f"{max_bytes / 2**20:g} MiB limit for a {what}"
        )
    return path


def check_finite(params: Mapping[str, Tensor], name: str = "params") -> None:
    """Every floating tensor of ``params`` is finite (no NaN, no inf).

    Raises:
        LandscapeError: naming the first tensors with NaN or inf values.
    """
    bad = [
        k
        for k, v in params.items()
        if isinstance(v, Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise LandscapeError(
            f"{name} has NaN or inf values in {bad[:3]}{more}; the landscape of a diverged "
            "model is not defined — check the weights (or the run that produced them)"
        )


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


# ---------------------------------------------------------------- numbers, endpoints, optimisers


#: the largest seed (what numpy's and torch's generators take, and what fits SQLite)
MAX_SEED = 2**32 - 1


def check_seed(seed: object, name: str = "seed") -> int:
    """``seed`` as an int in ``0..MAX_SEED`` (not a bool).

    Raises:
        LandscapeError: anything else, e.g. ``-1``.
    """
    import numpy as np

    if (
        isinstance(seed, bool)
        or not isinstance(seed, int | np.integer)
        or not 0 <= seed <= MAX_SEED
    ):
        raise LandscapeError(f"{name} must be an integer in 0..{MAX_SEED}, got {seed!r}")
    return int(seed)


def check_positive(name: str, value: object, strict: bool = True) -> float:
    """``value`` as a float; it must be a finite number ``> 0`` (``>= 0`` unless ``strict``).

    Raises:
        LandscapeError: not a finite real number on the right side of zero.
    """
    import math

    ok = isinstance(value, int | float) and math.isfinite(value)
    ok = ok and (value > 0 if strict else value >= 0)
    if not ok:
        bound = "> 0" if strict else ">= 0"
        raise LandscapeError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int; it must be an integer (not a bool) ``>= minimum``.

    Raises:
        LandscapeError: not an integer, or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LandscapeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_fraction(name: str, value: object, meaning: str = "") -> float:
    """``value`` as a float strictly between 0 and 1; ``meaning`` says what it is for.

    Raises:
        LandscapeError: not a number in the open interval ``(0, 1)``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        why = f" ({meaning})" if meaning else ""
        raise LandscapeError(f"{name} must be in (0, 1){why}, got {value!r}")
    return float(value)


def check_optimizer(optimizer: object) -> object:
    """A pure optimiser of :mod:`landscape.optim` (``SGD`` or ``Adam``), returned as given.

    Raises:
        LandscapeError: anything else, e.g. the class ``torch.optim.SGD``.
    """
    from .optim import SGD, Adam

    if not isinstance(optimizer, SGD | Adam):
        raise LandscapeError(
            f"optimizer must be landscape.optim.SGD or landscape.optim.Adam, "
            f"got {type(optimizer).__name__}"
        )
    return optimizer


def check_batch_size(batch_size: object, data: object) -> None:
    """``batch_size`` is ``None`` or ``1..N`` for ``data`` given as one ``(x, y)`` pair.

    Raises:
        LandscapeError: a minibatch size with an iterable of batches, or out of range.
    """
    if batch_size is None:
        return
    if not is_batch(data):
        raise LandscapeError(
            "batch_size needs data as an (inputs, targets) pair of tensors; with an iterable "
            "of batches (e.g. a DataLoader) leave batch_size=None and let the loader batch"
        )
    n = data[0].shape[0]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 < batch_size <= n:
        raise LandscapeError(f"batch_size must be in 1..{n} (the sample count), got {batch_size!r}")


def check_endpoints(a: object, b: object, distinct: bool = False) -> None:
    """Two params dicts of one model: same names (in order), shapes, dtype and device.

    With ``distinct``, also require ``θ_A ≠ θ_B`` (a normalized length needs ``‖θ_A − θ_B‖ > 0``).

    Raises:
        LandscapeError: not non-empty dicts of floating tensors, different architectures,
            dtypes or devices, or (with ``distinct``) the same point twice.
    """
    from .params import distance

    for name, p in (("a", a), ("b", b)):
        if not isinstance(p, Mapping) or not p:
            raise LandscapeError(
                f"endpoint {name} must be a non-empty dict of name -> Tensor "
                f"(e.g. dict(model.named_parameters())), got {type(p).__name__}"
            )
        for k, v in p.items():
            if not isinstance(v, Tensor):
                raise LandscapeError(
                    f"endpoint {name}[{k!r}] must be a Tensor, got {type(v).__name__}"
                )
            if not torch.is_floating_point(v):
                raise LandscapeError(
                    f"endpoint {name}[{k!r}] must be floating point, got {v.dtype}"
                )
    if list(a) != list(b):
        missing, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise LandscapeError(
            f"endpoints come from different architectures: b lacks {missing} and has extra "
            f"{extra} (names must match, in the same order)"
        )
    for k in a:
        if a[k].shape != b[k].shape:
            raise LandscapeError(
                f"endpoints come from different architectures: a[{k!r}] has shape "
                f"{tuple(a[k].shape)}, b[{k!r}] has {tuple(b[k].shape)}"
            )
        if a[k].dtype != b[k].dtype or a[k].device != b[k].device:
            raise LandscapeError(
                f"endpoints differ in dtype/device at {k!r}: a is {a[k].dtype} on {a[k].device}, "
                f"b is {b[k].dtype} on {b[k].device}; move both with the same .to(...)"
            )
    check_finite(a, "endpoint a")
    check_finite(b, "endpoint b")
    if distinct and float(distance(a, b)) == 0.0:
        raise LandscapeError("endpoints a and b are the same point; there is no path to find")


def check_unit_interval(name: str, value: object) -> float:
    """``value`` as a float in ``[0, 1)``: a coefficient that may be off (a momentum, a
    hysteresis); :func:`check_fraction` is the open interval.

    Raises:
        LandscapeError: not a number with ``0 <= value < 1``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise LandscapeError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)
