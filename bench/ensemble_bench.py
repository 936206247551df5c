"""Batched ensemble training vs a per-model PyTorch loop.

E = 1000 nets 64→100→10 on the bundled digits, one epoch of minibatch SGD (batch 100),
each net with its own init and data order. The loop is the obvious implementation: an
``nn.Module`` and a ``torch.optim.SGD`` per model, stepped one after another over the same
batches. The batched side is ``train_ensemble`` as a user calls it (members trained in
chunks that fit the cache, ``member_chunk="auto"``), and for comparison all E members in one
vmapped pass. All run here, in one process; the batched result is checked against the
loop's for the first few members, and the chunked against the one-pass result for all.
Last line: the ratio loop / batched.

    python bench/ensemble_bench.py [--members 1000] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_machine_args, apply_machine_args, check_reference, matmul_gflops

from landscape import data, models
from landscape import params as P
from landscape.ensemble import batch_order, train_ensemble
from landscape.functional import FunctionalModel
from landscape.optim import SGD


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.05)
    add_machine_args(ap)
    args = ap.parse_args()
    dev = apply_machine_args(args)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    ds = data.digits(seed=0).to(dev)
    x, y = ds.train
    n, e, b = x.shape[0], args.members, args.batch_size
    spec = models.MLPSpec(in_features=64, widths=(args.hidden,), out_features=10)
    seeds = list(range(e))
    inits = [models.init_params(spec, s, device=dev) for s in seeds]
    steps = -(-n // b)
    macs = n * (64 * args.hidden + args.hidden * 10)  # per model per epoch, forward
    flops = 3 * 2 * macs * e  # forward + backward ≈ 3× forward
    print(
        f"task: {e} × {spec.describe()} on digits ({n} samples), "
        f"1 epoch SGD, batch {b} ({steps} steps)"
    )
    rate = matmul_gflops(device=args.device)
    print(f"float32 matmul 2048³: {rate:.1f} GFLOP/s")
    # the first layer's batched product at this problem's shapes: (E, B, 64) @ (E, 64, H)
    xb = torch.randn(e, b, 64, device=dev)
    wb = torch.randn(e, 64, args.hidden, device=dev)
    for _ in range(2):
        torch.bmm(xb, wb)
    sync()
    t0 = time.perf_counter()
    for _ in range(5):
        torch.bmm(xb, wb)
    sync()
    shape_rate = 2 * e * b * 64 * args.hidden * 5 / (time.perf_counter() - t0) / 1e9
    print(
        f"float32 bmm at this problem's shapes ({e}×{b}×64 @ 64×{args.hidden}): "
        f"{shape_rate:.1f} GFLOP/s (the practical ceiling of a batched step)"
    )
    del xb, wb

    fm = FunctionalModel(models.build(spec, device=dev))
    stacked = P.stack(inits)
    # warm-up (first vmap trace, allocator)
    train_ensemble(
        fm.loss,
        {k: v[:8] for k, v in stacked.items()},
        (x, y),
        SGD(lr=args.lr),
        1,
        batch_size=b,
        seeds=seeds[:8],
    )
    sync()
    t0 = time.perf_counter()
    res = train_ensemble(
        fm.loss, stacked, (x, y), SGD(lr=args.lr), 1, batch_size=b, seeds=seeds, track=False
    )
    sync()
    t_batched = time.perf_counter() - t0
    # the same, all members in one vmapped pass (no member chunks): what chunking buys
    t0 = time.perf_counter()
    one = train_ensemble(
        fm.loss,
        stacked,
        (x, y),
        SGD(lr=args.lr),
        1,
        batch_size=b,
        seeds=seeds,
        track=False,
        member_chunk=None,
    )
    sync()
    t_one = time.perf_counter() - t0
    chunk_err = max(float((one.params[k] - res.params[k]).abs().max()) for k in res.params)

    # per-model loop: nn.Module + optimizer per model, same init, same batches
    nets, opts = [], []
    for init in inits:
        m = models.build(spec, device=dev)
        m.load_state_dict(init)
        nets.append(m)
        opts.append(torch.optim.SGD(m.parameters(), lr=args.lr))
    sync()
    t0 = time.perf_counter()
    for i, (m, opt) in enumerate(zip(nets, opts, strict=True)):
        order = torch.as_tensor(batch_order(seeds[i], 0, n), device=dev)
        for s in range(0, n, b):
            idx = order[s : s + b]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(m(x[idx]), y[idx]).backward()
            opt.step()
    sync()
    t_loop = time.perf_counter() - t0

    err = max(
        float((res.params[k][i] - dict(nets[i].named_parameters())[k].detach()).abs().max())
        for i in range(min(5, e))
        for k in res.params
    )
    print(f"{'method':<28}{'wall s':>10}{'model-steps/s':>16}{'GFLOP/s':>10}")
    for name, t in (
        ("batched (member chunks)", t_batched),
        ("batched (one pass, E)", t_one),
        ("per-model loop (nn.Module)", t_loop),
    ):
        print(f"{name:<28}{t:>10.3f}{e * steps / t:>16.0f}{flops / t / 1e9:>10.1f}")
    print(
        f"batched achieves {flops / t_batched / 1e9 / rate:.0%} of the matmul rate, "
        f"{flops / t_batched / 1e9 / shape_rate:.0%} of the same-shape bmm rate"
    )
    # the same arithmetic in float32, one epoch: the members agree to rounding
    check_reference("batched vs loop parameters, 5 members", err, 1e-4)
    check_reference("member chunks vs one pass, all members", chunk_err, 1e-6)
    print(f"ratio loop/batched: {t_loop / t_batched:.1f}")


if __name__ == "__main__":
    main()
