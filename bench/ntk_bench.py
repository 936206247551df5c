"""Empirical NTK Gram matrix: ``landscape.overparam.empirical_ntk`` against a per-sample loop.

The model is an MLP 784→784→1 (ReLU, about 616k parameters) on 1000 Gaussian inputs; the
Gram matrix is ``K = J Jᵀ`` with ``J`` the ``(N, P)`` Jacobian of the outputs. The batched
side is :func:`~landscape.overparam.empirical_ntk`: ``method="auto"`` (the default; for an
MLP the structured ``"layerwise"`` product, which never forms ``J``), and
``method="jacobian"`` (vmapped reverse-mode rows, chunked, with a budget large enough for
all of ``J``) for comparison. The loop is the obvious implementation: one
``torch.autograd.grad`` per sample, each row written into ``J``, then ``J Jᵀ``. The two
Gram matrices must agree (relative Frobenius error ≤ 1e-4 in float32), else exit 3. Last
line: the ratio loop / batched (the default ``"auto"``).

    python bench/ntk_bench.py [--samples 1000] [--width 784] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_machine_args, apply_machine_args, check_reference

from landscape.functional import FunctionalModel
from landscape.models import MLPSpec, build
from landscape.overparam import empirical_ntk


def loop_ntk(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``J Jᵀ`` with ``J`` filled one sample (one autograd backward pass) at a time."""
    params = [p for p in module.parameters()]
    total = sum(p.numel() for p in params)
    jac = torch.empty(x.shape[0], total, device=x.device, dtype=x.dtype)
    for i in range(x.shape[0]):
        out = module(x[i : i + 1]).sum()
        rows = torch.autograd.grad(out, params)
        jac[i] = torch.cat([g.reshape(-1) for g in rows])
    return jac @ jac.T


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--width", type=int, default=784)
    ap.add_argument("--chunk-size", type=int, default=64)
    add_machine_args(ap)
    args = ap.parse_args()
    dev = apply_machine_args(args)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    spec = MLPSpec(in_features=784, widths=(args.width,), out_features=1)
    module = build(spec, seed=0, device=dev)
    fm = FunctionalModel(module, loss="mse")
    params = fm.params()
    x = torch.randn(args.samples, 784, generator=torch.Generator().manual_seed(0)).to(dev)
    p = sum(v.numel() for v in params.values())
    jac_bytes = args.samples * p * 4
    print(
        f"task: empirical NTK of {spec.describe()} ({p} parameters) on {args.samples} samples; "
        f"full Jacobian {jac_bytes / 2**30:.2f} GiB (float32)"
    )

    def timed(fn):
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        return out, time.perf_counter() - t0

    # warm-up on a few samples (vmap tracing, allocator)
    empirical_ntk(fm, params, x[:8], method="jacobian", chunk_size=args.chunk_size)
    empirical_ntk(fm, params, x[:8], chunk_size=args.chunk_size)
    loop_ntk(module, x[:8])

    k_batched, t_batched = timed(
        lambda: empirical_ntk(
            fm,
            params,
            x,
            method="jacobian",
            chunk_size=args.chunk_size,
            memory_budget=2 * jac_bytes,
        )
    )
    print(f"batched empirical_ntk (method='jacobian', chunk {args.chunk_size}): {t_batched:.2f} s")
    k_auto, t_auto = timed(lambda: empirical_ntk(fm, params, x, chunk_size=args.chunk_size))
    print(f"batched empirical_ntk (method='auto' → layerwise, no J): {t_auto:.2f} s")
    k_loop, t_loop = timed(lambda: loop_ntk(module, x))
    print(f"per-sample autograd loop (rows into J, then J Jᵀ): {t_loop:.2f} s")

    scale = float(k_loop.norm())
    for what, k in (("jacobian", k_batched), ("auto", k_auto)):
        check_reference(
            f"K ({what}) vs loop, relative Frobenius", float((k - k_loop).norm()) / scale, 1e-4
        )
    print(f"ratio loop / jacobian method: {t_loop / t_batched:.2f}x")
    print(f"ratio loop / batched (auto): {t_loop / t_auto:.2f}x")


if __name__ == "__main__":
    main()
