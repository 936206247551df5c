"""Shared helpers for the benchmark scripts: timing and this machine's matmul rate."""

from __future__ import annotations

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
    n: int = 2048, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> float:
    """This machine's dense matmul rate (GFLOP/s) for an n×n @ n×n product (best of 5)."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    cuda = torch.device(device).type == "cuda"

    def run() -> None:
        a @ b
        if cuda:
            torch.cuda.synchronize()

    t = timeit(run, repeat=5, warmup=2)
    return 2 * n**3 / t / 1e9


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
