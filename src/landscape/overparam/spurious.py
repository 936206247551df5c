"""Safran & Shamir's search for spurious local minima, batched over random starts.

Safran & Shamir 2018, *Spurious Local Minima are Common in Two-Layer ReLU Neural Networks*
(ICML), section 4: the teacher is ``V = I_k`` (``d = k``), the student has ``n`` neurons
initialised ``W ~ N(0, 1/d)`` entrywise (Xavier), and plain gradient descent with step
``0.1`` runs on the closed-form loss ``F`` (:mod:`.teacher`) until every neuron's gradient
``‖2π ∇_{w_i} F‖`` (the scaling of the authors' code) is at most ``1e-9``. A point is
*spurious* when ``F ≥ 1e-3``; each one is checked to be a local minimum by the smallest
eigenvalue of its exact Hessian (``λ_min > 0``), and spurious points equal up to a
permutation of the student's neurons (and of the teacher's coordinates, a symmetry of
``V = I``) are merged into families.

All ``R`` starts descend together, one ``R×n×d`` tensor: converged runs leave the batch, so
the cost follows the runs still moving. Runs that reach ``max_steps`` are *not converged*:
they are counted and reported with their ``F`` and gradient norm, never dropped.

Start ``r`` of a search with seed ``s`` draws its ``W`` from
``SeedSequence([s, k, n, r])``, so a run's result does not depend on how runs are split
into tasks (``first``) or on which runs descend beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._errors import LandscapeError
from ..runtime.executor import torch_threads
from .teacher import _check, _grad, _hessian, _loss

__all__ = [
    "Descent",
    "SpuriousRecord",
    "descend",
    "initial_students",
    "match_families",
    "spurious_minima",
]

#: largest student a search may ask for (n·d parameters per run)
MAX_PARAMS = 100_000
#: steps between Newton attempts when ``newton_below`` is set
_NEWTON_EVERY = 25


@dataclass(frozen=True)
class Descent:
    """Where gradient descent left every start.

    Attributes:
        W: ``R×n×d`` final students.
        steps: ``(R,)`` steps taken.
        grad_norm: ``(R,)`` the largest neuron gradient norm ``max_i ‖2π ∇_{w_i} F‖``.
        converged: ``(R,)`` the gradient norm reached ``tol`` within ``max_steps``.
    """

    W: Tensor
    steps: Tensor
    grad_norm: Tensor
    converged: Tensor


def _neuron_grad_norm(G: Tensor) -> Tensor:
    return (2.0 * math.pi * G).norm(dim=-1).amax(dim=-1)


def descend(
    W: Tensor,
    V: Tensor,
    step: float = 0.1,
    tol: float = 1e-9,
    max_steps: int = 100_000,
    newton_below: float | None = None,
    threads: int | None = 1,
) -> Descent:
    """Plain gradient descent ``W ← W − step·∇F`` on every start at once.

    A start stops as soon as ``max_i ‖2π ∇_{w_i} F‖ ≤ tol`` (checked before each step, so
    a start that begins converged takes no step) and then leaves the batch.

    Args:
        W: ``R×n×d`` starting students (not modified).
        V: the teacher, ``m×d``.
        step: the step size on ``∇F``.
        tol: the stopping tolerance on the 2π-scaled neuron gradient norm.
        max_steps: the budget per start.
        newton_below: off by default (the authors' plain descent). A number: every
            ``_NEWTON_EVERY`` steps, a start whose gradient norm is below it and whose
            exact Hessian is positive definite (Cholesky) takes the Newton step instead,
            kept only if it lowers the gradient norm: inside the basin of a strict minimum
            it reaches the same minimum in a few steps rather than thousands.
        threads: torch intra-op threads during the descent, restored afterwards. 1 by
            default: every step is a few small batched products, and on a busy machine
            thread synchronisation costs more than it saves (60× slower with 2 threads on
            a loaded 2-core box); ``None`` keeps torch's setting.

    Returns:
        A :class:`Descent`.

    Raises:
        LandscapeError: bad shapes, a non-positive step or tolerance, a negative budget.
    """
    Wb, Vb, _ = _check(W, V)
    if not (step > 0 and tol > 0):
        raise LandscapeError(f"step and tol must be > 0, got step={step}, tol={tol}")
    if max_steps < 0:
        raise LandscapeError(f"max_steps must be ≥ 0, got {max_steps}")
    with torch_threads(threads):
        return _descend(Wb, Vb, step, tol, max_steps, newton_below)


def _descend(
    Wb: Tensor, Vb: Tensor, step: float, tol: float, max_steps: int, newton_below: float | None
) -> Descent:
    R = Wb.shape[0]
    out = Wb.clone()
    steps = torch.zeros(R, dtype=torch.long)
    gnorm = torch.full((R,), math.inf, dtype=Wb.dtype)
    converged = torch.zeros(R, dtype=torch.bool)
    active = torch.arange(R, device=Wb.device)
    Wa = out
    for t in range(max_steps + 1):
        G = _grad(Wa, Vb)
        gn = _neuron_grad_norm(G)
        done = gn <= tol
        if bool(done.any()):
            idx = active[done]
            out[idx] = Wa[done]
            gnorm[idx.cpu()] = gn[done].cpu()
            converged[idx.cpu()] = True
            steps[idx.cpu()] = t
            keep = ~done
            active, Wa, G, gn = active[keep], Wa[keep], G[keep], gn[keep]
            if active.numel() == 0:
                break
        if t == max_steps:  # budget spent: record where the rest stand
            out[active] = Wa
            gnorm[active.cpu()] = gn.cpu()
            steps[active.cpu()] = t
            break
        Wa = Wa - step * G
        if newton_below is not None and t % _NEWTON_EVERY == 0:
            Wa = _newton(Wa, Vb, gn, newton_below)
    return Descent(W=out, steps=steps, grad_norm=gnorm, converged=converged)


def _newton(W: Tensor, V: Tensor, gn: Tensor, below: float) -> Tensor:
    """Newton steps for the starts near a strict minimum (see :func:`descend`)."""
    near = gn < below
    if not bool(near.any()):
        return W
    Wn = W[near]
    _, n, d = Wn.shape
    H = _hessian(Wn, V)  # V is batched (1×m×d) here
    L, info = torch.linalg.cholesky_ex(0.5 * (H + H.transpose(-1, -2)))
    pd = info == 0
    if not bool(pd.any()):
        return W
    g = _grad(Wn[pd], V).reshape(-1, n * d, 1)
    trial = Wn[pd] - torch.cholesky_solve(g, L[pd]).reshape(-1, n, d)
    better = _neuron_grad_norm(_grad(trial, V)) < _neuron_grad_norm(g.reshape(-1, n, d))
    Wn = Wn.clone()
    idx = torch.nonzero(pd).squeeze(1)[better]
    Wn[idx] = trial[better]
    out = W.clone()
    out[near] = Wn
    return out


def initial_students(
    k: int, n: int, runs: int, seed: int = 0, first: int = 0, d: int | None = None
) -> Tensor:
    """Xavier starts ``W ~ N(0, 1/d)``, float64: start ``r`` from ``SeedSequence([seed, k, n, r])``.

    Returns:
        ``runs×n×d`` for starts ``first .. first + runs − 1``.
    """
    d = k if d is None else d
    out = np.empty((runs, n, d))
    for j in range(runs):
        rng = np.random.default_rng(np.random.SeedSequence([seed, k, n, first + j]))
        out[j] = rng.normal(0.0, 1.0 / math.sqrt(d), size=(n, d))
    return torch.from_numpy(out)


def _signature(W: np.ndarray) -> np.ndarray:
    """Invariants of ``W`` under permutations of its rows and of its columns."""
    entries = np.sort(W.ravel())
    gram = np.sort(np.linalg.eigvalsh(W @ W.T))
    return np.concatenate([entries, gram])


def match_families(W: np.ndarray, F: np.ndarray, tol: float = 1e-4) -> tuple[np.ndarray, list[int]]:
    """Group points that are equal up to a permutation of neurons and of coordinates.

    Two points are in one family when their losses agree and their permutation invariants
    (the sorted entries of ``W`` and the sorted spectrum of ``W Wᵀ``) agree, each within
    ``tol·(1 + scale)``. Greedy: each point joins the first family it matches.

    Args:
        W: ``P×n×d`` points.
        F: ``(P,)`` their losses.
        tol: the relative tolerance (points converged to a gradient of 1e-9 agree to
            about 1e-8 / λ_min).

    Returns:
        ``(family id per point, index of each family's first point)``.
    """
    sigs = [_signature(np.asarray(w, dtype=np.float64)) for w in W]
    reps: list[int] = []
    ids = np.full(len(sigs), -1, dtype=np.int64)
    for p, s in enumerate(sigs):
        for fam, r in enumerate(reps):
            scale = 1.0 + max(np.abs(s).max(), np.abs(sigs[r]).max())
            if abs(F[p] - F[r]) <= tol * (1.0 + abs(F[r])) and np.abs(s - sigs[r]).max() <= (
                tol * scale
            ):
                ids[p] = fam
                break
        else:
            ids[p] = len(reps)
            reps.append(p)
    return ids, reps


@dataclass
class SpuriousRecord:
    """The outcome of every start of one search (arrays have one entry per run).

    Attributes:
        k, n: teacher neurons (= input dimension ``d`` for ``V = I_k``) and student neurons.
        seed, first: the run seed and the index of the first start.
        loss: ``F`` at the end.
        grad_norm: ``max_i ‖2π ∇_{w_i} F‖`` at the end.
        steps: gradient steps taken.
        converged: reached ``tol`` within ``max_steps``.
        lambda_min: smallest Hessian eigenvalue, for converged runs with ``F ≥ threshold``
            (NaN elsewhere).
        spurious: converged, ``F ≥ threshold`` and ``λ_min > 0`` (a verified local minimum).
        saddle: converged, ``F ≥ threshold`` but ``λ_min ≤ 0`` (not a minimum).
        family: family id of each spurious run (−1 elsewhere), ``families[id]``.
        families: one dict per family: ``count``, ``loss``, ``lambda_min``, ``run``.
        W: ``R×n×d`` final students.
        settings: step, tol, max_steps, threshold.
    """

    k: int
    n: int
    seed: int
    first: int
    loss: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    lambda_min: np.ndarray
    spurious: np.ndarray
    saddle: np.ndarray
    family: np.ndarray
    families: list[dict[str, Any]] = field(default_factory=list)
    W: np.ndarray | None = None
    settings: dict[str, float] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return int(self.loss.shape[0])

    def counts(self) -> dict[str, int]:
        """Runs, converged, spurious, saddles, not converged (and those with F ≥ threshold)."""
        thr = self.settings.get("threshold", 1e-3)
        return {
            "runs": self.runs,
            "converged": int(self.converged.sum()),
            "spurious": int(self.spurious.sum()),
            "saddle": int(self.saddle.sum()),
            "not converged": int((~self.converged).sum()),
            "not converged, F ≥ thr": int(((~self.converged) & (self.loss >= thr)).sum()),
        }


def _lambda_min(W: Tensor, V: Tensor, chunk: int = 64) -> Tensor:
    out = []
    for s in range(0, W.shape[0], chunk):
        H = _hessian(W[s : s + chunk], V if V.ndim == 3 else V.unsqueeze(0))
        out.append(torch.linalg.eigvalsh(0.5 * (H + H.transpose(-1, -2)))[:, 0])
    return torch.cat(out) if out else W.new_zeros(0)


def _check_sizes(k: int, n: int, runs: int) -> None:
    for name, v, lo in (("k", k, 1), ("n", n, 1), ("runs", runs, 1)):
        if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < lo:
            raise LandscapeError(f"{name} must be an integer ≥ {lo}, got {v!r}")
    if n * k > MAX_PARAMS:
        raise LandscapeError(f"n·k = {n * k} parameters per student exceeds {MAX_PARAMS}")


def spurious_minima(
    k: int,
    n: int,
    runs: int,
    seed: int = 0,
    *,
    first: int = 0,
    step: float = 0.1,
    tol: float = 1e-9,
    max_steps: int = 100_000,
    newton_below: float | None = None,
    threshold: float = 1e-3,
    family_tol: float = 1e-4,
    keep_points: bool = True,
    device: str | torch.device = "cpu",
) -> SpuriousRecord:
    """Search for spurious local minima of the ReLU teacher–student with ``V = I_k``.

    Safran & Shamir 2018's protocol by default (see the module docstring). Works in
    float64 (the stopping tolerance is 1e-9).

    Args:
        k: teacher neurons and input dimension.
        n: student neurons (``n = k`` exact, ``n = k + 1`` mild over-parameterization).
        runs: random starts, all descending in one batch.
        seed: the search seed (start ``r`` uses ``SeedSequence([seed, k, n, first + r])``).
        first: index of the first start (split a search into tasks with it).
        step, tol, max_steps, newton_below: gradient descent (:func:`descend`).
        threshold: ``F`` at or above which a converged point is spurious.
        family_tol: relative tolerance for merging points into families.
        keep_points: keep the final students in the record (``W``).
        device: where the descent runs.

    Returns:
        A :class:`SpuriousRecord`.

    Raises:
        LandscapeError: non-integer or non-positive sizes, bad step/tol/budget.

    Example:
        >>> rec = spurious_minima(4, 4, runs=3, seed=0, max_steps=200)
        >>> rec.counts()["runs"]
        3
    """
    _check_sizes(k, n, runs)
    if not threshold > 0:
        raise LandscapeError(f"threshold must be > 0, got {threshold}")
    dev = torch.device(device)
    V = torch.eye(k, dtype=torch.float64, device=dev)
    W0 = initial_students(k, n, runs, seed=seed, first=first).to(dev)
    res = descend(W0, V, step=step, tol=tol, max_steps=max_steps, newton_below=newton_below)
    F = _loss(res.W, V.unsqueeze(0)).cpu().numpy()
    converged = res.converged.numpy()
    cand = converged & (F >= threshold)
    lam = np.full(runs, np.nan)
    idx = np.flatnonzero(cand)
    if idx.size:
        with torch_threads(1):
            lam[idx] = _lambda_min(res.W[torch.from_numpy(idx).to(dev)], V).cpu().numpy()
    spurious = cand & (lam > 0)
    saddle = cand & ~(lam > 0)
    family = np.full(runs, -1, dtype=np.int64)
    families: list[dict[str, Any]] = []
    W = res.W.cpu().numpy()
    sp = np.flatnonzero(spurious)
    if sp.size:
        ids, reps = match_families(W[sp], F[sp], tol=family_tol)
        family[sp] = ids
        for fam, r in enumerate(reps):
            families.append(
                {
                    "count": int((ids == fam).sum()),
                    "loss": float(F[sp[r]]),
                    "lambda_min": float(lam[sp[r]]),
                    "run": int(first + sp[r]),
                }
            )
    return SpuriousRecord(
        k=k,
        n=n,
        seed=seed,
        first=first,
        loss=F,
        grad_norm=res.grad_norm.cpu().numpy(),
        steps=res.steps.numpy(),
        converged=converged,
        lambda_min=lam,
        spurious=spurious,
        saddle=saddle,
        family=family,
        families=families,
        W=W if keep_points else None,
        settings={
            "step": step,
            "tol": tol,
            "max_steps": max_steps,
            "newton_below": newton_below,
            "threshold": threshold,
        },
    )
