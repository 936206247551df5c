"""Loss planes: ``landscape.surface`` (expanded, vmapped or looped points; factored first
layer) vs PyPI ``loss-landscapes`` 3.0.6 ``random_plane`` vs a point-by-point loop.

Cases: 21×21 on an MLP 64-128-128-10 with n = 32 and n = 2000 samples, and 51×51 on a
784-256-256-10 MLP with 10 000 samples (random data of those shapes). loss-landscapes draws
its own directions and walks the grid with in-place steps whose offsets are not symmetric:
point ``(i, j)`` is ``θ − (s/2)(d₁ + d₂) + i d₁ + (j + [i even]) d₂`` (even columns start one
step further). The script replays its draws under the same seed, evaluates ``landscape`` at
exactly those points, and checks the values agree to 1e-5. GFLOP/s counts the forward
multiply-adds of every grid point (as the unfactored computation needs them) against this
machine's float32 matmul rates (``torch.mm``, i.e. MKL, and oneDNN's, which ``landscape``
uses where it is faster: :mod:`landscape.kernels`). The two small cases time both tools
several times, interleaved, and keep the best of each (a 20 ms call varies by ±20 % on a
shared VM); the 784-wide case once each. Last lines: the ratios at n = 32 and on the
784-wide case, then loss-landscapes time / landscape time on the 784-wide case alone.

    python bench/surface_bench.py [--device cpu] [--big-steps 51] [--big-n 10000]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from _common import add_machine_args, apply_machine_args, check_reference, matmul_rates

from landscape.functional import FunctionalModel
from landscape.surface import evaluate_coefficients


def mlp(sizes, seed=0):
    torch.manual_seed(seed)
    layers = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def ll_directions(model, steps, seed):
    """loss-landscapes' directions and start point, replayed under its seed."""
    from loss_landscapes.model_interface.model_parameters import orthogonal_to, rand_u_like
    from loss_landscapes.model_interface.model_wrapper import wrap_model

    torch.manual_seed(seed)
    start = wrap_model(copy.deepcopy(model)).get_module_parameters()
    d1 = rand_u_like(start)
    d2 = orthogonal_to(d1)
    d1.filter_normalize_(start)
    d2.filter_normalize_(start)
    d1.mul_(((start.model_norm() / 1) / steps) / d1.model_norm())
    d2.mul_(((start.model_norm() / 1) / steps) / d2.model_norm())
    names = [k for k, _ in model.named_parameters()]
    return (
        {k: t.clone() for k, t in zip(names, d1.parameters, strict=True)},
        {k: t.clone() for k, t in zip(names, d2.parameters, strict=True)},
    )


def ll_coefficients(steps):
    """The (i, j) offsets loss-landscapes evaluates, in units of its d1, d2 from θ."""
    out = np.zeros((steps, steps, 2))
    for i in range(steps):
        for j in range(steps):
            out[i, j] = (i - steps / 2, j + (1 if i % 2 == 0 else 0) - steps / 2)
    return out.reshape(-1, 2)


def case(name, sizes, n, steps, device, rate, loop_points, repeats=1):
    from loss_landscapes import random_plane
    from loss_landscapes.metrics import Loss

    model = mlp(sizes).to(device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, sizes[0], generator=g).to(device)
    y = torch.randint(0, sizes[-1], (n,), generator=g).to(device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    metric = Loss(nn.CrossEntropyLoss(), x, y)

    def run_ll():
        torch.manual_seed(123)
        out = random_plane(model, metric, distance=1, steps=steps, deepcopy_model=True)
        sync()
        return out

    d1, d2 = ll_directions(model, steps, 123)
    fm = FunctionalModel(model)
    p = fm.params()
    d1 = {k: v.to(device) for k, v in d1.items()}
    d2 = {k: v.to(device) for k, v in d2.items()}
    coeffs = ll_coefficients(steps)

    def run_ls():
        out = evaluate_coefficients(fm, p, [d1, d2], coeffs, (x, y))
        sync()
        return out

    evaluate_coefficients(fm, p, [d1, d2], coeffs[:4], (x, y))  # warm-up
    # both timed `repeats` times, interleaved; the best of each (one call each when 1)
    t_ll = t_ls = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        ref = run_ll()
        t_ll = min(t_ll, time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = run_ls()
        t_ls = min(t_ls, time.perf_counter() - t0)
    diff = np.abs(res["loss"].reshape(steps, steps) - ref).max()
    # the obvious loop: one FunctionalModel.loss per point (timed on loop_points, scaled)
    k = min(loop_points, len(coeffs))
    t0 = time.perf_counter()
    with torch.no_grad():
        for a, b in coeffs[:k]:
            fm.loss({n_: p[n_] + float(a) * d1[n_] + float(b) * d2[n_] for n_ in p}, (x, y))
    sync()
    t_loop = (time.perf_counter() - t0) * len(coeffs) / k
    macs = sum(a * b for a, b in itertools.pairwise(sizes))
    flops = 2 * macs * n * steps * steps
    print(
        f"{name}: {steps}×{steps} plane, {' '.join(map(str, sizes))} MLP, n={n}: "
        f"loss-landscapes {t_ll:.2f} s ({flops / t_ll / 1e9:.1f} GFLOP/s), "
        f"landscape {t_ls:.2f} s ({flops / t_ls / 1e9:.1f} GFLOP/s, factored={res['factored']}, "
        f"{res['points_per_pass']} points/pass, {res['method']}), "
        f"point loop {t_loop:.2f} s "
        f"(est. from {k} points); max |Δloss| vs loss-landscapes {diff:.1e} "
        f"({'OK' if diff < 1e-5 else 'MISMATCH'}); matmul {rate}; "
        f"ratio ll/landscape {t_ll / t_ls:.2f}×, loop/landscape {t_loop / t_ls:.2f}×"
    )
    check_reference(f"{name}: loss vs loss-landscapes at the same points", diff, 1e-5)
    return t_ll / t_ls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_machine_args(ap)
    ap.add_argument("--big-steps", type=int, default=51)
    ap.add_argument("--big-n", type=int, default=10_000)
    ap.add_argument("--loop-points", type=int, default=50)
    args = ap.parse_args()
    apply_machine_args(args)
    rates = matmul_rates(args.device)
    rate = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in rates.items())
    small = case("small n", (64, 128, 128, 10), 32, 21, args.device, rate, args.loop_points, 7)
    case("n=2000", (64, 128, 128, 10), 2000, 21, args.device, rate, args.loop_points, 3)
    r = case(
        "784-wide",
        (784, 256, 256, 10),
        args.big_n,
        args.big_steps,
        args.device,
        rate,
        args.loop_points,
    )
    print(
        f"ratio loss-landscapes / landscape at n=32: {small:.2f} (target 5); "
        f"on the 784-wide case: {r:.2f} (target 2)"
    )
    print(f"ratio loss-landscapes / landscape on the 784-wide case: {r:.2f}")


if __name__ == "__main__":
    main()
