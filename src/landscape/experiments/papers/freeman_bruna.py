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

The main table has one row per (problem, ``L0``): pairs tried and connected, the mean and
std of the normalized geodesic length (weights only) and of the bead count — Freeman &
Bruna: the lower the level, the longer and more curved the string. A second table lists
the (pair, ``L0``) skipped because an endpoint was not below ``L0``; a third gives the
symmetry example's risks (0, 0 and 1/2 at the midpoint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ... import data
from ...connect import Profile, dss, dss_constrained, interpolate
from ...evaluate import Evaluator
from ...functional import FunctionalModel
from ...models import MLPSpec, build, init_params
from ...optim import Adam
from ...runtime.config import StrictModel
from ...runtime.store import task_key
from .._base import ExperimentConfig, resolve_device, torch_dtype
from ..lifecycle import Results, Summary
from ..members import MembersProblem, MembersTask, gather

NAME = "freeman-bruna"
TASKS_LABEL = "training endpoints"
MORE_LABEL = "DSS (pair × threshold)"


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
    """``(spec, fm, objective, measure or None)``: what beads descend, what L0 bounds."""
    if problem == "digits":
        ds = data.digits(seed=cfg.seed, dtype=dtype).to(device)
        spec = MLPSpec(in_features=64, widths=tuple(cfg.digits.widths), out_features=10)
        fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="cross_entropy")
        test_error = Evaluator.of_model(fm, ds.test, "error", name="test error")
        return spec, fm, Evaluator.of_model(fm, ds.train), test_error
    ds = data.polynomial(
        problem, n_train=cfg.polynomial.n_train, n_test=1000, seed=cfg.seed, dtype=dtype
    ).to(device)
    spec = _poly_spec(cfg.polynomial.variant)
    fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="mae")
    return spec, fm, Evaluator(fm.loss, ds.train, name="MAE"), None


#: the group number of each problem's endpoints in the members seed scheme
GROUPS = {"quadratic": 0, "cubic": 1, "digits": 2}


def members_problem(cfg: Config, group: int) -> MembersProblem:
    """Phase 1: the ``2 × pairs`` endpoint models of one problem, trained together."""
    problem = {v: k for k, v in GROUPS.items()}[group]
    device, dtype = resolve_device(cfg.device), torch_dtype(cfg.dtype)
    spec, fm, objective, measure = _problem(cfg, problem, device, dtype)

    def after(params: dict) -> dict:
        out = {"train_loss": objective.points(params)}
        if measure is not None:
            out["measure"] = measure.points(params)
        return out

    if problem == "digits":
        d = cfg.digits
        init = {}
        epochs, lr, batch = d.train_epochs, d.train_lr, d.batch_size
    else:  # Freeman & Bruna: weights U[-1, 1], biases N(0, 1); full-batch steps
        init = {"weight": "uniform", "bias": "normal"}
        epochs, lr, batch = cfg.polynomial.train_steps, cfg.polynomial.train_lr, None
    return MembersProblem(
        init=lambda s: init_params(spec, s, **init, dtype=dtype, device=device),
        loss=fm.loss,
        train=objective.data,
        optimizer=Adam(lr=lr),
        epochs=epochs,
        batch_size=batch,
        keep=("params",),
        track=False,
        after=after,
    )


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

    def run(self) -> dict:
        return connect_pair(self)


def connect_pair(task: ConnectTask) -> dict:
    cfg = Config.model_validate(task.config)
    device, dtype = resolve_device(cfg.device), torch_dtype(cfg.dtype)
    _, _, objective, measure = _problem(cfg, task.problem, device, dtype)
    a, b = (
        {k: torch.as_tensor(v[i], device=device, dtype=dtype) for k, v in task.endpoints.items()}
        for i in (0, 1)
    )
    finder = dss if cfg.method == "dss" else dss_constrained
    res = finder(
        objective,
        a,
        b,
        threshold=task.threshold,
        alpha=cfg.alpha,
        optimizer=Adam(lr=cfg.bead_lr),
        max_steps=cfg.max_steps,
        max_beads=cfg.max_beads,
        max_depth=cfg.max_depth,
        grid=cfg.grid,
        measure=measure,
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


def tasks(cfg: Config) -> list:
    """Phase 1: train each problem's endpoints (then :func:`more_tasks` connects them)."""
    conf = cfg.model_dump(mode="json")
    return [MembersTask(NAME, conf, GROUPS[p], 0, 2 * _pairs(cfg, p)) for p in _problems(cfg)]


def _endpoints(cfg: Config, results: Results) -> dict[str, dict]:
    """Per problem: the trained endpoints and their levels (loss, or the measure)."""
    out = {}
    for p in _problems(cfg):
        r = gather(results, GROUPS[p])
        params = {k.removeprefix("param."): v for k, v in r.items() if k.startswith("param.")}
        out[p] = {"params": params, "level": r.get("final.measure", r["final.train_loss"])}
    return out


def _phase_two(cfg: Config, results: Results) -> tuple[list[ConnectTask], list[dict]]:
    conf = cfg.model_dump(mode="json")
    todo, skipped = [], []
    for p, e in _endpoints(cfg, results).items():
        level = e["level"]
        for i in range(_pairs(cfg, p)):
            ends = {k: v[[2 * i, 2 * i + 1]] for k, v in e["params"].items()}
            for L0 in _thresholds(cfg, p):
                if max(level[2 * i], level[2 * i + 1]) >= L0:
                    levels = f"{level[2 * i]:.4g}, {level[2 * i + 1]:.4g}"
                    skipped.append({"problem": p, "pair": i, "L0": L0, "endpoint levels": levels})
                else:
                    todo.append(ConnectTask(conf, p, i, float(L0), ends))
    return todo, skipped


def more_tasks(cfg: Config, results: Results) -> list:
    """Phase 2, once: DSS between each pair whose endpoints are below each threshold."""
    if any(isinstance(t, ConnectTask) for t, _ in results):
        return []
    return _phase_two(cfg, results)[0]


def _sweep_rows(
    cfg: Config, p: str, done: list
) -> tuple[list[dict], np.ndarray, np.ndarray, tuple | None]:
    ths = _thresholds(cfg, p)
    L = np.full((_pairs(cfg, p), len(ths)), np.nan)
    C = np.full_like(L, np.nan)
    rows, example = [], None
    nan = float("nan")
    for j, L0 in enumerate(ths):
        tried = [(t, r) for t, r in done if t.problem == p and t.threshold == L0]
        conn = [(t, r) for t, r in tried if r["connected"]]
        for t, r in conn:
            L[t.pair, j], C[t.pair, j] = r["length_weights"], r["beads"]
        lw = [r["length_weights"] for _, r in conn]
        bc = [r["beads"] for _, r in conn]
        rows.append(
            {
                "problem": p,
                "L0": L0,
                "pairs tried": len(tried),
                "connected": len(conn),
                "length (weights) mean": float(np.mean(lw)) if lw else nan,
                "std": float(np.std(lw)) if lw else nan,
                "beads mean": float(np.mean(bc)) if bc else nan,
                "beads std": float(np.std(bc)) if bc else nan,
            }
        )
        if conn:
            example = (L0, conn[0][1])  # ends as the lowest threshold that connected
    return rows, L, C, example


def _mean_or_none(v: np.ndarray) -> float | None:
    return float(np.nanmean(v)) if np.isfinite(v).any() else None


def reduce(cfg: Config, results: Results) -> Summary:
    """Lengths and bead counts per threshold; skipped pairs; the symmetry example."""
    done = [(t, r) for t, r in results if isinstance(t, ConnectTask)]
    _, skipped = _phase_two(cfg, results)
    rows, lengths, counts, examples, metrics = [], {}, {}, {}, []
    for p in _problems(cfg):
        prow, lengths[p], counts[p], example = _sweep_rows(cfg, p, done)
        rows += prow
        if example is not None:
            examples[p] = example
        metrics += [
            (j, {f"{p}.length_weights_mean": _mean_or_none(lengths[p][:, j]),
                 f"{p}.beads_mean": _mean_or_none(counts[p][:, j])})
            for j in range(lengths[p].shape[1])
        ]  # fmt: skip
    sym = symmetry_example()
    metrics.append(
        (0, {f"symmetry.{k}": sym[k] for k in ("risk_theta", "risk_theta_bar", "risk_midpoint")})
    )
    tables = {f"DSS connectivity ({cfg.method}, α={cfg.alpha})": rows}
    if skipped:
        tables["skipped (an endpoint is not below L0)"] = skipped
    tables["symmetry example: Φ(x,θ) = θ1 relu(θ3x+θ5) + θ2 relu(θ4x+θ6) on {(−1,0), (1,1)}"] = [
        {"point": "θ = (1,−1,1,1,1,0)", "empirical risk": sym["risk_theta"]},
        {"point": "θ̄ = (−1,1,1,1,0,1)", "empirical risk": sym["risk_theta_bar"]},
        {"point": "(θ + θ̄)/2", "empirical risk": sym["risk_midpoint"]},
    ]
    interp = sym["interpolation"]
    return Summary(
        tables=tables,
        metrics=metrics,
        arrays={"symmetry": {"t": interp.t, "risk": interp.loss}},
        data={"rows": rows, "lengths": lengths, "counts": counts, "symmetry": sym,
              "examples": examples, "skipped": skipped},
    )  # fmt: skip


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    """Length and beads against L0 per problem group; one string each; the symmetry line."""
    from ...plots.connect import plot_interpolation, plot_path_profile, plot_threshold_sweep

    out, problems = {}, _problems(cfg)
    for group, label in (
        (list(cfg.polynomial.problems), "MAE threshold L0"),
        (["digits"], "test-error threshold L0"),
    ):
        group = [p for p in group if p in problems]
        if not group:
            continue
        fig = plot_threshold_sweep(
            _thresholds(cfg, group[0]),
            {p: summary.data["lengths"][p] for p in group},
            {p: summary.data["counts"][p] for p in group},
            length_label="normalized geodesic length (weights only)",
            invert_x=True,
            title=f"Dynamic String Sampling ({cfg.method}): "
            + ", ".join(group)
            + f" — {label}, mean ± std over pairs",
        )
        caption = f"normalized geodesic length and bead count against {label}"
        out["sweep_" + "_".join(group)] = (fig, caption)
    for p, (L0, r) in summary.data["examples"].items():
        mname = "test error" if p == "digits" else "MAE"
        fig = plot_path_profile(
            Profile.from_arrays(r, mname),
            threshold=L0,
            title=f"{p}: DSS string at L0 = {L0:g} ({r['beads']} beads; first pair that connected)",
        )
        out[f"string_{p}"] = (fig, f"{mname} along a DSS string of {p} at L0 = {L0:g}")
    fig = plot_interpolation(
        summary.data["symmetry"]["interpolation"],
        title="Symmetry example: risk along (1−t)θ + tθ̄ (both zero risk; midpoint 1/2)",
    )
    out["symmetry"] = (fig, "risk along the straight line between θ and its permutation θ̄")
    return out
