"""Directions to slice a loss landscape along: random, PCA, Hessian, and three-model planes.

Li, Xu, Taylor, Studer & Goldstein 2018, *Visualizing the Loss Landscape of Neural Nets*:
a 1-D or 2-D slice ``L(θ + α d₁ + β d₂)`` only means something when the directions are
scaled like the weights they perturb. A *filter* is the part of a weight tensor that
produces one output unit of a linear layer (a row of ``W``) or one output channel of a
convolution (``W[i]``); filter normalisation rescales every filter of a Gaussian direction
to the norm of the same filter of ``θ``.

Every function here returns a :class:`Directions` record (the directions as
:data:`~landscape.params.Params`, how they were made, and the numbers a caller reports:
remaining cosine, explained variance, eigenvalues, coordinates of reference models). The
inputs are never modified; buffers (batch-norm running statistics) are not parameters and
are never part of a direction.

Shape letters: ``K`` directions (1 or 2), ``T`` trajectory points, ``P`` parameters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from .._errors import LandscapeError, check_choice
from ..params import Params, _check_params, _check_same_keys, filter_normalize, flatten, unflatten
from ..params import random_direction as _gaussian

__all__ = [
    "NORMALIZATIONS",
    "Directions",
    "hessian_directions",
    "load_trajectory",
    "normalize_direction",
    "pca_directions",
    "random_directions",
    "three_model_plane",
]

Normalization = Literal["filter", "layer", "model", "none"]
OneD = Literal["zero", "scale"]
#: the normalisations :func:`normalize_direction` knows
NORMALIZATIONS = ("filter", "layer", "model", "none")


@dataclass(frozen=True)
class Directions:
    """Directions of a slice and how they were made.

    Attributes:
        vectors: ``K`` directions (1 or 2), each shaped like the parameters.
        kind: ``"random"``, ``"pca"``, ``"hessian"`` or ``"three"``.
        origin: the point ``α = β = 0`` of the slice when it is not the caller's centre
            (the first model for ``"three"``), else ``None``.
        info: numbers to report (normalisation, cosines, explained variance, eigenvalues).
        points: named coordinates ``(α, β)`` of reference models in this basis (the three
            models; the PCA trajectory as ``"trajectory"`` with shape ``(T, 2)``).
    """

    vectors: tuple[Params, ...]
    kind: str
    origin: Params | None = None
    info: dict[str, Any] = field(default_factory=dict)
    points: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.vectors)

    def flat(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """The directions as rows of a ``(K, P)`` matrix."""
        return torch.stack([flatten(d).to(dtype) for d in self.vectors])


def _cosine(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> float:
    fa, fb = flatten(a).double(), flatten(b).double()
    den = float(fa.norm() * fb.norm())
    return float(fa @ fb) / den if den > 0 else 0.0


def normalize_direction(
    direction: Mapping[str, Tensor],
    params: Mapping[str, Tensor],
    norm: Normalization = "filter",
    one_d: OneD = "zero",
    eps: float = 1e-10,
) -> Params:
    """Scale a direction like the parameters it perturbs.

    * ``"filter"`` — every row of a linear weight / output channel of a conv filter to the
      norm of the same filter of ``θ`` (Li et al. 2018);
    * ``"layer"`` — every tensor to the norm of the same tensor of ``θ``;
    * ``"model"`` — the whole direction to ``‖θ‖`` (over the tensors kept);
    * ``"none"`` — unchanged.

    1-D tensors (biases, norm-layer γ/β) have no filters: ``one_d="zero"`` sets them to zero
    (Li et al.'s default, their ``biasbn`` ignore), ``"scale"`` keeps them and scales each
    vector to the norm of the matching parameter vector (its signs are kept). Each tensor is
    normalised once; nothing is renormalised on a second call's input.

    Args:
        direction: shaped like ``params``.
        params: the centre ``θ``.
        norm: one of :data:`NORMALIZATIONS`.
        one_d: ``"zero"`` or ``"scale"``.
        eps: guards divisions by an all-zero filter.

    Raises:
        LandscapeError: unknown ``norm``/``one_d``, mismatched names or shapes.
    """
    check_choice("norm", norm, NORMALIZATIONS)
    check_choice("one_d", one_d, ("zero", "scale"))
    _check_params(params)
    _check_params(direction, "direction")
    _check_same_keys(params, direction)
    for k, d in direction.items():
        if d.shape != params[k].shape:
            raise LandscapeError(
                f"direction[{k!r}] has shape {tuple(d.shape)}, params has {tuple(params[k].shape)}"
            )
    if norm == "filter":
        return filter_normalize(direction, params, one_d=one_d, eps=eps)
    out: Params = {}
    for k, d in direction.items():
        w = params[k].to(d.dtype)
        if d.dim() < 2 and one_d == "zero":
            out[k] = torch.zeros_like(d)
        elif norm == "layer" or (d.dim() < 2 and norm == "model"):
            out[k] = d * (w.norm() / (d.norm() + eps))
        else:
            out[k] = d.clone()
    if norm == "model":
        weights = [k for k, d in out.items() if d.dim() >= 2]
        wn = torch.sqrt(sum(params[k].to(out[k].dtype).pow(2).sum() for k in weights))
        dn = torch.sqrt(sum(out[k].pow(2).sum() for k in weights))
        for k in weights:
            out[k] = out[k] * (wn / (dn + eps))
    return out


def random_directions(
    params: Mapping[str, Tensor],
    k: int = 2,
    seed: int = 0,
    norm: Normalization = "filter",
    one_d: OneD = "zero",
    orthogonalize: bool = False,
) -> Directions:
    """``k`` seeded Gaussian directions (N(0, I), drawn on the CPU in float64), normalised.

    With ``orthogonalize`` the second direction is made orthogonal to the first *after*
    normalisation (Gram–Schmidt; its filter norms then differ slightly from θ's). The
    cosine between the two before and after is reported in ``info``
    (``"cosine_before"``, ``"cosine"``).

    Raises:
        LandscapeError: ``k`` not 1 or 2, or a bad option.
    """
    if k not in (1, 2):
        raise LandscapeError(f"k must be 1 (a line) or 2 (a plane), got {k!r}")
    gen = torch.Generator().manual_seed(int(seed))
    vecs = [normalize_direction(_gaussian(params, generator=gen), params, norm, one_d)]
    info: dict[str, Any] = {"normalization": norm, "one_d": one_d, "seed": int(seed)}
    if k == 2:
        d1, d2 = vecs[0], normalize_direction(_gaussian(params, generator=gen), params, norm, one_d)
        info["cosine_before"] = _cosine(d1, d2)
        if orthogonalize:
            f1, f2 = flatten(d1).double(), flatten(d2).double()
            f2 = f2 - (f2 @ f1) / (f1 @ f1) * f1
            d2 = {n: t.to(d2[n].dtype) for n, t in unflatten(f2, d2).items()}
        info["cosine"] = _cosine(d1, d2)
        info["orthogonalized"] = bool(orthogonalize)
        vecs.append(d2)
    return Directions(tuple(vecs), "random", info=info)


def load_trajectory(source: str | os.PathLike | Sequence[Any]) -> list[Params]:
    """A training trajectory: a folder of checkpoints (sorted by file name), a list of
    checkpoint paths, or a list of params dicts (returned as given).

    Raises:
        LandscapeError: a missing folder, no checkpoint in it, or fewer than two points.
    """
    from .. import checkpoint

    if isinstance(source, str | os.PathLike):
        folder = Path(source)
        if not folder.is_dir():
            raise LandscapeError(f"trajectory folder not found: {folder}")
        files = sorted(p for p in folder.iterdir() if p.suffix in (".ckpt", ".pt"))
        if not files:
            raise LandscapeError(f"no .ckpt or .pt checkpoint in {folder}")
        source = files
    points = [
        checkpoint.load(p).params if isinstance(p, str | os.PathLike) else dict(p) for p in source
    ]
    if len(points) < 2:
        raise LandscapeError(f"a trajectory needs at least 2 points, got {len(points)}")
    for p in points[1:]:
        _check_same_keys(points[0], p)
    return points


def pca_directions(
    trajectory: str | os.PathLike | Sequence[Any], final: Mapping[str, Tensor] | None = None
) -> Directions:
    """The top two principal directions of a training trajectory (Li et al. 2018, §7).

    The matrix ``M = [θ_0 − θ_n; …; θ_{n−1} − θ_n]`` (``T × P``, float64, not mean-centred,
    as in the paper) is decomposed by SVD; the directions are the two leading right singular
    vectors (unit length, the sign making the largest entry positive), their explained
    variance ratios ``s_i² / Σ s²``, and the trajectory's exact coordinates ``M Vᵀ``.

    Args:
        trajectory: see :func:`load_trajectory`.
        final: the centre ``θ_n`` (default: the trajectory's last point).

    Raises:
        LandscapeError: fewer than two points, or a degenerate trajectory (rank < 2).
    """
    points = load_trajectory(trajectory)
    centre = dict(final) if final is not None else points[-1]
    _check_same_keys(centre, points[0])
    c = flatten(centre).double()
    m = torch.stack([flatten(p).double().to(c.device) - c for p in points])
    m = m[m.norm(dim=1) > 0] if final is None else m
    if m.shape[0] < 2:
        raise LandscapeError("the trajectory has fewer than 2 points apart from its centre")
    _, s, vh = torch.linalg.svd(m, full_matrices=False)
    if s.numel() < 2 or float(s[1]) <= 1e-12 * float(s[0]):
        raise LandscapeError("the trajectory spans fewer than 2 dimensions; PCA needs two")
    v = vh[:2]
    sign = torch.sign(v.gather(1, v.abs().argmax(dim=1, keepdim=True)))
    v = v * sign
    ratio = (s**2 / (s**2).sum())[:2]
    like = {k: t for k, t in centre.items()}
    vecs = tuple(
        {k: t.to(centre[k].dtype) for k, t in unflatten(v[i].to(_device(centre)), like).items()}
        for i in range(2)
    )
    coords = (torch.stack([flatten(p).double().to(c.device) - c for p in points]) @ v.T).cpu()
    return Directions(
        vecs,
        "pca",
        info={
            "explained_variance": [float(r) for r in ratio],
            "singular_values": [float(x) for x in s[:2]],
            "points": len(points),
        },
        points={"trajectory": coords.numpy()},
    )


def _device(params: Mapping[str, Tensor]) -> torch.device:
    return next(iter(params.values())).device


def hessian_directions(
    loss: Any,
    params: Mapping[str, Tensor],
    data: Any,
    which: Literal["top", "bottom", "top-bottom"] = "top",
    seed: int = 0,
    tol: float = 1e-3,
    chunk_size: int | None = None,
) -> Directions:
    """Eigenvectors of the Hessian of the dataset-mean loss at ``params`` (unit length).

    ``"top"``: the two largest eigenvalues; ``"bottom"``: the two smallest (most negative);
    ``"top-bottom"``: the largest and the smallest. Computed by Lanczos
    (:func:`landscape.curvature.eigenpairs`), residuals reported.

    Args:
        loss: a :class:`~landscape.functional.FunctionalModel` or pure ``loss(params, batch)``.
        params: the point.
        data: ``(x, y)`` or an iterable of batches.
        which: see above.
        seed, tol, chunk_size: passed to the eigensolver / operator.
    """
    from ..curvature import HessianOperator, eigenpairs

    check_choice("which", which, ("top", "bottom", "top-bottom"))
    op = HessianOperator(loss, dict(params), data, chunk_size=chunk_size)
    pairs: list[tuple[float, Tensor]] = []
    residual = 0.0
    asks = {
        "top": [("top", 2)],
        "bottom": [("bottom", 2)],
        "top-bottom": [("top", 1), ("bottom", 1)],
    }
    for side, k in asks[which]:
        r = eigenpairs(op, k=min(k, op.num_params), which=side, tol=tol, seed=seed)
        residual = max(residual, float(r.max_relative_residual))
        order = range(r.eigenvalues.numel())
        pairs += [(float(r.eigenvalues[i]), r.eigenvectors[:, i]) for i in order]
    if which == "bottom":
        pairs.sort(key=lambda p: p[0])
    elif which == "top":
        pairs.sort(key=lambda p: -p[0])
    like = dict(params)
    vecs = tuple(
        {
            k: t.to(device=params[k].device, dtype=params[k].dtype)
            for k, t in unflatten(v.to(_device(params)), like).items()
        }
        for _, v in pairs[:2]
    )
    return Directions(
        vecs,
        "hessian",
        info={"eigenvalues": [p[0] for p in pairs[:2]], "residual": residual, "which": which},
    )


def three_model_plane(
    a: Mapping[str, Tensor], b: Mapping[str, Tensor], c: Mapping[str, Tensor]
) -> Directions:
    """The plane through three models: an orthonormal basis and their 2-D coordinates.

    Origin ``θ_a``; ``u = (θ_b − θ_a)/‖θ_b − θ_a‖``; ``v`` is ``θ_c − θ_a`` with its ``u``
    component removed, normalised (Garipov et al. 2018). The models then lie at ``(0, 0)``,
    ``(‖θ_b − θ_a‖, 0)`` and ``(⟨θ_c − θ_a, u⟩, ⟨θ_c − θ_a, v⟩)``: the grid's ``α, β`` are
    distances in parameter space. ``c`` may be a Bezier control point, a DSS bead or any
    third checkpoint of the same architecture.

    Raises:
        LandscapeError: different architectures, or the three models on one line.
    """
    for name, p in (("a", a), ("b", b), ("c", c)):
        _check_params(p, name)
    _check_same_keys(a, b)
    _check_same_keys(a, c)
    fa = flatten(a).double()
    fb = flatten(b).double().to(fa.device) - fa
    fc = flatten(c).double().to(fa.device) - fa
    nb = fb.norm()
    if float(nb) == 0.0:
        raise LandscapeError("models a and b are the same point; a plane needs three apart")
    u = fb / nb
    w = fc - (fc @ u) * u
    if float(w.norm()) <= 1e-12 * max(float(fc.norm()), float(nb)):
        raise LandscapeError("the three models lie on one line; they do not span a plane")
    v = w / w.norm()
    like = dict(a)
    vecs = tuple({k: t.to(a[k].dtype) for k, t in unflatten(x, like).items()} for x in (u, v))
    coords = {
        "a": (0.0, 0.0),
        "b": (float(nb), 0.0),
        "c": (float(fc @ u), float(fc @ v)),
    }
    return Directions(
        vecs, "three", origin={k: t.detach().clone() for k, t in a.items()}, points=coords
    )
