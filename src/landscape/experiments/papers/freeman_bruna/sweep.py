"""The two phases of ``freeman-bruna``: train the endpoints, then connect every pair by DSS.

Phase 1 (:class:`EndpointsTask`): under the ``to-threshold`` protocol, one task per
(problem, ``L0``) trains ``2 × pairs`` fresh models in one batched Adam run, each frozen at
the first check where its thresholded quantity is at or below ``L0`` (Freeman & Bruna,
Algorithm 1: "randomly initialize θ1, train Φ(x; θ1) to L0"); a model that does not get
there within the step budget is reported, and its pair is not connected. Under
``fixed-steps`` one task per problem trains ``2 × pairs`` models for the whole budget and
they are reused at every ``L0`` below which both ends lie.

Phase 2 (:class:`ConnectTask`): DSS between the two ends of a pair below ``L0``, the
straight segment's maximum beside it, and, when the threshold is checked on a subset of
the test split, the string's maxima on the whole split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ....connect import dss, dss_constrained
from ....connect.string import BeadTraining, descend, grid_ts, scan_segments
from ....optim import Adam
from ....params import stack
from ....runtime.store import task_key
from ..._base import resolve_device, torch_dtype
from ...lifecycle import Results
from .config import Config
from .problems import endpoint_seed, get_problem, problems

PAPER = ("quadratic", "cubic", "digits")

__all__ = ["ConnectTask", "EndpointsTask", "connect_pair", "pending", "train_endpoints"]


@dataclass(frozen=True)
class EndpointsTask:
    """Phase 1: the ``2 × pairs`` endpoints of ``problem`` for threshold number ``level``.

    ``level = -1`` (``fixed-steps``): trained for the whole budget, for every threshold.
    """

    config: dict
    problem: str
    level: int

    @property
    def key(self) -> str:
        return task_key(phase="endpoints", problem=self.problem, level=self.level)

    def run(self) -> dict:
        return train_endpoints(self)


def train_endpoints(task: EndpointsTask) -> dict:
    """Train one group of endpoints (one batched Adam run, each member stopped at ``L0``)."""
    cfg = Config.model_validate(task.config)
    prob = get_problem(cfg, task.problem)
    n = 2 * prob.pairs
    seeds = [endpoint_seed(cfg.seed, task.problem, task.level, i) for i in range(n)]
    start = stack([prob.init(s) for s in seeds])
    check = prob.measure or prob.objective
    if task.level >= 0:
        target, every = _target(prob.thresholds[task.level], cfg.dtype), prob.check_every
    else:
        target, every = -math.inf, prob.steps
    training = BeadTraining(prob.objective, check, target, Adam(lr=prob.lr), every, prob.batch_size)
    trainable = torch.ones(n, dtype=torch.bool, device=next(iter(start.values())).device)
    res = descend(training, start, trainable, prob.steps, seeds[0] % 2**31)
    out = {
        "seeds": np.asarray(seeds, dtype=np.int64),
        "level": res.values.cpu().numpy(),
        "train_loss": prob.objective.points(res.params).cpu().numpy(),
        "diverged": res.diverged.cpu().numpy(),
        "steps": res.steps,
    }
    if prob.confirm is not None:
        out["level_full"] = prob.confirm.points(res.params).cpu().numpy()
    out.update({f"param.{k}": v.detach().cpu().numpy() for k, v in res.params.items()})
    return out


def _target(L0: float, dtype: str) -> float:
    """The stopping level for ``L0`` in the run's precision: the largest float32 value
    ``≤ L0``, so an endpoint is at or below ``L0`` in float32 and in float64 alike (the
    table's levels are read as float64)."""
    if dtype != "float32":
        return L0
    t = np.float32(L0)
    if float(t) > L0:
        t = np.nextafter(t, np.float32(-np.inf))
    return float(t)


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
    """DSS below ``L0``; the straight line's maximum; the full-split check of the string."""
    cfg = Config.model_validate(task.config)
    device, dtype = resolve_device(cfg.device), torch_dtype(cfg.dtype)
    prob = get_problem(cfg, task.problem)
    a, b = (
        {k: torch.as_tensor(v[i], device=device, dtype=dtype) for k, v in task.endpoints.items()}
        for i in (0, 1)
    )
    finder = dss if cfg.method == "dss" else dss_constrained
    res = finder(
        prob.objective,
        a,
        b,
        threshold=task.threshold,
        alpha=cfg.alpha,
        optimizer=Adam(lr=cfg.bead_lr),
        max_steps=cfg.max_steps,
        max_beads=cfg.max_beads,
        max_depth=cfg.max_depth,
        grid=cfg.grid,
        measure=prob.measure,
        batch_size=prob.batch_size if task.problem != "digits" else None,
        check_every=10 if task.problem in PAPER else prob.check_every,
        seed=cfg.seed + task.pair,
    )
    s = res.summary()
    check = prob.measure or prob.objective
    ts = grid_ts(cfg.grid, next(iter(a.values())))
    line_max, _ = scan_segments(check, stack([a, b]), ts)
    out = {
        "connected": bool(s["connected"]),
        "status": s["status"],
        "reason": s["reason"],
        "beads": int(s["bead_count"]),
        "length": float(s["length"]),
        "length_weights": float(s["length_weights"]),
        "max_value": float(s["max_value"]),
        "steps": int(s["steps"]),
        "line_max": float(line_max[0]),
        **res.profile.to_arrays(),
    }
    if prob.confirm is not None:
        full, _ = scan_segments(prob.confirm, res.beads, ts)
        out["max_value_full"] = float(full.max())
    return out


def pending(cfg: Config, results: Results) -> tuple[list[ConnectTask], list[dict]]:
    """Phase 2's tasks, and one row per (pair, ``L0``) left out with the reason."""
    conf = cfg.model_dump(mode="json")
    ends = {(t.problem, t.level): r for t, r in results if isinstance(t, EndpointsTask)}
    todo, left_out = [], []
    for p in problems(cfg):
        prob_thresholds, pairs = _sweep_shape(cfg, p)
        for j, L0 in enumerate(prob_thresholds):
            r = ends.get((p, j if cfg.protocol == "to-threshold" else -1))
            if r is None:
                continue
            level = r["level"]
            for i in range(pairs):
                la, lb = float(level[2 * i]), float(level[2 * i + 1])
                if max(la, lb) > L0 or (cfg.protocol == "fixed-steps" and max(la, lb) >= L0):
                    why = (
                        "not reached within the step budget"
                        if cfg.protocol == "to-threshold"
                        else "an endpoint is not below L0"
                    )
                    levels = f"{la:.4g}, {lb:.4g}"
                    left_out.append(
                        {
                            "problem": p,
                            "pair": i,
                            "L0": L0,
                            "endpoint levels": levels,
                            "reason": why,
                        }
                    )
                    continue
                pair = {
                    k.removeprefix("param."): v[[2 * i, 2 * i + 1]]
                    for k, v in r.items()
                    if k.startswith("param.")
                }
                todo.append(ConnectTask(conf, p, i, float(L0), pair))
    return todo, left_out


def _sweep_shape(cfg: Config, p: str) -> tuple[list[float], int]:
    """``(thresholds, pairs)`` of a problem without building it (no data is loaded)."""
    if p == "digits":
        return list(cfg.digits.thresholds), cfg.digits.pairs
    if p in ("quadratic", "cubic"):
        return list(cfg.polynomial.thresholds), cfg.polynomial.pairs
    w = getattr(cfg, p.replace("-", "_"))
    return list(w.thresholds), w.pairs
