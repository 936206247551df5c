"""Train 100 small MLPs in one batched call, and check it against a per-model loop.

``landscape.ensemble.train_ensemble`` takes the loss of *one* model and a params dict with
a leading axis ``E`` (100 models here), and trains all of them at once: each minibatch
step is one vmapped forward/backward pass over every member, each member with its own
initialisation and its own data order. Prints the mean ± std over the members of the
final test loss and accuracy, and the wall time.

Then two of the members are trained again the ordinary way — an ``nn.Module``, a
``torch.optim.SGD`` and a Python loop over the same minibatches
(``landscape.ensemble.batch_order`` gives each member's order) — and their final
parameters and test losses are compared with the batched ones: they agree to float32
rounding.

Run::

    python examples/train_100_models.py              # 100 MLPs 64→32→10, 10 epochs
    python examples/train_100_models.py --quick      # 100 MLPs 64→16→10, 2 epochs
    python examples/train_100_models.py --models 1000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from landscape import FunctionalModel, MLPSpec, build, data
from landscape import params as P
from landscape.ensemble import batch_order, train_ensemble
from landscape.models import init_params
from landscape.optim import SGD


def train_one_by_one(spec, init, seed, train, test, epochs, batch_size, lr, momentum):
    """The reference: one ordinary model, one optimiser, the member's minibatches in order."""
    model = build(spec)
    model.load_state_dict(init)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    x, y = train
    for epoch in range(epochs):
        order = torch.as_tensor(batch_order(seed, epoch, len(x)))
        for rows in order.split(batch_size):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
            opt.step()
    with torch.no_grad():
        test_loss = float(nn.functional.cross_entropy(model(test[0]), test[1]))
    return {k: v.detach() for k, v in model.named_parameters()}, test_loss


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples_out"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="smaller models, 2 epochs")
    parser.add_argument("--models", type=int, default=100, help="ensemble size E")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 10)")
    parser.add_argument("--check", type=int, default=2, help="members re-trained in a loop")
    args = parser.parse_args(argv)
    if args.models < 1 or not 0 <= args.check <= args.models:
        parser.error(f"need --models >= 1 and --check in 0..{args.models}, got {args.check}")
    hidden = 16 if args.quick else 32
    epochs = args.epochs or (2 if args.quick else 10)
    batch_size, lr, momentum = 64, 0.05, 0.9
    args.out.mkdir(parents=True, exist_ok=True)

    # ---- 1. E initialisations, stacked along a leading axis
    ds = data.digits(seed=0)
    spec = MLPSpec(in_features=64, widths=(hidden,), out_features=10)
    seeds = list(range(args.models))
    inits = [init_params(spec, seed=s) for s in seeds]  # PyTorch's default init, seeded
    stacked = P.stack(inits)  # {"layers.0.weight": (E, hidden, 64), ...}

    # ---- 2. all of them trained in one batched computation
    fm = FunctionalModel(build(spec), loss="cross_entropy")  # the loss of ONE model
    start = time.perf_counter()
    res = train_ensemble(
        fm.loss,
        stacked,
        ds.train,
        SGD(lr=lr, momentum=momentum),
        epochs=epochs,
        batch_size=batch_size,
        seeds=seeds,  # member e visits the data in the order batch_order(seeds[e], epoch, N)
        eval_data=ds.test,
        metrics=fm.metrics,  # test loss and accuracy per member, after every epoch
    )
    batched_seconds = time.perf_counter() - start
    ok = ~res.diverged
    test_loss, test_acc = res.final("test_loss")[ok], res.final("test_accuracy")[ok]

    # ---- 3. the same members, one ordinary model at a time
    start = time.perf_counter()
    param_diff, loss_diff = 0.0, 0.0
    for e in range(args.check):
        ref, ref_loss = train_one_by_one(
            spec, inits[e], seeds[e], ds.train, ds.test, epochs, batch_size, lr, momentum
        )
        for k, v in ref.items():
            param_diff = max(param_diff, float((res.params[k][e] - v).abs().max()))
        loss_diff = max(loss_diff, abs(float(res.final("test_loss")[e]) - ref_loss))
    loop_seconds = (time.perf_counter() - start) / max(args.check, 1) * args.models

    result = {
        "models": args.models,
        "diverged": int(res.diverged.sum()),
        "test_loss_mean": float(test_loss.mean()),
        "test_loss_std": float(test_loss.std()) if len(test_loss) > 1 else 0.0,
        "test_accuracy_mean": float(test_acc.mean()),
        "test_accuracy_std": float(test_acc.std()) if len(test_acc) > 1 else 0.0,
        "batched_seconds": batched_seconds,
        "loop_seconds_estimate": loop_seconds if args.check else None,
        "checked": args.check,
        "max_param_diff": param_diff,
        "max_test_loss_diff": loss_diff,
    }
    (args.out / "ensemble_summary.json").write_text(json.dumps(result, indent=2))
    print(f"{args.models} × {spec.describe()}, {epochs} epochs of SGD, batch {batch_size}")
    print(
        f"test loss {result['test_loss_mean']:.4f} ± {result['test_loss_std']:.4f}, "
        f"test accuracy {result['test_accuracy_mean']:.4f} ± {result['test_accuracy_std']:.4f}"
        f" ({result['diverged']} diverged)"
    )
    print(f"batched: {batched_seconds:.2f} s for all {args.models} (with per-epoch evaluation)")
    if args.check:
        print(
            f"per-model loop, {args.check} members: largest parameter difference "
            f"{param_diff:.2e}, test-loss difference {loss_diff:.2e}; the loop would take "
            f"about {loop_seconds:.1f} s for all {args.models}"
        )
    return result


if __name__ == "__main__":
    main()
