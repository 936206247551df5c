"""Hessian of your own model: top eigenvalues, trace and index at the trained weights.

An ordinary ``nn.Module`` (a small MLP) is trained on scikit-learn's bundled 8×8 digits
with a plain PyTorch loop over a ``DataLoader``. Then ``landscape.curvature`` measures the
Hessian of its training loss at the trained weights, reading the data through a
``DataLoader`` as well:

* the top eigenvalues (Lanczos; each residual is recomputed and checked against ``tol``),
* the trace (Hutchinson, with its standard error),
* the index: how many eigenvalues are negative, and the smallest eigenvalue (exact from
  the full spectrum up to 5000 parameters; above that ``estimate_index``, the SLQ estimate
  with a standard error, and Lanczos for the smallest eigenvalue).

Nothing here is specific to this MLP: put your model and your loaders in place of ``MLP``
and ``load_data`` and keep the rest. Your module is never modified.

Run::

    python examples/hessian_of_your_model.py            # 32 hidden units, 20 epochs
    python examples/hessian_of_your_model.py --quick    # 8 hidden units, 10 epochs: a few seconds
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscape import FunctionalModel, checkpoint, dataset_mean
from landscape.curvature import (
    HessianOperator,
    eigenpairs,
    estimate_index,
    exact_index,
    hutchinson_trace,
)


class MLP(nn.Module):
    """An ordinary model: 64 pixels → hidden → 10 classes."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def load_data() -> tuple[TensorDataset, TensorDataset]:
    """Digits scaled to [0, 1]: the first 1400 images to train on, the other 397 to test."""
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.int64)
    return TensorDataset(x[:1400], y[:1400]), TensorDataset(x[1400:], y[1400:])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="a smaller model, fewer epochs")
    parser.add_argument("--hidden", type=int, default=None, help="hidden units (default 32)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 20)")
    parser.add_argument("--top", type=int, default=3, help="how many top eigenvalues")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    hidden = args.hidden if args.hidden is not None else (8 if args.quick else 32)
    epochs = args.epochs if args.epochs is not None else (10 if args.quick else 20)
    if hidden < 1 or epochs < 0 or args.top < 1:
        parser.error("need --hidden >= 1, --epochs >= 0 and --top >= 1")
    args.out.mkdir(parents=True, exist_ok=True)

    # ---- 1. train your model the way you always do
    torch.manual_seed(args.seed)
    train_set, test_set = load_data()
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    model = MLP(hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        for x, y in train_loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    checkpoint.save(args.out / "model.ckpt", model, meta={"hidden": hidden, "epochs": epochs})

    # ---- 2. a pure view of it: loss(params, batch), evaluated without touching `model`
    fm = FunctionalModel(model, loss="cross_entropy")
    theta = fm.params()  # the trained weights, as a dict of tensors
    # the Hessian is of the mean loss over this loader's batches; no shuffling, so every
    # product sees the same batches (the mean would be the same, the rounding would not)
    loader = DataLoader(train_set, batch_size=500)
    test_loader = DataLoader(test_set, batch_size=500)
    with torch.no_grad():  # exact means over all batches, weighted by their sizes
        train_loss = float(dataset_mean(fm.loss, theta, loader))
        test_accuracy = float(dataset_mean(fm.metrics, theta, test_loader)["accuracy"])

    # ---- 3. the Hessian of the training loss at theta, as an operator (never formed)
    # float64: the index counts eigenvalues just below zero, where float32 rounding of a
    # network Hessian (about 1e-7 of the largest eigenvalue) would decide the sign
    H = HessianOperator(fm, theta, loader, dtype=torch.float64)
    start = time.perf_counter()
    top = eigenpairs(H, k=args.top, tol=1e-6)  # Lanczos
    trace = hutchinson_trace(H, rtol=0.01, seed=args.seed)  # stop at a 1 % standard error
    if H.num_params <= 5000:
        index = exact_index(H)  # the full spectrum: P products and a P × P matrix
        smallest = float(index.eigenvalues[0])
    else:
        index = estimate_index(H, seed=args.seed)  # SLQ: an estimate with a standard error
        smallest = float(eigenpairs(H, k=1, which="bottom", tol=1e-6).eigenvalues[0])
    seconds = time.perf_counter() - start

    result = {
        "num_params": H.num_params,
        "train_loss": train_loss,
        "test_accuracy": test_accuracy,
        "top_eigenvalues": [float(v) for v in top.eigenvalues],
        "lanczos_converged": top.converged,
        "lanczos_hvps": top.num_hvps,
        "trace": trace.trace,
        "trace_stderr": trace.stderr,
        "trace_probes": trace.num_probes,
        "smallest_eigenvalue": smallest,
        "index": index.count,
        "index_stderr": index.count_stderr,
        "index_method": index.method,
        "index_fraction": index.fraction,
        "seconds": seconds,
    }
    print(f"MLP 64→{hidden}→10, P = {H.num_params} parameters, trained {epochs} epochs")
    print(f"train loss {train_loss:.4f}, test accuracy {test_accuracy:.3f}")
    eig = ", ".join(f"{v:.4f}" for v in result["top_eigenvalues"])
    print(f"top {args.top} eigenvalues: {eig}  (converged: {top.converged}, {top.num_hvps} HVPs)")
    print(f"trace: {trace.trace:.4f} ± {trace.stderr:.4f}  ({trace.num_probes} probes)")
    print(f"smallest eigenvalue: {smallest:.4e}")
    print(
        f"index ({index.method}): {index.count:.0f} ± {index.count_stderr:.0f} negative "
        f"eigenvalues of {H.num_params} (fraction {index.fraction:.4f})"
    )
    print(f"curvature took {seconds:.1f} s; model saved to {args.out / 'model.ckpt'}")
    return result


if __name__ == "__main__":
    main()
