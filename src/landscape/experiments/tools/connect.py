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

The table gives the method, threshold and measure, whether the models were connected, the
bead count, the highest value along the path, its normalized geodesic length (all
parameters and weights only), the optimiser steps, the evaluation data, the straight
line's barrier, and with ``--align`` the barrier before and after weight matching.

Every model spec works: MLPs, the small CNNs (``--align`` permutes their channels) and the
LSTM language model (``--data ptb --data-dir DIR --measure perplexity``; it cannot be
aligned, and ``--align`` says so). ``--data mnist|cifar10|ptb`` read the user's files from
``--data-dir``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field, model_validator

from ... import checkpoint
from ..._errors import LandscapeError
from ..._validate import check_file
from ...connect import Profile, align_and_interpolate, find_path, interpolate
from ...data import DatasetName
from ...evaluate import Evaluator
from ...optim import Adam
from ...params import unstack
from ...runtime.store import task_key
from .._base import (
    ExperimentConfig,
    data_folder_rules,
    data_options,
    load_checkpoint_with_data,
    one_data_folder,
    refuse_unused,
    torch_dtype,
)
from ..lifecycle import CheckpointArtifact, Results, Summary

NAME = "connect"


class Config(ExperimentConfig):
    """What to connect and how."""

    a: str
    b: str
    data: DatasetName
    data_dir: str | None = None
    """The folder of the user's files for ``mnist``, ``cifar10`` and ``ptb``."""
    mnist_dir: str | None = None
    """Older name of ``data_dir`` for ``mnist`` (used when ``data_dir`` is not given)."""
    threshold: float = Field(gt=0)
    method: Literal["dss", "dss-constrained", "bezier", "linear"] = "dss"
    measure: Literal["loss", "error", "perplexity"] = "loss"
    """Thresholded quantity: the training loss, the test error (classifiers) or the test
    perplexity (language models, ``--data ptb``)."""
    align: bool = False
    alpha: float = Field(default=0.95, gt=0, lt=1)
    lr: float = Field(default=1e-3, gt=0)
    max_steps: int = Field(default=5000, ge=1)
    max_beads: int = Field(default=32, ge=1)
    grid: int = Field(default=33, ge=3)
    data_seed: int | None = Field(default=None, ge=0)
    """The split both checkpoints are evaluated on (default: see the module docs)."""

    @model_validator(mode="after")
    def _applies(self) -> Config:
        trained = self.method != "linear"
        refuse_unused(
            self,
            {
                **data_folder_rules(self.data),
                "alpha": (trained, "to --method dss, dss-constrained or bezier"),
                "lr": (trained, "to --method dss, dss-constrained or bezier"),
                "max_steps": (trained, "to --method dss, dss-constrained or bezier"),
                "max_beads": (self.method in ("dss", "dss-constrained"), "to the DSS methods"),
            },
        )
        one_data_folder(self.data_dir, self.mnist_dir)
        return self


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
class ConnectTask:
    """Align (optionally), find the path, scan the straight line: one task."""

    config: dict

    @property
    def key(self) -> str:
        return task_key(job="connect")

    def run(self) -> dict:
        return connect_job(self)


def check(cfg: Config) -> None:
    """Both checkpoints exist; say (once, before the run) when their data records differ."""
    for path in (cfg.a, cfg.b):
        check_file(path, "checkpoint")
    _, _, warning = evaluation_split(cfg, checkpoint.load(cfg.a).meta, checkpoint.load(cfg.b).meta)
    if warning is not None:
        warnings.warn(warning, UserWarning, stacklevel=2)


def tasks(cfg: Config) -> list:
    return [ConnectTask(cfg.model_dump(mode="json"))]


def _load(cfg: Config):
    from ... import data

    cb = checkpoint.load(cfg.b)
    seed, _, _ = evaluation_split(cfg, checkpoint.load(cfg.a).meta, cb.meta)
    folder = cfg.data_dir or cfg.mnist_dir
    la = load_checkpoint_with_data(
        cfg.a, cfg.data, folder, seed, cfg.device, torch_dtype(cfg.dtype)
    )
    if la.dataset.meta.get("seed") != seed:  # the loader followed A's own record
        rec = _recorded(la.checkpoint.meta) or {}
        rec = rec if rec.get("name") == cfg.data else {}
        opts = data_options(la.checkpoint.spec, cfg.data, folder, rec)
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


def connect_job(job: ConnectTask) -> dict:
    cfg = Config.model_validate(job.config)
    fm, ds, a, b = _load(cfg)
    objective, measure = Evaluator.of_model(fm, ds.train), None
    if cfg.measure == "error":
        if ds.task != "classification":
            raise LandscapeError("--measure error needs a classification dataset")
        measure = Evaluator.of_model(fm, ds.test, "error", name="test error")
    elif cfg.measure == "perplexity":
        if ds.task != "language-model":
            raise LandscapeError(
                f"--measure perplexity needs a language model on --data ptb, got {cfg.data} "
                f"({ds.task}); use --measure loss or error"
            )
        measure = Evaluator.of_model(fm, ds.test, "perplexity", name="test perplexity")
    out: dict = {}
    pick = "barrier" if measure is None else "measure_barrier"
    if cfg.align:
        spec = checkpoint.load(cfg.a).spec
        report = align_and_interpolate(objective, a, b, measure=measure, spec=spec)
        b = report.alignment.params
        out["barrier_before_align"] = float(getattr(report.before, pick))
        out["barrier_after_align"] = float(getattr(report.after, pick))
    options: dict = {"measure": measure, "grid": cfg.grid}
    if cfg.method != "linear":
        options.update(alpha=cfg.alpha, optimizer=Adam(lr=cfg.lr), seed=cfg.seed)
        if cfg.method == "bezier":
            options["steps"] = cfg.max_steps
        else:
            options.update(max_steps=cfg.max_steps, max_beads=cfg.max_beads)
    res = find_path(objective, a, b, threshold=cfg.threshold, method=cfg.method, **options)
    line = interpolate(objective, a, b, grid=cfg.grid, measure=measure)
    out.update({k: v for k, v in res.summary().items() if k != "measure"})
    out["measure"] = res.measure_name
    out["linear_barrier"] = float(getattr(line, pick))
    for k, v in res.beads.items():
        out[f"bead.{k}"] = v.detach().cpu()
    out.update(res.profile.to_arrays())
    return out


_SUMMARY = (
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


def reduce(cfg: Config, results: Results) -> Summary:
    """The connection table; the string of beads as checkpoints ``string/bead_000.ckpt`` …"""
    r = results[0][1]
    ca = checkpoint.load(cfg.a)
    data_seed, why, warning = evaluation_split(cfg, ca.meta, checkpoint.load(cfg.b).meta)
    beads = {
        k.removeprefix("bead."): torch.as_tensor(v) for k, v in r.items() if k.startswith("bead.")
    }
    meta = {
        "method": cfg.method,
        "threshold": cfg.threshold,
        "loss": ca.meta.get("loss", "cross_entropy"),
        "data": {"name": cfg.data, "seed": data_seed},
    }
    string = {
        f"string/bead_{i:03d}.ckpt": CheckpointArtifact(bead, ca.spec, {**meta, "index": i})
        for i, bead in enumerate(unstack(beads))
    }
    summary = {k: r[k] for k in _SUMMARY}
    summary["evaluation data"] = f"{cfg.data} split seed={data_seed} ({why}), for A and B"
    summary["straight-line barrier"] = r["linear_barrier"]
    if cfg.align:
        summary["barrier before align"] = r["barrier_before_align"]
        summary["barrier after align"] = r["barrier_after_align"]
    return Summary(
        tables={"connection": [{"quantity": k, "value": v} for k, v in summary.items()]},
        notes=[
            *([f"warning: {warning}"] if warning else []),
            f"string of {len(string)} points saved to string/ in the run folder",
        ],
        metrics=[(0, {k: float(v) for k, v in summary.items() if isinstance(v, int | float)})],
        checkpoints=string,
        data={"result": r},
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    from ...plots.connect import plot_path_profile

    r = summary.data["result"]
    fig = plot_path_profile(
        Profile.from_arrays(r, r["measure"]),
        threshold=cfg.threshold,
        title=f"{cfg.method}: {Path(cfg.a).name} → {Path(cfg.b).name} ({r['status']})",
    )
    return {"profile": (fig, f"{r['measure']} along the path found, with the threshold L0")}
