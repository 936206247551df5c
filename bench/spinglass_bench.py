"""Benchmark: batched projected gradient descent on the spherical 3-spin glass.

For each Λ, R replicas take projected-gradient steps on the sphere
(:func:`landscape.spinglass.gradient_descent`, one contraction of the couplings per step for
the whole batch: ``(R, Λ²) @ (Λ², Λ)``), against a Python loop over replicas running the
same function on one replica at a time (a matrix–vector product per replica and step:
the ``Λ³`` couplings are read from memory once per replica instead of once per batch).
The loop's rate is measured on a subset of the replicas (it is per replica and does not
depend on R) so the script stays short.

A replica-step is one gradient evaluation and update of one replica; ``max_steps = s``
does ``s + 1`` evaluations, counted as such on both sides. Two FLOP counts per
replica-step: the *nominal* ``2Λ³`` of the full contraction (``eff GF/s``, the rate a
full-rows product would need for the same time), and the arithmetic the batch *does*: the
batched gradient uses only the rows ``w_j w_k`` with ``j ≤ k`` (``SpinGlass.half_rows``),
``2Λ·ΣK_b ≈ Λ³`` (``GF/s done``). The latter is compared with this machine's best float32
matrix-multiply rate measured in the same run (``torch.mm``, which is MKL, and oneDNN's
product — on AMD CPUs MKL runs AVX2 kernels and oneDNN AVX-512 ones, about twice as fast;
best of several ``2048 × 2048`` products, measured before and after each size; the best is
used, so the percentage is conservative on a busy machine). Batched and loop timings are
interleaved.

The loop is bound by memory bandwidth (the single-replica path streams all ``Λ³``
couplings once per replica-step: 2 FLOP per 4 bytes read), the batch by the matrix-multiply
rate. A full-rows batch on the BLAS could not exceed about (BLAS matmul rate) / (loop rate);
the last line prints that figure too: the half rows and oneDNN's kernels go past it.

Prints a table, then, on the last line, the batched-over-loop ratio at Λ = 250.

Usage: ``python bench/spinglass_bench.py [--sizes 100 250 500] [--replicas 1000]
[--repeats 3] [--threads N] [--device cuda]``. Takes about two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_machine_args, apply_machine_args, check_reference, matmul_rates

from landscape import kernels
from landscape import spinglass as sg

H = 3
DEVICE = torch.device("cpu")


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def best_times(fns, repeats: int) -> list[float]:
    """The fastest of ``repeats`` timed calls of each function, calls interleaved.

    Interleaving gives every function the same share of whatever else the machine is doing.
    One warm-up call each first.
    """
    for fn in fns:
        fn()
    _sync()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            _sync()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def bench_size(n_spins: int, replicas: int, repeats: int) -> dict[str, float]:
    t0 = time.perf_counter()
    glass = sg.SpinGlass.random(n_spins, H, seed=0, device=DEVICE)
    build = time.perf_counter() - t0
    w0 = sg.random_sphere(replicas, n_spins, seed=1, device=DEVICE)
    # steps per timing: enough work to time, few enough to stay short
    steps = max(1, int(1.5e11 // (2 * n_spins**3 * replicas)))
    kw = dict(lr=0.1, max_steps=steps, gtol=1e-30, compute_index=False)

    def batched():
        sg.gradient_descent(glass, w0, **kw)

    loop_replicas = max(4, min(replicas, int(2e9 // n_spins**3)))

    def loop():
        for r in range(loop_replicas):
            sg.gradient_descent(glass, w0[r], **kw)

    # the same arithmetic: both sides agree (to float32 rounding) on the end points
    check = sg.gradient_descent(glass, w0[:8], **kw).w  # 8: the batched kernel
    looped = torch.stack([sg.gradient_descent(glass, w0[r], **kw).w[0] for r in range(8)])
    agree = (check - looped).abs().max().item()

    evals = steps + 1
    t_batch, t_loop = best_times([batched, loop], repeats)
    rate_batch = replicas * evals / t_batch
    rate_loop = loop_replicas * evals / t_loop
    flops = 2.0 * n_spins**H
    done = flops  # the arithmetic the batched contraction does per replica-step
    half = glass._use_half_rows(H - 1, replicas)
    if half:
        blocks = glass._half_blocks(H - 1, kernels.backend(DEVICE, torch.float32))[0]
        done = 2.0 * n_spins * sum((j1 - j0) * (n_spins - j0) for j0, j1 in blocks)
    return {
        "n_spins": n_spins,
        "build_s": build,
        "steps": evals,
        "loop_replicas": loop_replicas,
        "batch_rate": rate_batch,
        "loop_rate": rate_loop,
        "ratio": rate_batch / rate_loop,
        "batch_gflops": rate_batch * flops / 1e9,
        "done_gflops": rate_batch * done / 1e9,
        "backend": kernels.backend(DEVICE, torch.float32, glass.matmul) if half else "full",
        "loop_gflops": rate_loop * flops / 1e9,
        "max_diff": agree,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500])
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    add_machine_args(parser)
    args = parser.parse_args()
    global DEVICE
    DEVICE = apply_machine_args(args)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, H = {H}, "
        f"device {DEVICE}"
    )
    rates = matmul_rates(DEVICE)
    rows = []
    for n in args.sizes:
        rows.append(bench_size(n, args.replicas, args.repeats))
        print(f"  measured Λ = {n}", flush=True)
        for name, rate in matmul_rates(DEVICE).items():  # the machine's best: % is conservative
            rates[name] = max(rates[name], rate)
    peak = max(rates.values())
    print(
        f"{'Λ':>5} {'R':>6} {'evals':>5} {'batched rs/s':>13} {'loop rs/s':>10} "
        f"{'(R_loop)':>8} {'ratio':>7} {'eff GF/s':>8} {'GF/s done':>9} {'% matmul':>8} "
        f"{'loop GF/s':>9} {'max|Δw|':>8} {'build s':>7} {'kernel':>6}"
    )
    for row in rows:
        print(
            f"{int(row['n_spins']):>5} {args.replicas:>6} {int(row['steps']):>5} "
            f"{row['batch_rate']:>13.0f} {row['loop_rate']:>10.0f} "
            f"{int(row['loop_replicas']):>8} {row['ratio']:>6.1f}x "
            f"{row['batch_gflops']:>8.1f} {row['done_gflops']:>9.1f} "
            f"{100 * row['done_gflops'] / peak:>7.0f}% "
            f"{row['loop_gflops']:>9.1f} {row['max_diff']:>8.1e} {row['build_s']:>7.1f} "
            f"{row['backend']:>6}"
        )
    print(
        "float32 matmul, best over the run: "
        + ", ".join(f"{name} {rate:.1f} GFLOP/s" for name, rate in rates.items())
        + " (% matmul: GF/s done against the best)"
    )
    # batched and looped end points: the same steps, float32 rounding apart
    check_reference("batched vs looped end points |Δw|", max(r["max_diff"] for r in rows), 1e-3)
    at = {int(r["n_spins"]): r for r in rows}
    ref = at.get(250, rows[-1])
    print(
        f"ratio at Λ={int(ref['n_spins'])}: {ref['ratio']:.1f}x batched over the per-replica "
        f"loop (BLAS matmul/loop = {rates['blas'] / ref['loop_gflops']:.1f}x), "
        f"{100 * ref['done_gflops'] / peak:.0f}% of the best float32 matmul rate "
        f"({100 * ref['done_gflops'] / rates['blas']:.0f}% of torch.mm's) "
        f"(targets on a CPU: >= 15x, >= 70%)"
    )


if __name__ == "__main__":
    main()
