"""``landscape reproduce kawaguchi``: the exponential unit that removes bad minima — the catch.

Kawaguchi & Kaelbling 2019, *Elimination of all bad local minima in deep learning*, as the
Golikov lecture states it: adding one unit ``a ⊙ exp(Wx + b)`` per output and ``λ‖a‖²``
(:class:`~landscape.overparam.kawaguchi.KawaguchiLoss`) makes θ a global minimum of the
original loss L at every local minimum of the modified loss L̃ (all parameters finite).
"Where is the catch?" — the bad minima are not removed but moved to infinity (Sohl-Dickstein
& Kawaguchi 2019): for λ > 0 no point with a ≠ 0 is a local minimum of L̃, since
``(a, b) → (a e^{−s}, b + s)`` leaves the unit's output unchanged and lowers λ‖a‖²; a descent
that needs the unit to get below the spurious value must follow b → ∞, a → 0.

Phase 1 finds a spurious local minimum of a small ReLU teacher–student regression on m
Gaussian samples: ``seeds`` students (the teacher's own architecture, so the global minimum
value of L is 0, attained at the teacher) train as one batched ensemble (Adam, then
heavy-ball GD); each end point is checked with the dense float64 Hessian. A point is a
spurious local minimum when ‖∇L‖ ≤ ``grad_tol``, λ_min(H) ≥ −``eig_tol``·λ_max(H) and
L ≥ 0 + ``margin``.

Phase 2 starts the wrapped model there (a = 0, W ~ N(0, ``unit_scale``²), b ~ N(0,
``unit_scale``²); ``unit_seeds`` draws) and descends L̃ (``kw_optimizer``: Adam or heavy-ball
GD, full batch, ``kw_epochs`` steps), recording every ``record_every`` steps L̃, the original
loss L(θ_t) of θ alone (a set to 0), |a|, b, ‖W‖ and the unit's amplitude
max_i |a e^{W x_i + b}|. The same batched run carries the controls: the teacher's own
parameters (L = 0, a = 0, a global and hence local minimum of L̃ at finite parameters: L̃ ≥ 0
everywhere), the teacher perturbed by N(0, ``control_noise``²) on θ and a, and
``random_starts`` random θ (a = 0).

Verdicts per run: *eliminated* — ‖∇_a L̃‖ > ``grad_tol`` at the start, so the spurious minimum
of L is not a critical point of L̃; *θ_T global* — L(θ_T) ≤ 0 + ``margin``; *unit runs off* —
the least-squares slope of b_t against log t over the second half of the run is positive and
the amplitude has not decayed (at T at least half its value at T/2, and above √margin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch.func import grad_and_value, vmap

from ...curvature import dense_hessian, loss_and_gradient
from ...ensemble import train_ensemble
from ...functional import FunctionalModel
from ...models import MLPSpec, build, init_params
from ...optim import SGD, Adam
from ...overparam.kawaguchi import EXP_KEYS, KawaguchiLoss
from ...params import stack
from ...runtime.executor import torch_threads
from ...runtime.store import task_key
from .._base import ExperimentConfig
from ..lifecycle import Results, Summary

NAME = "kawaguchi"
TASKS_LABEL = "teacher–student instances"
F64 = torch.float64
#: the global minimum value of L: the student has the teacher's architecture (realisable)
GLOBAL_VALUE = 0.0
#: titles of the tables (the tests and the report read them)
SEARCH_TABLE = "phase 1: student seeds (dense float64 Hessian)"
RUNS_TABLE = "phase 2: descent on L̃ from the spurious minimum (a = 0, W and b drawn)"
CONTROL_TABLE = "control: descent on L̃ from the teacher (global minimum of L) and random θ"
HESSIAN_TABLE = "control: the teacher's parameters under L̃ (a = 0; dense float64 Hessian)"


class Config(ExperimentConfig):
    """Settings (presets in ``configs/kawaguchi/{quick,full}.yaml``).

    Attributes:
        d: input dimension; units: hidden ReLU units of teacher and student; samples: m.
        seeds: student initialisations searched for a spurious minimum.
        adam_epochs, gd_epochs: phase 1 descent (Adam lr ``adam_lr``, then heavy-ball GD).
        grad_tol, eig_tol, margin: the spurious-minimum test and the verdicts (see the
            module docstring).
        lam: λ of the penalty; unit_seeds, unit_scale: draws of the unit's W and b.
        kw_optimizer, kw_lr, kw_momentum, kw_epochs: the full-batch descent on L̃ (the
            momentum is heavy-ball GD's, unused by Adam).
        record_every: steps between recorded points of the trajectories.
        control_noise: std of the perturbation of the teacher (θ and a) in the control.
        random_starts: random θ (a = 0) descended on L̃ as a further control.
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
    lam: float = Field(default=0.1, ge=0)
    unit_seeds: int = Field(default=4, ge=1, le=1024)
    unit_scale: float = Field(default=0.5, gt=0)
    kw_optimizer: Literal["adam", "sgd"] = "adam"
    kw_lr: float = Field(default=0.01, gt=0)
    kw_momentum: float = Field(default=0.9, ge=0, lt=1)
    kw_epochs: int = Field(default=2000, ge=1, le=1_000_000)
    record_every: int = Field(default=10, ge=1, le=1_000_000)
    control_noise: float = Field(default=0.05, ge=0)
    random_starts: int = Field(default=2, ge=0, le=1024)


def instance(
    cfg: Config,
) -> tuple[FunctionalModel, MLPSpec, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The student model, its spec, the teacher's samples ``(x, y)`` and the teacher's
    parameters (float64)."""
    spec = MLPSpec(in_features=cfg.d, widths=(cfg.units,), out_features=1)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    x = torch.randn(cfg.samples, cfg.d, generator=gen, dtype=F64)
    fm = FunctionalModel(build(spec, seed=0, dtype=F64), loss="mse")
    teacher = init_params(spec, cfg.seed + 1_000_003, weight="normal", bias="zeros", dtype=F64)
    return fm, spec, x, fm.forward(teacher, x).detach(), teacher


def _norm(tree: dict) -> float:
    return float(torch.sqrt(sum((v.double() ** 2).sum() for v in tree.values())))


def _slope(steps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``values`` (T, E) against log t over the second half (t > 0)."""
    t = np.asarray(steps, float)
    sel = (t >= t[-1] / 2) & (t > 0)
    v = np.asarray(values, float)[sel]
    out = np.full(v.shape[1], np.nan)
    ok = np.isfinite(v).all(0)
    if sel.sum() >= 2 and ok.any():
        out[ok] = np.polyfit(np.log(t[sel]), v[:, ok], 1)[0]
    return out


def descend(
    kw: KawaguchiLoss,
    starts: dict[str, torch.Tensor],
    data: tuple[torch.Tensor, torch.Tensor],
    optimizer: Adam | SGD,
    epochs: int,
    record_every: int,
) -> dict[str, np.ndarray]:
    """Full-batch descent of L̃ for a stacked ensemble (:func:`train_ensemble`, one step per
    epoch), recorded every ``record_every`` steps.

    Returns arrays: ``steps`` (R,), and (R, E) ``modified`` (L̃), ``original`` (L(θ_t)),
    ``a``, ``b`` (first output), ``W`` (‖W‖), ``amplitude`` (max_i |a e^{W x_i + b}|); (E,)
    ``grad_a``, ``grad_theta`` (gradient norms at the start) and ``diverged``.
    """
    x, y = data

    def metrics(p: dict, batch: tuple) -> dict:
        return {
            "original": kw.original(p, batch),
            "a": p["exp.a"][0],
            "b": p["exp.b"][0],
            "W": p["exp.W"].norm(),
            "amplitude": kw.unit(p, batch[0]).abs().max(),
        }

    grads, _ = vmap(grad_and_value(kw), in_dims=(0, None))(starts, (x, y))
    e = grads["exp.a"].shape[0]
    res = train_ensemble(
        kw,
        starts,
        (x, y),
        optimizer,
        epochs,
        eval_data=(x, y),
        metrics=metrics,
        eval_chunk=None,  # one chunk: the amplitude is a maximum over the samples
        eval_every=record_every,
    )
    h = {k.removeprefix("test_"): v.numpy() for k, v in res.history.items()}
    return {
        "steps": np.asarray(res.eval_epochs),
        "modified": h.pop("train_loss"),
        **h,
        "grad_a": np.asarray([_norm({"a": grads["exp.a"][i]}) for i in range(e)]),
        "grad_theta": np.asarray(
            [_norm({k: g[i] for k, g in grads.items() if k not in EXP_KEYS}) for i in range(e)]
        ),
        "diverged": res.diverged.numpy(),
    }


@dataclass(frozen=True)
class KawaguchiTask:
    """Find a spurious minimum, then descend L̃ from it and from the controls."""

    config: dict

    @property
    def key(self) -> str:
        return task_key(seed=Config.model_validate(self.config).seed)

    def run(self) -> dict:
        with torch_threads(1):  # a few dozen parameters: one thread is fastest
            return self._run(Config.model_validate(self.config))

    def _run(self, cfg: Config) -> dict:
        fm, spec, x, y, teacher = instance(cfg)
        params = stack(
            [
                init_params(spec, s, weight="normal", bias="zeros", dtype=F64)
                for s in range(cfg.seeds)
            ]
        )
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
        minimum = (g_a <= cfg.grad_tol) & (lmin_a >= -cfg.eig_tol * np.abs(lmax_a))
        spurious = minimum & (losses_a >= GLOBAL_VALUE + cfg.margin)
        chosen = int(np.flatnonzero(spurious)[0]) if spurious.any() else -1
        out = {
            "losses": losses_a,
            "grad_norms": g_a,
            "lambda_min": lmin_a,
            "lambda_max": lmax_a,
            "is_minimum": minimum,
            "is_spurious": spurious,
            "best": float(losses_a.min()),
            "chosen": chosen,
            "teacher_loss": float(fm.loss(teacher, (x, y))),
        }
        kw = KawaguchiLoss(fm, lam=cfg.lam)
        out.update(self._control_hessian(cfg, kw, teacher, x, y))
        starts, kinds = [], []
        if chosen >= 0:
            theta = {k: v[chosen] for k, v in params.items()}
            starts += [self._unit(cfg, kw, theta, x, s) for s in range(cfg.unit_seeds)]
            kinds += ["spurious"] * cfg.unit_seeds
        starts.append(self._unit(cfg, kw, teacher, x, 0))
        kinds.append("teacher")
        gen = torch.Generator().manual_seed(cfg.seed + 77)
        noisy = self._unit(cfg, kw, teacher, x, 0)
        for k in noisy:
            if k not in ("exp.W", "exp.b"):
                noisy[k] = noisy[k] + cfg.control_noise * torch.randn(
                    noisy[k].shape, generator=gen, dtype=F64
                )
        starts.append(noisy)
        kinds.append("teacher + noise")
        for s in range(cfg.random_starts):
            theta = init_params(spec, 5_000 + s, weight="normal", bias="zeros", dtype=F64)
            starts.append(self._unit(cfg, kw, theta, x, s))
            kinds.append("random θ")
        optimizer = (
            Adam(lr=cfg.kw_lr)
            if cfg.kw_optimizer == "adam"
            else SGD(lr=cfg.kw_lr, momentum=cfg.kw_momentum)
        )
        traj = descend(kw, stack(starts), (x, y), optimizer, cfg.kw_epochs, cfg.record_every)
        out.update(traj, kinds=kinds, start_losses=traj["original"][0])
        return out

    @staticmethod
    def _unit(cfg: Config, kw: KawaguchiLoss, theta: dict, x: torch.Tensor, s: int) -> dict:
        """θ with the unit of draw ``s``: a = 0, W and b ~ N(0, unit_scale²)."""
        p = kw.init(theta, x, seed=s, scale=cfg.unit_scale)
        gen = torch.Generator().manual_seed(10_007 + s)
        p["exp.b"] = torch.randn(p["exp.b"].shape, generator=gen, dtype=F64) * cfg.unit_scale
        return p

    def _control_hessian(self, cfg: Config, kw: KawaguchiLoss, teacher: dict, x, y) -> dict:
        p = self._unit(cfg, kw, teacher, x, 0)
        value, g = loss_and_gradient(kw, p, (x, y))
        ev = torch.linalg.eigvalsh(dense_hessian(kw, p, (x, y), dtype=F64))
        return {
            "control_value": float(value),
            "control_grad": _norm(g),
            "control_eigs": ev.numpy(),
        }


def tasks(cfg: Config) -> list:
    return [KawaguchiTask(cfg.model_dump(mode="json"))]


def _start_name(kinds: list, u: int) -> str:
    """``kinds[u]``, numbered when the kind occurs more than once (``random θ 1``)."""
    kinds = [str(k) for k in kinds]
    if kinds.count(kinds[u]) == 1:
        return kinds[u]
    return f"{kinds[u]} {kinds[:u].count(kinds[u])}"


#: column names of the run tables (the tests read them)
GA, GT, LT, LO, AMP = "‖∇_a L̃‖₀", "‖∇_θ L̃‖₀", "L̃_T", "L(θ_T), a=0", "amp_T"


def _run_rows(cfg: Config, r: dict, members: np.ndarray, first: str) -> list[dict]:
    """One table row per run: the start's gradients, the end point, the verdicts.

    ``first`` names the first column: ``"draw"`` (the unit draw) or ``"start"`` (its kind).
    """
    steps = np.asarray(r["steps"])
    slope_b = _slope(steps, r["b"])
    with np.errstate(divide="ignore"):
        slope_a = _slope(steps, np.log(np.abs(r["a"])))
    mid = int(np.searchsorted(steps, steps[-1] / 2))
    rows = []
    for i, u in enumerate(members):
        amp, amp_mid = float(r["amplitude"][-1, u]), float(r["amplitude"][mid, u])
        final = float(r["original"][-1, u])
        runs_off = bool(slope_b[u] > 0) and amp >= 0.5 * amp_mid and amp > math.sqrt(cfg.margin)
        rows.append(
            {
                first: i if first == "draw" else _start_name(r["kinds"], u),
                GA: float(r["grad_a"][u]),
                GT: float(r["grad_theta"][u]),
                LT: float(r["modified"][-1, u]),
                LO: final,
                "|a_T|": abs(float(r["a"][-1, u])),
                "b_T": float(r["b"][-1, u]),
                "‖W_T‖": float(r["W"][-1, u]),
                AMP: amp,
                "db/dlog t": float(slope_b[u]),
                "dlog|a|/dlog t": float(slope_a[u]),
                "eliminated": "yes" if r["grad_a"][u] > cfg.grad_tol else "no",
                "θ_T global": "yes" if final <= GLOBAL_VALUE + cfg.margin else "no",
                "runs off": "yes" if runs_off else "no",
            }
        )
    return rows


def _span(rows: list[dict], key: str, fmt: str) -> str:
    values = [row[key] for row in rows]
    return f"{min(values):{fmt}} … {max(values):{fmt}}"


def _outcome_notes(cfg: Config, rows: list[dict], start: float) -> list[str]:
    """The outcome from the spurious minimum, stated plainly."""
    n = len(rows)
    elim = sum(row["eliminated"] == "yes" for row in rows)
    glob = sum(row["θ_T global"] == "yes" for row in rows)
    off = sum(row["runs off"] == "yes" for row in rows)
    below = sum(row[LT] < start for row in rows)
    shallow = sum(row[LT] >= 0.9 * start for row in rows)
    notes = [
        f"eliminated in {elim} of {n} draws: at the spurious point ‖∇_a L̃‖ = "
        f"{_span(rows, GA, '.1e')} while ‖∇_θ L̃‖ = ‖∇L‖ ≤ {max(row[GT] for row in rows):.1e}, "
        "so the spurious minimum of L is not a critical point of L̃",
        f"L̃ fell below the spurious L = {start:.4g} in {below} of {n} runs: L̃_T = "
        f"{_span(rows, LT, '.3g')}; {shallow} of the {n} ended within 10% of the spurious L "
        "(the global minimum value of L̃ is 0, at the teacher with a = 0)",
        f"θ_T a global minimum of L (L(θ_T) ≤ {GLOBAL_VALUE:g} + {cfg.margin:g}) in {glob} "
        f"of {n} runs: L(θ_T) with a set to 0 = {_span(rows, LO, '.3g')}, against "
        f"{start:.4g} at the start",
        f"the unit runs off in {off} of {n} runs: b grows like c·log t, c = "
        f"{_span(rows, 'db/dlog t', '.2f')} over the second half; |a| shrinks like t^p, p = "
        f"{_span(rows, 'dlog|a|/dlog t', '.2f')} (|a_T| = {_span(rows, '|a_T|', '.2g')}); "
        f"the amplitude amp_T = max_i |a e^(W x_i + b)| = {_span(rows, AMP, '.2g')} does not "
        "vanish and θ compensates it",
    ]
    if off == n and glob == 0:
        notes.append(
            f"the catch: in {cfg.kw_epochs} steps no descent from the spurious minimum settled "
            "at finite parameters or reached a global θ: the bad minimum is not removed but "
            "moved to infinity "
            "(Sohl-Dickstein & Kawaguchi 2019). For λ > 0 no point with a ≠ 0 is a local "
            "minimum of L̃: (a, b) → (a e^(−s), b + s) keeps the unit's output and lowers λ‖a‖²"
        )
    return notes


def reduce(cfg: Config, results: Results) -> Summary:
    """The search table, the runs from the spurious minimum, the controls."""
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
    chosen = int(r["chosen"])
    kinds = np.asarray(r["kinds"])
    spur = np.flatnonzero(kinds == "spurious")
    ctrl = np.flatnonzero(kinds != "spurious")
    tables = {SEARCH_TABLE: search}
    notes = [
        f"global minimum value of L: {GLOBAL_VALUE:g} (student = teacher architecture; "
        f"L at the teacher = {float(r['teacher_loss']):.1e}); best student of phase 1: "
        f"L = {best:.3g} ({verdict[int(np.argmin(r['losses']))]}"
        f"{', above the global value' if best > GLOBAL_VALUE + cfg.margin else ''})"
    ]
    data: dict = {"search": search, "best": best, "global": GLOBAL_VALUE}
    start = float(r["losses"][chosen]) if chosen >= 0 else float("nan")
    if chosen < 0:
        notes.append("no spurious local minimum among the seeds: phase 2 has only the controls")
    else:
        notes.append(
            f"spurious minimum: seed {chosen}, L = {start:.4g}, ‖∇L‖ = "
            f"{r['grad_norms'][chosen]:.1e}, λ_min(H) = {r['lambda_min'][chosen]:.1e}"
        )
    eigs = np.asarray(r["control_eigs"])
    lmax = float(eigs[-1])
    is_min = bool(r["control_grad"] <= cfg.grad_tol and eigs[0] >= -cfg.eig_tol * abs(lmax))
    tables[HESSIAN_TABLE] = [
        {
            "L̃": float(r["control_value"]),
            "‖∇L̃‖": float(r["control_grad"]),
            "λ_min": float(eigs[0]),
            "λ_max": lmax,
            "flat directions (|λ| ≤ eig_tol·λ_max)": int(
                (np.abs(eigs) <= cfg.eig_tol * abs(lmax)).sum()
            ),
            "parameters": int(eigs.size),
            "verdict": "local minimum" if is_min else "not a local minimum",
        }
    ]
    rows = _run_rows(cfg, r, spur, "draw")
    controls = _run_rows(cfg, r, ctrl, "start")
    if rows:
        tables[RUNS_TABLE] = rows
    tables[CONTROL_TABLE] = controls
    if rows:
        notes += _outcome_notes(cfg, rows, start)
    teacher = controls[0]
    notes.append(
        f"control: at the teacher (L = 0, a = 0) L̃ = {float(r['control_value']):.1e}, "
        f"‖∇L̃‖ = {float(r['control_grad']):.1e}, λ_min(H̃) = {float(eigs[0]):.1e} "
        f"{'≥' if is_min else '<'} −{cfg.eig_tol:g}·λ_max: "
        f"{'a' if is_min else 'not a'} local minimum of L̃ at finite parameters (L̃ ≥ 0 "
        f"everywhere, so a global one); the descent stays: |a_T| = {teacher['|a_T|']:.1e}, "
        f"L(θ_T) = {teacher[LO]:.1e}"
    )
    for row in controls[1:]:
        notes.append(
            f"control, start {row['start']}: L̃_T = {row[LT]:.3g}, L(θ_T) = {row[LO]:.3g}, "
            f"|a_T| = {row['|a_T|']:.2g}, b_T = {row['b_T']:.2f}, amp_T = {row[AMP]:.2g} "
            f"(θ_T global: {row['θ_T global']}; unit runs off: {row['runs off']})"
        )
    if r["diverged"].any():
        notes.append(
            f"{int(r['diverged'].sum())} run(s) went non-finite and were frozen at their "
            "last finite point"
        )
    traj_keys = ("steps", "modified", "original", "W", "b", "a", "amplitude")
    traj = {k: np.asarray(r[k]) for k in traj_keys}
    data.update(trajectory=traj, kinds=list(kinds), start=start, rows=rows, controls=controls)
    return Summary(
        tables=tables,
        notes=notes,
        metrics=[
            (int(s), {"L̃ (run 0)": float(r["modified"][i, 0])})
            for i, s in list(enumerate(r["steps"]))[:: max(1, len(r["steps"]) // 50)]
        ],
        arrays={"trajectory": {**traj, "kinds": np.asarray(kinds)}},
        data=data,
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    from ...plots.convergence import kawaguchi_losses, kawaguchi_unit

    d = summary.data
    t, kinds = d["trajectory"], d["kinds"]
    out = {
        "kawaguchi_losses": (
            kawaguchi_losses(t, kinds, d["start"], d["global"], cfg.margin, d["best"]),
            "L̃ and the original loss L(θ_t) of θ alone (a set to 0) along the descent on L̃, "
            "from the spurious minimum and from the controls (the exact teacher run, "
            "identically 0, is not drawn)",
        ),
    }
    if "spurious" in kinds:
        out["kawaguchi_unit"] = (
            kawaguchi_unit(t, kinds),
            "the exponential unit along the descent from the spurious minimum: |a| shrinks, "
            "b grows like log t (dashed: least-squares fit over the second half), the "
            "amplitude max|a e^(Wx+b)| stays O(1) — the catch",
        )
    return out
