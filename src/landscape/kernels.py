"""Float32 matrix products on the BLAS or on oneDNN, whichever this kind of CPU runs faster.

PyTorch's CPU build sends ``torch.mm`` to Intel MKL. On CPUs that MKL does not recognise as
Intel's (AMD EPYC among them) MKL runs its AVX2 kernels even where the CPU has AVX-512, while
oneDNN (also inside PyTorch's CPU build, used by its inference paths) picks its kernel from the
CPU's instruction set. Measured on a 2-core AMD EPYC (Zen 5) with AVX-512: ``torch.mm`` of two
``2048 × 2048`` float32 matrices 160–180 GFLOP/s, oneDNN 370 GFLOP/s. On an Intel CPU MKL runs
its AVX-512 kernels, so the two should be about equal (not measured here: no Intel CPU).

:func:`linear` computes ``x @ wᵀ`` (the layout of ``torch.nn.functional.linear``) with the
backend :func:`backend` chose for the device and dtype: on a CPU in float32, oneDNN where
PyTorch runs AVX-512 kernels on a CPU that is not Intel's (the case above), else the BLAS.
The choice depends on the machine only, never on a timing, so the same machine always gives
the same numbers (a resumed sweep, another process). The environment variable
``LANDSCAPE_MATMUL`` (``auto`` — the default —, ``blas`` or ``onednn``) overrides it;
:func:`measure` times both on this machine. Both backends agree to float32 rounding (they
sum in different orders).
"""

from __future__ import annotations

import functools
import os
import platform
import time

import torch
from torch import Tensor

from ._errors import LandscapeError

__all__ = ["BACKENDS", "backend", "cpu_vendor", "linear", "measure", "onednn_available", "prepack"]

#: the values of ``LANDSCAPE_MATMUL`` (and of the ``backend`` arguments that take one)
BACKENDS: tuple[str, ...] = ("auto", "blas", "onednn")


@functools.cache
def onednn_available() -> bool:
    """Whether this PyTorch build can run oneDNN's float32 product on dense CPU tensors."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        op = torch.ops.mkldnn._linear_pointwise
        x = torch.ones(2, 3)
        out = op(x, torch.ones(4, 3), None, "none", [], "")
    except (AttributeError, RuntimeError):
        return False
    return out.shape == (2, 4) and bool((out == 3).all())


def _onednn(x: Tensor, w: Tensor) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "")


def _best_time(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cpu_vendor() -> str:
    """The CPU's vendor string (``GenuineIntel``, ``AuthenticAMD``, …; ``""`` if unknown)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "GenuineIntel" if "intel" in platform.processor().lower() else ""


@functools.cache
def _cpu_float32_choice() -> str:
    """``onednn`` where MKL would run AVX2 kernels on an AVX-512 CPU (one not Intel's)."""
    if not onednn_available():
        return "blas"
    avx512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    return "onednn" if avx512 and cpu_vendor() not in ("GenuineIntel", "") else "blas"


def measure(m: int = 1024, k: int = 512, n: int = 256, repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of a float32 ``(m, k) · (k, n)`` product on each backend this machine has
    (best of ``repeats``): to check :func:`backend`'s choice here."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(m, k, generator=gen)
    w = torch.randn(n, k, generator=gen)
    names = ["blas", "onednn"] if onednn_available() else ["blas"]
    return {
        name: 2 * m * k * n / _best_time(lambda name=name: linear(x, w, name), repeats) / 1e9
        for name in names
    }


def _check_backend(name: str, value: str) -> str:
    if value not in BACKENDS:
        raise LandscapeError(f"{name} must be one of {', '.join(BACKENDS)}, got {value!r}")
    return value


def backend(device: torch.device | str, dtype: torch.dtype, choice: str | None = None) -> str:
    """The backend :func:`linear` uses for tensors on ``device`` of ``dtype``.

    Args:
        device: where the tensors live.
        dtype: their dtype.
        choice: ``auto``, ``blas`` or ``onednn``; ``None`` reads ``LANDSCAPE_MATMUL``
            (default ``auto``). ``onednn`` applies to float32 on a CPU only (the BLAS
            elsewhere).

    Returns:
        ``"onednn"`` or ``"blas"``.

    Raises:
        LandscapeError: an unknown choice, or ``onednn`` asked for where this build has none.
    """
    if choice is None:
        choice = _check_backend("LANDSCAPE_MATMUL", os.environ.get("LANDSCAPE_MATMUL", "auto"))
    else:
        choice = _check_backend("matmul backend", choice)
    if torch.device(device).type != "cpu" or dtype != torch.float32 or choice == "blas":
        return "blas"
    if choice == "onednn":
        if not onednn_available():
            raise LandscapeError(
                "matmul backend 'onednn' asked for, but this PyTorch build has no oneDNN "
                "float32 product; use 'blas' or 'auto'"
            )
        return "onednn"
    return _cpu_float32_choice()


def prepack(w: Tensor, which: str, rows: int) -> Tensor:
    """``w`` (``(N, K)``) in the layout :func:`linear` reads fastest on backend ``which``.

    For oneDNN, its blocked weight layout (a copy, reused by every product with ``w``:
    no reordering per call); for the BLAS, ``w`` itself. ``rows`` is the typical ``M`` of
    the products (a hint for the layout; any ``M`` works).
    """
    if which == "onednn":
        return torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), rows)
    return w


def linear(x: Tensor, w: Tensor, which: str = "blas") -> Tensor:
    """``x @ wᵀ`` for 2-D ``x`` ``(M, K)`` and ``w`` ``(N, K)``, on backend ``which``.

    ``which`` is a value :func:`backend` returned (``"blas"`` or ``"onednn"``); ``w`` may
    come from :func:`prepack` for the same backend; inputs need not be contiguous (oneDNN
    copies non-contiguous ones first).
    """
    if which == "onednn":
        return _onednn(x, w)
    return torch.mm(x, w.t())
