"""Connect two independently trained models below a loss threshold (Freeman & Bruna 2017).

Two MLPs of one architecture are trained on the bundled digits from different seeds. Their
straight-line interpolation climbs a loss barrier, much of it because hidden units can be
relabelled without changing the function: weight matching (Ainsworth et al. 2022) permutes
the second model's hidden units to line up with the first's, which keeps its function and
lowers the barrier. Dynamic String Sampling (greedy DSS) then connects the first model
with the aligned second below a threshold ``L0`` on the training loss, inserting trained
beads wherever the string rises above ``L0``.

Prints the straight-line barrier (``max_t L − max(L_A, L_B)``) before and after the
alignment, the number of beads, the normalized geodesic length of the string
(``Σ ‖θ_i − θ_{i+1}‖ / ‖θ_A − θ_B‖``, 1 for a straight line) and the highest loss along it.

Run::

    python examples/connect_two_models.py             # 32 hidden units, 15 epochs
    python examples/connect_two_models.py --quick     # 16 hidden units, a few seconds
    python examples/connect_two_models.py --threshold 0.1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from landscape import FunctionalModel, MLPSpec, build, data
from landscape.connect import align_and_interpolate, dss


def train(spec: MLPSpec, x: torch.Tensor, y: torch.Tensor, seed: int, epochs: int) -> nn.Module:
    """An ordinary training loop: Adam on minibatches of 64, shuffled by ``seed``."""
    model = build(spec, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for rows in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
            opt.step()
    return model


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="smaller models, fewer epochs")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="L0 on the training loss (default: 1.15 × the larger endpoint loss)",
    )
    parser.add_argument("--seeds", type=int, nargs=2, default=(1, 2), help="the two init seeds")
    args = parser.parse_args(argv)
    hidden, epochs = (16, 5) if args.quick else (32, 15)
    args.out.mkdir(parents=True, exist_ok=True)

    # ---- 1. two models of one architecture, trained from different seeds
    ds = data.digits(seed=0)
    spec = MLPSpec(in_features=64, widths=(hidden,), out_features=10)
    model_a = train(spec, *ds.train, seed=args.seeds[0], epochs=epochs)
    model_b = train(spec, *ds.train, seed=args.seeds[1], epochs=epochs)
    fm = FunctionalModel(model_a, loss="cross_entropy")  # a pure loss(params, batch)
    theta_a = fm.params()
    theta_b = FunctionalModel(model_b).params()

    # ---- 2. align B to A by permuting its hidden units; the straight line before and after
    start = time.perf_counter()
    report = align_and_interpolate(fm.loss, theta_a, theta_b, ds.train)
    theta_b_aligned = report.alignment.params  # the same function as B, relabelled
    loss_a, loss_b = report.before.loss_a, report.before.loss_b
    loss_b_aligned = report.after.loss_b
    threshold = 1.15 * max(loss_a, loss_b) if args.threshold is None else args.threshold
    if not threshold >= max(loss_a, loss_b):
        parser.error(
            f"--threshold {threshold} is below an endpoint's loss ({loss_a:.4f}, {loss_b:.4f}); "
            "both models must lie in the level set"
        )

    # ---- 3. connect A and aligned B below the threshold with greedy DSS
    path = dss(fm.loss, theta_a, theta_b_aligned, ds.train, threshold=threshold)
    seconds = time.perf_counter() - start

    result = {
        "loss_a": loss_a,
        "loss_b": loss_b,
        "loss_b_aligned": loss_b_aligned,
        "threshold": threshold,
        "barrier_before": report.before.barrier,
        "barrier_after": report.after.barrier,
        "connected": path.connected,
        "status": path.status,
        "beads": path.bead_count,
        "length": path.length,
        "length_weights": path.length_weights,
        "max_loss_on_string": path.max_value,
        "steps": path.steps,
        "seconds": seconds,
    }
    (args.out / "connect_summary.json").write_text(json.dumps(result, indent=2))
    print(f"{spec.describe()}, two models trained {epochs} epochs from seeds {args.seeds}")
    print(f"training loss: A {loss_a:.4f}, B {loss_b:.4f}, B aligned {loss_b_aligned:.4f}")
    print(
        f"straight-line barrier: {report.before.barrier:.4f} before alignment, "
        f"{report.after.barrier:.4f} after"
    )
    print(f"DSS below L0 = {threshold:.4f}: {path.status}")
    print(
        f"  beads: {path.bead_count}, normalized geodesic length {path.length:.4f} "
        f"(weights only {path.length_weights:.4f}), max loss along the string "
        f"{path.max_value:.4f}, {path.steps} optimiser steps, {seconds:.1f} s"
    )
    return result


if __name__ == "__main__":
    main()
