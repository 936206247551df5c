"""``landscape reproduce freeman-bruna``: connectivity and curviness of level sets.

Freeman & Bruna 2017, *Topology and Geometry of Half-Rectified Network Optimization*:
pairs of independently trained models are joined by Dynamic String Sampling below a
threshold ``L0``; the normalized geodesic length of the string (weights only, as in
their figures) and its number of beads are recorded against ``L0``. Three parts:

1. 1-4-4-1 sigmoid MLPs on the quadratic and cubic polynomial regressions (mean
   absolute error; weights U[−1, 1], biases N(0, 1), Adam) — or the bias-free variant
   with a sigmoid output unit used for their published quadratic figures;
2. a digits MLP with thresholds on test error (beads descend the cross-entropy);
3. the symmetry example of their section 2: two parameter vectors of a two-unit ReLU
   net with zero empirical risk whose midpoint has risk 1/2, profiled by the library.

Phase 1 trains every model of a task in one batched ensemble; phase 2 connects each
(pair, threshold) as its own task, so an interrupted sweep resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ... import data
from ...connect import Profile, classification_error, dss, dss_constrained, interpolate
from ...ensemble import train_ensemble
from ...functional import FunctionalModel, evaluate_points
from ...models import MLPSpec, build, init_params
from ...optim import Adam
from ...params import stack
from ...runtime.config import StrictModel
from ...runtime.executor import Executor
from ...runtime.store import Store, task_key
from ...runtime.sweep import run_sweep
from .._base import ExperimentConfig, Result, resolve_device, torch_dtype

NAME = "freeman-bruna"


class PolyConfig(StrictModel):
    """Part (i): polynomial regression with 1-4-4-1 sigmoid MLPs."""

    problems: list[Literal["quadratic", "cubic"]] = Field(
        default_factory=lambda: ["quadratic", "cubic"]
    )
    variant: Literal["bias", "nobias-sigmoid-out"] = "bias"
    n_train: int = Field(default=10_000, ge=10)
    pairs: int = Field(default=5, ge=1)
    train_steps: int = Field(default=5000, ge=1)
    train_lr: float = Field(default=1e-2, gt=0)
    thresholds: list[float] = Field(default_factory=lambda: [0.1, 0.07, 0.05, 0.035, 0.025])


class DigitsConfig(StrictModel):
    """Part (ii): a digits MLP, thresholds on test error."""

    enabled: bool = True
    widths: list[int] = Field(default_factory=lambda: [32])
    pairs: int = Field(default=3, ge=1)
    train_epochs: int = Field(default=40, ge=1)
    train_lr: float = Field(default=1e-2, gt=0)
    batch_size: int = Field(default=128, ge=1)
    thresholds: list[float] = Field(default_factory=lambda: [0.15, 0.10, 0.07, 0.05])


class Config(ExperimentConfig):
    """Settings (presets in ``configs/freeman-bruna/{quick,full}.yaml``).

    Attributes:
        method: ``dss`` (greedy, Algorithm 1) or ``dss-constrained`` (batched string).
        alpha: beads are trained to ``alpha · L0``.
        bead_lr, max_steps, max_beads, max_depth, grid: DSS settings (Adam on beads).
    """

    polynomial: PolyConfig = Field(default_factory=PolyConfig)
    digits: DigitsConfig = Field(default_factory=DigitsConfig)
    method: Literal["dss", "dss-constrained"] = "dss"
    alpha: float = Field(default=0.95, gt=0, lt=1)
    bead_lr: float = Field(default=1e-2, gt=0)
    max_steps: int = Field(default=3000, ge=1)
    max_beads: int = Field(default=32, ge=1)
    max_depth: int = Field(default=8, ge=1)
    grid: int = Field(default=33, ge=3)


# ---------------------------------------------------------------- problems


def _poly_spec(variant: str) -> MLPSpec:
    if variant == "bias":
        return MLPSpec(in_features=1, widths=(4, 4), out_features=1, activation="sigmoid")
    return MLPSpec(
        in_features=1,
        widths=(4, 4),
        out_features=1,
        activation="sigmoid",
        bias=False,
        output_activation="sigmoid",
    )


def _problem(cfg: Config, problem: str, device: torch.device, dtype: torch.dtype):
    """``(spec, fm, train, measure, measure_data, measure_name, dataset)`` for a problem."""
    if problem == "digits":
        ds = data.digits(seed=cfg.seed, dtype=dtype).to(device)
        spec = MLPSpec(in_features=64, widths=tuple(cfg.digits.widths), out_features=10)
        fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="cross_entropy")
        return spec, fm, ds.train, classification_error(fm.forward), ds.test, "test error", ds
    ds = data.polynomial(
        problem, n_train=cfg.polynomial.n_train, n_test=1000, seed=cfg.seed, dtype=dtype
    ).to(device)
    spec = _poly_spec(cfg.polynomial.variant)
    fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="mae")
    return spec, fm, ds.train, None, None, "MAE", ds


@dataclass(frozen=True)
class TrainTask:
    """Phase 1: train the ``2 × pairs`` endpoint models of one problem together."""

    config: dict
    problem: str

    @property
    def key(self) -> str:
        return task_key(phase="train", problem=self.problem)


def train_endpoints(task: TrainTask) -> dict:
    cfg = Config.model_validate(task.config)
    device, dtype = resolve_device(cfg.device), torch_dtype(cfg.dtype)
    spec, fm, train, measure, mdata, _, _ = _problem(cfg, task.problem, device, dtype)
    if task.problem == "digits":
        n, epochs, lr, bs = (
            2 * cfg.digits.pairs,
            cfg.digits.train_epochs,
            cfg.digits.train_lr,
            cfg.digits.batch_size,
        )
        inits = [
            init_params(spec, cfg.seed * 1000 + i, dtype=dtype, device=device) for i in range(n)
        ]
    else:
        n, epochs, lr, bs = (
            2 * cfg.polynomial.pairs,
            cfg.polynomial.train_steps,
            cfg.polynomial.train_lr,
            None,
        )
        # Freeman & Bruna: weights U[-1, 1], biases N(0, 1)
        inits = [
            init_params(
                spec,
                cfg.seed * 1000 + i,
                weight="uniform",
                bias="normal",
                dtype=dtype,
                device=device,
            )
            for i in range(n)
        ]
    res = train_ensemble(
        fm.loss,
        stack(inits),
        train,
        Adam(lr=lr),
        epochs,
        batch_size=bs,
        seeds=[cfg.seed * 1000 + i for i in range(n)],
        track=False,
    )
    out = {f"param.{k}": v.detach().cpu().numpy() for k, v in res.params.items()}
    out["train_loss"] = evaluate_points(fm.loss, res.params, train).cpu().numpy()
    if measure is not None:
        out["measure"] = evaluate_points(measure, res.params, mdata).cpu().numpy()
    return out


@dataclass(frozen=True)
class ConnectTask:
    """Phase 2: connect pair ``pair`` of ``problem`` below ``threshold``."""

    config: dict
    problem: str
    pair: int
    threshold: float
    endpoints: dict = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        return task_key(phase="connect", problem=self.problem, pair=self.pair, L0=self.threshold)

    def record(self) -> dict:
        return {"problem": self.problem, "pair": self.pair, "threshold": self.threshold}


def connect_pair(task: ConnectTask) -> dict:
    cfg = Config.model_validate(task.config)
    device, dtype = resolve_device(cfg.device), torch_dtype(cfg.dtype)
    _, fm, train, measure, mdata, mname, _ = _problem(cfg, task.problem, device, dtype)
    a, b = (
        {k: torch.as_tensor(v[i], device=device, dtype=dtype) for k, v in task.endpoints.items()}
        for i in (0, 1)
    )
    finder = dss if cfg.method == "dss" else dss_constrained
    res = finder(
        fm.loss,
        a,
        b,
        train,
        task.threshold,
        alpha=cfg.alpha,
        optimizer=Adam(lr=cfg.bead_lr),
        max_steps=cfg.max_steps,
        max_beads=cfg.max_beads,
        max_depth=cfg.max_depth,
        grid=cfg.grid,
        measure=measure,
        measure_data=mdata,
        measure_name=mname,
        seed=cfg.seed + task.pair,
    )
    s = res.summary()
    return {
        "connected": bool(s["connected"]),
        "status": s["status"],
        "reason": s["reason"],
        "beads": int(s["bead_count"]),
        "length": float(s["length"]),
        "length_weights": float(s["length_weights"]),
        "max_value": float(s["max_value"]),
        "steps": int(s["steps"]),
        **res.profile.to_arrays(),
    }


# ---------------------------------------------------------------- symmetry example

THETA = (1.0, -1.0, 1.0, 1.0, 1.0, 0.0)
THETA_BAR = (-1.0, 1.0, 1.0, 1.0, 0.0, 1.0)
SYMMETRY_SPEC = MLPSpec(in_features=1, widths=(2,), out_features=1, activation="relu")


def symmetry_params(theta: tuple[float, ...], dtype: torch.dtype = torch.float64) -> dict:
    """Φ(x, θ) = θ1 relu(θ3 x + θ5) + θ2 relu(θ4 x + θ6) as a 1-2-1 ReLU MLP (output bias 0)."""
    t = torch.tensor(theta, dtype=dtype)
    return {
        "layers.0.weight": t[[2, 3]].reshape(2, 1),
        "layers.0.bias": t[[4, 5]],
        "layers.1.weight": t[[0, 1]].reshape(1, 2),
        "layers.1.bias": torch.zeros(1, dtype=dtype),
    }


def symmetry_example(grid: int = 101) -> dict:
    """The empirical risk (mean squared error) on s = {(−1, 0), (1, 1)} along θ → θ̄."""
    fm = FunctionalModel(build(SYMMETRY_SPEC, dtype=torch.float64), loss="mse")
    x = torch.tensor([[-1.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    a, b = symmetry_params(THETA), symmetry_params(THETA_BAR)
    interp = interpolate(fm.loss, a, b, (x, y), grid=grid)
    midpoint = fm.loss({k: 0.5 * (a[k] + b[k]) for k in a}, (x, y))
    return {
        "interpolation": interp,
        "risk_theta": float(interp.loss_a),
        "risk_theta_bar": float(interp.loss_b),
        "risk_midpoint": float(midpoint),
        "barrier": float(interp.barrier),
    }


# ---------------------------------------------------------------- orchestration


def _problems(cfg: Config) -> list[str]:
    return list(cfg.polynomial.problems) + (["digits"] if cfg.digits.enabled else [])


def _thresholds(cfg: Config, problem: str) -> list[float]:
    return list(cfg.digits.thresholds if problem == "digits" else cfg.polynomial.thresholds)


def _pairs(cfg: Config, problem: str) -> int:
    return cfg.digits.pairs if problem == "digits" else cfg.polynomial.pairs


def run(cfg: Config, store: Store, run_id: str, executor: Executor) -> Result:
    from ...plots.connect import plot_interpolation, plot_path_profile, plot_threshold_sweep

    conf = cfg.model_dump(mode="json")
    problems = _problems(cfg)
    trained = run_sweep(
        store,
        run_id,
        executor,
        train_endpoints,
        [TrainTask(conf, p) for p in problems],
        "training endpoints",
    )
    tasks: list[ConnectTask] = []
    skipped: list[dict] = []
    for p in problems:
        t = trained[TrainTask(conf, p).key]
        params = {k.removeprefix("param."): v for k, v in t.items() if k.startswith("param.")}
        level = t.get("measure", t["train_loss"])
        for i in range(_pairs(cfg, p)):
            ends = {k: v[[2 * i, 2 * i + 1]] for k, v in params.items()}
            for L0 in _thresholds(cfg, p):
                if max(level[2 * i], level[2 * i + 1]) >= L0:
                    skipped.append(
                        {
                            "problem": p,
                            "pair": i,
                            "L0": L0,
                            "endpoint levels": f"{level[2 * i]:.4g}, {level[2 * i + 1]:.4g}",
                        }
                    )
                    continue
                tasks.append(ConnectTask(conf, p, i, float(L0), ends))
    results = run_sweep(store, run_id, executor, connect_pair, tasks, "DSS (pair × threshold)")

    rows, lengths, counts, examples = [], {}, {}, {}
    for p in problems:
        ths = _thresholds(cfg, p)
        n_pairs = _pairs(cfg, p)
        L = np.full((n_pairs, len(ths)), np.nan)
        C = np.full((n_pairs, len(ths)), np.nan)
        for j, L0 in enumerate(ths):
            done = [(t, results[t.key]) for t in tasks if t.problem == p and t.threshold == L0]
            conn = [(t, r) for t, r in done if r["connected"]]
            for t, r in conn:
                L[t.pair, j], C[t.pair, j] = r["length_weights"], r["beads"]
            lw = [r["length_weights"] for _, r in conn]
            bc = [r["beads"] for _, r in conn]
            rows.append(
                {
                    "problem": p,
                    "L0": L0,
                    "pairs tried": len(done),
                    "connected": len(conn),
                    "length (weights) mean": float(np.mean(lw)) if lw else float("nan"),
                    "std": float(np.std(lw)) if lw else float("nan"),
                    "beads mean": float(np.mean(bc)) if bc else float("nan"),
                    "beads std": float(np.std(bc)) if bc else float("nan"),
                }
            )
            if conn:
                examples[p] = (L0, conn[0][1])  # ends as the lowest threshold that connected
        lengths[p], counts[p] = L, C
        for j in range(len(ths)):
            store.log_metrics(
                run_id,
                {
                    f"{p}.length_weights_mean": float(np.nanmean(L[:, j]))
                    if np.isfinite(L[:, j]).any()
                    else None,
                    f"{p}.beads_mean": float(np.nanmean(C[:, j]))
                    if np.isfinite(C[:, j]).any()
                    else None,
                },
                step=j,
            )
    sym = symmetry_example()
    interp = sym["interpolation"]
    store.save_arrays(run_id, "symmetry", t=interp.t, risk=interp.loss)
    store.log_metrics(
        run_id,
        {
            "symmetry.risk_theta": sym["risk_theta"],
            "symmetry.risk_theta_bar": sym["risk_theta_bar"],
            "symmetry.risk_midpoint": sym["risk_midpoint"],
        },
    )
    folder = store.folder(run_id)
    figs = []
    for group, label in (
        (list(cfg.polynomial.problems), "MAE threshold L0"),
        (["digits"], "test-error threshold L0"),
    ):
        group = [p for p in group if p in problems]
        if not group:
            continue
        th = _thresholds(cfg, group[0])
        fig = plot_threshold_sweep(
            th,
            {p: lengths[p] for p in group},
            {p: counts[p] for p in group},
            length_label="normalized geodesic length (weights only)",
            invert_x=True,
            title=f"Dynamic String Sampling ({cfg.method}): "
            + ", ".join(group)
            + f" — {label}, mean ± std over pairs",
        )
        name = "sweep_" + "_".join(group) + ".png"
        fig.savefig(folder / name, dpi=120, bbox_inches="tight")
        figs.append(folder / name)
    for p, (L0, r) in examples.items():
        mname = "test error" if p == "digits" else "MAE"
        fig = plot_path_profile(
            Profile.from_arrays(r, mname),
            threshold=L0,
            title=f"{p}: DSS string at L0 = {L0:g} ({r['beads']} beads; first pair that connected)",
        )
        figs.append(folder / f"string_{p}.png")
        fig.savefig(figs[-1], dpi=120, bbox_inches="tight")
    fig = plot_interpolation(
        interp, title="Symmetry example: risk along (1−t)θ + tθ̄ (both zero risk; midpoint 1/2)"
    )
    figs.append(folder / "symmetry.png")
    fig.savefig(figs[-1], dpi=120, bbox_inches="tight")
    tables = {f"DSS connectivity ({cfg.method}, α={cfg.alpha})": rows}
    if skipped:
        tables["skipped (an endpoint is not below L0)"] = skipped
    tables["symmetry example: Φ(x,θ) = θ1 relu(θ3x+θ5) + θ2 relu(θ4x+θ6) on {(−1,0), (1,1)}"] = [
        {"point": "θ = (1,−1,1,1,1,0)", "empirical risk": sym["risk_theta"]},
        {"point": "θ̄ = (−1,1,1,1,0,1)", "empirical risk": sym["risk_theta_bar"]},
        {"point": "(θ + θ̄)/2", "empirical risk": sym["risk_midpoint"]},
    ]
    return Result(
        run_id=run_id,
        folder=folder,
        tables=tables,
        figures=figs,
        data={
            "rows": rows,
            "lengths": lengths,
            "counts": counts,
            "symmetry": sym,
            "results": results,
            "skipped": skipped,
        },
    )
