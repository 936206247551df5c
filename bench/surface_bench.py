"""Loss planes: ``landscape.surface`` (vmapped blocks, factored first layer) vs PyPI
``loss-landscapes`` 3.0.6 ``random_plane`` vs a point-by-point loop.

Cases: 21×21 on an MLP 64-128-128-10 with n = 32 and n = 2000 samples, and 51×51 on a
784-256-256-10 MLP with 10 000 samples (random data of those shapes). loss-landscapes draws
its own directions and walks the grid with in-place steps whose offsets are not symmetric:
point ``(i, j)`` is ``θ − (s/2)(d₁ + d₂) + i d₁ + (j + [i even]) d₂`` (even columns start one
step further). The script replays its draws under the same seed, evaluates ``landscape`` at
exactly those points, and checks the values agree to 1e-5. GFLOP/s counts the forward
multiply-adds of every grid point (as the unfactored computation needs them) against this
machine's matmul rate. Last line: loss-landscapes time / landscape time on the 784-wide case.

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

from _common import add_machine_args, apply_machine_args, check_reference, matmul_gflops

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


def case(name, sizes, n, steps, device, rate, loop_points):
    from loss_landscapes import random_plane
    from loss_landscapes.metrics import Loss

    model = mlp(sizes).to(device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, sizes[0], generator=g).to(device)
    y = torch.randint(0, sizes[-1], (n,), generator=g).to(device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    metric = Loss(nn.CrossEntropyLoss(), x, y)
    t0 = time.perf_counter()
    torch.manual_seed(123)
    ref = random_plane(model, metric, distance=1, steps=steps, deepcopy_model=True)
    sync()
    t_ll = time.perf_counter() - t0
    d1, d2 = ll_directions(model, steps, 123)
    fm = FunctionalModel(model)
    p = fm.params()
    d1 = {k: v.to(device) for k, v in d1.items()}
    d2 = {k: v.to(device) for k, v in d2.items()}
    coeffs = ll_coefficients(steps)
    evaluate_coefficients(fm, p, [d1, d2], coeffs[:4], (x, y))  # warm-up
    t0 = time.perf_counter()
    res = evaluate_coefficients(fm, p, [d1, d2], coeffs, (x, y))
    sync()
    t_ls = time.perf_counter() - t0
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
        f"{res['points_per_pass']} points/pass, {'vmapped' if res['vmapped'] else 'looped'}), "
        f"point loop {t_loop:.2f} s "
        f"(est. from {k} points); max |Δloss| vs loss-landscapes {diff:.1e} "
        f"({'OK' if diff < 1e-5 else 'MISMATCH'}); matmul {rate:.0f} GFLOP/s; "
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
    rate = matmul_gflops(device=args.device)
    case("small n", (64, 128, 128, 10), 32, 21, args.device, rate, args.loop_points)
    case("n=2000", (64, 128, 128, 10), 2000, 21, args.device, rate, args.loop_points)
    r = case(
        "784-wide",
        (784, 256, 256, 10),
        args.big_n,
        args.big_steps,
        args.device,
        rate,
        args.loop_points,
    )
    print(f"ratio loss-landscapes / landscape on the 784-wide case: {r:.2f}")


if __name__ == "__main__":
    main()
