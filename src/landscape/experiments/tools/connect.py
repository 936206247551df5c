"""``landscape connect A.ckpt B.ckpt``: connect two trained models of one architecture.

Loads two checkpoints, optionally aligns B to A by weight matching (Ainsworth et al.
2022), and runs a path finder — greedy DSS, constrained DSS, a Bezier curve or the
straight line — below a threshold on the loss or the test error. Writes the profile
figure, a summary table, and the string of beads as a checkpoint series
(``string/bead_000.ckpt`` …) in the run folder.

Both models are evaluated on one data split, chosen symmetrically in A and B (swapping
them never changes it) and stated in the table: ``data_seed`` when given; else the split
the checkpoints record (``meta["data"]["seed"]`` for this dataset) when they record one
and the same; else ``seed``. A warning names the difference when the checkpoints'
recorded data differ.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from ... import checkpoint
from ..._errors import LandscapeError
from ...connect import Profile, align_and_interpolate, classification_error, find_path, interpolate
from ...optim import Adam
from ...params import unstack
from ...runtime.executor import Executor
from ...runtime.store import Store, task_key
from ...runtime.sweep import run_sweep
from .._base import ExperimentConfig, Result, load_checkpoint_with_data, torch_dtype

NAME = "connect"


class Config(ExperimentConfig):
    """What to connect and how."""

    a: str
    b: str
    data: Literal["digits", "mnist", "quadratic", "cubic", "teacher-student"]
    mnist_dir: str | None = None
    threshold: float = Field(gt=0)
    method: Literal["dss", "dss-constrained", "bezier", "linear"] = "dss"
    measure: Literal["loss", "error"] = "loss"
    align: bool = False
    alpha: float = Field(default=0.95, gt=0, lt=1)
    lr: float = Field(default=1e-3, gt=0)
    max_steps: int = Field(default=5000, ge=1)
    max_beads: int = Field(default=32, ge=1)
    grid: int = Field(default=33, ge=3)
    data_seed: int | None = Field(default=None, ge=0)
    """The split both checkpoints are evaluated on (default: see the module docs)."""


def _recorded(meta: dict) -> dict | None:
    data = meta.get("data") if isinstance(meta, dict) else None
    return data if isinstance(data, dict) else None


def evaluation_split(cfg: Config, meta_a: dict, meta_b: dict) -> tuple[int, str, str | None]:
    """The data split both checkpoints are evaluated on, symmetric in A and B.

    Returns:
        ``(seed, why, warning)``: the split's seed, how it was chosen (for the table), and a
        warning when the checkpoints' recorded data differ (else ``None``).
    """
    da, db = _recorded(meta_a), _recorded(meta_b)
    seeds = {
        int(d["seed"])
        for d in (da, db)
        if d is not None and d.get("name") == cfg.data and isinstance(d.get("seed"), int)
    }
    if cfg.data_seed is not None:
        seed, why = cfg.data_seed, "data_seed"
    elif len(seeds) == 1:
        seed = seeds.pop()
        why = "recorded by both checkpoints" if da == db else "recorded by one checkpoint"
    else:
        seed = cfg.seed
        why = "seed: the checkpoints record no common split"
    warning = None
    if da != db:
        warning = (
            f"the checkpoints record different data (A: {da}, B: {db}); both are evaluated "
            f"on {cfg.data} split seed={seed} ({why}); set data_seed=N to choose another"
        )
    return seed, why, warning


@dataclass(frozen=True)
class ConnectJob:
    config: dict

    @property
    def key(self) -> str:
        return task_key(job="connect")


def _load(cfg: Config):
    from ... import data

    cb = checkpoint.load(cfg.b)
    seed, _, _ = evaluation_split(cfg, checkpoint.load(cfg.a).meta, cb.meta)
    la = load_checkpoint_with_data(
        cfg.a, cfg.data, cfg.mnist_dir, seed, cfg.device, torch_dtype(cfg.dtype)
    )
    if la.dataset.meta.get("seed") != seed:  # the loader followed A's own record
        opts = {"directory": cfg.mnist_dir} if cfg.data == "mnist" else {}
        x = la.dataset.x_train
        ds = data.load(cfg.data, seed=seed, dtype=x.dtype, **opts).to(x.device)
        la = type(la)(la.checkpoint, ds, la.model, la.params)
    if cb.spec != la.checkpoint.spec:
        other = cb.spec.describe() if cb.spec is not None else "no spec"
        raise LandscapeError(
            f"the checkpoints have different architectures: {la.checkpoint.spec.describe()} "
            f"vs {other}"
        )
    b = {
        k: v.to(device=la.params[k].device, dtype=la.params[k].dtype) for k, v in cb.params.items()
    }
    return la.model, la.dataset, la.params, b


def connect_job(job: ConnectJob) -> dict:
    cfg = Config.model_validate(job.config)
    fm, ds, a, b = _load(cfg)
    measure, mdata, mname = None, None, None
    if cfg.measure == "error":
        if ds.task != "classification":
            raise LandscapeError("--measure error needs a classification dataset")
        measure, mdata, mname = classification_error(fm.forward), ds.test, "test error"
    out: dict = {}
    if cfg.align:
        report = align_and_interpolate(
            fm.loss, a, b, ds.train, measure=measure, measure_data=mdata, measure_name=mname
        )
        b = report.alignment.params
        pick = "barrier" if measure is None else "measure_barrier"
        out["barrier_before_align"] = float(getattr(report.before, pick))
        out["barrier_after_align"] = float(getattr(report.after, pick))
    options: dict = {
        "measure": measure,
        "measure_data": mdata,
        "measure_name": mname,
        "grid": cfg.grid,
    }
    if cfg.method != "linear":
        options.update(alpha=cfg.alpha, optimizer=Adam(lr=cfg.lr), seed=cfg.seed)
        if cfg.method == "bezier":
            options["steps"] = cfg.max_steps
        else:
            options.update(max_steps=cfg.max_steps, max_beads=cfg.max_beads)
    res = find_path(fm.loss, a, b, ds.train, cfg.threshold, method=cfg.method, **options)
    line = interpolate(
        fm.loss,
        a,
        b,
        ds.train,
        grid=cfg.grid,
        measure=measure,
        measure_data=mdata,
        measure_name=mname,
    )
    out.update({k: v for k, v in res.summary().items() if k != "measure"})
    out["measure"] = res.measure_name
    out["linear_barrier"] = float(line.barrier if measure is None else line.measure_barrier)
    for k, v in res.beads.items():
        out[f"bead.{k}"] = v.detach().cpu()
    out.update(res.profile.to_arrays())
    return out


def run(cfg: Config, store: Store, run_id: str, executor: Executor) -> Result:
    from ...plots.connect import plot_path_profile

    for path in (cfg.a, cfg.b):
        if not Path(path).is_file():
            raise LandscapeError(f"checkpoint not found: {path}")
    ca, cb = checkpoint.load(cfg.a), checkpoint.load(cfg.b)
    data_seed, why, warning = evaluation_split(cfg, ca.meta, cb.meta)
    if warning is not None:
        warnings.warn(warning, UserWarning, stacklevel=2)
    r = run_sweep(
        store,
        run_id,
        executor,
        connect_job,
        [ConnectJob(cfg.model_dump(mode="json"))],
        "connecting",
    )[ConnectJob({}).key]
    folder = store.folder(run_id)
    beads = {
        k.removeprefix("bead."): torch.as_tensor(v) for k, v in r.items() if k.startswith("bead.")
    }
    series = folder / "string"
    for i, bead in enumerate(unstack(beads)):
        checkpoint.save(
            series / f"bead_{i:03d}.ckpt",
            bead,
            ca.spec,
            meta={
                "run_id": run_id,
                "index": i,
                "method": cfg.method,
                "threshold": cfg.threshold,
                "loss": ca.meta.get("loss", "cross_entropy"),
                "data": {"name": cfg.data, "seed": data_seed},
            },
        )
    profile = Profile.from_arrays(r, r["measure"])
    fig = plot_path_profile(
        profile,
        threshold=cfg.threshold,
        title=f"{cfg.method}: {Path(cfg.a).name} → {Path(cfg.b).name} ({r['status']})",
    )
    png = folder / "profile.png"
    fig.savefig(png, dpi=120, bbox_inches="tight")
    summary = {
        k: r[k]
        for k in (
            "method",
            "threshold",
            "measure",
            "status",
            "bead_count",
            "max_value",
            "length",
            "length_weights",
            "steps",
        )
    }
    summary["evaluation data"] = f"{cfg.data} split seed={data_seed} ({why}), for A and B"
    summary["straight-line barrier"] = r["linear_barrier"]
    if cfg.align:
        summary["barrier before align"] = r["barrier_before_align"]
        summary["barrier after align"] = r["barrier_after_align"]
    store.log_metrics(
        run_id, {k: float(v) for k, v in summary.items() if isinstance(v, int | float)}
    )
    rows = [{"quantity": k, "value": v} for k, v in summary.items()]
    return Result(
        run_id=run_id,
        folder=folder,
        tables={"connection": rows},
        figures=[png],
        notes=[f"string of {len(unstack(beads))} points saved to {series}/"],
        data={"result": r},
    )
