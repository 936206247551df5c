"""``landscape reproduce kawaguchi``: the exponential unit that removes bad minima — the catch.

Kawaguchi & Kaelbling 2019, *Elimination of all bad local minima in deep learning*, as the
Golikov lecture states it: adding one unit ``a ⊙ exp(Wx + b)`` per output and ``λ‖a‖²``
(:class:`~landscape.overparam.kawaguchi.KawaguchiLoss`) makes θ a global minimum of the
original loss L at every local minimum of the modified loss L̃. "Where is the catch?"

Phase 1 finds a spurious local minimum of a small ReLU teacher–student regression on m
Gaussian samples: ``seeds`` students (the teacher's own architecture, so the global minimum
value is 0) train as one batched ensemble (Adam, then heavy-ball GD); each end point is
checked with the dense float64 Hessian. A point is a spurious local minimum when
‖∇L‖ ≤ ``grad_tol``, λ_min(H) ≥ −``eig_tol``·λ_max(H) and L ≥ best + ``margin``.
Phase 2 starts the wrapped model there (a = 0, W ~ N(0, ``unit_scale``²), b ~ N(0,
``unit_scale``²); ``unit_seeds`` draws, one batched ensemble) and runs full-batch GD on L̃,
recording L̃, the original loss L(θ_t) of θ alone, ‖W‖, b and |a| at every step; the
paper's final step sets a = 0.

Tables: the search (one row per seed: loss, ‖∇L‖, λ_min, λ_max, verdict); the wrapped runs
(one row per unit draw: L at the spurious start, L̃ at the end, L(θ_T) with a set to 0,
the best value found, ‖W_T‖, b_T, |a_T|, and whether θ_T reached the global-minimum value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field

from ...curvature import dense_hessian, loss_and_gradient
from ...ensemble import train_ensemble
from ...functional import FunctionalModel
from ...models import MLPSpec, build, init_params
from ...optim import SGD, Adam
from ...overparam.kawaguchi import KawaguchiLoss
from ...params import stack
from ...runtime.store import task_key
from .._base import ExperimentConfig
from ..lifecycle import Results, Summary

NAME = "kawaguchi"
TASKS_LABEL = "teacher–student instances"
F64 = torch.float64


class Config(ExperimentConfig):
    """Settings (presets in ``configs/kawaguchi/{quick,full}.yaml``).

    Attributes:
        d: input dimension; units: hidden ReLU units of teacher and student; samples: m.
        seeds: student initialisations searched for a spurious minimum.
        adam_epochs, gd_epochs: phase 1 descent (Adam lr ``adam_lr``, then heavy-ball GD).
        grad_tol, eig_tol, margin: the spurious-minimum test (see the module docstring).
        lam: λ of the penalty; unit_seeds, unit_scale: draws of the unit's W and b.
        kw_epochs, kw_lr: full-batch heavy-ball GD on L̃ (momentum 0.9).
    """

    d: int = Field(default=3, ge=1, le=64)
    units: int = Field(default=3, ge=1, le=64)
    samples: int = Field(default=60, ge=2, le=100_000)
    seeds: int = Field(default=8, ge=1, le=4096)
    adam_epochs: int = Field(default=600, ge=0, le=1_000_000)
    adam_lr: float = Field(default=0.03, gt=0)
    gd_epochs: int = Field(default=800, ge=0, le=1_000_000)
    gd_lr: float = Field(default=0.2, gt=0)
    grad_tol: float = Field(default=1e-8, gt=0)
    eig_tol: float = Field(default=1e-8, ge=0)
    margin: float = Field(default=1e-3, gt=0)
    lam: float = Field(default=1e-3, ge=0)
    unit_seeds: int = Field(default=4, ge=1, le=1024)
    unit_scale: float = Field(default=0.5, gt=0)
    kw_epochs: int = Field(default=1000, ge=1, le=1_000_000)
    kw_lr: float = Field(default=0.02, gt=0)


def instance(cfg: Config) -> tuple[FunctionalModel, MLPSpec, torch.Tensor, torch.Tensor]:
    """The student model, its spec, and the teacher's samples ``(x, y)`` (float64)."""
    spec = MLPSpec(in_features=cfg.d, widths=(cfg.units,), out_features=1)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    x = torch.randn(cfg.samples, cfg.d, generator=gen, dtype=F64)
    fm = FunctionalModel(build(spec, seed=0, dtype=F64), loss="mse")
    teacher = init_params(spec, cfg.seed + 1_000_003, weight="normal", bias="zeros", dtype=F64)
    return fm, spec, x, fm.forward(teacher, x).detach()


def _norm(tree: dict) -> float:
    return float(torch.sqrt(sum((v.double() ** 2).sum() for v in tree.values())))


@dataclass(frozen=True)
class KawaguchiTask:
    """Find a spurious minimum, then train the wrapped model from it."""

    config: dict

    @property
    def key(self) -> str:
        return task_key(seed=Config.model_validate(self.config).seed)

    def run(self) -> dict:
        cfg = Config.model_validate(self.config)
        fm, spec, x, y = instance(cfg)
        inits = stack(
            [
                init_params(spec, s, weight="normal", bias="zeros", dtype=F64)
                for s in range(cfg.seeds)
            ]
        )
        params = inits
        if cfg.adam_epochs:
            params = train_ensemble(
                fm.loss, params, (x, y), Adam(lr=cfg.adam_lr), cfg.adam_epochs, track=False
            ).params
        if cfg.gd_epochs:
            params = train_ensemble(
                fm.loss,
                params,
                (x, y),
                SGD(lr=cfg.gd_lr, momentum=0.9),
                cfg.gd_epochs,
                track=False,
            ).params
        losses, gnorms, lmin, lmax = [], [], [], []
        for e in range(cfg.seeds):
            p = {k: v[e] for k, v in params.items()}
            loss, g = loss_and_gradient(fm.loss, p, (x, y))
            ev = torch.linalg.eigvalsh(dense_hessian(fm.loss, p, (x, y), dtype=F64))
            losses.append(float(loss))
            gnorms.append(_norm(g))
            lmin.append(float(ev[0]))
            lmax.append(float(ev[-1]))
        losses_a, g_a, lmin_a, lmax_a = map(np.asarray, (losses, gnorms, lmin, lmax))
        best = float(losses_a.min())
        minimum = (g_a <= cfg.grad_tol) & (lmin_a >= -cfg.eig_tol * np.abs(lmax_a))
        spurious = minimum & (losses_a >= best + cfg.margin)
        out = {
            "losses": losses_a,
            "grad_norms": g_a,
            "lambda_min": lmin_a,
            "lambda_max": lmax_a,
            "is_minimum": minimum,
            "is_spurious": spurious,
            "best": best,
            "chosen": -1,
        }
        if not spurious.any():
            return out
        chosen = int(np.flatnonzero(spurious)[0])
        theta = {k: v[chosen] for k, v in params.items()}
        out.update(self._wrapped(cfg, fm, theta, x, y), chosen=chosen)
        return out

    @staticmethod
    def _wrapped(cfg: Config, fm: FunctionalModel, theta: dict, x, y) -> dict:
        kw = KawaguchiLoss(fm, lam=cfg.lam)
        starts = []
        for s in range(cfg.unit_seeds):
            p = kw.init(theta, x, seed=s, scale=cfg.unit_scale)
            gen = torch.Generator().manual_seed(10_007 + s)
            p["exp.b"] = torch.randn(p["exp.b"].shape, generator=gen, dtype=F64) * cfg.unit_scale
            starts.append(p)

        def metrics(p, batch):
            return {
                "original": kw.original(p, batch),
                "W": p["exp.W"].norm(),
                "b": p["exp.b"][0],
                "a": p["exp.a"][0],
            }

        res = train_ensemble(
            kw,
            stack(starts),
            (x, y),
            SGD(lr=cfg.kw_lr, momentum=0.9),
            cfg.kw_epochs,
            eval_data=(x, y),
            metrics=metrics,
        )
        h = {k: v.numpy() for k, v in res.history.items()}
        ends = res.params
        theta_end = {k: v for k, v in ends.items() if not k.startswith("exp.")}
        final = [
            float(fm.loss({k: v[e] for k, v in theta_end.items()}, (x, y)))
            for e in range(cfg.unit_seeds)
        ]
        return {
            "steps": np.arange(h["train_loss"].shape[0]),
            "modified": h["train_loss"],
            "original": h["test_original"],
            "W": h["test_W"],
            "b": h["test_b"],
            "a": h["test_a"],
            "final_original": np.asarray(final),
            "diverged": res.diverged.numpy(),
        }


def tasks(cfg: Config) -> list:
    return [KawaguchiTask(cfg.model_dump(mode="json"))]


def reduce(cfg: Config, results: Results) -> Summary:
    """The search table and the wrapped-run table."""
    ((_, r),) = results
    verdict = np.where(
        r["is_spurious"],
        "spurious minimum",
        np.where(r["is_minimum"], "minimum", "not critical / saddle"),
    )
    search = [
        {
            "seed": e,
            "loss L": float(r["losses"][e]),
            "‖∇L‖": float(r["grad_norms"][e]),
            "λ_min(H)": float(r["lambda_min"][e]),
            "λ_max(H)": float(r["lambda_max"][e]),
            "verdict": str(verdict[e]),
        }
        for e in range(len(r["losses"]))
    ]
    best = float(r["best"])
    tables = {"phase 1: student seeds (dense float64 Hessian)": search}
    notes = [
        f"best loss found over the seeds (the global-minimum value, teacher realisable): {best:.3g}"
    ]
    data = {"search": search, "best": best}
    if int(r["chosen"]) < 0:
        notes.append("no spurious local minimum among the seeds: phase 2 skipped")
        return Summary(tables=tables, notes=notes, data=data)
    start = float(r["losses"][int(r["chosen"])])
    rows = []
    for u in range(len(r["final_original"])):
        final = float(r["final_original"][u])
        rows.append(
            {
                "unit seed": u,
                "L at start (spurious)": start,
                "L̃ at end": float(r["modified"][-1, u]),
                "L(θ_T), a set to 0": final,
                "best L found": best,
                "‖W_T‖": float(r["W"][-1, u]),
                "b_T": float(r["b"][-1, u]),
                "|a_T|": abs(float(r["a"][-1, u])),
                "θ_T global?": "yes" if final <= best + cfg.margin else "no",
            }
        )
    tables["phase 2: L̃ from the spurious minimum (a = 0, W and b random)"] = rows
    notes.append(
        f"spurious minimum: seed {int(r['chosen'])}, L = {start:.4g} "
        f"(best {best:.3g}), ‖∇L‖ = {r['grad_norms'][int(r['chosen'])]:.1e}"
    )
    reached = sum(row["θ_T global?"] == "yes" for row in rows)
    notes.append(
        f"L̃ fell below the spurious L in {sum(row['L̃ at end'] < start for row in rows)} of "
        f"{len(rows)} runs; θ_T reached the global-minimum value in {reached} of {len(rows)}"
    )
    data.update(trajectory=r, start=start, rows=rows)
    return Summary(
        tables=tables,
        notes=notes,
        metrics=[
            (int(s), {"L̃ (unit 0)": float(r["modified"][s, 0])})
            for s in r["steps"][:: max(1, len(r["steps"]) // 50)]
        ],
        arrays={
            "trajectory": {
                k: np.asarray(r[k]) for k in ("steps", "modified", "original", "W", "b", "a")
            }
        },
        data=data,
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    if "trajectory" not in summary.data:
        return {}
    from ...plots.convergence import kawaguchi_losses, kawaguchi_unit

    t, start, best = summary.data["trajectory"], summary.data["start"], summary.data["best"]
    return {
        "kawaguchi_losses": (
            kawaguchi_losses(t, start, best),
            "L̃ and the original loss of θ alone along GD on L̃, from the spurious minimum",
        ),
        "kawaguchi_unit": (
            kawaguchi_unit(t),
            "the exponential unit's ‖W‖, b and |a| along GD on L̃ (the catch)",
        ),
    }
