"""A 2-D loss plane through a saved checkpoint (Li et al. 2018, filter-normalised directions).

A small MLP is trained on the bundled digits and saved in landscape's checkpoint format
(``{spec, params, meta}``, read back with ``torch.load(weights_only=True)``). The checkpoint
is then loaded and the training loss is evaluated on the plane ``θ + α d₁ + β d₂`` through
it, where ``d₁``, ``d₂`` are seeded Gaussian directions scaled filter by filter to the
norms of ``θ``'s filters (biases zeroed, as Li et al.). All grid points are evaluated in a
few vmapped passes. Writes a contour PNG and the grid as ``surface.npz`` to ``--out``;
prints the smallest and largest loss on the grid and the loss at the centre (the
checkpoint itself).

The checkpoint also works with the command line::

    landscape plane examples_out/model.ckpt --data digits --steps 11

Run::

    python examples/plane_of_a_checkpoint.py            # 21×21 grid
    python examples/plane_of_a_checkpoint.py --quick    # 11×11 grid, a few seconds
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from landscape import FunctionalModel, MLPSpec, build, checkpoint, data
from landscape.plots import plot_contour, save_figure
from landscape.surface import plane, random_directions


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="a smaller model and grid")
    parser.add_argument("--steps", type=int, default=None, help="grid points per axis (odd)")
    parser.add_argument("--range", type=float, default=1.0, help="the grid spans [-R, R]²")
    parser.add_argument("--seed", type=int, default=0, help="model init and directions")
    args = parser.parse_args(argv)
    steps = args.steps or (11 if args.quick else 21)
    if steps < 3 or steps % 2 == 0:
        parser.error(f"--steps must be an odd number >= 3 (so the grid has a centre), got {steps}")
    if not args.range > 0:
        parser.error(f"--range must be positive, got {args.range}")
    hidden, epochs = (16, 5) if args.quick else (32, 20)
    args.out.mkdir(parents=True, exist_ok=True)

    # ---- 1. train a model and save a checkpoint
    ds = data.digits(seed=0)  # bundled with scikit-learn: 1437 train / 360 test images
    spec = MLPSpec(in_features=64, widths=(hidden,), out_features=10)
    model = build(spec, seed=args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = ds.train
    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(epochs):
        for rows in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
            opt.step()
    path = checkpoint.save(
        args.out / "model.ckpt",
        model,
        spec,
        meta={"data": {"name": "digits", "seed": 0}, "loss": "cross_entropy", "epochs": epochs},
    )

    # ---- 2. load it back (validated: names, shapes, finite weights)
    ck = checkpoint.load(path)
    fm = FunctionalModel(ck.build(), loss=ck.meta["loss"])
    theta = ck.params

    # ---- 3. two filter-normalised random directions and the loss on the plane
    directions = random_directions(theta, k=2, seed=args.seed, norm="filter")
    axis = np.linspace(-args.range, args.range, steps)
    start = time.perf_counter()
    surface = plane(fm, theta, directions, ds.train, alphas=axis)  # loss[i, j] at (α_i, β_j)
    seconds = time.perf_counter() - start

    # ---- 4. pictures and numbers
    fig = plot_contour(surface, title=f"training loss around {path.name} ({steps}×{steps})")
    png = save_figure(fig, args.out / "plane_contour.png")
    surface.save(args.out / "surface.npz")
    centre = steps // 2  # alpha[centre] == beta[centre] == 0: the checkpoint itself
    result = {
        "checkpoint": str(path),
        "figure": str(png),
        "steps": steps,
        "min_loss": float(surface.loss.min()),
        "max_loss": float(surface.loss.max()),
        "centre_loss": float(surface.loss[centre, centre]),
        "centre_error": float(surface.error[centre, centre]),
        "seconds": seconds,
    }
    print(f"{spec.describe()} trained {epochs} epochs, saved to {path}")
    print(f"{steps}×{steps} plane over [-{args.range}, {args.range}]² in {seconds:.2f} s")
    print(f"loss on the plane: min {result['min_loss']:.4f}, max {result['max_loss']:.4f}")
    print(
        f"at the centre (the checkpoint): loss {result['centre_loss']:.4f}, "
        f"error {result['centre_error']:.3f}"
    )
    print(f"contour: {png}")
    return result


if __name__ == "__main__":
    main()
