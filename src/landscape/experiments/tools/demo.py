"""``landscape demo``: a small digits MLP trained from several seeds in one batched pass.

Not a reproduction but the first thing to run: members are trained in chunks (tasks), each
chunk one batched computation recorded as it finishes, so an interrupted demo resumes. The
table lists every member's final train and test loss and test accuracy; the best member
(highest test accuracy) is saved as ``best.ckpt`` in the run folder, ready for
``landscape inspect``, ``hessian`` and ``connect``; the figure shows the training curves.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field

from ... import data
from ...functional import FunctionalModel
from ...models import MLPSpec, build, init_params
from ...optim import make_optimizer, make_schedule
from .._base import ExperimentConfig, resolve_device, torch_dtype
from ..lifecycle import CheckpointArtifact, Results, Summary
from ..members import MembersProblem, chunks, gather

NAME = "demo"
TASKS_LABEL = "training chunks"


#: bounds checked before a run is recorded
MAX_MEMBERS = 100_000
MAX_WIDTH = 100_000
MAX_EPOCHS = 1_000_000


class Config(ExperimentConfig):
    """Settings of the demo (see ``configs/demo/quick.yaml``).

    Bounds: ``members`` 1..``MAX_MEMBERS`` (and at most ``members.MAX_TASKS`` tasks), each
    width 1..``MAX_WIDTH``, ``epochs`` 1..``MAX_EPOCHS``.
    """

    widths: list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]] = Field(
        default=[32], min_length=1, max_length=64
    )
    activation: Literal["relu", "sigmoid", "tanh", "quadratic", "linear"] = "relu"
    members: int = Field(default=4, ge=1, le=MAX_MEMBERS)
    members_per_task: int = Field(default=2, ge=1, le=MAX_MEMBERS)
    epochs: int = Field(default=20, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(default=64, ge=1)
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = Field(default=0.01, gt=0)
    schedule: Literal["constant", "step", "exponential", "inverse"] = "constant"


def _dataset(cfg: Config) -> data.Dataset:
    return data.digits(seed=cfg.seed, dtype=torch_dtype(cfg.dtype))


def _spec(cfg: Config, ds: data.Dataset) -> MLPSpec:
    return MLPSpec(
        in_features=ds.in_features,
        widths=tuple(cfg.widths),
        out_features=ds.out_features,
        activation=cfg.activation,
    )


def members_problem(cfg: Config, group: int) -> MembersProblem:
    """The digits MLP, its data and optimiser (one group: the ensemble)."""
    device, dtype = resolve_device(cfg.device), torch_dtype(cfg.dtype)
    ds = _dataset(cfg).to(device, dtype)
    spec = _spec(cfg, ds)
    fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="cross_entropy")
    return MembersProblem(
        init=lambda s: init_params(spec, s, dtype=dtype, device=device),
        loss=fm.loss,
        train=ds.train,
        optimizer=make_optimizer(cfg.optimizer, cfg.lr),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        schedule=make_schedule(
            cfg.schedule, lr=cfg.lr, gamma=0.5, step_size=max(1, cfg.epochs // 3)
        ),
        eval_data=ds.test,
        metrics=fm.metrics,
        keep=("history", "params"),
    )


def tasks(cfg: Config) -> list:
    return chunks(NAME, cfg.model_dump(mode="json"), 0, cfg.members, cfg.members_per_task)


def reduce(cfg: Config, results: Results) -> Summary:
    """Per-member table, per-epoch mean metrics, the best member as a checkpoint."""
    r = gather(results, 0)
    history = {k.removeprefix("history."): v for k, v in r.items() if k.startswith("history.")}
    seeds, final_acc = r["seeds"], history["test_accuracy"][-1]
    best = int(np.argmax(final_acc))
    spec = _spec(cfg, _dataset(cfg))
    last = history["test_accuracy"].shape[0] - 1
    metrics = [
        (epoch, {f"mean_{k}": float(np.mean(v[epoch])) for k, v in history.items()})
        for epoch in range(last + 1)
    ]
    # at the final step, beside that step's means (step 0 is the untrained ensemble)
    metrics.append(
        (
            last,
            {
                "best_test_accuracy": float(final_acc[best]),
                "mean_test_accuracy": float(final_acc.mean()),
            },
        )
    )
    rows = [
        {
            "member": i,
            "seed": int(seeds[i]),
            "train loss": float(history["train_loss"][-1, i]),
            "test loss": float(history["test_loss"][-1, i]),
            "test acc": float(final_acc[i]),
        }
        for i in range(len(seeds))
    ]
    meta = {
        "data": {"name": "digits", "seed": cfg.seed},
        "loss": "cross_entropy",
        "seed": int(seeds[best]),
        "train_loss": float(history["train_loss"][-1, best]),
        "test_loss": float(history["test_loss"][-1, best]),
        "test_accuracy": float(final_acc[best]),
    }
    params = {
        k.removeprefix("param."): torch.as_tensor(v[best])
        for k, v in r.items()
        if k.startswith("param.")
    }
    return Summary(
        tables={f"{spec.describe()} on digits ({cfg.epochs} epochs, {cfg.optimizer})": rows},
        notes=[f"best member {best} (test acc {final_acc[best]:.3f}) saved as best.ckpt"],
        metrics=metrics,
        checkpoints={"best.ckpt": CheckpointArtifact(params, spec, meta)},
        data={"history": history, "best": best, "spec": spec},
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    from ...plots.training import training_curves

    spec, history = summary.data["spec"], summary.data["history"]
    n = history["train_loss"].shape[1]
    fig = training_curves(history, title=f"{spec.describe()} on digits, {n} seeds")
    return {"training_curves": (fig, f"train/test loss and accuracy of {n} members per epoch")}
