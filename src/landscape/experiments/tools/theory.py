"""``landscape theory``: the spin-glass thresholds and complexity curves, from the formulas.

Auffinger, Ben Arous & Černý 2013, *Random matrices and complexity of spin glasses*: the
mean number of critical points of index ``k`` of the spherical H-spin glass below energy
``Λu`` grows like ``exp(Λ Θ_{k,H}(u))``; the zeros of ``Θ_{k,H}`` are the thresholds
``−E_k(H)``, ordered ``E_0 > E_1 > … > E_∞ = 2√((H−1)/H)``. No simulation: the table lists
``E_k(H)`` for ``k = 0 … k_max`` and ``E_∞(H)``; the figure draws ``Θ_{k,H}(u)`` for a few
``k`` with ``−E_0``, ``−E_1`` and ``−E_∞`` marked. A recorded run like the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from ...runtime.store import task_key
from ...spinglass import complexity, e_inf, thresholds
from .._base import ExperimentConfig
from ..lifecycle import Results, Summary

NAME = "theory"
TASKS_LABEL = "thresholds"


class Config(ExperimentConfig):
    """The interaction order and how many thresholds to list."""

    H: int = Field(default=3, ge=2, le=50)
    k_max: int = Field(default=10, ge=0, le=10_000)


@dataclass(frozen=True)
class ThresholdTask:
    """Solve ``Θ_{k,H}(u) = 0`` for ``k = 0 … k_max``."""

    H: int
    k_max: int

    @property
    def key(self) -> str:
        return task_key(H=self.H, k_max=self.k_max)

    def run(self) -> dict:
        return {"E_k": np.asarray(thresholds(self.H, self.k_max), dtype=np.float64)}


def tasks(cfg: Config) -> list:
    return [ThresholdTask(cfg.H, cfg.k_max)]


def reduce(cfg: Config, results: Results) -> Summary:
    """``E_k(H)``, ``−E_k(H)`` and the gap to ``E_∞`` per ``k``."""
    ek = results[0][1]["E_k"]
    einf = e_inf(cfg.H)
    rows = [
        {"k": k, "E_k(H)": float(v), "−E_k(H)": -float(v), "E_k − E_∞": float(v) - einf}
        for k, v in enumerate(ek)
    ]
    rows.append({"k": "∞", "E_k(H)": einf, "−E_k(H)": -einf, "E_k − E_∞": 0.0})
    return Summary(
        tables={
            f"thresholds of the spherical {cfg.H}-spin glass (Auffinger, Ben Arous & Černý)": rows
        },
        metrics=[(0, {"E_inf": einf})] + [(k, {"E_k": float(v)}) for k, v in enumerate(ek)],
        data={"E_k": ek, "E_inf": einf},
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    from ...plots.spinglass import complexity_curves

    H, ek, einf = cfg.H, summary.data["E_k"], summary.data["E_inf"]
    lo = -float(ek[0]) - max(0.08, 0.5 * (float(ek[0]) - einf))
    u = np.linspace(lo, -einf + 0.05, 600)
    ks = sorted({k for k in (0, 1, 2, 10, 100) if k <= max(cfg.k_max, 2)} | {cfg.k_max})
    curves = {f"Θ_{H} (all indices)": complexity(u, H)}  # under Θ_0, which coincides below −E∞
    curves.update({f"Θ_{{{k},{H}}}": complexity(u, H, k) for k in ks})
    ref = {"−E₀": -float(ek[0])}
    if cfg.k_max >= 1:
        ref["−E₁"] = -float(ek[1])
    ref["−E∞"] = -einf
    fig = complexity_curves(u, curves, reference=ref, H=H)
    return {"complexity": (fig, f"Θ_{{k,{H}}}(u) for k = {', '.join(map(str, ks))}")}
