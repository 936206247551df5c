"""Batched Safran–Shamir search vs a per-run loop of the same arithmetic.

1000 Xavier starts of k = n = 10 (teacher V = I_10), plain gradient descent with step 0.1
until every neuron's ‖2π ∇F‖ ≤ 1e-9 (the authors' protocol, no Newton finish), all starts
in one R×n×d batch that sheds converged runs. The loop descends the starts one at a time
through the same function (R = 1), so both do identical arithmetic; it runs on the first
``--loop-runs`` starts (a full loop of 1000 would take about half an hour here) and its
results are checked against the batch's for those starts. Both use one intra-op thread
(the descent's default). Last line: the ratio of runs per second, batched / loop.

    python bench/spurious_bench.py [--runs 1000] [--loop-runs 25] [--k 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_machine_args, apply_machine_args, check_reference

from landscape.overparam import descend
from landscape.overparam.spurious import initial_students


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--loop-runs", type=int, default=25)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--max-steps", type=int, default=100_000)
    add_machine_args(ap)
    args = ap.parse_args()
    device = apply_machine_args(args)
    k = args.k
    V = torch.eye(k, dtype=torch.float64, device=device)
    W0 = initial_students(k, k, args.runs, seed=0).to(device)

    t0 = time.perf_counter()
    batch = descend(W0, V, max_steps=args.max_steps)
    t_batch = time.perf_counter() - t0
    conv = int(batch.converged.sum())
    print(
        f"batched: {args.runs} starts k=n={k} in {t_batch:.1f} s, {args.runs / t_batch:.2f} "
        f"runs/s; converged {conv}, steps median {int(batch.steps.median())}, "
        f"max {int(batch.steps.max())}"
    )

    m = min(args.loop_runs, args.runs)
    t0 = time.perf_counter()
    loop = [descend(W0[r : r + 1], V, max_steps=args.max_steps) for r in range(m)]
    t_loop = time.perf_counter() - t0
    err = max(float((one.W[0] - batch.W[r]).abs().max()) for r, one in enumerate(loop))
    same = all(int(one.steps[0]) == int(batch.steps[r]) for r, one in enumerate(loop))
    print(
        f"loop: first {m} starts one at a time in {t_loop:.1f} s, {m / t_loop:.2f} runs/s "
        f"(same steps as the batch: {same}; max |ΔW| {err:.1e}); "
        f"the batch's first {m} took {int(batch.steps[:m].sum())} steps of "
        f"{int(batch.steps.sum())} in all"
    )
    # the loop's cost per run scales with that run's steps: extrapolate by steps, not runs
    per_step = t_loop / max(int(batch.steps[:m].sum()), 1)
    t_loop_all = per_step * int(batch.steps.sum())
    print(f"loop over all {args.runs} starts (extrapolated by steps): {t_loop_all:.0f} s")
    # identical arithmetic: the same end points and the same step counts
    check_reference("batched vs loop end points |ΔW|", err if same else float("inf"), 1e-10)
    print(f"ratio batched/loop (runs per second): {t_loop_all / t_batch:.1f}x")


if __name__ == "__main__":
    main()
