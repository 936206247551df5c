"""``landscape plane CKPT --data NAME``: the loss surface around a trained model.

Li, Xu, Taylor, Studer & Goldstein 2018, *Visualizing the Loss Landscape of Neural Nets*.
The plane ``L(θ + α d₁ + β d₂)`` through a checkpoint, along filter-normalised random
directions (default), the top two PCA directions of a training trajectory (``--trajectory
DIR``), the top (or bottom) Hessian eigenvectors, or the plane through three models
(``--second B.ckpt --third C.ckpt``: two endpoints and a Bezier control point, a DSS bead or
any third checkpoint). ``--zoom 1,0.1,0.01`` draws the same directions at several ranges.

The run is resumable: the directions are one task, every block of ``rows_per_task`` grid
rows of every zoom level another, recorded as they finish (a killed 101×101 grid resumes
with nothing recomputed), and the blocks can be spread over the executor (``--executor
process`` or ``ray``). The run folder holds ``surface.npz`` (``alpha``, ``beta``, ``loss``,
``error``; ``surface_z1.npz`` … for further zoom levels) and ``directions.pt`` (a landscape
checkpoint with the directions keyed ``alpha.<name>`` / ``beta.<name>``, read with
:func:`landscape.surface.load_directions`), so any grid point can be recomputed.

The table has one row per zoom range: the loss at the centre, the minimum and maximum over
the grid, the mean loss at the grid's edge along the axes, and the fraction of interior grid
points where the surface curves down (a negative eigenvalue of its finite-difference 2×2
Hessian). A second table gives the directions (kind, normalisation, cosine, explained
variance or eigenvalues) and the trajectory's projection residual.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator

from ..._errors import LandscapeError
from ..._validate import check_file
from ...data import DatasetName
from ...params import stack
from ...runtime.store import task_key
from ...surface import (
    Directions,
    Surface,
    evaluate_coefficients,
    hessian_directions,
    pca_directions,
    project_trajectory,
    random_directions,
    three_model_plane,
)
from ...surface.directions import load_trajectory
from ...surface.grid import check_defined, directions_payload
from .._base import (
    ExperimentConfig,
    data_folder_rules,
    load_checkpoint_with_data,
    refuse_unused,
    torch_dtype,
)
from ..lifecycle import CheckpointArtifact, Results, Summary

NAME = "plane"
TASKS_LABEL = "directions"
MORE_LABEL = "grid rows"


#: the largest grid range (a float32 grid beyond it is inf − inf; no landscape lives there)
MAX_RANGE = 1e30


class Config(ExperimentConfig):
    """What to slice and how.

    Attributes:
        checkpoint: the centre ``θ`` (and the first model of a three-model plane).
        data, mnist_dir, split, n_samples: the dataset (first ``n_samples`` rows if given).
        directions: ``random`` (seeded Gaussian, normalised by ``norm``), ``pca`` (needs
            ``trajectory``), ``hessian`` (``hessian_which`` eigenvectors) or ``three`` (needs
            ``second`` and ``third``).
        norm, one_d, orthogonalize: random directions' normalisation (filter, layer, model,
            none), 1-D tensors zeroed or scaled, second direction orthogonalised.
        trajectory: folder of checkpoints, projected onto the plane and drawn.
        range, steps: the grid ``[−range, range]`` with ``steps`` points per axis.
        zoom: ranges to draw the same directions at (overrides ``range``; a comma list).
        bn, bn_batches: batch norm in eval mode or re-estimated at every point.
        measure: what the pictures show (``loss`` or ``error``).
        rows_per_task: grid rows per recorded task.
        memory_mb, chunk_size: memory bounds of one vmapped pass.
    """

    checkpoint: str
    data: DatasetName
    mnist_dir: str | None = None
    split: Literal["train", "test"] = "train"
    n_samples: int | None = Field(default=None, ge=1)
    directions: Literal["random", "pca", "hessian", "three"] = "random"
    norm: Literal["filter", "layer", "model", "none"] = "filter"
    one_d: Literal["zero", "scale"] = "zero"
    orthogonalize: bool = False
    hessian_which: Literal["top", "bottom", "top-bottom"] = "top"
    trajectory: str | None = None
    second: str | None = None
    third: str | None = None
    range: float = Field(default=1.0, gt=0, le=MAX_RANGE)
    steps: int = Field(default=21, ge=2, le=1001)
    zoom: list[float] | None = None
    bn: Literal["eval", "recompute"] = "eval"
    bn_batches: int = Field(default=10, ge=1)
    measure: Literal["loss", "error"] = "loss"
    rows_per_task: int = Field(default=8, ge=1)
    memory_mb: float = Field(default=64.0, gt=0)
    chunk_size: int | None = Field(default=4096, ge=1)

    @field_validator("zoom", mode="before")
    @classmethod
    def _zoom(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                return [float(s) for s in v.split(",") if s.strip()]
            except ValueError:
                raise ValueError(
                    f"zoom={v!r} is not a comma list of numbers like 1,0.1,0.01"
                ) from None
        if isinstance(v, int | float):
            return [float(v)]
        return v

    @model_validator(mode="after")
    def _needs(self) -> Config:
        if self.zoom is not None and (
            not self.zoom or any(not 0 < r <= MAX_RANGE for r in self.zoom)
        ):
            raise ValueError(f"zoom must list ranges in (0, {MAX_RANGE:g}], got {self.zoom}")
        if self.directions == "pca" and not self.trajectory:
            raise ValueError("directions 'pca' needs trajectory (a folder of checkpoints)")
        if self.directions == "three" and not (self.second and self.third):
            raise ValueError("directions 'three' needs second and third (two more checkpoints)")
        if self.zoom is not None and self.range != 1.0:
            raise ValueError("give range or zoom, not both (zoom lists the ranges to draw)")
        random = self.directions == "random"
        refuse_unused(
            self,
            {
                **data_folder_rules(self.data, ("mnist_dir",)),
                "second": (self.directions == "three", "with --directions three"),
                "third": (self.directions == "three", "with --directions three"),
                "hessian_which": (self.directions == "hessian", "with --directions hessian"),
                "norm": (random, "with --directions random"),
                "one_d": (random, "with --directions random"),
                "orthogonalize": (random, "with --directions random"),
                "bn_batches": (self.bn == "recompute", "with --bn recompute"),
            },
        )
        return self

    @property
    def ranges(self) -> list[float]:
        return list(self.zoom) if self.zoom else [self.range]


def _k(experiment: str) -> int:
    return 1 if experiment == "line" else 2


@dataclass(frozen=True)
class DirectionsTask:
    """Compute the directions (and project the trajectory): the run's first task."""

    experiment: str
    config: dict

    @property
    def key(self) -> str:
        return task_key(job="directions")

    def run(self) -> dict:
        return directions_job(self.experiment, Config.model_validate(self.config))


@dataclass(frozen=True)
class RowsTask:
    """Grid rows ``first .. first + count − 1`` of zoom level ``level``."""

    experiment: str
    config: dict
    level: int
    first: int
    count: int
    vectors: dict  # "alpha.<name>" / "beta.<name>" -> numpy array

    @property
    def key(self) -> str:
        return task_key(level=self.level, rows=self.first)

    def record(self) -> dict:
        return {"level": self.level, "first": self.first, "count": self.count}

    def run(self) -> dict:
        return rows_job(self)


def _setup(cfg: Config):
    la = load_checkpoint_with_data(
        cfg.checkpoint, cfg.data, cfg.mnist_dir, cfg.seed, cfg.device, torch_dtype(cfg.dtype)
    )
    x, y = la.dataset.train if cfg.split == "train" else la.dataset.test
    if cfg.n_samples is not None:
        x, y = x[: cfg.n_samples], y[: cfg.n_samples]
    return la, (x, y)


def check(cfg: Config) -> None:
    """Every checkpoint named exists and the data fits, before a run is recorded."""
    for path in (cfg.checkpoint, cfg.second, cfg.third):
        if path is not None:
            check_file(path, "checkpoint")
    if cfg.trajectory is not None and not Path(cfg.trajectory).is_dir():
        raise LandscapeError(f"trajectory folder not found: {cfg.trajectory}")
    la, _ = _setup(cfg)
    if cfg.bn == "recompute" and not any(
        isinstance(m, torch.nn.modules.batchnorm._NormBase) for m in la.model.module.modules()
    ):
        raise LandscapeError(
            f"--bn recompute does nothing here: {Path(cfg.checkpoint).name} has no BatchNorm "
            "layer whose statistics could be re-estimated"
        )


def _same(la, other: dict, path: str) -> dict:
    if list(other) != list(la.params) or any(
        other[k].shape != la.params[k].shape for k in la.params
    ):
        raise LandscapeError(
            f"{path} is not the same architecture as {la.checkpoint.spec.describe()}"
        )
    return {k: v.to(la.params[k]) for k, v in other.items()}


def make_directions(experiment: str, cfg: Config, la, batch) -> Directions:
    """The directions the config asks for, at the checkpoint's parameters."""
    from ... import checkpoint

    k = _k(experiment)
    if cfg.directions == "random":
        return random_directions(la.params, k, cfg.seed, cfg.norm, cfg.one_d, cfg.orthogonalize)
    if cfg.directions == "pca":
        traj = [_same(la, p, cfg.trajectory) for p in load_trajectory(cfg.trajectory)]
        return pca_directions(traj, final=la.params)
    if cfg.directions == "hessian":
        return hessian_directions(
            la.model, la.params, batch, cfg.hessian_which, cfg.seed, chunk_size=cfg.chunk_size
        )
    if experiment == "line":
        raise LandscapeError("directions 'three' makes a plane; use landscape plane")
    b = _same(la, checkpoint.load(cfg.second).params, cfg.second)
    c = _same(la, checkpoint.load(cfg.third).params, cfg.third)
    return three_model_plane(la.params, b, c)


def directions_job(experiment: str, cfg: Config) -> dict:
    la, batch = _setup(cfg)
    d = make_directions(experiment, cfg, la, batch)
    out: dict[str, Any] = {
        f"vec.{k}": v.numpy() for k, v in directions_payload(d).items() if v is not None
    }
    out["kind"] = d.kind
    out["info"] = {k: v for k, v in d.info.items() if isinstance(v, int | float | str | list)}
    out["points"] = {k: list(v) for k, v in d.points.items() if k != "trajectory"}
    out["num_params"] = int(sum(v.numel() for v in la.params.values()))
    out["samples"] = int(batch[0].shape[0])
    if cfg.trajectory is not None:
        traj = [_same(la, p, cfg.trajectory) for p in load_trajectory(cfg.trajectory)]
        if d.kind == "pca":
            coords = np.asarray(d.points["trajectory"])
            residual = np.zeros(len(traj))
        else:
            proj = project_trajectory(traj, la.params, d.vectors)
            coords, residual = proj.coords, proj.residual
        from ...evaluate import Evaluator

        ev = Evaluator.of_model(la.model, batch, chunk_size=cfg.chunk_size)
        out["trajectory"] = coords
        out["trajectory_residual"] = residual
        out["trajectory_loss"] = ev.points(stack(traj)).double().cpu().numpy()
    return out


def _vectors(vec: dict, like: dict) -> list[dict]:
    out = []
    for label in ("alpha", "beta"):
        d = {k: torch.as_tensor(vec[f"{label}.{k}"]) for k in like if f"{label}.{k}" in vec}
        if d:
            out.append({k: v.to(like[k]) for k, v in d.items()})
    return out


def _axis(cfg: Config, level: int) -> np.ndarray:
    r = cfg.ranges[level]
    return np.linspace(-r, r, cfg.steps)


def rows_job(task: RowsTask) -> dict:
    cfg = Config.model_validate(task.config)
    la, batch = _setup(cfg)
    vs = _vectors(task.vectors, la.params)
    axis = _axis(cfg, task.level)
    rows = axis[task.first : task.first + task.count]
    if len(vs) == 1:
        coeffs = rows[:, None]
    else:
        coeffs = np.stack(np.meshgrid(rows, axis, indexing="ij"), -1).reshape(-1, 2)
    x, y = la.dataset.train
    res = evaluate_coefficients(
        la.model,
        la.params,
        vs,
        coeffs,
        batch,
        bn=cfg.bn,
        bn_data=(x, y),
        bn_batches=cfg.bn_batches,
        chunk_size=cfg.chunk_size,
        memory_mb=cfg.memory_mb,
    )
    shape = (len(rows),) if len(vs) == 1 else (len(rows), len(axis))
    out = {"loss": res["loss"].reshape(shape), "factored": res["factored"]}
    if res["error"] is not None:
        out["error"] = res["error"].reshape(shape)
    out["points_per_pass"] = res["points_per_pass"]
    return out


def make_tasks(experiment: str, cfg: Config) -> list:
    return [DirectionsTask(experiment, cfg.model_dump(mode="json"))]


def next_tasks(experiment: str, cfg: Config, results: Results) -> list:
    if any(isinstance(t, RowsTask) for t, _ in results):
        return []
    r = results[0][1]
    vec = {k.removeprefix("vec."): v for k, v in r.items() if k.startswith("vec.")}
    conf = cfg.model_dump(mode="json")
    return [
        RowsTask(experiment, conf, level, first, min(cfg.rows_per_task, cfg.steps - first), vec)
        for level in range(len(cfg.ranges))
        for first in range(0, cfg.steps, cfg.rows_per_task)
    ]


def tasks(cfg: Config) -> list:
    """The directions first; the grid rows follow (:func:`more_tasks`)."""
    return make_tasks(NAME, cfg)


def more_tasks(cfg: Config, results: Results) -> list:
    """Every block of grid rows of every zoom level, once the directions are known."""
    return next_tasks(NAME, cfg, results)


def surfaces_of(cfg: Config, results: Results) -> tuple[dict, list[Surface]]:
    """The directions task's result and one :class:`Surface` per zoom level."""
    d = results[0][1]
    info = {**d["info"], "kind": d["kind"]}
    dirs = Directions((), d["kind"], info=info, points=d.get("points", {}))
    out = []
    for level in range(len(cfg.ranges)):
        parts = sorted(
            ((t.first, r) for t, r in results if isinstance(t, RowsTask) and t.level == level),
            key=lambda p: p[0],
        )
        loss = np.concatenate([np.asarray(r["loss"]) for _, r in parts])
        has_err = all("error" in r for _, r in parts)
        err = np.concatenate([np.asarray(r["error"]) for _, r in parts]) if has_err else None
        axis = _axis(cfg, level)
        beta = axis if loss.ndim == 2 else None
        meta = {
            "range": cfg.ranges[level],
            "factored": bool(parts[0][1]["factored"]),
            "points_per_pass": int(parts[0][1]["points_per_pass"]),
        }
        out.append(Surface(axis, beta, loss, err, dirs, {}, meta))
    return d, out


def curvature_fraction(loss: np.ndarray) -> float:
    """Fraction of interior grid points where the 2×2 finite-difference Hessian of the
    surface has a negative eigenvalue (the surface curves down), NaN without interior.

    Points whose 3×3 stencil holds a NaN or inf loss are left out (NaN if none is left)."""
    z = np.asarray(loss, dtype=np.float64)
    if z.ndim != 2 or min(z.shape) < 3:
        return float("nan")
    with np.errstate(invalid="ignore", over="ignore"):
        zaa = z[2:, 1:-1] - 2 * z[1:-1, 1:-1] + z[:-2, 1:-1]
        zbb = z[1:-1, 2:] - 2 * z[1:-1, 1:-1] + z[1:-1, :-2]
        zab = (z[2:, 2:] - z[2:, :-2] - z[:-2, 2:] + z[:-2, :-2]) / 4
        lam_min = (zaa + zbb) / 2 - np.sqrt(((zaa - zbb) / 2) ** 2 + zab**2)
    finite = np.isfinite(z)
    ok = np.ones_like(lam_min, dtype=bool)
    for da in (0, 1, 2):
        for db in (0, 1, 2):
            ok &= finite[da : da + z.shape[0] - 2, db : db + z.shape[1] - 2]
    if not ok.any():
        return float("nan")
    scale = max(np.abs(z[finite]).max(), 1e-300)
    return float(np.mean(lam_min[ok] < -1e-9 * scale))


def level_row(s: Surface) -> dict:
    """One row of the table for one zoom level."""
    z = s.loss
    mid = len(s.alpha) // 2
    centre = float(z[mid, mid] if z.ndim == 2 else z[mid])
    if z.ndim == 2:
        edge = float(np.mean([z[0, mid], z[-1, mid], z[mid, 0], z[mid, -1]]))
    else:
        edge = float(np.mean([z[0], z[-1]]))
    finite = z[np.isfinite(z)]
    row = {
        "range": s.meta["range"],
        "steps": len(s.alpha),
        "loss at centre": centre,
        "min loss": float(finite.min()),  # over the finite points (check_defined: some are)
        "max loss": float(finite.max()),
        "mean loss at edge (axes)": edge,
        "non-finite points": int(z.size - finite.size),
    }
    if z.ndim == 2:
        row["fraction curving down"] = curvature_fraction(z)
    if s.error is not None:
        row["min error"] = float(np.nanmin(s.error))
    return row


def summarize(experiment: str, cfg: Config, results: Results) -> Summary:
    from ... import checkpoint

    d, surfaces = surfaces_of(cfg, results)
    for s in surfaces:
        check_defined(s.loss)
    rows = [level_row(s) for s in surfaces]
    bad = [
        f"note: {r['non-finite points']} of {np.size(s.loss)} points at range {r['range']:g} "
        "have a NaN or inf loss (the model overflows there); they are left out of the "
        "picture's levels"
        for r, s in zip(rows, surfaces, strict=True)
        if r["non-finite points"]
    ]
    info = [
        {"quantity": "parameters P", "value": d["num_params"]},
        {"quantity": "samples", "value": d["samples"]},
        {"quantity": "directions", "value": d["kind"]},
        {"quantity": "first layer factored", "value": str(surfaces[0].meta["factored"])},
        {"quantity": "grid points per pass", "value": surfaces[0].meta["points_per_pass"]},
        {"quantity": "batch norm", "value": cfg.bn},
    ]
    for k, v in d["info"].items():
        info.append({"quantity": k, "value": v if isinstance(v, int | float | str) else str(v)})
    for name, (a, b) in d.get("points", {}).items():
        info.append({"quantity": f"model {name} at (α, β)", "value": f"({a:.6g}, {b:.6g})"})
    if "trajectory" in d:
        info.append(
            {
                "quantity": "trajectory residual (max, relative)",
                "value": float(np.max(d["trajectory_residual"])),
            }
        )
    arrays = {}
    for i, s in enumerate(surfaces):
        a = s.arrays()
        if "trajectory" in d:
            a.update(
                trajectory=np.asarray(d["trajectory"]),
                trajectory_loss=np.asarray(d["trajectory_loss"]),
                trajectory_residual=np.asarray(d["trajectory_residual"]),
            )
        arrays["surface" if i == 0 else f"surface_z{i}"] = a
    vec = {k.removeprefix("vec."): torch.as_tensor(v) for k, v in d.items() if k.startswith("vec.")}
    spec = checkpoint.load(cfg.checkpoint).spec
    meta = {
        "kind": d["kind"],
        "centre": str(cfg.checkpoint),
        "data": {"name": cfg.data, "split": cfg.split},
        "spec": None if spec is None else spec.model_dump(mode="json"),
    }
    return Summary(
        tables={f"{experiment} of {Path(cfg.checkpoint).name}": rows, "directions": info},
        notes=[
            *bad,
            "directions.pt holds the directions (alpha.<name>, beta.<name>): "
            "θ + α d_alpha + β d_beta recomputes any grid point of surface.npz",
        ],
        metrics=[
            (i, {k: v for k, v in r.items() if isinstance(v, float)}) for i, r in enumerate(rows)
        ],
        arrays=arrays,
        checkpoints={"directions.pt": CheckpointArtifact(vec, None, meta)},
        data={"surfaces": surfaces, "directions": d},
    )


def reduce(cfg: Config, results: Results) -> Summary:
    """The zoom-level table, the directions table, ``surface.npz``, ``directions.pt``."""
    return summarize(NAME, cfg, results)


def draw(experiment: str, cfg: Config, summary: Summary) -> dict:
    from ...plots.surface import plot_contour, plot_line, plot_panels, plot_surface_3d

    surfaces: list[Surface] = summary.data["surfaces"]
    d = summary.data["directions"]
    m = cfg.measure if surfaces[0].error is not None else "loss"
    name = Path(cfg.checkpoint).name
    out: dict[str, Any] = {}
    if not surfaces[0].is_plane:
        fig = plot_line(
            {f"range ±{s.meta['range']:g}": s for s in surfaces}
            if len(surfaces) > 1
            else surfaces[0],
            measure=m,
            title=f"{m} along {d['kind']} direction through {name}",
        )
        return {"line": (fig, f"{m} along the line through the checkpoint")}
    s0 = surfaces[0]
    traj = np.asarray(d["trajectory"]) if "trajectory" in d else None
    pts = d.get("points") or None
    out["contour"] = (
        plot_contour(
            s0,
            m,
            filled=True,
            trajectory=traj,
            points=pts,
            title=f"{m} on the {d['kind']} plane through {name}",
        ),
        "filled contour of the plane, centre starred",
    )
    out["contour_lines"] = (
        plot_contour(s0, m, filled=False, trajectory=traj, points=pts, title=f"{m} contours"),
        "contour lines of the plane",
    )
    out["surface_3d"] = (plot_surface_3d(s0, m, title=f"{m} surface"), "the plane in 3-D")
    if len(surfaces) > 1:
        out["zoom"] = (
            plot_panels(
                {f"range ±{s.meta['range']:g}": s for s in surfaces},
                m,
                title=f"{m} around {name} at {len(surfaces)} zoom levels",
            ),
            "the same directions at every zoom range",
        )
    from ...plots.surface import surface_html

    html = surface_html(s0, title=f"{m} on the {d['kind']} plane through {name}")
    if html is not None:  # plotly installed: the interactive view (hover: α, β, loss, error)
        out["surface"] = (
            html,
            "interactive view: contour and rotatable 3-D surface, hover for α, β, values",
        )
    return out


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    """Filled contour (with trajectory / models), contour lines, 3-D, zoom panel."""
    return draw(NAME, cfg, summary)
