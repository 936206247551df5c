"""``landscape reproduce safran-shamir``: spurious local minima of the ReLU teacher–student.

Safran & Shamir 2018, *Spurious Local Minima are Common in Two-Layer ReLU Neural Networks*
(ICML): with Gaussian inputs and a teacher of the same shape, ``x ↦ Σ_{j≤k} relu(v_j·x)``
with ``V = I_k``, gradient descent on the closed-form population loss from Xavier starts
ends at spurious local minima (``F ≥ 1e-3``, Hessian positive definite) often for
``6 ≤ k ≤ 20``: in their runs the rate at ``n = k`` student neurons rises from well under 1 %
at ``k = 6`` to about a third at ``k = 10`` and above 90 % at ``k = 20``; with one extra
neuron (``n = k + 1``) it stays near 0 up to ``k ≈ 12`` and then rises.

The table has one row per ``(k, n)``: the starts, how many converged (every neuron's
``‖2π ∇F‖ ≤ tol``), how many did not within the budget (and how many of those had
``F ≥ 1e-3``), the verified spurious minima as a percentage of *all* starts with its
Wilson 95 % interval, converged points with ``F ≥ 1e-3`` that were not minima (saddles),
the number of families (points equal up to permutations), and the smallest spurious ``F``
with its ``λ_min``. The search is :func:`landscape.overparam.spurious_minima`; starts are
split into tasks of ``runs_per_task`` (start ``r`` has its own seed, so the split does not
change the result) and families are matched again across tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ...overparam.spurious import match_families, spurious_minima
from ...runtime.store import task_key
from .._base import ExperimentConfig
from ..lifecycle import Results, Summary

NAME = "safran-shamir"
TASKS_LABEL = "searches (k × n × chunk)"

NChoice = Literal["k", "k+1", "k+2", "2k"]
_OFFSETS = {"k": lambda k: k, "k+1": lambda k: k + 1, "k+2": lambda k: k + 2, "2k": lambda k: 2 * k}
MAX_RUNS = 1_000_000
MAX_TASKS = 100_000


class Config(ExperimentConfig):
    """Settings (presets in ``configs/safran-shamir/{quick,full}.yaml``).

    Attributes:
        ks: teacher sizes ``k`` (input dimension ``d = k``), 2 … 100.
        students: student sizes as ``"k"``, ``"k+1"``, ``"k+2"``, ``"2k"``.
        runs: random starts per ``(k, n)`` (the authors: 1000).
        runs_per_task: starts searched together in one batched task.
        step, tol, max_steps: plain gradient descent (step 0.1, ``‖2π∇_{w_i}F‖ ≤ 1e-9``).
        newton_below: ``None`` (the authors' protocol), or a gradient norm below which a
            start near a strict minimum finishes with Newton steps (the quick form's budget).
        threshold: ``F`` at or above which a converged point is spurious (1e-3).
        family_tol: relative tolerance for merging points into families.
    """

    ks: list[Annotated[int, Field(ge=2, le=100)]] = Field(
        default_factory=lambda: list(range(6, 21)), min_length=1, max_length=200
    )
    students: list[NChoice] = Field(default_factory=lambda: ["k", "k+1"], min_length=1)
    runs: int = Field(default=1000, ge=1, le=MAX_RUNS)
    runs_per_task: int = Field(default=250, ge=1, le=MAX_RUNS)
    step: float = Field(default=0.1, gt=0, le=10)
    tol: float = Field(default=1e-9, gt=0)
    max_steps: int = Field(default=200_000, ge=1, le=100_000_000)
    newton_below: float | None = Field(default=None, gt=0)
    threshold: float = Field(default=1e-3, gt=0)
    family_tol: float = Field(default=1e-4, gt=0, lt=1)

    @model_validator(mode="after")
    def _sweep(self) -> Config:
        for name, values in (("ks", self.ks), ("students", self.students)):
            dup = sorted({str(v) for v in values if values.count(v) > 1})
            if dup:
                raise ValueError(f"{name} lists {dup[0]} more than once; list each once")
        n_tasks = len(self.ks) * len(self.students) * -(-self.runs // self.runs_per_task)
        if n_tasks > MAX_TASKS:
            raise ValueError(
                f"the sweep makes {n_tasks:,} tasks (limit {MAX_TASKS:,}); raise runs_per_task"
            )
        return self


@dataclass(frozen=True)
class SearchTask:
    """Starts ``first .. first + count − 1`` of the search at ``(k, n)``."""

    k: int
    n: int
    first: int
    count: int
    settings: dict

    @property
    def key(self) -> str:
        return task_key(k=self.k, n=self.n, first=self.first)

    def run(self) -> dict[str, Any]:
        s = self.settings
        rec = spurious_minima(
            self.k,
            self.n,
            self.count,
            seed=s["seed"],
            first=self.first,
            step=s["step"],
            tol=s["tol"],
            max_steps=s["max_steps"],
            newton_below=s["newton_below"],
            threshold=s["threshold"],
            family_tol=s["family_tol"],
            device=s["device"],
        )
        sp = rec.spurious
        return {
            "loss": rec.loss,
            "grad_norm": rec.grad_norm,
            "steps": rec.steps,
            "converged": rec.converged,
            "lambda_min": rec.lambda_min,
            "spurious": sp,
            "saddle": rec.saddle,
            "points": rec.W[sp] if rec.W is not None else np.zeros((0, self.n, self.k)),
        }


def tasks(cfg: Config) -> list[SearchTask]:
    """``(k, n)`` × chunks of ``runs_per_task`` starts."""
    settings = {
        "seed": cfg.seed,
        "step": cfg.step,
        "tol": cfg.tol,
        "max_steps": cfg.max_steps,
        "newton_below": cfg.newton_below,
        "threshold": cfg.threshold,
        "family_tol": cfg.family_tol,
        "device": cfg.device,
    }
    return [
        SearchTask(k, _OFFSETS[c](k), first, min(cfg.runs_per_task, cfg.runs - first), settings)
        for k in cfg.ks
        for c in cfg.students
        for first in range(0, cfg.runs, cfg.runs_per_task)
    ]


def wilson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (scipy), as fractions."""
    if trials == 0:
        return math.nan, math.nan
    from scipy.stats import binomtest

    ci = binomtest(successes, trials).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def _gather(results: Results, k: int, n: int) -> dict[str, np.ndarray]:
    parts = [r for t, r in results if t.k == k and t.n == n]
    return {key: np.concatenate([np.asarray(p[key]) for p in parts]) for key in parts[0]}


def _row(cfg: Config, choice: str, k: int, n: int, r: dict[str, np.ndarray]) -> dict:
    runs = int(r["loss"].shape[0])
    conv = r["converged"].astype(bool)
    sp = r["spurious"].astype(bool)
    n_sp = int(sp.sum())
    lo, hi = wilson(n_sp, runs)
    fam = np.full(runs, -1)
    if n_sp:
        ids, _ = match_families(r["points"], r["loss"][sp], tol=cfg.family_tol)
        fam[sp] = ids
    best = int(np.flatnonzero(sp)[np.argmin(r["loss"][sp])]) if n_sp else -1
    return {
        "k": k,
        "n": f"{n} ({choice})",
        "runs": runs,
        "converged": int(conv.sum()),
        "not conv.": int((~conv).sum()),
        "not conv., F≥thr": int(((~conv) & (r["loss"] >= cfg.threshold)).sum()),
        "spurious": n_sp,
        "spurious %": 100.0 * n_sp / runs,
        "95% CI": f"[{100 * lo:.1f}, {100 * hi:.1f}]",
        "saddles": int(r["saddle"].astype(bool).sum()),
        "families": int(fam.max() + 1),
        "min spurious F": float(r["loss"][best]) if n_sp else math.nan,
        "its λ_min": float(r["lambda_min"][best]) if n_sp else math.nan,
        "_ci": (lo, hi),
        "_family": fam,
    }


def reduce(cfg: Config, results: Results) -> Summary:
    """The (k, n) table, the trend notes, every start's outcome."""
    rows, per, fams = [], {}, {}
    for c in cfg.students:
        for k in cfg.ks:
            n = _OFFSETS[c](k)
            r = _gather(results, k, n)
            row = _row(cfg, c, k, n, r)
            fam = row.pop("_family")
            ci = row.pop("_ci")
            rows.append(row)
            per[(c, k)] = {**r, "family": fam, "ci": ci}
            sp = r["spurious"].astype(bool)
            fams[(c, k)] = [
                (float(r["loss"][sp][fam[sp] == f].min()), int((fam[sp] == f).sum()))
                for f in range(int(fam.max() + 1))
            ]
    notes = _notes(cfg, rows)
    arrays = {
        f"{key}_{c}_k={k}": v
        for (c, k), r in per.items()
        for key, v in r.items()
        if key not in ("points", "ci")
    }
    metrics = [
        (k, {f"spurious_pct_{c}": per[(c, k)]["spurious"].mean() * 100 for c in cfg.students})
        for k in cfg.ks
    ]
    return Summary(
        tables={"spurious minima of the ReLU teacher–student (V = I_k, Gaussian inputs)": rows},
        notes=notes,
        metrics=metrics,
        arrays={"runs": arrays},
        data={"rows": rows, "per": per, "families": fams},
    )


def _notes(cfg: Config, rows: list[dict]) -> list[str]:
    notes = []
    for c in cfg.students:
        mine = [r for r in rows if r["n"].endswith(f"({c})")]
        rates = ", ".join(f"k={r['k']}: {r['spurious %']:.1f}%" for r in mine)
        notes.append(f"n = {c}: spurious minima {rates}")
    nc = sum(r["not conv."] for r in rows)
    if nc:
        notes.append(
            f"{nc} start(s) did not converge within max_steps={cfg.max_steps} (counted as "
            "not spurious; see 'not conv., F≥thr' for those still above the threshold)"
        )
    sad = sum(r["saddles"] for r in rows)
    if sad:
        notes.append(f"{sad} converged point(s) with F ≥ {cfg.threshold:g} were not minima")
    notes.append(
        "published (Safran & Shamir 2018, 1000 runs): n = k from well under 1% at k = 6 to "
        "about a third at k = 10 and above 90% at k = 20; n = k + 1 near 0 up to k ≈ 12"
    )
    return notes


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    """Spurious % against k per student size; the families' losses on a log axis."""
    from ...plots.overparam import spurious_families, spurious_rate

    per = summary.data["per"]
    series = {
        c: (
            [k for k in cfg.ks],
            [100 * per[(c, k)]["spurious"].mean() for k in cfg.ks],
            [tuple(100 * x for x in per[(c, k)]["ci"]) for k in cfg.ks],
        )
        for c in cfg.students
    }
    out = {
        "spurious_rate": (
            spurious_rate(series, runs=cfg.runs),
            "verified spurious minima (% of starts, Wilson 95% interval) against k",
        )
    }
    fams = summary.data["families"]
    if any(fams.values()):
        out["spurious_families"] = (
            spurious_families(fams, threshold=cfg.threshold),
            "loss F of each family of spurious minima against k (marker area ∝ runs)",
        )
    return out
