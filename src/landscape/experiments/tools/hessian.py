"""``landscape hessian CHECKPOINT --data NAME``: curvature of a trained model.

Top-k eigenvalues (Lanczos, tolerance checked), Hutchinson trace with its standard error,
the spectral density by stochastic Lanczos quadrature, and the index (exact from the full
spectrum for small models, estimated from the SLQ quadrature with a standard error for
large ones), all of the Hessian of the dataset-mean loss on the chosen split.

The table lists P and the sample count, each eigenvalue (with the largest relative
residual and whether it met the tolerance), the trace ± its standard error, the index
(exact or estimated ± stderr, with the fraction and how many eigenvalues counted as zero),
and the integral of the density (1 up to quadrature error).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor

from ..._validate import check_file
from ...curvature import (
    HessianOperator,
    eigenpairs,
    estimate_index,
    exact_index,
    hutchinson_trace,
    slq,
    spectral_density,
)
from ...data import DatasetName
from ...runtime.progress import progress_bar
from ...runtime.store import task_key
from .._base import (
    ExperimentConfig,
    data_folder_rules,
    load_checkpoint_with_data,
    one_data_folder,
    refuse_unused,
    torch_dtype,
)
from ..lifecycle import Results, Summary

NAME = "hessian"


class Config(ExperimentConfig):
    """What to measure.

    Attributes:
        checkpoint: the model.
        data, data_dir, split, n_samples: the dataset (and an optional first-N subset);
            ``data_dir`` is the folder of the user's files for ``mnist``, ``cifar10`` and
            ``ptb`` (``mnist_dir``: its older name for MNIST).
        top: number of largest eigenvalues (0 to skip); ``bottom`` likewise the smallest.
        tol: relative residual required of each eigenpair.
        trace, trace_rtol: Hutchinson trace to this relative standard error.
        density: SLQ spectral density (figure); ``probes``/``steps`` its settings.
        index: the index; exact (dense, ``P ≤ exact_max_params``) or SLQ-estimated.
        zero_tol: relative threshold under which an eigenvalue counts as zero.
    """

    checkpoint: str
    data: DatasetName
    data_dir: str | None = None
    mnist_dir: str | None = None
    split: Literal["train", "test"] = "train"
    n_samples: int | None = Field(default=None, ge=1)
    chunk_size: int | None = Field(default=4096, ge=1)
    top: int = Field(default=5, ge=0)
    bottom: int = Field(default=0, ge=0)
    tol: float = Field(default=1e-4, gt=0)
    trace: bool = False
    trace_rtol: float = Field(default=0.01, gt=0)
    density: bool = False
    index: bool = False
    probes: int = Field(default=8, ge=1)
    steps: int = Field(default=64, ge=2)
    zero_tol: float = Field(default=1e-3, gt=0)
    exact_max_params: int = Field(default=3000, ge=1)

    @model_validator(mode="after")
    def _applies(self) -> Config:
        eig = self.top > 0 or self.bottom > 0
        refuse_unused(
            self,
            {
                **data_folder_rules(self.data),
                "tol": (eig, "with --top or bottom > 0"),
                "trace_rtol": (self.trace, "with --trace"),
                "probes": (self.density or self.index, "with --density or --index"),
                "steps": (self.density or self.index, "with --density or --index"),
                "zero_tol": (self.index, "with --index"),
                "exact_max_params": (self.index or eig, "with --index, --top or bottom"),
            },
        )
        one_data_folder(self.data_dir, self.mnist_dir)
        return self


@dataclass(frozen=True)
class HessianTask:
    """Every asked-for quantity of one checkpoint's Hessian, in one task."""

    config: dict

    @property
    def key(self) -> str:
        return task_key(job="hessian")

    def run(self) -> dict:
        return hessian_job(self)


def check(cfg: Config) -> None:
    """The checkpoint exists and fits the dataset: refused before a run is recorded."""
    check_file(cfg.checkpoint, "checkpoint")
    _setup(cfg)


def tasks(cfg: Config) -> list:
    return [HessianTask(cfg.model_dump(mode="json"))]


def _setup(cfg: Config):
    la = load_checkpoint_with_data(
        cfg.checkpoint,
        cfg.data,
        cfg.data_dir or cfg.mnist_dir,
        cfg.seed,
        cfg.device,
        torch_dtype(cfg.dtype),
    )
    ds, fm, params = la.dataset, la.model, la.params
    x, y = ds.train if cfg.split == "train" else ds.test
    if cfg.n_samples is not None:
        x, y = x[: cfg.n_samples], y[: cfg.n_samples]
    return fm, params, (x, y)


class _ProgressHessian(HessianOperator):
    """The Hessian operator, advancing the current stage's progress bar by its products."""

    bar = None

    def apply_rows(self, rows: Tensor) -> Tensor:
        out = super().apply_rows(rows)
        if self.bar is not None:
            self.bar.advance(rows.shape[0])
        return out


@contextmanager
def _stage(op: _ProgressHessian, description: str, total: int | None):
    """A progress bar of ``op``'s Hessian-vector products for one stage of the job."""
    with progress_bar(total, f"{description} (HVPs)") as bar:
        op.bar = bar
        try:
            yield
        finally:
            op.bar = None


def hessian_job(job: HessianTask) -> dict:
    cfg = Config.model_validate(job.config)
    fm, params, batch = _setup(cfg)
    op = _ProgressHessian(fm, params, batch, chunk_size=cfg.chunk_size, backend="cached")
    p = op.num_params
    out: dict = {"num_params": p, "samples": int(batch[0].shape[0])}
    asked = {"top": f"--top {cfg.top}", "bottom": f"bottom={cfg.bottom}"}
    notes = [
        f"{asked[which]} is more than the model's P = {p} parameters: lowered to {p} "
        "(every eigenvalue)"
        for which, k in (("top", cfg.top), ("bottom", cfg.bottom))
        if k > p
    ]
    out["notes"] = notes
    spectrum: list = []  # the dense Hessian's eigen-decomposition, made once if needed

    def dense(label: str = "index") -> tuple[Tensor, Tensor, Tensor]:
        if not spectrum:
            with _stage(op, f"{label}: dense Hessian", p):
                matrix = op.to_dense().to(torch.float64)
            values, vectors = torch.linalg.eigh(matrix)
            spectrum.extend([matrix, values, vectors])
        return spectrum[0], spectrum[1], spectrum[2]

    for which, wanted in (("top", cfg.top), ("bottom", cfg.bottom)):
        if wanted:
            k = min(wanted, p)
            label = f"{which} {k} eigenvalue{'s' if k > 1 else ''}"
            if k < wanted:  # said while it runs, too
                label += f" ({asked[which]} lowered to P)"
            steps = min(p, max(300, 4 * k))  # what Lanczos would take at most
            if steps >= p and p <= cfg.exact_max_params:
                # Lanczos would build the whole space anyway: one dense eigh is exact and
                # far cheaper than P reorthogonalised steps
                hvps_before = op.num_hvps
                matrix, values, vectors = dense(label)
                pick = torch.arange(p - 1, p - 1 - k, -1) if which == "top" else torch.arange(k)
                lam, vec = values[pick], vectors[:, pick]
                scale = float(values.abs().max()) or 1.0
                resid = float((matrix @ vec - vec * lam).norm(dim=0).max()) / scale
                out[f"{which}_eigenvalues"] = lam.cpu().numpy()
                out[f"{which}_residual"] = resid
                out[f"{which}_converged"] = resid <= cfg.tol
                out[f"{which}_hvps"] = int(op.num_hvps - hvps_before)
                out[f"{which}_method"] = "dense"
                continue
            # Lanczos takes at most this many steps, then checks the k residuals
            with _stage(op, label, steps + k):
                r = eigenpairs(op, k=k, which=which, tol=cfg.tol, seed=cfg.seed)
            out[f"{which}_eigenvalues"] = r.eigenvalues.detach().cpu().double().numpy()
            out[f"{which}_residual"] = float(r.max_relative_residual)
            out[f"{which}_converged"] = bool(r.converged)
            out[f"{which}_hvps"] = int(r.num_hvps)
            out[f"{which}_method"] = "lanczos"
    if cfg.trace:
        with _stage(op, "trace", None):
            t = hutchinson_trace(op, rtol=cfg.trace_rtol, seed=cfg.seed, deflate=min(20, p - 1))
        out.update(
            trace=float(t.trace),
            trace_stderr=float(t.stderr),
            trace_hvps=int(t.num_hvps),
            trace_converged=bool(t.converged),
        )
    quad = None
    if cfg.density or (cfg.index and p > cfg.exact_max_params):
        steps = min(cfg.steps, p)
        with _stage(op, "spectral density (SLQ)", cfg.probes * steps):
            quad = slq(op, num_probes=cfg.probes, num_steps=steps, seed=cfg.seed)
    if cfg.density:
        dens = spectral_density(quad)
        out["density_grid"] = dens.grid.detach().cpu().double().numpy()
        out["density"] = dens.density.detach().cpu().double().numpy()
        out["density_integral"] = float(dens.integral())
    if cfg.index:
        if p <= cfg.exact_max_params:
            idx = exact_index(dense()[1], zero_tol=cfg.zero_tol)
            out["eigenvalues"] = idx.eigenvalues.detach().cpu().double().numpy()
        else:
            idx = estimate_index(quad, zero_tol=cfg.zero_tol)
        out.update(
            index=float(idx.count),
            index_stderr=float(idx.count_stderr),
            index_fraction=float(idx.fraction),
            index_method=idx.method,
            index_zero=float(idx.num_zero),
        )
    return out


def _eigen_rows(cfg: Config, r: dict) -> tuple[list[dict], dict[str, float]]:
    rows, metrics = [], {}
    for which in ("top", "bottom"):
        for i, v in enumerate(r.get(f"{which}_eigenvalues", [])):
            detail = ""
            if i == 0:
                met = "met" if r[f"{which}_converged"] else "NOT met"
                how = "dense eigh" if r.get(f"{which}_method") == "dense" else "Lanczos"
                detail = (
                    f"residual ≤ {r[f'{which}_residual']:.1e} (tol {cfg.tol:g}, {met}), "
                    f"{how}, {r[f'{which}_hvps']} HVPs"
                )
            rows.append({"quantity": f"λ_{which} {i + 1}", "value": float(v), "detail": detail})
            metrics[f"lambda_{which}_{i + 1}"] = float(v)
    return rows, metrics


def reduce(cfg: Config, results: Results) -> Summary:
    """One table: P, samples, eigenvalues (residual, HVPs), trace ± stderr, index."""
    r = results[0][1]
    rows: list[dict] = [
        {"quantity": "parameters P", "value": int(r["num_params"]), "detail": ""},
        {"quantity": "samples", "value": int(r["samples"]), "detail": cfg.split},
    ]
    eig_rows, metrics = _eigen_rows(cfg, r)
    rows += eig_rows
    if "trace" in r:
        detail = f"± {r['trace_stderr']:.3g} (Hutchinson, {r['trace_hvps']} HVPs)"
        rows.append({"quantity": "trace", "value": r["trace"], "detail": detail})
        metrics.update(trace=r["trace"], trace_stderr=r["trace_stderr"])
    if "index" in r:
        detail = (
            f"± {r['index_stderr']:.3g} ({r['index_method']}), "
            f"fraction {r['index_fraction']:.4f}, {r['index_zero']:.0f} counted zero"
        )
        rows.append(
            {"quantity": "index (negative eigenvalues)", "value": r["index"], "detail": detail}
        )
        metrics.update(index=r["index"], index_fraction=r["index_fraction"])
    if "density" in r:
        rows.append(
            {"quantity": "∫ density", "value": r["density_integral"], "detail": "should be 1"}
        )
    return Summary(
        tables={f"Hessian of {Path(cfg.checkpoint).name}": rows},
        notes=[f"note: {n}" for n in r.get("notes", [])],
        metrics=[(0, metrics)],
        data={"result": r},
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    from ...plots.curvature import spectral_density_plot

    r = summary.data["result"]
    if "density" not in r:
        return {}
    fig = spectral_density_plot(
        r["density_grid"],
        r["density"],
        eigenvalues=r.get("eigenvalues"),
        title=f"Hessian spectral density (SLQ, {cfg.probes} probes × {cfg.steps} steps): "
        f"{Path(cfg.checkpoint).name} on {cfg.data} {cfg.split}",
    )
    return {"density": (fig, "spectral density of the Hessian (SLQ, Gaussian broadening)")}
