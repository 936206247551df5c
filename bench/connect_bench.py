"""Benchmark: greedy DSS against constrained DSS with the whole string trained in one batched step.

Freeman & Bruna's (2017) polynomial task: two 1-4-4-1 sigmoid MLPs trained independently on
the cubic regression y = 8x³ − 10x² + 3x, x ~ U[0, 1] (10 000 points, mean absolute error),
trained together as one batched ensemble (``landscape.ensemble``). They are then connected
at the threshold L0 = 0.05 by

* greedy DSS (``landscape.connect.dss``): depth first, one bead trained at a time;
* constrained DSS (``landscape.connect.dss_constrained``): breadth first, each round's new
  beads trained together, one vmapped optimiser step for the whole string.

Both use the same optimiser (Adam, lr 1e-3 as Freeman & Bruna, full batch), grid and
limits. Reported: wall time (best of ``--repeats``, after an untimed warm-up of both), bead
counts, optimiser steps, normalized geodesic lengths (all parameters / weights only) and the
largest interpolated loss. Timings on a shared machine are noisy; ``--threads 1`` (default)
avoids OpenMP oversubscription, which on a busy 2-core machine slows these tiny batched ops
by orders of magnitude.

A second task, printed first, has the size of Freeman & Bruna's CNN/MNIST: a small CNN
(``conv3×3[8] → ReLU → pool → conv3×3[16] → ReLU → pool → linear``, 28×28×1 inputs) on the
bundled sklearn digits upsampled bilinearly from 8×8 to 28×28 (no MNIST files are needed,
nothing is downloaded), endpoints trained together by minibatch Adam, connected below a
test-error threshold checked on ``--cnn-eval`` test images, beads trained by minibatch Adam
(``--cnn-batch``). Same two finders, wall time and beads. ``--no-cnn`` skips it.

``--device cuda`` runs both tasks on the GPU (timings synchronised).

Last line: the ratio of wall times greedy / constrained (> 1: the batched string is faster)
on the polynomial task.

Usage: ``python bench/connect_bench.py [--threshold 0.05] [--repeats 1] [--threads 1]
[--device cpu] [--no-cnn]``.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from landscape import data, ensemble, models, optim
from landscape import params as P
from landscape.connect import dss, dss_constrained, interpolate
from landscape.evaluate import Evaluator
from landscape.functional import FunctionalModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_finders(finders, run, repeats: int, device: torch.device):
    """Best-of-``repeats`` wall and CPU seconds of each finder; the last result of each."""
    times: dict[str, list[float]] = {name: [] for name in finders}
    cpu: dict[str, list[float]] = {name: [] for name in finders}
    results = {}
    for _ in range(repeats):
        for name, finder in finders.items():
            _sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            results[name] = run(finder)
            _sync(device)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return times, cpu, results


def digits_28(device: torch.device) -> data.Dataset:
    """The bundled digits at MNIST's shape: 8×8 images upsampled bilinearly to 28×28."""
    ds = data.digits(seed=0)

    def up(x: torch.Tensor) -> torch.Tensor:
        img = x.reshape(-1, 1, 8, 8)
        return F.interpolate(img, size=(28, 28), mode="bilinear", align_corners=False).flatten(1)

    return data.Dataset(
        "digits-28x28", up(ds.x_train), ds.y_train, up(ds.x_test), ds.y_test,
        "classification", 10, {"image_size": 28, "upsampled_from": 8},
    ).to(device)  # fmt: skip


def cnn_task(args, device: torch.device) -> None:
    """Greedy against constrained DSS on a CNN of CNN/MNIST's size (see the module docs)."""
    ds = digits_28(device)
    spec = models.CNNSpec(in_channels=1, image_size=28, channels=(8, 16), out_features=10)
    fm = FunctionalModel(models.build(spec, device=device), loss="cross_entropy")
    seeds = list(args.seeds)
    t0 = time.perf_counter()
    run = ensemble.train_ensemble(
        fm.loss,
        ensemble.stack_inits(lambda s: models.init_params(spec, s, device=device), seeds),
        ds.train,
        optim.Adam(lr=1e-2),
        epochs=args.cnn_epochs,
        batch_size=128,
        seeds=seeds,
    )
    a, b = P.unstack(run.params)
    _sync(device)
    trained = time.perf_counter() - t0
    objective = Evaluator.of_model(fm, ds.train)
    n_eval = min(args.cnn_eval, ds.x_test.shape[0])
    measure = Evaluator.of_model(
        fm, (ds.x_test[:n_eval], ds.y_test[:n_eval]), "error", name="test error"
    )
    ends = measure.points(P.stack([a, b]))
    print(
        f"task: {spec.describe()} ({P.num_params(a)} parameters), sklearn digits upsampled "
        f"to 28×28 ({ds.x_train.shape[0]} train), test error on {n_eval} test images"
    )
    print(
        f"endpoints (seeds {seeds[0]}, {seeds[1]}): test error {float(ends[0]):.4f}, "
        f"{float(ends[1]):.4f}  [trained together in {trained:.1f} s, {args.cnn_epochs} epochs]"
    )
    if float(ends.max()) > args.cnn_threshold:
        print(f"an endpoint is above L0 = {args.cnn_threshold}; CNN task skipped\n")
        return
    line = interpolate(objective, a, b, grid=args.grid, measure=measure)
    print(f"straight segment: max test error {float(line.measure.max()):.4f}")
    options = dict(
        optimizer=optim.Adam(lr=args.cnn_lr),
        grid=args.grid,
        measure=measure,
        batch_size=args.cnn_batch,
        check_every=10,
        seed=0,
    )
    finders = {"greedy DSS": dss, "constrained DSS": dss_constrained}
    for finder in finders.values():  # warm-up
        finder(objective, a, b, threshold=args.cnn_threshold, max_beads=1, max_steps=2, **options)
    times, cpu, results = _time_finders(
        finders,
        lambda f: f(
            objective, a, b, threshold=args.cnn_threshold, max_steps=args.cnn_max_steps, **options
        ),
        args.repeats,
        device,
    )
    print(
        f"\nCNN: L0 = {args.cnn_threshold} (test error), Adam lr {args.cnn_lr}, minibatch "
        f"{args.cnn_batch}, grid {args.grid}, device {device}, best of {args.repeats}"
    )
    print(f"{'method':<17}{'wall s':>8}{'cpu s':>8}{'beads':>7}{'steps':>7}{'length':>9}"
          f"{'len(W)':>9}{'max err':>9}  status")  # fmt: skip
    for name, r in results.items():
        print(
            f"{name:<17}{min(times[name]):>8.2f}{min(cpu[name]):>8.2f}{r.bead_count:>7}"
            f"{r.steps:>7}{r.length:>9.4f}{r.length_weights:>9.4f}{r.max_value:>9.4f}  {r.status}"
        )
    ratio = min(times["greedy DSS"]) / min(times["constrained DSS"])
    print(f"CNN ratio greedy/constrained wall time: {ratio:.2f}\n")


def train_endpoints(
    ds: data.Dataset,
    spec: models.MLPSpec,
    fm: FunctionalModel,
    seeds: list[int],
    device: torch.device | str = "cpu",
):
    """Two models from Freeman & Bruna's init (weights U[−1, 1], biases N(0, 1)), trained in one
    batched run: minibatch Adam, lr 3e-2 then 3e-3 (the endpoints only need to be well inside
    the level set; the path finders below use Freeman & Bruna's lr 1e-3)."""
    inits = ensemble.stack_inits(
        lambda s: models.init_params(spec, s, weight="uniform", bias="normal", device=device),
        seeds,
    )
    run = ensemble.train_ensemble(
        fm.loss,
        inits,
        ds.train,
        optim.Adam(lr=3e-2),
        epochs=40,
        batch_size=100,
        seeds=seeds,
        schedule=optim.make_schedule("step", lr=3e-2, gamma=0.1, step_size=30),
    )
    return P.unstack(run.params), run.final("train_loss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=0.05, help="L0 (MAE)")
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs=2, default=[1, 2], help="endpoint seeds")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam lr for the beads")
    parser.add_argument("--max-steps", type=int, default=5_000, help="per bead / per round")
    parser.add_argument("--batch-size", type=int, default=None, help="bead minibatch (none: full)")
    parser.add_argument("--grid", type=int, default=33)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-cnn", action="store_true", help="skip the CNN/MNIST-size task")
    parser.add_argument(
        "--cnn-threshold", type=float, default=0.06, help="L0 (test error; 0.06 needs beads)"
    )
    parser.add_argument("--cnn-epochs", type=int, default=8)
    parser.add_argument("--cnn-lr", type=float, default=1e-3, help="Adam lr for the CNN beads")
    parser.add_argument("--cnn-batch", type=int, default=128)
    parser.add_argument("--cnn-eval", type=int, default=200, help="test images checked")
    parser.add_argument("--cnn-max-steps", type=int, default=1_000, help="per bead / per round")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available here")
    if not args.no_cnn:
        cnn_task(args, device)

    ds = data.polynomial("cubic", n_train=args.n_train, n_test=1_000, seed=0).to(device)
    spec = models.MLPSpec(in_features=1, widths=(4, 4), out_features=1, activation="sigmoid")
    fm = FunctionalModel(models.build(spec, device=device), loss="mae")
    t0 = time.perf_counter()
    (a, b), losses = train_endpoints(ds, spec, fm, list(args.seeds), device)
    print(f"task: {spec.describe()}, cubic regression, {args.n_train} points, MAE")
    print(
        f"endpoints (seeds {args.seeds[0]}, {args.seeds[1]}): train MAE "
        f"{float(losses[0]):.4f}, {float(losses[1]):.4f}  [trained together in "
        f"{time.perf_counter() - t0:.1f} s]"
    )
    if float(losses.max()) > args.threshold:
        raise SystemExit(
            f"an endpoint's loss {float(losses.max()):.4f} is above L0 = {args.threshold}; "
            "raise --threshold or pick other --seeds"
        )
    objective = Evaluator.of_model(fm, ds.train)  # the training MAE: what beads descend
    line = interpolate(objective, a, b, grid=args.grid)
    print(
        f"straight segment: max MAE {float(line.loss.max()):.4f} at t = {line.argmax_t:.3f}, "
        f"barrier {line.barrier:.4f} (vs mean of ends {line.barrier_mean:.4f})"
    )

    options = dict(
        optimizer=optim.Adam(lr=args.lr),
        max_steps=args.max_steps,
        grid=args.grid,
        batch_size=args.batch_size,
    )
    finders = {"greedy DSS": dss, "constrained DSS": dss_constrained}
    # warm-up: the first vmap/grad traces of each code path are not what we measure
    for finder in finders.values():
        finder(
            objective, a, b, threshold=args.threshold, max_beads=1, **{**options, "max_steps": 2}
        )

    times, cpu, results = _time_finders(
        finders,
        lambda f: f(objective, a, b, threshold=args.threshold, **options),
        args.repeats,
        device,
    )

    batching = "full batch" if args.batch_size is None else f"minibatch {args.batch_size}"
    print(
        f"\nL0 = {args.threshold}, Adam lr {args.lr}, {batching}, grid {args.grid}, "
        f"threads {torch.get_num_threads()}, device {device}, best of {args.repeats}"
    )
    header = f"{'method':<17}{'wall s':>8}{'cpu s':>8}{'beads':>7}{'steps':>7}{'rounds':>8}"
    header += f"{'length':>9}{'len(W)':>9}{'max MAE':>9}  status"
    print(header)
    for name, r in results.items():
        print(
            f"{name:<17}{min(times[name]):>8.2f}{min(cpu[name]):>8.2f}{r.bead_count:>7}"
            f"{r.steps:>7}{r.depth:>8}{r.length:>9.4f}{r.length_weights:>9.4f}"
            f"{r.max_value:>9.4f}  {r.status}"
        )
    cpu_ratio = min(cpu["greedy DSS"]) / min(cpu["constrained DSS"])
    print(f"ratio greedy/constrained cpu time: {cpu_ratio:.2f}")
    ratio = min(times["greedy DSS"]) / min(times["constrained DSS"])
    print(f"ratio greedy/constrained wall time: {ratio:.2f}")


if __name__ == "__main__":
    main()
