"""Shared helpers for the benchmark scripts: timing and this machine's matmul rate."""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch


def timeit(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time in seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_gflops(
    n: int = 2048,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    backend: str = "blas",
) -> float:
    """This machine's dense matmul rate (GFLOP/s) for an n×n @ n×n product (best of 5).

    ``backend="blas"`` is ``torch.mm`` (MKL on a CPU); ``"onednn"`` is oneDNN's product
    (:func:`landscape.kernels.linear`), float32 on a CPU only.
    """
    from landscape import kernels

    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    cuda = torch.device(device).type == "cuda"

    def run() -> None:
        kernels.linear(a, b, backend)
        if cuda:
            torch.cuda.synchronize()

    t = timeit(run, repeat=5, warmup=2)
    return 2 * n**3 / t / 1e9


def matmul_rates(device: str | torch.device = "cpu") -> dict[str, float]:
    """Float32 matmul rates (GFLOP/s) of every backend this machine has: ``blas`` and, on a
    CPU whose PyTorch build has it, ``onednn``."""
    from landscape import kernels

    rates = {"blas": matmul_gflops(device=device)}
    if torch.device(device).type == "cpu" and kernels.onednn_available():
        rates["onednn"] = matmul_gflops(device=device, backend="onednn")
    return rates


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )


def add_machine_args(parser: argparse.ArgumentParser, threads: int | None = None) -> None:
    """``--threads N`` (torch intra-op threads; default: torch's) and ``--device``."""
    parser.add_argument(
        "--threads", type=int, default=threads, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")


def apply_machine_args(args: argparse.Namespace) -> torch.device:
    """Set the thread count, check the device exists, print the machine line; the device."""
    if args.threads:
        torch.set_num_threads(int(args.threads))
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"machine: {machine()}, device {device} ({name})")
    return device


def check_reference(what: str, error: float, tolerance: float) -> None:
    """Exit non-zero (status 3) when the benchmarked result differs from the reference
    computation: a regression guard on numbers, never on times."""
    ok = error <= tolerance
    print(
        f"reference check, {what}: max error {error:.2e} (tolerance {tolerance:.0e}) "
        f"{'OK' if ok else 'FAILED'}"
    )
    if not ok:
        raise SystemExit(3)
