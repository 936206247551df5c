"""``landscape reproduce spinglass``: minima and saddles of the spherical H-spin glass.

Choromanska et al. 2015, *The Loss Surfaces of Multilayer Networks*, after Auffinger, Ben
Arous & Černý 2013: for growing Λ, gradient descent on the sphere from many random starts
ends at minima whose energies ``L/Λ`` concentrate in a band above the ground state ``−E_0``
and below ``−E_∞``; critical points of higher index sit higher, near ``−E_k``. The
experiment runs R starts per Λ (batched replicas, split in tasks), eigenvector following
toward saddles of chosen indices, and draws the complexity curves ``Θ_{k,H}(u)`` whose
zeros are the thresholds ``−E_k``.

Tables: per Λ, the minima found (mean, spread and lowest ``L/Λ``, the fraction inside
``[−E_0, −E_∞]`` and of index 0 — the spread narrows as Λ grows); per Λ and target ``k``,
the saddle searches (how many converged at the target index, their mean energy beside
``−E_k``); the critical points by measured index (mean energy rising with the index).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from ...runtime.config import StrictModel
from ...runtime.store import task_key
from ...spinglass import SpinGlass, complexity, e_inf, find_saddles, sample_minima, threshold
from .._base import ExperimentConfig, resolve_device, torch_dtype
from ..lifecycle import Results, Summary

NAME = "spinglass"
TASKS_LABEL = "minima (Λ × chunk) and saddles (Λ × k)"


class SaddleConfig(StrictModel):
    """Eigenvector following toward critical points of the given indices."""

    sizes: list[int] = Field(default_factory=lambda: [50, 100])
    indices: list[int] = Field(default_factory=lambda: [1, 2, 3, 5])
    replicas: int = Field(default=20, ge=1)
    descent_steps: int = Field(default=100, ge=0)
    max_steps: int = Field(default=200, ge=1)
    gtol: float = Field(default=1e-4, gt=0)


class Config(ExperimentConfig):
    """Settings (presets in ``configs/spinglass/{quick,full}.yaml``).

    Attributes:
        H: interaction order.
        sizes: the Λ values.
        replicas: random starts per Λ (all on one coupling realisation per Λ).
        replicas_per_task: replicas optimised together in one batched task.
        distribution: of the couplings J.
        method: ``gd`` (projected gradient descent) or ``sgd`` (J split in ``parts``).
        lr, momentum, max_steps, gtol: the descent; ``gtol`` on ‖grad L‖/√Λ.
        index_tol: Hessian eigenvalues below ``−index_tol`` count in the index.
        k_curves: indices k whose Θ_{k,H} are drawn.
    """

    H: int = Field(default=3, ge=2)
    sizes: list[int] = Field(default_factory=lambda: [25, 50, 100, 250, 500], min_length=1)
    replicas: int = Field(default=1000, ge=2)
    replicas_per_task: int = Field(default=250, ge=1)
    distribution: Literal["gaussian", "rademacher", "uniform"] = "gaussian"
    method: Literal["gd", "sgd"] = "gd"
    parts: int = Field(default=4, ge=2)
    lr: float = Field(default=0.1, gt=0)
    momentum: float = Field(default=0.8, ge=0, lt=1)
    max_steps: int = Field(default=10_000, ge=1)
    gtol: float = Field(default=1e-4, gt=0)
    index_tol: float = Field(default=1e-4, gt=0)
    saddles: SaddleConfig = Field(default_factory=SaddleConfig)
    k_curves: list[int] = Field(default_factory=lambda: [0, 1, 2, 10, 100])


def glass_seed(seed: int, n_spins: int) -> int:
    return int(np.random.SeedSequence([seed, n_spins, 1]).generate_state(1)[0])


def _glass(cfg: Config, n_spins: int) -> SpinGlass:
    return SpinGlass.random(
        n_spins,
        cfg.H,
        glass_seed(cfg.seed, n_spins),
        cfg.distribution,
        device=resolve_device(cfg.device),
        dtype=torch_dtype(cfg.dtype),
    )


def _arrays(points) -> dict:
    return {k: np.asarray(v) for k, v in points.to_dict().items()}


@dataclass(frozen=True)
class MinimaTask:
    """Descend from replicas ``first .. first + count − 1`` at size Λ."""

    config: dict
    n_spins: int
    first: int
    count: int

    @property
    def key(self) -> str:
        return task_key(kind="minima", L=self.n_spins, first=self.first)

    def run(self) -> dict:
        cfg = Config.model_validate(self.config)
        glass = _glass(cfg, self.n_spins)
        seed = np.random.SeedSequence([cfg.seed, self.n_spins, 2, self.first])
        pts = sample_minima(
            glass,
            self.count,
            int(seed.generate_state(1)[0]),
            method=cfg.method,
            parts=cfg.parts,
            lr=cfg.lr,
            momentum=cfg.momentum,
            max_steps=cfg.max_steps,
            gtol=cfg.gtol,
            index_tol=cfg.index_tol,
        )
        return _arrays(pts)


@dataclass(frozen=True)
class SaddleTask:
    """Eigenvector following toward index ``k`` at size Λ."""

    config: dict
    n_spins: int
    k: int

    @property
    def key(self) -> str:
        return task_key(kind="saddle", L=self.n_spins, k=self.k)

    def run(self) -> dict:
        cfg = Config.model_validate(self.config)
        s = cfg.saddles
        pts = find_saddles(
            _glass(cfg, self.n_spins),
            self.k,
            replicas=s.replicas,
            seed=1000 + self.k,
            descent_steps=s.descent_steps,
            max_steps=s.max_steps,
            gtol=s.gtol,
            index_tol=cfg.index_tol,
        )
        return _arrays(pts)


def tasks(cfg: Config) -> list:
    """Minima: Λ × chunks of replicas; saddles: Λ × target index."""
    conf = cfg.model_dump(mode="json")
    out: list = [
        MinimaTask(conf, n, first, min(cfg.replicas_per_task, cfg.replicas - first))
        for n in cfg.sizes
        for first in range(0, cfg.replicas, cfg.replicas_per_task)
    ]
    return out + [SaddleTask(conf, n, k) for n in cfg.saddles.sizes for k in cfg.saddles.indices]


def _minima_row(n: int, r: dict, e0: float, einf: float) -> dict:
    conv = r["converged"].astype(bool)
    e = r["energy"][conv]
    band = (e >= -e0) & (e <= -einf)
    nan = float("nan")
    return {
        "Λ": n,
        "runs": len(conv),
        "converged": int(conv.sum()),
        "mean L/Λ": float(e.mean()) if e.size else nan,
        "std L/Λ": float(e.std(ddof=1)) if e.size > 1 else nan,
        "min L/Λ": float(e.min()) if e.size else nan,
        "in [−E0, −E∞]": float(band.mean()) if e.size else nan,
        "index 0": float((r["index"][conv] == 0).mean()) if e.size else nan,
    }


def _saddle_row(t: SaddleTask, r: dict, H: int) -> dict:
    conv = r["converged"].astype(bool)
    idx, e = r["index"][conv], r["energy"][conv]
    found = {int(i): int((idx == i).sum()) for i in np.unique(idx)}
    return {
        "Λ": t.n_spins,
        "target k": t.k,
        "searches": len(conv),
        "converged": int(conv.sum()),
        "at target": int((idx == t.k).sum()),
        "indices found": ", ".join(f"{i}×{c}" for i, c in found.items()) or "-",
        "mean L/Λ at target": float(e[idx == t.k].mean()) if (idx == t.k).any() else float("nan"),
        "−E_k": -threshold(H, t.k),
    }


def reduce(cfg: Config, results: Results) -> Summary:
    """Minima per Λ against [−E₀, −E∞]; saddle searches; critical points by index."""
    H = cfg.H
    e0, einf = threshold(H, 0), e_inf(H)
    minima, energies, rows = {}, {}, []
    for n in cfg.sizes:
        parts = [r for t, r in results if isinstance(t, MinimaTask) and t.n_spins == n]
        minima[n] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        energies[n] = minima[n]["energy"][minima[n]["converged"].astype(bool)]
        rows.append(_minima_row(n, minima[n], e0, einf))
    saddles = [(t, r) for t, r in results if isinstance(t, SaddleTask)]
    saddle_rows = [_saddle_row(t, r, H) for t, r in saddles]
    saddle_pts = [
        (t.n_spins, int(i), float(v))
        for t, r in saddles
        for i, v, c in zip(r["index"], r["energy"], r["converged"], strict=True)
        if c
    ]
    by_index: dict[int, list[float]] = {}
    for _, i, v in saddle_pts:
        by_index.setdefault(i, []).append(v)
    index_rows = [
        {"index": i, "points": len(v), "mean L/Λ": float(np.mean(v)), "−E_index": -threshold(H, i)}
        for i, v in sorted(by_index.items())
    ]
    metric_names = {
        "mean_energy": "mean L/Λ",
        "std_energy": "std L/Λ",
        "fraction_in_band": "in [−E0, −E∞]",
        "fraction_index0": "index 0",
    }
    metrics = [(r["Λ"], {m: r[c] for m, c in metric_names.items()}) for r in rows]
    metrics += [(r["index"], {"saddle_mean_energy": r["mean L/Λ"]}) for r in index_rows]
    return Summary(
        tables={
            f"minima of the spherical {H}-spin glass from {cfg.replicas} random starts per Λ "
            f"(−E₀ = {-e0:.4f}, −E∞ = {-einf:.4f})": rows,
            "saddle searches (eigenvector following)": saddle_rows,
            "critical points by index (energy rises with the index)": index_rows,
        },
        notes=["std of L/Λ: " + ", ".join(f"Λ={r['Λ']}: {r['std L/Λ']:.4f}" for r in rows)],
        metrics=metrics,
        arrays={"energies": {f"L={n}": e for n, e in energies.items()}},
        data={"rows": rows, "energies": energies, "index_rows": index_rows, "saddles": saddle_pts},
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    """Energy histograms with −E₀ and −E∞; Θ_{k,H}(u); saddle energies by index."""
    from ...plots.spinglass import complexity_curves, energy_histograms, saddle_energies

    H = cfg.H
    e0, e1, einf = threshold(H, 0), threshold(H, 1), e_inf(H)
    energies, saddle_pts = summary.data["energies"], summary.data["saddles"]
    ref = {f"−E₀({H})": -e0, f"−E∞({H})": -einf}
    out = {
        "energy_histograms": (
            energy_histograms(energies, reference=ref, H=H),
            f"energies L/Λ of the minima found per Λ, with −E₀({H}) and −E∞({H})",
        )
    }
    u = np.linspace(-e0 - 0.08, -einf + 0.06, 600)
    # the total first: below −E∞ it coincides with Θ_{0,H}, which is drawn over it
    curves = {f"Θ_{H} (all indices)": complexity(u, H)}
    curves.update({f"Θ_{{{k},{H}}}": complexity(u, H, k) for k in cfg.k_curves})
    out["complexity"] = (
        complexity_curves(u, curves, reference={"−E₀": -e0, "−E₁": -e1, "−E∞": -einf}, H=H),
        f"complexity Θ_{{k,{H}}}(u) (Auffinger, Ben Arous & Černý): zeros at −E_k",
    )
    if saddle_pts:
        n_sad = max(cfg.saddles.sizes)
        pts = [(i, v) for n, i, v in saddle_pts if n == n_sad]
        fig = saddle_energies(
            [i for i, _ in pts],
            [v for _, v in pts],
            reference=ref,
            minima=energies.get(n_sad),
            H=H,
            n_spins=n_sad,
        )
        out["saddles"] = (fig, f"energy of the critical points found at Λ = {n_sad}, by index")
    return out
