"""``landscape reproduce auer``: one logistic neuron with 2^d local minima.

Auer, Herbster & Warmuth 1996, *Exponentially many local minima for single neurons*: for
``x ↦ σ(w·x)`` under the square loss, a one-dimensional data set with two separated local
minima, copied onto each of d coordinates, gives 2^d local minima
(:mod:`landscape.overparam.auer`). For each d, many random starts descend as one batched
ensemble; the end points are clustered and each cluster verified (‖∇L‖ ≈ 0, every
eigenvalue of the dense Hessian > 0).

The table has one row per d: starts, distinct minima found, how many verified, 2^d, the
loss range over the minima, the largest gradient norm and the smallest Hessian eigenvalue
among them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field, model_validator

from ...overparam.auer import find_minima
from ...runtime.store import task_key
from .._base import ExperimentConfig
from ..lifecycle import Results, Summary

NAME = "auer"
TASKS_LABEL = "dimensions d"


class Config(ExperimentConfig):
    """Settings (presets in ``configs/auer/{quick,full}.yaml``).

    Attributes:
        dims: the dimensions d (each listed once).
        starts_per_minimum: random starts per expected minimum (starts = this × 2^d).
        box: starts uniform in [−box, box]^d.
        epochs: full-batch descent steps.
    """

    dims: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6], min_length=1)
    starts_per_minimum: int = Field(default=20, ge=1, le=10_000)
    box: float = Field(default=2.5, gt=0)
    epochs: int = Field(default=2000, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _dims(self) -> Config:
        if len(set(self.dims)) != len(self.dims) or not all(1 <= d <= 16 for d in self.dims):
            raise ValueError(f"dims={self.dims} must be distinct integers in 1..16")
        return self


@dataclass(frozen=True)
class DimTask:
    """Find and verify the minima in dimension d."""

    config: dict
    d: int

    @property
    def key(self) -> str:
        return task_key(d=self.d)

    def run(self) -> dict:
        cfg = Config.model_validate(self.config)
        seed = int(np.random.SeedSequence([cfg.seed, self.d]).generate_state(1)[0])
        r = find_minima(
            self.d, cfg.starts_per_minimum * 2**self.d, seed, box=cfg.box, epochs=cfg.epochs
        )
        return {
            "points": r.points,
            "losses": r.losses,
            "grad_norms": r.grad_norms,
            "min_eigenvalues": r.min_eigenvalues,
            "verified": r.verified,
            "counts": r.counts,
            "starts": r.starts,
        }


def tasks(cfg: Config) -> list:
    conf = cfg.model_dump(mode="json")
    return [DimTask(conf, d) for d in cfg.dims]


def reduce(cfg: Config, results: Results) -> Summary:
    """One row per d: minima found and verified against 2^d."""
    rows = []
    for task, r in results:
        ok = np.asarray(r["verified"], bool)
        rows.append(
            {
                "d": task.d,
                "starts": int(r["starts"]),
                "minima found": len(r["losses"]),
                "verified": int(ok.sum()),
                "2^d": 2**task.d,
                "lowest loss": float(np.min(r["losses"])),
                "highest loss": float(np.max(r["losses"])),
                "max ‖∇L‖": float(np.max(r["grad_norms"])),
                "min λ(H)": float(np.min(r["min_eigenvalues"])),
            }
        )
    notes = [
        f"d={row['d']}: {row['verified']} verified local minima of {row['2^d']} expected "
        f"({'all found' if row['verified'] == row['2^d'] else 'some missed'})"
        for row in rows
    ]
    return Summary(
        tables={"local minima of one logistic neuron (square loss)": rows},
        notes=notes,
        metrics=[(row["d"], {"verified": row["verified"]}) for row in rows],
        arrays={f"minima_d={t.d}": {k: np.asarray(v) for k, v in r.items()} for t, r in results},
        data={"rows": rows, "losses": {t.d: np.asarray(r["losses"]) for t, r in results}},
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    from ...plots.convergence import auer_minima

    return {
        "minima_vs_dimension": (
            auer_minima(summary.data["rows"], summary.data["losses"]),
            "verified local minima against d with 2^d, and their loss values",
        )
    }
