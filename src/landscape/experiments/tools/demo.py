"""``landscape demo``: train a small digits MLP ensemble in one batched pass, keep the best.

Members are trained in chunks (tasks), each chunk one batched computation; every chunk is
recorded in the run store as it finishes, so an interrupted demo resumes. The best member
(highest test accuracy) is saved as a checkpoint in the run folder, per-epoch metrics go
to the store, and a figure of the training curves is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ... import checkpoint, data
from ...ensemble import train_ensemble
from ...functional import FunctionalModel
from ...models import MLPSpec, build, init_params
from ...optim import make_optimizer, make_schedule
from ...params import stack
from ...runtime.executor import Executor
from ...runtime.store import Store, task_key
from ...runtime.sweep import run_sweep
from .._base import ExperimentConfig, Result, resolve_device, torch_dtype

NAME = "demo"


class Config(ExperimentConfig):
    """Settings of the demo (see ``configs/demo/quick.yaml``)."""

    widths: list[int] = Field(default=[32], min_length=1)
    activation: Literal["relu", "sigmoid", "tanh", "quadratic", "linear"] = "relu"
    members: int = Field(default=4, ge=1)
    members_per_task: int = Field(default=2, ge=1)
    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=64, ge=1)
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = Field(default=0.01, gt=0)
    schedule: Literal["constant", "step", "exponential", "inverse"] = "constant"


@dataclass(frozen=True)
class ChunkTask:
    """Train members ``first .. first + count - 1``."""

    config: dict
    first: int
    count: int

    @property
    def key(self) -> str:
        return task_key(first=self.first, count=self.count)


def _dataset(cfg: Config) -> data.Dataset:
    return data.digits(seed=cfg.seed, dtype=torch_dtype(cfg.dtype))


def _spec(cfg: Config, ds: data.Dataset) -> MLPSpec:
    return MLPSpec(
        in_features=ds.in_features,
        widths=tuple(cfg.widths),
        out_features=ds.out_features,
        activation=cfg.activation,
    )


def train_chunk(task: ChunkTask) -> dict:
    """Train one chunk of members in one batched computation (runs in a worker)."""
    cfg = Config.model_validate(task.config)
    device, dtype = resolve_device(cfg.device), torch_dtype(cfg.dtype)
    ds = _dataset(cfg).to(device, dtype)
    spec = _spec(cfg, ds)
    seeds = [cfg.seed * 100_003 + task.first + i for i in range(task.count)]
    init = stack([init_params(spec, s, dtype=dtype, device=device) for s in seeds])
    fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="cross_entropy")
    res = train_ensemble(
        fm.loss,
        init,
        ds.train,
        make_optimizer(cfg.optimizer, cfg.lr),
        cfg.epochs,
        batch_size=min(cfg.batch_size, ds.x_train.shape[0]),
        seeds=seeds,
        schedule=make_schedule(
            cfg.schedule, lr=cfg.lr, gamma=0.5, step_size=max(1, cfg.epochs // 3)
        ),
        eval_data=ds.test,
        metrics=fm.metrics,
    )
    out: dict = {f"history.{k}": v.numpy() for k, v in res.history.items()}
    out.update({f"param.{k}": v.detach().cpu().numpy() for k, v in res.params.items()})
    out["seeds"] = np.asarray(seeds)
    out["diverged"] = res.diverged.numpy()
    return out


def run(cfg: Config, store: Store, run_id: str, executor: Executor) -> Result:
    """Train, record, save the best member, draw the curves."""
    from ...plots.training import training_curves

    n_tasks = -(-cfg.members // cfg.members_per_task)
    tasks = [
        ChunkTask(
            cfg.model_dump(mode="json"),
            i * cfg.members_per_task,
            min(cfg.members_per_task, cfg.members - i * cfg.members_per_task),
        )
        for i in range(n_tasks)
    ]
    results = run_sweep(store, run_id, executor, train_chunk, tasks, "training chunks")
    chunks = [results[t.key] for t in tasks]
    history = {
        k.removeprefix("history."): np.concatenate([c[k] for c in chunks], axis=1)
        for k in chunks[0]
        if k.startswith("history.")
    }
    seeds = np.concatenate([c["seeds"] for c in chunks])
    for epoch in range(history["train_loss"].shape[0]):
        store.log_metrics(
            run_id, {f"mean_{k}": float(np.mean(v[epoch])) for k, v in history.items()}, step=epoch
        )
    final_acc = history["test_accuracy"][-1]
    best = int(np.argmax(final_acc))
    chunk_of, offset = divmod(best, cfg.members_per_task)
    params = {
        k.removeprefix("param."): torch.as_tensor(v[offset])
        for k, v in chunks[chunk_of].items()
        if k.startswith("param.")
    }
    ds = _dataset(cfg)
    spec = _spec(cfg, ds)
    folder = store.folder(run_id)
    ckpt = checkpoint.save(
        folder / "best.ckpt",
        params,
        spec,
        meta={
            "data": {"name": "digits", "seed": cfg.seed},
            "loss": "cross_entropy",
            "seed": int(seeds[best]),
            "train_loss": float(history["train_loss"][-1, best]),
            "test_loss": float(history["test_loss"][-1, best]),
            "test_accuracy": float(final_acc[best]),
            "run_id": run_id,
        },
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
    fig = training_curves(history, title=f"{spec.describe()} on digits, {len(seeds)} seeds")
    png = folder / "training_curves.png"
    fig.savefig(png, dpi=120, bbox_inches="tight")
    # at the final step, beside that step's means (step 0 is the untrained ensemble)
    store.log_metrics(
        run_id,
        {
            "best_test_accuracy": float(final_acc[best]),
            "mean_test_accuracy": float(final_acc.mean()),
        },
        step=history["test_accuracy"].shape[0] - 1,
    )
    return Result(
        run_id=run_id,
        folder=folder,
        tables={f"{spec.describe()} on digits ({cfg.epochs} epochs, {cfg.optimizer})": rows},
        figures=[png],
        notes=[f"best member {best} (test acc {final_acc[best]:.3f}) saved to {ckpt}"],
        data={"checkpoint": ckpt, "history": history},
    )
