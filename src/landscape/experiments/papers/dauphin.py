"""``landscape reproduce dauphin``: critical points of a network, their index and their loss.

Dauphin, Pascanu, Gulcehre, Cho, Ganguli & Bengio 2014, *Identifying and attacking the
saddle point problem in high-dimensional non-convex optimization*, Fig. 1: critical
points of a small MLP's training loss, found by a Newton-type method started from points
along SGD trajectories (and from the random initialisations themselves), have an index
fraction α (negative Hessian eigenvalues / P) that grows with their loss: the high-loss
critical points are saddles, the low-loss ones are (near-)minima.

Each (run, snapshot, target index k) is a task: train the run to the snapshot epoch
(deterministic), follow the Hessian's eigenvectors from there toward a critical point of
index k (Newton's step with the k lowest modes flipped), and compute the exact index of
the end point from its dense Hessian — measured, not assumed. Points that did not reach
``‖∇L‖ ≤ grad_tol`` at their target index are kept and shown (with why), but never called
critical. The Newton-type finders that are attracted to any nearby critical point can be
used instead (``finder``).

The table lists every search (run, start epoch, target, start and end loss, ``‖∇L‖``,
critical or why not, measured index and α), critical points first by decreasing α; the
note gives Spearman's ρ between α and the loss over the critical points (Dauphin et al.:
close to 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ... import data
from ...curvature import dense_hessian, exact_index, find_critical_point
from ...ensemble import train_ensemble
from ...functional import FunctionalModel
from ...models import MLPSpec, build, init_params
from ...optim import SGD
from ...params import Params, stack, unstack
from ...runtime.store import task_key
from .._base import ExperimentConfig, resolve_device
from ..lifecycle import Results, Summary

NAME = "dauphin"
TASKS_LABEL = "critical points"


class Config(ExperimentConfig):
    """Settings (presets in ``configs/dauphin/{quick,full}.yaml``).

    Attributes:
        image_size: digits area-downsampled from 8×8 to ``image_size²`` inputs.
        n_train: training images used (``None``: all 1438).
        widths, activation: the MLP.
        weight_decay: ``λ`` of the ``λ/2 ‖θ‖²`` term added to the cross-entropy, so that
            minima exist (without it the loss of a separable set has none).
        runs: SGD trajectories (one init each).
        snapshots: epochs along each trajectory where the finder starts (0 = the init).
        lr, batch_size: the SGD trajectories.
        finder: ``eigenvector_following`` (toward each of ``target_indices``), or
            ``damped_newton``, ``newton_mr``, ``gradient_norm_lbfgs`` (attracted to the
            nearest critical point of any index; one search per snapshot).
        target_indices: the indices k eigenvector following aims at.
        minimize: also run saddle-free Newton (which descends to minima) from the last
            snapshot of each run, so the low-index end of the picture is sampled too.
        grad_tol: a point is critical when ``‖∇L‖ ≤ grad_tol``.
        zero_tol: eigenvalues with ``|λ| ≤ zero_tol · max|λ|`` count as zero in the index.
    """

    dtype: Literal["float32", "float64"] = "float64"
    image_size: int = Field(default=4, ge=1, le=8)
    n_train: int | None = Field(default=None, ge=10)
    widths: list[int] = Field(default_factory=lambda: [8], min_length=1)
    activation: Literal["tanh", "sigmoid", "relu"] = "tanh"
    weight_decay: float = Field(default=1e-3, ge=0)
    runs: int = Field(default=4, ge=1)
    snapshots: list[int] = Field(default_factory=lambda: [0, 1, 2, 4, 8, 16], min_length=1)
    lr: float = Field(default=0.5, gt=0)
    batch_size: int = Field(default=100, ge=1)
    finder: Literal[
        "eigenvector_following", "damped_newton", "newton_mr", "gradient_norm_lbfgs"
    ] = "eigenvector_following"
    target_indices: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 5, 10, 20, 30, 50], min_length=1
    )
    minimize: bool = False
    grad_tol: float = Field(default=1e-6, gt=0)
    max_iter: int = Field(default=200, ge=1)
    zero_tol: float = Field(default=1e-6, gt=0)


def problem(
    cfg: Config,
) -> tuple[MLPSpec, FunctionalModel, tuple[torch.Tensor, torch.Tensor], object]:
    """``(spec, fm, train data, loss)`` — the regularised loss whose critical points we find."""
    device = resolve_device(cfg.device)
    dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
    ds = data.digits(seed=cfg.seed, dtype=torch.float64)
    k = cfg.image_size
    x = data.area_downsample(ds.x_train.reshape(-1, 8, 8).numpy(), k).reshape(-1, k * k)
    x = torch.as_tensor(x, dtype=dtype, device=device)
    y = ds.y_train.to(device)
    if cfg.n_train is not None:
        x, y = x[: cfg.n_train], y[: cfg.n_train]
    spec = MLPSpec(
        in_features=k * k, widths=tuple(cfg.widths), out_features=10, activation=cfg.activation
    )
    fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="cross_entropy")
    wd = cfg.weight_decay

    def loss(params: Params, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        reg = sum((v * v).sum() for v in params.values())
        return fm.loss(params, batch) + 0.5 * wd * reg

    return spec, fm, (x, y), loss


@dataclass(frozen=True)
class StartTask:
    """Start ``method`` (toward index ``k`` for eigenvector following) from run ``run``
    after ``epoch`` epochs of SGD."""

    config: dict
    trajectory: int
    epoch: int
    method: str
    k: int = -1

    @property
    def key(self) -> str:
        return task_key(run=self.trajectory, epoch=self.epoch, method=self.method, k=self.k)

    def run(self) -> dict:
        return find_from_snapshot(self)


def find_from_snapshot(task: StartTask) -> dict:
    cfg = Config.model_validate(task.config)
    spec, _, batch, loss = problem(cfg)
    x = batch[0]
    seed = cfg.seed * 1000 + task.trajectory
    start = stack([init_params(spec, seed, dtype=x.dtype, device=x.device)])
    if task.epoch > 0:
        start = train_ensemble(
            loss,
            start,
            batch,
            SGD(lr=cfg.lr),
            task.epoch,
            batch_size=min(cfg.batch_size, x.shape[0]),
            seeds=[seed],
            track=False,
        ).params
    start = unstack(start)[0]
    start_loss = float(loss(start, batch))
    res = find_critical_point(
        loss,
        start,
        batch,
        method=task.method,
        grad_tol=cfg.grad_tol,
        max_iter=cfg.max_iter,
        **({"target_index": task.k} if task.k >= 0 else {"backend": "dense"}),
    )
    eig = torch.linalg.eigvalsh(dense_hessian(loss, res.params, batch).double())
    idx = exact_index(eig, zero_tol=cfg.zero_tol)
    return {
        "start_loss": start_loss,
        "loss": float(res.loss),
        "grad_norm": float(res.grad_norm),
        "converged": bool(res.converged),
        "iterations": int(res.iterations),
        "index": int(idx.count),
        "alpha": float(idx.fraction),
        "eigenvalues": eig.cpu().numpy(),
        "message": res.message,
    }


def tasks(cfg: Config) -> list:
    """Runs × snapshots × target indices (× saddle-free Newton from the last snapshot)."""
    conf = cfg.model_dump(mode="json")
    epochs = sorted(set(cfg.snapshots))
    ks = sorted(set(cfg.target_indices)) if cfg.finder == "eigenvector_following" else [-1]
    out = [
        StartTask(conf, r, e, cfg.finder, k) for r in range(cfg.runs) for e in epochs for k in ks
    ]
    if cfg.minimize:
        out += [StartTask(conf, r, epochs[-1], "saddle_free_newton") for r in range(cfg.runs)]
    return out


def _row(t: StartTask, r: dict) -> dict:
    return {
        "run": t.trajectory,
        "start epoch": t.epoch,
        "finder": t.method,
        "target k": t.k if t.k >= 0 else "-",
        "start loss": r["start_loss"],
        "loss": r["loss"],
        "‖∇L‖": r["grad_norm"],
        "critical": "yes" if r["converged"] else "no: " + r["message"].split(";")[0],
        "index": r["index"],
        "α": r["alpha"],
    }


def reduce(cfg: Config, results: Results) -> Summary:
    """Every search, sorted by index; Spearman ρ(α, loss) over the critical points."""
    from scipy.stats import spearmanr

    pts = list(results)
    crit = [(t, r) for t, r in pts if r["converged"]]
    alpha = np.array([r["alpha"] for _, r in crit])
    loss = np.array([r["loss"] for _, r in crit])
    rho, pval = spearmanr(alpha, loss) if len(crit) >= 3 and np.ptp(alpha) > 0 else (np.nan, np.nan)
    order = sorted(pts, key=lambda p: (not p[1]["converged"], -p[1]["alpha"]))
    metrics = [
        (
            0,
            {
                "critical_points": len(crit),
                "starts": len(pts),
                "spearman_alpha_loss": float(rho) if np.isfinite(rho) else None,
            },
        )
    ]
    metrics += [
        (i, {"alpha": r["alpha"], "loss": r["loss"], "grad_norm": r["grad_norm"]})
        for i, (_, r) in enumerate(sorted(crit, key=lambda p: p[1]["alpha"]))
    ]
    return Summary(
        tables={"critical points (sorted by index)": [_row(t, r) for t, r in order]},
        notes=[
            f"{len(crit)} of {len(pts)} starts reached ‖∇L‖ ≤ {cfg.grad_tol:g} at their target "
            f"index; Spearman ρ(α, loss) over them = {rho:.3f} (p = {pval:.2g})"
        ],
        metrics=metrics,
        data={"spearman": float(rho), "alpha": alpha, "loss": loss, "points": pts},
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    """Loss against the index fraction α; Hessian spectra at the lowest and highest index."""
    from ...plots.curvature import eigenvalue_histogram, loss_vs_index

    pts = summary.data["points"]
    spec, *_ = problem(cfg)
    rho = summary.data["spearman"]
    kind = [f"critical, from epoch {t.epoch}" if r["converged"] else "not reached" for t, r in pts]
    fig = loss_vs_index(
        np.array([r["alpha"] for _, r in pts]),
        np.array([r["loss"] for _, r in pts]),
        spearman=rho if np.isfinite(rho) else None,
        kind=kind,
        title=f"{spec.describe()}, digits {cfg.image_size}×{cfg.image_size}, "
        f"P = {len(pts[0][1]['eigenvalues'])}",
        ylabel="training loss (cross-entropy + λ/2‖θ‖²)",
    )
    out = {"loss_vs_index": (fig, "training loss against the index fraction α of each point")}
    crit = [r for _, r in pts if r["converged"]]
    if crit:
        lo = min(crit, key=lambda r: (r["alpha"], r["loss"]))
        hi = max(crit, key=lambda r: (r["alpha"], r["loss"]))
        panels = {f"lowest index: α = {lo['alpha']:.3f}, loss {lo['loss']:.3f}": lo["eigenvalues"]}
        if hi is not lo:
            label = f"highest index: α = {hi['alpha']:.3f}, loss {hi['loss']:.3f}"
            panels[label] = hi["eigenvalues"]
        fig = eigenvalue_histogram(panels, title="Hessian eigenvalues at critical points")
        out["eigenvalues"] = (fig, "Hessian spectra at the lowest- and highest-index points")
    return out
