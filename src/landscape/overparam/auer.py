"""One logistic neuron, the square loss, and 2^d local minima (Auer, Herbster & Warmuth 1996).

Auer, Herbster & Warmuth, *Exponentially many local minima for single neurons* (NIPS 1996):
for the neuron ``x ↦ σ(w·x)`` and the square loss, a one-dimensional data set whose loss
in ``w`` has two separated local minima, copied onto each of ``d`` coordinates (example
``t·e_j`` with target ``y``), gives a loss that is a sum of ``d`` copies of the
one-dimensional one, ``L(w) = (1/d) Σ_j ℓ(w_j)``: every choice of one minimum per
coordinate is a local minimum, ``2^d`` of them.

The one-dimensional set :data:`AUER_1D` (five examples ``(t, y)``) was found by a search
for two well-separated minima with a margin; its minima lie near ``w ≈ −0.07`` and
``w ≈ 1.36``, both strict (ℓ″ > 0), with a barrier between them and walls rising to
ℓ(±∞). The neuron is the library's bias-free one-layer :class:`~landscape.models.MLPSpec`
with a sigmoid output, so its loss is a :class:`~landscape.functional.FunctionalModel`
like any other, and minima are verified with :mod:`landscape.curvature`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from torch import Tensor

from .._errors import LandscapeError
from ..curvature import dense_hessian, loss_and_gradient
from ..ensemble import train_ensemble
from ..functional import FunctionalModel
from ..models import MLPSpec, build
from ..optim import SGD

__all__ = ["AUER_1D", "NeuronMinima", "auer_dataset", "find_minima", "neuron_model"]

#: the one-dimensional data set: (input t, target y) pairs with two local minima in w
AUER_1D: tuple[tuple[float, float], ...] = (
    (2.0, 1.0),
    (2.0, 1.0),
    (-8.0, 1.0),
    (-1.0, 0.25),
    (1.0, 0.75),
)


def auer_dataset(d: int, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """:data:`AUER_1D` on each of ``d`` coordinates: ``x`` ``(5d, d)``, ``y`` ``(5d, 1)``.

    Raises:
        LandscapeError: ``d < 1``.
    """
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise LandscapeError(f"d must be a positive integer, got {d!r}")
    k = len(AUER_1D)
    x = torch.zeros(d * k, d, dtype=dtype)
    y = torch.zeros(d * k, 1, dtype=dtype)
    for j in range(d):
        for i, (t, target) in enumerate(AUER_1D):
            x[j * k + i, j] = t
            y[j * k + i, 0] = target
    return x, y


def neuron_model(d: int, dtype: torch.dtype = torch.float64) -> FunctionalModel:
    """The logistic neuron ``σ(w·x)`` (no bias) with the square loss, as a FunctionalModel."""
    spec = MLPSpec(in_features=d, out_features=1, bias=False, output_activation="sigmoid")
    return FunctionalModel(build(spec, seed=0, dtype=dtype), loss="mse")


@dataclass
class NeuronMinima:
    """Distinct local minima found from many starts, each verified.

    Attributes:
        points: ``(K, d)`` one representative per cluster.
        losses: ``(K,)`` their losses.
        grad_norms: ``(K,)`` ‖∇L‖ at each.
        min_eigenvalues: ``(K,)`` the smallest Hessian eigenvalue at each.
        verified: ``(K,)`` gradient ≤ ``gtol`` and Hessian positive definite.
        counts: ``(K,)`` how many starts ended in each.
        starts: starts run.
    """

    points: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    min_eigenvalues: np.ndarray
    verified: np.ndarray
    counts: np.ndarray
    starts: int

    @property
    def num_verified(self) -> int:
        return int(self.verified.sum())


def find_minima(
    d: int,
    starts: int,
    seed: int = 0,
    *,
    box: float = 2.5,
    epochs: int = 2000,
    lr: float | None = None,
    momentum: float = 0.5,
    cluster_tol: float = 1e-3,
    gtol: float = 1e-6,
    eig_tol: float = 1e-8,
) -> NeuronMinima:
    """Descend from ``starts`` uniform starts in ``[−box, box]^d``, cluster, verify.

    The starts are one batched ensemble (:func:`~landscape.ensemble.train_ensemble`,
    full-batch heavy-ball gradient descent, ``lr`` = d by default: the loss is a mean over
    5d examples, so its curvature scales as 1/d); end points closer than ``cluster_tol``
    (single linkage, max-norm) are one minimum. Each representative is verified:
    ‖∇L‖ ≤ ``gtol`` and every eigenvalue of the dense Hessian (float64) above
    ``eig_tol``.

    Raises:
        LandscapeError: ``starts < 1``.
    """
    if starts < 1:
        raise LandscapeError(f"starts must be >= 1, got {starts}")
    x, y = auer_dataset(d)
    fm = neuron_model(d)
    gen = torch.Generator().manual_seed(int(seed))
    w0 = (torch.rand(starts, 1, d, generator=gen, dtype=torch.float64) * 2 - 1) * box
    res = train_ensemble(
        fm.loss,
        {"layers.0.weight": w0},
        (x, y),
        SGD(lr=float(d) if lr is None else lr, momentum=momentum),
        epochs,
        track=False,
    )
    ends = res.params["layers.0.weight"].reshape(starts, d).numpy()
    ends = ends[np.isfinite(ends).all(1)]
    if len(ends) > 1:
        labels = fcluster(linkage(ends, "single", metric="chebyshev"), cluster_tol, "distance")
    else:
        labels = np.ones(len(ends), dtype=int)
    points, losses, gnorms, eigs, counts = [], [], [], [], []
    for lab in np.unique(labels):
        members = ends[labels == lab]
        w = torch.as_tensor(members.mean(0), dtype=torch.float64).reshape(1, d)
        p = {"layers.0.weight": w}
        loss, g = loss_and_gradient(fm.loss, p, (x, y))
        h = dense_hessian(fm.loss, p, (x, y), dtype=torch.float64)
        points.append(members.mean(0))
        losses.append(float(loss))
        gnorms.append(float(g["layers.0.weight"].norm()))
        eigs.append(float(torch.linalg.eigvalsh(h)[0]))
        counts.append(len(members))
    gnorms_a, eigs_a = np.asarray(gnorms), np.asarray(eigs)
    return NeuronMinima(
        points=np.asarray(points).reshape(-1, d),
        losses=np.asarray(losses),
        grad_norms=gnorms_a,
        min_eigenvalues=eigs_a,
        verified=(gnorms_a <= gtol) & (eigs_a > eig_tol),
        counts=np.asarray(counts),
        starts=starts,
    )
