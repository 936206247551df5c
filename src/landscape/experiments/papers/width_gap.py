"""``landscape reproduce width-gap``: the level-set gap of two-layer ReLU nets against width.

Freeman & Bruna 2017, *Topology and Geometry of Half-Rectified Network Optimization*,
Theorem 2.5: for two-layer ReLU nets ``Φ(x) = W₂ relu(W₁ x)`` of width ``m`` on inputs of
dimension ``n``, two parameters at loss ``λ`` are connected inside ``Ω(λ + ε)`` with a gap
``ε`` that shrinks like ``m^(−1/n)`` — over-parameterization makes the level sets nearly
connected, and more slowly the larger the input dimension.

Here: a fixed teacher–student regression (Gaussian inputs, a teacher of orthonormal ReLU
units, :func:`landscape.data.teacher_student`); for each input dimension ``n`` and width
``m``, pairs of students trained independently with the same full-batch Adam schedule. The
table has one row per ``(n, m)``: the pair's losses, the barrier of the straight segment,
the barrier left after weight matching (Ainsworth et al. 2022: the permutation symmetry
removed), and greedy DSS at a threshold ``dss_gap`` above the pair's loss (beads, normalized
length, connected or not within limits). The notes give the log–log slope of the aligned
barrier against ``m`` for each ``n`` beside Freeman & Bruna's ``−1/n``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import Field, model_validator

from ... import data
from ...connect import align_and_interpolate, dss
from ...ensemble import train_ensemble
from ...functional import FunctionalModel
from ...models import MLPSpec, build, init_params
from ...optim import Adam
from ...params import stack, unstack
from ...runtime.executor import torch_threads
from ...runtime.store import task_key
from .._base import ExperimentConfig
from ..lifecycle import Results, Summary
from ..members import member_seed

NAME = "width-gap"
TASKS_LABEL = "widths (n × m)"


class Config(ExperimentConfig):
    """Settings (presets in ``configs/width-gap/{quick,full}.yaml``).

    Attributes:
        input_dims: input dimensions ``n`` (two show the dependence on ``n``).
        widths: hidden widths ``m``.
        teacher_units: ReLU units of the teacher (``≤ min(input_dims)``).
        n_train: training samples.
        pairs: independently trained pairs per ``(n, m)``.
        steps, lr: full-batch Adam steps and step size for every student.
        dss_gap: DSS threshold ``max(L_A, L_B) + dss_gap`` (absolute: trained pairs sit
            near zero loss, where a relative margin would be no margin at all).
        dss_steps, dss_lr, max_beads: DSS limits (Adam per bead).
    """

    input_dims: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=lambda: [2, 4], min_length=1
    )
    widths: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(
        default_factory=lambda: [4, 8, 16, 32, 64], min_length=2
    )
    teacher_units: int = Field(default=2, ge=1)
    n_train: int = Field(default=200, ge=2, le=1_000_000)
    pairs: int = Field(default=3, ge=1, le=1000)
    steps: int = Field(default=3000, ge=1, le=10_000_000)
    lr: float = Field(default=1e-2, gt=0)
    dss_gap: float = Field(default=1e-3, gt=0)
    dss_steps: int = Field(default=2000, ge=1)
    dss_lr: float = Field(default=1e-2, gt=0)
    max_beads: int = Field(default=16, ge=1, le=1000)

    @model_validator(mode="after")
    def _teacher(self) -> Config:
        if self.teacher_units > min(self.input_dims):
            raise ValueError(
                f"teacher_units={self.teacher_units} exceeds the smallest input dimension "
                f"{min(self.input_dims)}; lower it"
            )
        return self


@dataclass(frozen=True)
class PairsTask:
    """Train ``2·pairs`` students of width ``m`` on inputs of dimension ``n``; connect pairs."""

    n: int
    m: int
    config: dict

    @property
    def key(self) -> str:
        return task_key(n=self.n, m=self.m)

    def run(self) -> dict[str, Any]:
        with torch_threads(1):  # small nets: one thread is fastest on a shared machine
            return self._run(Config.model_validate(self.config))

    def _run(self, cfg: Config) -> dict[str, Any]:
        ds, _ = data.teacher_student(
            d=self.n, k=cfg.teacher_units, n_train=cfg.n_train, n_test=2, seed=cfg.seed,
            dtype=torch.float64,
        )  # fmt: skip
        spec = MLPSpec(in_features=self.n, widths=(self.m,), out_features=1, bias=False)
        fm = FunctionalModel(build(spec, dtype=torch.float64), loss="mse")
        seeds = [member_seed(cfg.seed, self.n * 100_000 + self.m, i) for i in range(2 * cfg.pairs)]
        inits = stack([init_params(spec, s, dtype=torch.float64) for s in seeds])
        res = train_ensemble(fm.loss, inits, ds.train, Adam(lr=cfg.lr), cfg.steps, seeds=seeds)
        members = unstack(res.params)
        out: dict[str, list] = {k: [] for k in _KEYS}
        for p in range(cfg.pairs):
            a, b = members[2 * p], members[2 * p + 1]
            rep = align_and_interpolate(fm.loss, a, b, ds.train, grid=41)
            la, lb = rep.before.loss_a, rep.before.loss_b
            top = max(la, lb)
            path = dss(
                fm.loss, a, b, ds.train, threshold=top + cfg.dss_gap,
                max_beads=cfg.max_beads, max_steps=cfg.dss_steps, seed=cfg.seed,
                optimizer=Adam(lr=cfg.dss_lr),
            )  # fmt: skip
            vals = (
                la, lb, rep.before.barrier, rep.after.barrier, path.bead_count,
                path.length_weights, path.connected, path.max_value - top,
            )  # fmt: skip
            for k, v in zip(_KEYS, vals, strict=True):
                out[k].append(v)
        return {k: np.asarray(v) for k, v in out.items()}


_KEYS = (
    "loss_a", "loss_b", "barrier", "barrier_aligned", "beads", "length", "connected",
    "dss_excess",
)  # fmt: skip


def tasks(cfg: Config) -> list[PairsTask]:
    """One task per ``(n, m)``."""
    conf = cfg.model_dump(mode="json")
    return [PairsTask(n, m, conf) for n in cfg.input_dims for m in cfg.widths]


def fit_exponent(widths: np.ndarray, gaps: np.ndarray) -> float:
    """Least-squares slope of ``log gap`` against ``log m`` over positive gaps (NaN if < 2)."""
    ok = gaps > 0
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(widths[ok]), np.log(gaps[ok]), 1)[0])


def reduce(cfg: Config, results: Results) -> Summary:
    """The (n, m) table and the fitted exponents."""
    rows, per = [], {}
    for t, r in results:
        rows.append(
            {
                "n": t.n,
                "m": t.m,
                "pairs": len(r["loss_a"]),
                "loss (mean)": float(np.mean([*r["loss_a"], *r["loss_b"]])),
                "line barrier": float(np.mean(r["barrier"])),
                "aligned barrier": float(np.mean(r["barrier_aligned"])),
                "DSS connected": int(np.sum(r["connected"])),
                "beads (mean)": float(np.mean(r["beads"])),
                "length (mean)": float(np.mean(r["length"])),
            }
        )
        per[(t.n, t.m)] = r
    fits = {}
    notes = []
    for n in cfg.input_dims:
        mine = [r for r in rows if r["n"] == n]
        ms = np.array([r["m"] for r in mine], float)
        fits[n] = {
            "aligned": fit_exponent(ms, np.array([r["aligned barrier"] for r in mine])),
            "line": fit_exponent(ms, np.array([r["line barrier"] for r in mine])),
        }
        notes.append(
            f"n = {n}: fitted exponent of the aligned barrier {fits[n]['aligned']:.2f}, "
            f"of the straight-line barrier {fits[n]['line']:.2f}; Freeman & Bruna: "
            f"−1/n = {-1 / n:.2f}"
        )
    nc = sum(r["pairs"] - r["DSS connected"] for r in rows)
    if nc:
        notes.append(f"{nc} pair(s) not connected by DSS within limits (see the table)")
    return Summary(
        tables={"level-set gap against width (two-layer ReLU, teacher–student)": rows},
        notes=notes,
        metrics=[(r["m"], {f"aligned_barrier_n={r['n']}": r["aligned barrier"]}) for r in rows],
        data={"rows": rows, "per": per, "fits": fits},
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    """The gap against width on log–log axes with the fitted and the theory's slopes."""
    from ...plots.overparam import gap_vs_width

    rows = summary.data["rows"]
    series = {}
    for n in cfg.input_dims:
        mine = [r for r in rows if r["n"] == n]
        series[n] = (
            [r["m"] for r in mine],
            [r["line barrier"] for r in mine],
            [r["aligned barrier"] for r in mine],
            summary.data["fits"][n]["aligned"],
        )
    return {
        "gap_vs_width": (
            gap_vs_width(series),
            "barrier between independently trained pairs against width m, before and after "
            "weight matching, with m^(−1/n) for reference",
        )
    }
