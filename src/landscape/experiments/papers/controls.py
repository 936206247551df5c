"""``landscape reproduce controls``: landscapes the theory settles, as numbers.

Kawaguchi 2016 (*Deep Learning without Poor Local Minima*) and Freeman & Bruna 2017
(*Topology and Geometry of Half-Rectified Network Optimization*, section 2): deep linear
networks have no poor local minima and connected level sets; Venturi, Bandeira & Bruna 2019
(*Spurious Valleys in One-Hidden-Layer Neural Network Optimization Landscapes*): quadratic
networks of width ``M ≥ 2N`` have no spurious valleys; ReLU networks have no such
guarantee, and for some data their level sets are disconnected (Freeman & Bruna,
Theorem 2.4; the seminar's two-unit example).

Tables:

* *deep linear networks* — per setting (widths, ℓ2 weight): runs that reach the
  closed-form reduced-rank optimum ``L*`` within ``tol``, the largest ``|L − L*|`` and
  gradient norm; a pair of solutions connected by DSS at a threshold just above both
  (beads, largest loss on the string above the endpoints) and the straight line's barrier;
* *constructive path* — Freeman & Bruna's path between two solutions of each setting (any
  depth): its largest loss above ``max(L(θ₁), L(θ₂))`` (≤ 0 up to rounding where the widths
  are non-increasing to the output, the proof's condition) beside the straight line's;
* *poor minima against width* — quadratic and ReLU nets, input dimension ``N``: runs that
  end at a poor local minimum (gradient small, Hessian PSD, loss above the best by more
  than ``tol``) for each width ``M``; ``M ≥ 2N`` is marked, where the fraction should be 0
  for the quadratic net;
* *disconnected ReLU example* — two zero-loss solutions, DSS at a threshold below the ½
  barrier: "not connected within limits", with the beads and steps tried.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from ...connect import dss, interpolate
from ...optim import Adam
from ...overparam import controls as C
from ...runtime.executor import torch_threads
from ...runtime.store import task_key
from .._base import ExperimentConfig
from ..lifecycle import Results, Summary

NAME = "controls"
TASKS_LABEL = "control problems"


class Config(ExperimentConfig):
    """Settings (presets in ``configs/controls/{quick,full}.yaml``).

    Attributes:
        n_samples: samples of every regression problem (Gaussian inputs).
        in_dim, out_dim: deep linear inputs and outputs.
        linear_widths: hidden widths of each deep linear setting (each a list).
        l2: ℓ2 weight of the regularised setting (the widest one, ``n_1 > min(n, m)``).
        linear_runs: starts per deep linear setting; ``linear_tol``: ``|L − L*|`` allowed.
        N: input dimension of the quadratic and ReLU nets.
        widths: hidden widths ``M`` of the quadratic and ReLU nets.
        runs: starts per width; ``poor_tol``: relative loss margin for "poor".
        dss_margin: DSS threshold = ``(1 + dss_margin) · max(L(θ₁), L(θ₂))``.
        relu_threshold: the DSS threshold for the disconnected ReLU example (< ½).
        maxiter: L-BFGS iterations per start (``relu_maxiter`` for ReLU nets, whose kinks
            keep L-BFGS from reaching a small gradient).
        dss_lr, dss_steps: Adam step and steps per bead of the DSS searches.
    """

    n_samples: int = Field(default=60, ge=4, le=100_000)
    in_dim: int = Field(default=6, ge=1, le=200)
    out_dim: int = Field(default=4, ge=1, le=200)
    linear_widths: list[list[Annotated[int, Field(ge=1, le=1000)]]] = Field(
        default_factory=lambda: [[2], [5, 3], [6]], min_length=1
    )
    l2: float = Field(default=1e-2, ge=0)
    linear_runs: int = Field(default=20, ge=2, le=10_000)
    linear_tol: float = Field(default=1e-8, gt=0)
    N: int = Field(default=4, ge=1, le=50)
    widths: list[Annotated[int, Field(ge=1, le=1000)]] = Field(
        default_factory=lambda: [1, 2, 3, 4, 6, 8, 10, 12], min_length=1
    )
    activations: list[Literal["quadratic", "relu"]] = Field(
        default_factory=lambda: ["quadratic", "relu"], min_length=1
    )
    runs: int = Field(default=100, ge=1, le=100_000)
    poor_tol: float = Field(default=1e-4, gt=0)
    dss_margin: float = Field(default=0.02, gt=0, le=1)
    relu_threshold: float = Field(default=0.1, gt=0, lt=0.5)
    maxiter: int = Field(default=5000, ge=10, le=1_000_000)
    relu_maxiter: int = Field(default=2000, ge=10, le=1_000_000)
    dss_lr: float = Field(default=1e-2, gt=0)
    dss_steps: int = Field(default=5000, ge=1, le=1_000_000)


def _linear_data(cfg: Config) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(cfg.seed)
    X = torch.randn(cfg.n_samples, cfg.in_dim, generator=g, dtype=torch.float64)
    Y = torch.randn(cfg.n_samples, cfg.out_dim, generator=g, dtype=torch.float64)
    return X, Y


def _quad_data(cfg: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """A planted quadratic teacher ``y = xᵀAx + noise`` with ``A`` symmetric, indefinite."""
    g = torch.Generator().manual_seed(cfg.seed + 1)
    X = torch.randn(cfg.n_samples, cfg.N, generator=g, dtype=torch.float64)
    A = torch.randn(cfg.N, cfg.N, generator=g, dtype=torch.float64)
    A = A + A.T
    y = ((X @ A) * X).sum(1, keepdim=True)
    return X, y + 0.3 * torch.randn(y.shape, generator=g, dtype=torch.float64)


@dataclass(frozen=True)
class LinearTask:
    """Deep linear nets of one setting: runs, closed form, a DSS pair, the constructive path."""

    widths: tuple[int, ...]
    l2: float
    config: dict

    @property
    def key(self) -> str:
        return task_key(kind="linear", widths="x".join(map(str, self.widths)), l2=self.l2)

    def run(self) -> dict[str, Any]:
        with torch_threads(1):  # problems of a few dozen parameters: one thread is fastest
            return self._run(Config.model_validate(self.config))

    def _run(self, cfg: Config) -> dict[str, Any]:
        X, Y = _linear_data(cfg)
        rank = min([cfg.in_dim, cfg.out_dim, *self.widths])
        _, Lstar = C.reduced_rank_optimum(X, Y, rank)
        params, L, gn = C.train_deep_linear(
            X, Y, self.widths, cfg.linear_runs, seed=cfg.seed, l2=self.l2, maxiter=cfg.maxiter
        )
        a, b = params[0], params[1]

        def loss(p: dict, batch: tuple) -> torch.Tensor:
            return C.deep_linear_loss(p, batch, self.l2)

        top = max(L[0], L[1])
        path = dss(
            loss, a, b, (X, Y), threshold=top * (1 + cfg.dss_margin), alpha=0.99,
            max_beads=32, max_steps=cfg.dss_steps, seed=cfg.seed, optimizer=Adam(lr=cfg.dss_lr),
        )  # fmt: skip
        line = interpolate(loss, a, b, (X, Y), grid=51)
        out = {
            "loss": L,
            "grad_norm": gn,
            "L_star": Lstar,
            "rank": rank,
            "dss_status": path.status,
            "dss_beads": path.bead_count,
            "dss_excess": path.max_value - top,
            "dss_length": path.length,
            "line_excess": float(line.barrier),
        }
        # the constructive path, any depth (its bound needs n_1 ≥ … ≥ m)
        ts = torch.linspace(0, 1, 51, dtype=torch.float64)
        constructive, straight = C.deep_linear_path(a, b, X, Y, ts, seed=cfg.seed)
        out.update(path_t=ts.numpy(), path_constructive=constructive, path_line=straight)
        if self.l2:
            out["path_constructive_note"] = "constructive path of the unregularised loss"
        return out


@dataclass(frozen=True)
class WidthTask:
    """Quadratic or ReLU nets of width ``M``: the poor-minimum classification of every run."""

    activation: str
    width: int
    config: dict

    @property
    def key(self) -> str:
        return task_key(kind=self.activation, M=self.width)

    def run(self) -> dict[str, Any]:
        with torch_threads(1):  # problems of a few dozen parameters: one thread is fastest
            return self._run(Config.model_validate(self.config))

    def _run(self, cfg: Config) -> dict[str, Any]:
        X, y = _quad_data(cfg)
        best = C.quadratic_optimum(X, y) if self.activation == "quadratic" else None
        if best is not None and self.width < cfg.N:
            best = None  # the closed form needs M ≥ N
        r = C.poor_minima(
            X, y, self.width, cfg.runs, self.activation, seed=cfg.seed, best=best,
            tol=cfg.poor_tol,
            maxiter=cfg.maxiter if self.activation == "quadratic" else cfg.relu_maxiter,
        )  # fmt: skip
        return {
            "loss": r.loss,
            "grad_norm": r.grad_norm,
            "lambda_min": r.lambda_min,
            "best": r.best,
            "converged": r.converged,
            "poor": r.poor,
            "saddle": r.saddle,
        }


@dataclass(frozen=True)
class DisconnectedTask:
    """The two-unit ReLU example: DSS below the barrier of ½."""

    config: dict

    @property
    def key(self) -> str:
        return task_key(kind="relu-disconnected")

    def run(self) -> dict[str, Any]:
        with torch_threads(1):  # problems of a few dozen parameters: one thread is fastest
            return self._run(Config.model_validate(self.config))

    def _run(self, cfg: Config) -> dict[str, Any]:
        loss, data, a, b = C.disconnected_relu_example()
        path = dss(
            loss, a, b, data, threshold=cfg.relu_threshold, max_beads=16,
            max_steps=cfg.dss_steps, seed=cfg.seed, optimizer=Adam(lr=cfg.dss_lr),
        )  # fmt: skip
        line = interpolate(loss, a, b, data, grid=51)
        return {
            "status": path.status,
            "reason": path.reason or "",
            "beads": path.bead_count,
            "steps": path.steps,
            "max_on_string": path.max_value,
            "line_barrier": float(line.loss.max()),
        }


def tasks(cfg: Config) -> list:
    """Deep linear settings (the widest also with ℓ2), widths × activations, the example."""
    conf = cfg.model_dump(mode="json")
    out: list = [LinearTask(tuple(w), 0.0, conf) for w in cfg.linear_widths]
    widest = max(cfg.linear_widths, key=lambda w: min(w))
    if cfg.l2 > 0:
        out.append(LinearTask(tuple(widest), cfg.l2, conf))
    out += [WidthTask(a, m, conf) for a in cfg.activations for m in cfg.widths]
    out.append(DisconnectedTask(conf))
    return out


def _linear_rows(cfg: Config, results: Results) -> list[dict]:
    rows = []
    for t, r in results:
        if not isinstance(t, LinearTask):
            continue
        L = np.asarray(r["loss"])
        gap = L - float(r["L_star"])
        plain = t.l2 == 0
        rows.append(
            {
                "widths": "→".join(map(str, (cfg.in_dim, *t.widths, cfg.out_dim))),
                "l2": t.l2,
                "runs": int(L.size),
                "L* (closed form)": float(r["L_star"]) if plain else float("nan"),
                "reached L*": int((np.abs(gap) <= cfg.linear_tol).sum()) if plain else -1,
                "max |L − L*|": float(np.abs(gap).max()) if plain else float("nan"),
                "spread of L": float(L.max() - L.min()),
                "max ‖∇L‖": float(np.max(r["grad_norm"])),
                "DSS": str(r["dss_status"]),
                "beads": int(r["dss_beads"]),
                "string max − max(L₁,L₂)": float(r["dss_excess"]),
                "line barrier": float(r["line_excess"]),
            }
        )
    return rows


def _width_rows(cfg: Config, results: Results) -> list[dict]:
    rows = []
    for t, r in results:
        if not isinstance(t, WidthTask):
            continue
        n = len(r["loss"])
        rows.append(
            {
                "activation": t.activation,
                "M": t.width,
                "M ≥ 2N": "yes" if t.width >= 2 * cfg.N else "",
                "runs": n,
                "converged": int(np.sum(r["converged"])),
                "poor minima": int(np.sum(r["poor"])),
                "poor %": 100.0 * float(np.sum(r["poor"])) / n,
                "saddles": int(np.sum(r["saddle"])),
                "best loss": float(r["best"]),
                "worst loss": float(np.max(r["loss"])),
            }
        )
    return rows


def reduce(cfg: Config, results: Results) -> Summary:
    """The four tables and the claims checked as notes."""
    lin = _linear_rows(cfg, results)
    width = _width_rows(cfg, results)
    paths = [(t, r) for t, r in results if isinstance(t, LinearTask) and "path_constructive" in r]
    path_rows = []
    for t, r in paths:
        ends = max(float(r["path_line"][0]), float(r["path_line"][-1]))
        path_rows.append(
            {
                "widths": "→".join(map(str, (cfg.in_dim, *t.widths, cfg.out_dim))),
                "l2 of the endpoints": t.l2,
                "n₁ ≥ … ≥ m (proof's condition)": "yes"
                if all(u >= v for u, v in itertools.pairwise((*t.widths, cfg.out_dim)))
                else "no",
                "max(L(θ₁), L(θ₂))": ends,
                "constructive: max − bound": float(np.max(r["path_constructive"]) - ends),
                "straight line: max − bound": float(np.max(r["path_line"]) - ends),
            }
        )
    dis = next(r for t, r in results if isinstance(t, DisconnectedTask))
    dis_row = {
        "threshold": cfg.relu_threshold,
        "status": str(dis["status"]),
        "limit hit": str(dis["reason"]),
        "beads tried": int(dis["beads"]),
        "steps": int(dis["steps"]),
        "max on string": float(dis["max_on_string"]),
        "straight-line barrier": float(dis["line_barrier"]),
    }
    notes = _notes(cfg, lin, width, path_rows, dis_row)
    return Summary(
        tables={
            "deep linear networks: runs against the closed-form optimum, pairs by DSS": lin,
            "constructive path (Freeman & Bruna) against the straight line": path_rows,
            f"poor local minima against width M (input dimension N = {cfg.N})": width,
            "disconnected ReLU example (two units, x = ±1, y = 1)": [dis_row],
        },
        notes=notes,
        data={"linear": lin, "width": width, "paths": paths, "disconnected": dis_row},
    )


def _notes(cfg: Config, lin: list, width: list, path_rows: list, dis: dict) -> list[str]:
    notes = []
    plain = [r for r in lin if r["l2"] == 0]
    reached = sum(r["reached L*"] for r in plain)
    total = sum(r["runs"] for r in plain)
    notes.append(f"deep linear: {reached} of {total} runs reached the closed-form optimum")
    conn = sum(r["DSS"] == "connected" for r in lin)
    notes.append(f"deep linear pairs connected by DSS: {conn} of {len(lin)}")
    for r in path_rows:
        notes.append(
            f"constructive path {r['widths']}: max − bound {r['constructive: max − bound']:.2e}"
            f" (straight line {r['straight line: max − bound']:.3g})"
        )
    quad = [r for r in width if r["activation"] == "quadratic"]
    if quad:
        wide = [r for r in quad if r["M ≥ 2N"]]
        notes.append(
            "quadratic nets, poor minima at M ≥ 2N: "
            f"{sum(r['poor minima'] for r in wide)} of {sum(r['runs'] for r in wide)} runs; "
            f"below 2N: {sum(r['poor minima'] for r in quad if not r['M ≥ 2N'])} of "
            f"{sum(r['runs'] for r in quad if not r['M ≥ 2N'])}"
        )
    notes.append(
        f"disconnected ReLU example at threshold {dis['threshold']}: {dis['status']} "
        f"({dis['beads tried']} bead(s), {dis['steps']} steps; barrier on the line "
        f"{dis['straight-line barrier']:.3g}, theory ≥ 0.5)"
    )
    return notes


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    """Poor-minimum fraction against width; the constructive path beside the line."""
    from ...plots.overparam import control_path, poor_minima_vs_width

    out: dict = {}
    width = summary.data["width"]
    if width:
        series = {}
        for act in cfg.activations:
            rows = [r for r in width if r["activation"] == act]
            series[f"{act} nets"] = ([r["M"] for r in rows], [r["poor %"] / 100 for r in rows])
        out["poor_minima_vs_width"] = (
            poor_minima_vs_width(series, 2 * cfg.N, "runs at a poor local minimum (%)"),
            f"fraction of {cfg.runs} runs at a poor local minimum against width, N = {cfg.N}",
        )
    for t, r in summary.data["paths"]:
        if t.l2:
            continue
        ends = max(float(r["path_line"][0]), float(r["path_line"][-1]))
        name = "constructive_path_" + "x".join(map(str, t.widths))
        out[name] = (
            control_path(
                np.asarray(r["path_t"]),
                {
                    "constructive path (Freeman & Bruna)": np.asarray(r["path_constructive"]),
                    "straight line in parameters": np.asarray(r["path_line"]),
                },
                ends,
                title=f"deep linear net {cfg.in_dim}→{t.widths[0]}→{cfg.out_dim}",
            ),
            "loss along the constructive path and along the straight line",
        )
    return out
