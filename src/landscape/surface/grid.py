"""Loss along lines and over planes of parameter space, many grid points at once.

``L(θ + α d₁ + β d₂)`` on a grid of ``(α, β)`` (Li et al. 2018). The grid points are
evaluated in vmapped passes over blocks of points whose size a memory budget bounds, the
data mean taken chunk by chunk (:func:`~landscape.functional.weighted_mean`, the one dataset
mean). When the model's first parameterised layer is a ``Linear`` or ``Conv`` layer applied
once to (a parameter-free function of) the input, it is *factored*: its output at a grid
point is ``X(W₀ + αD₁ + βD₂)ᵀ + b = XW₀ᵀ + b₀ + α(XD₁ᵀ + δb₁) + β(XD₂ᵀ + δb₂)``, so the
three products are computed once per data chunk and reused by every grid point; only the
rest of the network runs per point. Both paths equal a point-by-point loop.

A chain of ``Linear`` layers and elementwise activations (an MLP) goes further: every layer
is factored the same way (``expand``). For small points, a layer's output at all points of a
pass is one tall product of the scaled inputs ``[h, αh, βh]`` with ``[W₀ | D₁ | D₂]``, never
building a point's weights; for large points, each point's own forward runs in cache-sized
blocks of rows. Both use :mod:`landscape.kernels` (oneDNN where MKL would run AVX2 kernels
on an AVX-512 CPU).

Batch normalisation: ``bn="eval"`` (default) uses the running statistics the model holds.
``bn="recompute"`` re-estimates them at every grid point, as
``torch.optim.swa_utils.update_bn`` does: running statistics reset, the model run in train
mode over the first ``bn_batches`` batches of ``bn_data`` with a cumulative average
(``momentum=None``), then evaluated in eval mode. This is a loop over grid points.

The user's module is never touched: everything runs on
:class:`~landscape.functional.FunctionalModel`'s private copy.

Shape letters: ``G`` grid points, ``K`` directions, ``N`` samples, ``T`` trajectory points.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .. import kernels
from .._errors import LandscapeError, check_choice
from .._validate import check_finite
from ..functional import Data, FunctionalModel, OutputLoss, batch_rows, iter_chunks, weighted_mean
from ..params import Params, _check_params, _check_same_keys, flatten
from .directions import Directions

__all__ = [
    "BN_MODES",
    "Projection",
    "Surface",
    "evaluate_coefficients",
    "line",
    "load_directions",
    "plane",
    "project_trajectory",
    "recompute_bn_buffers",
    "save_directions",
    "zoom",
]

#: how batch normalisation is treated at a grid point
BN_MODES = ("eval", "recompute")
_FIRST = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class Surface:
    """A line or plane of loss values.

    Attributes:
        alpha: ``(A,)`` coordinates along the first direction.
        beta: ``(B,)`` along the second (``None`` for a line).
        loss: ``(A,)`` or ``(A, B)``; ``loss[i, j]`` is at ``(alpha[i], beta[j])``.
        error: the classification error rate likewise (``None`` for other targets).
        directions: the :class:`~landscape.surface.directions.Directions` used.
        centre: the point ``α = β = 0``.
        meta: how it was computed (factored, bn mode, samples, seconds …).
    """

    alpha: np.ndarray
    beta: np.ndarray | None
    loss: np.ndarray
    error: np.ndarray | None
    directions: Directions
    centre: Params
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_plane(self) -> bool:
        return self.beta is not None

    def arrays(self) -> dict[str, np.ndarray]:
        """``alpha``, ``beta``, ``loss``, ``error`` (NaN-filled when absent) as numpy arrays."""
        nan = np.full_like(self.loss, np.nan)
        return {
            "alpha": self.alpha,
            "beta": self.beta if self.beta is not None else np.zeros(0),
            "loss": self.loss,
            "error": self.error if self.error is not None else nan,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """``surface.npz`` (arrays as :meth:`arrays`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **self.arrays())
        return path


# ---------------------------------------------------------------- directions file


def directions_payload(directions: Directions) -> dict[str, Tensor]:
    """The directions as one flat dict ``{"alpha.<name>": …, "beta.<name>": …}`` (CPU)."""
    out = {}
    for label, vec in zip(("alpha", "beta"), directions.vectors, strict=False):
        out.update({f"{label}.{k}": v.detach().cpu().clone() for k, v in vec.items()})
    return out


def save_directions(
    path: str | os.PathLike, directions: Directions, meta: dict | None = None
) -> Path:
    """Write ``directions.pt``: a landscape checkpoint (``spec=None``) whose params are the
    directions keyed ``alpha.<parameter name>`` and ``beta.<parameter name>``; read it back
    with :func:`load_directions` (``torch.load(weights_only=True)`` underneath)."""
    from .. import checkpoint

    info = {k: v for k, v in directions.info.items() if isinstance(v, int | float | str | list)}
    return checkpoint.save(
        path,
        directions_payload(directions),
        None,
        {"kind": directions.kind, **info, **(meta or {})},
    )


def load_directions(path: str | os.PathLike) -> tuple[Params, ...]:
    """The directions of a ``directions.pt``: ``(d_alpha,)`` or ``(d_alpha, d_beta)``, each
    keyed like the model's parameters.

    Raises:
        CheckpointError: not a landscape checkpoint.
        LandscapeError: no ``alpha.*`` tensors in it.
    """
    from .. import checkpoint

    params = checkpoint.load(path).params
    out = []
    for label in ("alpha", "beta"):
        d = {k[len(label) + 1 :]: v for k, v in params.items() if k.startswith(label + ".")}
        if d:
            out.append(d)
    if not out:
        raise LandscapeError(f"{path} holds no alpha.* direction tensors")
    return tuple(out)


# ---------------------------------------------------------------- the factored first layer


class _Stop(Exception):
    pass


class _Factored(nn.Module):
    """Stands in for the first layer: returns ``y0 + Σ_k coef_k ys_k`` (ignores its input)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("y0", torch.zeros(0))
        self.register_buffer("ys", torch.zeros(0))
        self.register_buffer("coef", torch.zeros(0))

    def forward(self, x: Tensor) -> Tensor:
        return self.y0 + torch.tensordot(self.coef, self.ys, dims=1)


def _has_own_params(m: nn.Module) -> bool:
    return any(True for _ in m.parameters(recurse=False))


def _first_layer(fm: FunctionalModel, centre: Params, x: Tensor) -> tuple[str, nn.Module] | None:
    """The first parameterised module a forward pass reaches, if it is a Linear/Conv applied
    once, holding only free, untied parameters; else ``None`` (no factoring)."""
    calls: list[str] = []
    handles = []
    for name, m in fm.module.named_modules():
        if _has_own_params(m):
            handles.append(
                m.register_forward_pre_hook(lambda mod, inp, name=name: calls.append(name))
            )
    try:
        with torch.no_grad():
            fm.forward(centre, x[:2])
    finally:
        for h in handles:
            h.remove()
    if not calls:
        return None
    name = calls[0]
    module = fm.module.get_submodule(name)
    if not isinstance(module, _FIRST) or calls.count(name) != 1:
        return None
    own = [f"{name}.{k}" if name else k for k, _ in module.named_parameters(recurse=False)]
    if any(k not in fm.names for k in own):
        return None
    ids = [id(p) for _, p in fm.module.named_parameters(remove_duplicate=False)]
    if any(ids.count(id(p)) > 1 for p in module.parameters(recurse=False)):
        return None
    return name, module


def _layer_input(fm: FunctionalModel, centre: Params, name: str, x: Tensor) -> Tensor:
    """What the first layer receives for inputs ``x`` (the forward stops there)."""
    box: list[Tensor] = []

    def grab(mod: nn.Module, inp: tuple) -> None:
        box.append(inp[0])
        raise _Stop

    h = fm.module.get_submodule(name).register_forward_pre_hook(grab)
    try:
        fm.forward(centre, x)
    except _Stop:
        pass
    finally:
        h.remove()
    return box[0]


def _layer_apply(module: nn.Module, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    if isinstance(module, nn.Linear):
        return nn.functional.linear(x, weight, bias)
    return module._conv_forward(x, weight, bias)  # type: ignore[operator]


# ---------------------------------------------------------------- evaluation


def _as_fm(model: nn.Module | FunctionalModel, loss: str | OutputLoss) -> FunctionalModel:
    if isinstance(model, FunctionalModel):
        return model
    if isinstance(model, nn.Module):
        return FunctionalModel(model, loss=loss)
    raise LandscapeError(
        f"model must be an nn.Module or a FunctionalModel, got {type(model).__name__}"
    )


def _bytes_per_point(fm: FunctionalModel, centre: Params, x: Tensor, rows: int) -> int:
    """Rough memory of one grid point in a vmapped pass: its parameters and activations."""
    sizes: list[int] = []
    handles = [
        m.register_forward_hook(
            lambda mod, i, o: sizes.append(o.numel() if isinstance(o, Tensor) else 0)
        )
        for m in fm.module.modules()
        if not list(m.children())
    ]
    try:
        with torch.no_grad():
            fm.forward(centre, x[:1])
    finally:
        for h in handles:
            h.remove()
    item = next(iter(centre.values())).element_size()
    p = sum(v.numel() for v in centre.values())
    return item * (2 * p + 3 * rows * max(sum(sizes), 1))


def _classification(out: Tensor, y: Tensor) -> bool:
    return not torch.is_floating_point(y) and out.dim() == 2 and out.shape[1] > 1


def evaluate_coefficients(
    model: nn.Module | FunctionalModel,
    centre: Mapping[str, Tensor],
    vectors: Sequence[Mapping[str, Tensor]],
    coefficients: Tensor | np.ndarray,
    data: Data,
    *,
    loss: str | OutputLoss = "cross_entropy",
    bn: Literal["eval", "recompute"] = "eval",
    bn_data: Data | None = None,
    bn_batches: int = 10,
    bn_batch_size: int = 128,
    factored: bool | Literal["auto"] = "auto",
    chunk_size: int | None = 4096,
    memory_mb: float = 64.0,
    vmap_points: bool | Literal["auto"] = "auto",
    expand: bool | Literal["auto"] = "auto",
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """Dataset-mean loss (and error rate) at ``θ + Σ_k c_k d_k`` for each row ``c`` of
    ``coefficients (G, K)``.

    Args:
        model: an ``nn.Module`` (wrapped with ``loss``; never modified) or a
            :class:`~landscape.functional.FunctionalModel`.
        centre: ``θ``, e.g. ``FunctionalModel(model).params()``.
        vectors: ``K`` directions shaped like ``centre``.
        coefficients: ``(G, K)`` grid coordinates.
        data: ``(x, y)`` tensors or an iterable of batches (a ``DataLoader``).
        bn: ``"eval"`` or ``"recompute"`` (see the module docs; needs ``bn_data``).
        bn_data, bn_batches, bn_batch_size: the training batches statistics are
            re-estimated from (the first ``bn_batches``; a tensor pair is cut into batches
            of ``bn_batch_size`` rows).
        factored: factor the first layer (``"auto"``: when it can be), ``False``: never,
            ``True``: required.
        chunk_size: data rows per chunk (tensor pairs).
        memory_mb: bound on one vmapped pass; sets how many points go through at once.
            The default (64 MiB) keeps a pass's activations near the cache: on a 2-core
            CPU a 1 GiB pass was 2× slower, bound by memory traffic, not by its products.
        vmap_points: evaluate a pass's points in one vmapped computation (``True``) or one
            after another on the parameters built for the pass (``False``). ``"auto"``:
            vmapped while a point's work (rows × parameters) is under
            :data:`LOOP_WORK`; above it each point's products are large enough on their
            own, and the plain loop avoided the batched-weight overhead (a 21×21 plane of
            a 64-128-128-10 MLP on 2000 samples: 0.58 s vmapped, 0.38 s looped).
        expand: for a chain of Linear layers and elementwise activations (an
            ``nn.Sequential`` of them, or a :class:`landscape.models.MLP`), evaluate every
            layer by the direction expansion: ``K + 1`` products per layer in one tall
            matrix product for all points of a pass, no point's weights ever built
            (:func:`_expanded_fn`). ``"auto"``: for such chains when the points would be
            vmapped (small work per point: the expansion does ``K + 1`` times the
            arithmetic, on a much better kernel — a 21×21 plane of a 64-128-128-10 MLP on
            32 samples: 9–10 ms against 21–25 ms vmapped). ``True``: required.
        device, dtype: where and in what precision (default: the centre's).

    Returns:
        ``{"loss": (G,) float64 array, "error": (G,) array or None, "factored": bool,
        "points_per_pass": int, "vmapped": bool, "method": "expanded" | "vmapped" |
        "looped"}``.

    Raises:
        LandscapeError: bad shapes or options, ``factored=True`` or ``expand=True`` where
            it cannot be, ``bn="recompute"`` without ``bn_data``.
    """
    check_choice("bn", bn, BN_MODES)
    fm = _as_fm(model, loss)
    _check_params(centre, "centre")
    check_finite(centre, "centre")
    if isinstance(vectors, Mapping) or not vectors:
        raise LandscapeError("vectors must be a list of at least one direction (params dicts)")
    for i, v in enumerate(vectors):
        if not isinstance(v, Mapping):
            raise LandscapeError(
                f"vectors[{i}] must be a params dict like the centre, got {type(v).__name__}"
            )
        _check_same_keys(centre, v)
        for k in centre:
            if not isinstance(v[k], Tensor) or tuple(v[k].shape) != tuple(centre[k].shape):
                got = tuple(v[k].shape) if isinstance(v[k], Tensor) else type(v[k]).__name__
                raise LandscapeError(
                    f"direction {i} has {k!r} of shape {got}, the centre's is "
                    f"{tuple(centre[k].shape)}; directions must be shaped like the parameters"
                )
        check_finite(v, f"direction {i}")
    coeffs = torch.as_tensor(
        np.asarray(coefficients) if not isinstance(coefficients, Tensor) else coefficients
    )
    if coeffs.dim() != 2 or coeffs.shape[1] != len(vectors):
        raise LandscapeError(
            f"coefficients must have shape (G, {len(vectors)}), got {tuple(coeffs.shape)}"
        )
    if not bool(torch.isfinite(coeffs.double()).all()):
        raise LandscapeError("coefficients must be finite numbers")
    first = next(iter(centre.values()))
    dev = torch.device(device) if device is not None else first.device
    dt = dtype or first.dtype
    _check_reach(centre, vectors, coeffs, dt)
    c0 = {k: v.detach().to(dev, dt) for k, v in centre.items()}
    vs = [{k: v[k].detach().to(dev, dt) for k in c0} for v in vectors]
    coeffs = coeffs.to(dev, dt)
    if bn == "recompute":
        if bn_data is None:
            raise LandscapeError("bn='recompute' needs bn_data: the training batches")
        return _recompute_loop(
            fm, c0, vs, coeffs, data, bn_data, bn_batches, bn_batch_size, chunk_size
        )
    chunks = list(_moved(data, chunk_size, dev, dt))
    rows = max(batch_rows(b) for b in chunks)
    if vmap_points == "auto":
        n_params = sum(v.numel() for v in c0.values())
        vmap_points = rows * n_params < LOOP_WORK
    elif not isinstance(vmap_points, bool):
        raise LandscapeError(f"vmap_points must be True, False or 'auto', got {vmap_points!r}")
    if expand not in (True, False, "auto"):
        raise LandscapeError(f"expand must be True, False or 'auto', got {expand!r}")
    if expand is True and factored is False:
        raise LandscapeError("expand=True factors every layer; it cannot go with factored=False")
    chain = _linear_chain(fm) if expand is not False and factored is not False else None
    if chain is not None and not _chain_takes(chain, chunks[0][0]):
        chain = None  # e.g. Linear layers on the last axis of (n, T, F) inputs
    if expand is True and chain is None:
        raise LandscapeError(
            "expand=True needs a chain of Linear layers and elementwise activations (an "
            "nn.Sequential of them or a landscape MLP, no buffers, no frozen or tied "
            "parameters); use expand='auto'"
        )
    expanded = chain is not None and (expand is True or vmap_points)
    layer = None
    if chain is not None:
        # expanded for small points; large points one by one on the chain's own forward
        run = _expanded_fn(fm, c0, vs, chain, memory_mb, per_point=not expanded)
        item = coeffs.element_size()
        step = (
            min(coeffs.shape[0], _expand_step(chain, rows, len(vs) + 1, memory_mb, item))
            if expanded
            else 1
        )

        def chunk_values(batch):
            return run(coeffs, *batch)

    else:
        x_probe = chunks[0][0]
        layer = _first_layer(fm, c0, x_probe) if factored is not False else None
        if factored is True and layer is None:
            raise LandscapeError(
                "factored=True but the model's first parameterised layer is not a Linear/Conv "
                "applied once to the input; use factored='auto'"
            )
        per_point = _bytes_per_point(fm, c0, x_probe, rows)
        step = max(1, min(coeffs.shape[0], int(memory_mb * 2**20 // per_point)))
        point = _point_fn(fm, c0, vs, layer, vmap_points)

        def chunk_values(batch):
            x, y = batch
            extra = _first_products(fm, c0, vs, layer, x) if layer is not None else None
            parts = [
                point(coeffs[i : i + step], x, y, extra) for i in range(0, coeffs.shape[0], step)
            ]
            return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    with torch.no_grad():
        means = weighted_mean((batch_rows(b), chunk_values(b)) for b in chunks)
    return {
        "loss": means["loss"].double().cpu().numpy(),
        "error": means["error"].double().cpu().numpy() if "error" in means else None,
        "factored": layer is not None or chain is not None,
        "points_per_pass": step,
        "vmapped": vmap_points and not expanded,
        "method": "expanded" if expanded else "vmapped" if vmap_points else "looped",
    }


def _check_reach(
    centre: Mapping[str, Tensor], vectors: Sequence[Mapping[str, Tensor]], coeffs: Tensor, dt
) -> None:
    """Refuse a grid whose points leave ``dt``'s range: ``max|θ| + Σ_k max|c_k| max|d_k|``
    must stay a finite number (else the "surface" is inf − inf = NaN everywhere)."""
    reach = max(float(v.detach().abs().max()) for v in centre.values() if v.numel())
    for k, v in enumerate(vectors):
        top = max(float(t.detach().abs().max()) for t in v.values() if t.numel())
        reach += float(coeffs[:, k].double().abs().max()) * top
    limit = float(torch.finfo(dt).max) / 1e3  # headroom: a layer sums many such terms
    if not reach < limit:
        raise LandscapeError(
            f"the grid reaches parameters of size {reach:.3g} (max|θ| + Σ max|c|·max|d|), "
            f"beyond what {str(dt).removeprefix('torch.')} holds ({limit:.3g} with headroom); "
            "every loss there would be inf or NaN — use a smaller range"
        )


def _moved(data: Data, chunk_size: int | None, dev: torch.device, dt: torch.dtype):
    for x, y in iter_chunks(data, chunk_size):
        x = x.to(dev, dt) if x.is_floating_point() else x.to(dev)
        yield x, y.to(dev)


def _combine(c0: Params, vs: list[Params], c: Tensor, names: Sequence[str]) -> Params:
    out = {}
    for k in names:
        t = c0[k]
        for i, v in enumerate(vs):
            t = t + c[i] * v[k]
        out[k] = t
    return out


def _metrics(fm: FunctionalModel, out: Tensor, y: Tensor) -> dict[str, Tensor]:
    res = {"loss": fm.output_loss(out, y)}
    if _classification(out, y):
        res["error"] = (out.argmax(dim=-1) != y).to(out.dtype).mean()
    return res


def _first_products(fm, c0, vs, layer, x):
    """``(y0, ys)``: the first layer's output at θ and its K directional parts, for ``x``."""
    name, module = layer
    prefix = f"{name}." if name else ""
    xin = _layer_input(fm, c0, name, x)
    w, b = prefix + "weight", prefix + "bias"
    y0 = _layer_apply(module, xin, c0[w], c0.get(b))
    ys = torch.stack([_layer_apply(module, xin, v[w], v.get(b)) for v in vs])
    return y0, ys


# ---------------------------------------------------------------- chains of Linear layers

#: parameter-free modules that act on each entry (so on any leading shape) of their input
#: floats of one pass's scaled inputs ``(P·n, (K+1)·in)`` in the expanded evaluation
_EXPAND_ELEMENTS = 3 * 2**18
#: floats of one block of rows' activations when a chain's points go one by one
_POINT_BLOCK_ELEMENTS = 2**18

Step = tuple[str, Any]  # ("linear", (prefix, module)) or ("fn", callable on (…, features))


def _elementwise(m: nn.Module) -> bool:
    from ..models import ELEMENTWISE

    return type(m) in ELEMENTWISE


def _linear_chain(fm: FunctionalModel) -> list[Step] | None:
    """The module as a chain ``flatten?, Linear, act, Linear, …`` of free Linear layers and
    elementwise activations (an ``nn.Sequential`` of those, or a :class:`landscape.models.MLP`),
    with no buffers and no tied or frozen parameters; else ``None``."""
    from ..models import MLP

    m = fm.module
    if any(True for _ in m.buffers()) or fm.frozen:
        return None
    steps: list[Step] = []
    if isinstance(m, MLP):
        steps.append(("fn", lambda x: x.reshape(x.shape[0], -1)))
        for i, layer in enumerate(m.layers):
            steps.append(("linear", (f"layers.{i}.", layer)))
            act = m.act if i < len(m.layers) - 1 else m.out_act
            if not _elementwise(act):
                return None
            steps.append(("fn", act))
    elif isinstance(m, nn.Sequential):
        for name, child in m.named_children():
            if isinstance(child, nn.Linear):
                steps.append(("linear", (f"{name}.", child)))
            elif _elementwise(child):
                steps.append(("fn", child))
            elif isinstance(child, nn.Flatten) and not steps and child.end_dim == -1:
                start = child.start_dim
                steps.append(("fn", lambda x, start=start: x.flatten(start)))
            else:
                return None
    else:
        return None
    if not any(kind == "linear" for kind, _ in steps):
        return None
    ids = [id(p) for _, p in m.named_parameters(remove_duplicate=False)]
    if len(ids) != len(set(ids)) or len(list(m.parameters())) != len(fm.names):
        return None
    return steps


def _chain_takes(steps: list[Step], x: Tensor) -> bool:
    """Whether the chain's first Linear layer gets ``(n, in)`` floating rows from ``x``."""
    if not x.is_floating_point():
        return False
    h = x[:1]
    for kind, fn in steps:
        if kind == "linear":
            return h.dim() == 2 and h.shape[1] == fn[1].in_features
        h = fn(h)
    return False


def _expand_step(steps: list[Step], rows: int, k1: int, memory_mb: float, item: int) -> int:
    """Points per pass of the expanded evaluation: the scaled inputs stay in cache, and a
    pass's scaled inputs and outputs stay within ``memory_mb``."""
    mods = [mod for kind, (_, mod) in (s for s in steps if s[0] == "linear")]
    widest = max([m.in_features for m in mods[1:]], default=1)
    per_point = item * rows * (k1 * widest + 2 * max(m.out_features for m in mods))
    return max(
        1, min(_EXPAND_ELEMENTS // (rows * k1 * widest), int(memory_mb * 2**20 // per_point))
    )


def _expanded_fn(
    fm: FunctionalModel,
    c0: Params,
    vs: list[Params],
    steps: list[Step],
    memory_mb: float,
    per_point: bool = False,
):
    """``f(coeffs (E, K), x, y) -> {name: (E,)}`` for a chain of Linear layers.

    Expanded (``per_point=False``), without any point's parameters: a layer's output at
    ``θ + Σ_k c_k d_k`` is ``Σ_k c̃_k (h W_kᵀ)`` with ``c̃ = (1, c)``, ``W_0 = W(θ)``,
    ``W_k = W(d_k)``, i.e. one product of the scaled inputs ``[h, c_1 h, …, c_K h]``
    (``(P·n, (K+1)·in)``) with the stacked weights ``[W_0 | W_1 | … | W_K]`` for all points
    of a pass (a tall matrix product, on :func:`landscape.kernels.backend`, the stacked
    weights prepacked), where the vmapped path does ``P`` small products with per-point
    weights built first. The scaled inputs of every pass are written into one buffer (fresh
    large tensors cost a page fault per 4 KiB on first touch, as much as the products here);
    the loss and error come from one vmapped call per few passes.

    Per point (``per_point=True``, for points whose own products are large): each point's
    weights ``Σ_k c̃_k W_k`` (one small product per layer) and its forward on
    :func:`landscape.kernels.backend`.

    In both, the first layer is applied to the data once per direction (``K + 1`` products
    per data chunk) and combined per point.
    """
    like = next(iter(c0.values()))
    which = kernels.backend(like.device, like.dtype)
    every = [c0, *vs]
    k1 = len(every)

    def bias(prefix: str, mod: nn.Linear) -> Tensor:
        if mod.bias is None:
            return like.new_zeros(k1, mod.out_features)
        return torch.stack([p[prefix + "bias"] for p in every])

    layers = [v for k, v in steps if k == "linear"]
    first = next(i for i, s in enumerate(steps) if s[0] == "linear")
    if per_point:  # (K+1, out·in): a point's weights are c̃ @ this
        stacked = {
            prefix: (
                torch.stack([p[prefix + "weight"].reshape(-1) for p in every]),
                bias(prefix, m),
            )
            for prefix, m in layers[1:]
        }
    else:  # [W_0 | … | W_K], (out, (K+1)·in), in the backend's layout
        stacked = {
            prefix: (
                kernels.prepack(torch.cat([p[prefix + "weight"] for p in every], 1), which, 4096),
                bias(prefix, m),
            )
            for prefix, m in layers[1:]
        }
    widest = max([m.in_features for _, m in layers[1:]], default=1)

    def act(z: Tensor, fn: Any) -> Tensor:
        return z.relu_() if type(fn) is nn.ReLU else fn(z)

    def one_point(c: Tensor, y1: Tensor, y: Tensor) -> dict[str, Tensor]:
        weights = {
            prefix: ((c @ w).view(m.out_features, m.in_features), c @ b)
            for (prefix, m), (w, b) in zip(layers[1:], stacked.values(), strict=True)
        }
        n = y1.shape[1]
        scalars = c.tolist()
        rows = max(1, _POINT_BLOCK_ELEMENTS // max(y1.shape[-1], widest))
        outs = []
        for r0 in range(0, n, rows):  # blocks of rows whose activations stay in cache
            part = y1[:, r0 : r0 + rows]
            z = torch.add(part[0], part[1], alpha=scalars[1])
            for k in range(2, k1):
                z.add_(part[k], alpha=scalars[k])
            for kind, item in steps[first + 1 :]:
                if kind == "fn":
                    z = act(z, item)
                    continue
                w, b = weights[item[0]]
                z = kernels.linear(z, w, which).add_(b)
            outs.append(z)
        return _metrics(fm, torch.cat(outs) if len(outs) > 1 else outs[0], y)

    def run(coeffs: Tensor, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        h = x
        for _, fn in steps[:first]:
            h = fn(h)
        prefix, mod = steps[first][1]
        n = h.shape[0]
        y1 = torch.stack(
            [
                kernels.linear(h, p[prefix + "weight"], which).add_(b)
                for p, b in zip(every, bias(prefix, mod), strict=True)
            ]
        )  # (K+1, n, out) at θ and along each direction
        full = torch.cat([coeffs.new_ones(coeffs.shape[0], 1), coeffs], 1)  # c̃ = (1, c)
        if per_point:
            res = [one_point(c, y1, y) for c in full]
            return {k: torch.stack([r[k] for r in res]) for k in res[0]}
        step = _expand_step(steps, n, k1, memory_mb, h.element_size())
        first_out = h.new_empty(min(step, full.shape[0]), n, y1.shape[-1])
        scaled_buf = h.new_empty(min(step, full.shape[0]) * n * k1 * widest)
        outs: list[Tensor] = []
        parts: list[dict[str, Tensor]] = []
        held = 0
        for start in range(0, full.shape[0], step):
            c = full[start : start + step]
            e = c.shape[0]
            z = first_out[:e]
            z.copy_(y1[0].expand(e, -1, -1))
            for k in range(1, k1):
                z.addcmul_(y1[k], c[:, k, None, None])
            for kind, item in steps[first + 1 :]:
                if kind == "fn":
                    z = act(z, item)
                    continue
                w, b = stacked[item[0]]
                size = z.shape[-1]
                scaled = scaled_buf[: e * n * k1 * size].view(e, n, k1, size)
                torch.mul(z[:, :, None, :], c[:, None, :, None], out=scaled)
                z = kernels.linear(scaled.view(e * n, -1), w, which).view(e, n, -1)
                z.add_((c @ b)[:, None, :])
            outs.append(z if z.data_ptr() != first_out.data_ptr() else z.clone())
            held += z.numel()
            if held >= _EXPAND_ELEMENTS or start + step >= full.shape[0]:
                parts.append(vmap(lambda out: _metrics(fm, out, y))(torch.cat(outs)))
                outs, held = [], 0
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    return run


#: a point's work (data rows × parameters) from which ``vmap_points="auto"`` evaluates the
#: points of a pass one after another instead of vmapped
LOOP_WORK = 1 << 24


def _stacked_directions(vs: list[Params], names: Sequence[str]) -> Params:
    """Each tensor's ``K`` directions as one ``(K, numel)`` matrix (built once per grid)."""
    return {k: torch.stack([v[k].reshape(-1) for v in vs]) for k in names}


def _points_params(c0: Params, dirs: Params, coeffs: Tensor) -> Params:
    """``θ + Σ_k c_k d_k`` for every row of ``coeffs (E, K)`` and every tensor of ``dirs``
    (:func:`_stacked_directions`): one ``addmm`` per tensor, so each point's parameters are
    written once (not one pass per direction)."""
    return {
        k: torch.addmm(c0[k].reshape(1, -1), coeffs, d).view(coeffs.shape[0], *c0[k].shape)
        for k, d in dirs.items()
    }


def _batched(one: Callable, in_dims: tuple, vectorize: bool) -> Callable:
    """``one`` over the leading axis of the arguments whose ``in_dims`` is 0: vmapped, or
    a loop over the points with the results stacked."""
    if vectorize:
        return vmap(one, in_dims=in_dims)

    def looped(*args):
        e = next(a for a, d in zip(args, in_dims, strict=True) if d == 0)
        e = next(iter(e.values())).shape[0] if isinstance(e, dict) else e.shape[0]
        outs = []
        for i in range(e):
            sliced = [
                ({k: v[i] for k, v in a.items()} if isinstance(a, dict) else a[i]) if d == 0 else a
                for a, d in zip(args, in_dims, strict=True)
            ]
            outs.append(one(*sliced))
        return {k: torch.stack([o[k] for o in outs]) for k in outs[0]}

    return looped


def _point_fn(
    fm: FunctionalModel, c0: Params, vs: list[Params], layer, vectorize: bool = True
) -> Callable:
    """``f(coeffs (E, K), x, y, extra) -> {name: (E,)}`` batch means over the points, whose
    parameters are built for the whole pass first (:func:`_points_params`), then evaluated
    vmapped or one by one (``vectorize``)."""
    if layer is None:

        def one(p: Params, x: Tensor, y: Tensor) -> dict[str, Tensor]:
            return _metrics(fm, fm.forward(p, x), y)

        v = _batched(one, (0, None, None), vectorize)
        dirs = _stacked_directions(vs, fm.names)
        return lambda coeffs, x, y, extra: v(_points_params(c0, dirs, coeffs), x, y)

    name, module = layer
    prefix = f"{name}." if name else ""
    own = {prefix + k for k, _ in module.named_parameters(recurse=False)}
    rest = [k for k in fm.names if k not in own]
    fac = copy.deepcopy(fm.module)
    if name:
        parent, _, attr = name.rpartition(".")
        setattr(fac.get_submodule(parent) if parent else fac, attr, _Factored())
    else:
        fac = _Factored()
    like = c0[next(iter(c0))]
    frozen, buffers = fm._constants(like)

    def one(p: Params, c: Tensor, x: Tensor, y: Tensor, y0: Tensor, ys: Tensor):
        full = {**p, **frozen, **buffers}
        full.update({prefix + "y0": y0, prefix + "ys": ys, prefix + "coef": c})
        return _metrics(fm, functional_call(fac, full, (x,)), y)

    v = _batched(one, (0, 0, None, None, None, None), vectorize)
    dirs = _stacked_directions(vs, rest)
    return lambda coeffs, x, y, extra: v(_points_params(c0, dirs, coeffs), coeffs, x, y, *extra)


# ---------------------------------------------------------------- batch norm recomputed


def _bn_modules(module: nn.Module) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    return [
        (n, m)
        for n, m in module.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


def recompute_bn_buffers(
    fm: FunctionalModel, params: Mapping[str, Tensor], batches: Sequence[tuple[Tensor, Tensor]]
) -> dict[str, Tensor]:
    """Batch-norm running statistics of ``fm`` at ``params``, re-estimated from ``batches``.

    Statistics reset, a train-mode pass over every batch with a cumulative average
    (``momentum=None``), as ``torch.optim.swa_utils.update_bn``; other buffers are kept.
    Runs on a private copy of the module; nothing of ``fm`` changes.
    """
    train = getattr(fm, "_bn_train_copy", None)
    if train is None:
        train = copy.deepcopy(fm.module).train()
        for _, m in _bn_modules(train):
            m.momentum = None
        fm._bn_train_copy = train  # type: ignore[attr-defined]
    like = next(iter(params.values()))
    frozen, buffers = fm._constants(like)
    bufs = {k: v.clone() for k, v in buffers.items()}
    for n, _ in _bn_modules(train):
        p = f"{n}." if n else ""
        bufs[p + "running_mean"].zero_()
        bufs[p + "running_var"].fill_(1.0)
        bufs[p + "num_batches_tracked"].zero_()
    full = {**{k: params[k] for k in fm.names}, **frozen}
    with torch.no_grad():
        for x, _ in batches:
            x = x.to(like.device, like.dtype) if x.is_floating_point() else x.to(like.device)
            functional_call(train, (full, bufs), (x,))
    return bufs


def _recompute_loop(fm, c0, vs, coeffs, data, bn_data, bn_batches, bn_batch_size, chunk_size):
    batches = []
    for i, b in enumerate(iter_chunks(bn_data, bn_batch_size)):
        if i >= bn_batches:
            break
        batches.append(b)
    chunks = list(_moved(data, chunk_size, coeffs.device, coeffs.dtype))
    losses, errors = [], []
    frozen, _ = fm._constants(coeffs)
    with torch.no_grad():
        for c in coeffs:
            p = _combine(c0, vs, c, fm.names)
            bufs = recompute_bn_buffers(fm, p, batches)
            full = {**p, **frozen}

            def at(batch, full=full, bufs=bufs):
                out = functional_call(fm.module, (full, bufs), (batch[0],))
                return _metrics(fm, out, batch[1])

            m = weighted_mean((batch_rows(b), at(b)) for b in chunks)
            losses.append(float(m["loss"]))
            errors.append(float(m["error"]) if "error" in m else math.nan)
    err = np.asarray(errors)
    return {
        "loss": np.asarray(losses),
        "error": None if np.isnan(err).all() else err,
        "factored": False,
        "points_per_pass": 1,
        "vmapped": False,
        "method": "looped",
    }


# ---------------------------------------------------------------- lines, planes, zoom


def _vectors(directions: Directions | Sequence[Mapping[str, Tensor]]) -> tuple[Params, ...]:
    if isinstance(directions, Directions):
        return directions.vectors
    return tuple(dict(d) for d in directions)


def _as_directions(directions: Directions | Sequence[Mapping[str, Tensor]]) -> Directions:
    if isinstance(directions, Directions):
        return directions
    if isinstance(directions, Mapping):
        return Directions((dict(directions),), "given")
    if isinstance(directions, Tensor) or not all(isinstance(d, Mapping) for d in directions):
        raise LandscapeError(
            "directions must be a Directions, or a list of params dicts shaped like the "
            f"parameters, got {type(directions).__name__}"
        )
    return Directions(tuple(dict(d) for d in directions), "given")


def check_defined(loss: np.ndarray) -> None:
    """A surface is defined somewhere: refuse one whose every loss is NaN or inf.

    Raises:
        LandscapeError: no point has a finite loss.
    """
    if not np.isfinite(np.asarray(loss)).any():
        raise LandscapeError(
            "the loss is NaN or inf at every point of the grid (the model overflows there); "
            "use a smaller range, or float64"
        )


def _coords(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size < 1 or not np.isfinite(arr).all():
        raise LandscapeError(f"{name} must be a non-empty sequence of finite numbers")
    return arr


def line(
    model: nn.Module | FunctionalModel,
    params: Mapping[str, Tensor],
    direction: Directions | Mapping[str, Tensor],
    data: Data,
    alphas: Any = np.linspace(-1, 1, 51),
    **options: Any,
) -> Surface:
    """``L(θ + α d)`` for every ``α`` (a two-sided line through ``θ`` by default).

    ``options`` are those of :func:`evaluate_coefficients`.
    """
    dirs = _as_directions(direction)
    a = _coords(alphas, "alphas")
    res = evaluate_coefficients(model, params, dirs.vectors[:1], a[:, None], data, **options)
    check_defined(res["loss"])
    return Surface(
        a,
        None,
        res["loss"],
        res["error"],
        dirs,
        {k: v.detach().clone() for k, v in params.items()},
        {k: res[k] for k in ("factored", "points_per_pass", "method")},
    )


def plane(
    model: nn.Module | FunctionalModel,
    params: Mapping[str, Tensor],
    directions: Directions | Sequence[Mapping[str, Tensor]],
    data: Data,
    alphas: Any = np.linspace(-1, 1, 21),
    betas: Any = None,
    **options: Any,
) -> Surface:
    """``L(θ + α d₁ + β d₂)`` on the grid ``alphas × betas`` (``betas`` defaults to
    ``alphas``); ``loss[i, j]`` is at ``(alphas[i], betas[j])``.

    For a three-model plane pass ``params=directions.origin``. ``options`` are those of
    :func:`evaluate_coefficients` (``loss``, ``bn``, ``factored``, ``memory_mb``, …).

    Raises:
        LandscapeError: not two directions, or bad coordinates.
    """
    dirs = _as_directions(directions)
    if len(dirs.vectors) != 2:
        raise LandscapeError(f"a plane needs 2 directions, got {len(dirs.vectors)}")
    a = _coords(alphas, "alphas")
    b = a if betas is None else _coords(betas, "betas")
    grid = np.stack(np.meshgrid(a, b, indexing="ij"), axis=-1).reshape(-1, 2)
    res = evaluate_coefficients(model, params, dirs.vectors, grid, data, **options)
    check_defined(res["loss"])
    shape = (a.size, b.size)
    err = res["error"]
    return Surface(
        a,
        b,
        res["loss"].reshape(shape),
        None if err is None else err.reshape(shape),
        dirs,
        {k: v.detach().clone() for k, v in params.items()},
        {k: res[k] for k in ("factored", "points_per_pass", "method")},
    )


def zoom(
    model: nn.Module | FunctionalModel,
    params: Mapping[str, Tensor],
    directions: Directions | Sequence[Mapping[str, Tensor]],
    data: Data,
    ranges: Sequence[float] = (1.0, 0.1, 0.01, 0.001),
    steps: int = 21,
    **options: Any,
) -> list[Surface]:
    """The same directions at several ranges: one plane (or line, for one direction) on
    ``[−r, r]`` with ``steps`` points per axis for each ``r`` in ``ranges``."""
    if not ranges or any(not (isinstance(r, int | float) and r > 0) for r in ranges):
        raise LandscapeError(f"ranges must be positive numbers, got {list(ranges)!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise LandscapeError(f"steps must be an integer >= 2, got {steps!r}")
    dirs = _as_directions(directions)
    out = []
    for r in ranges:
        axis = np.linspace(-r, r, steps)
        fn = plane if len(dirs.vectors) == 2 else line
        s = fn(model, params, dirs, data, axis, **options)
        s.meta["range"] = float(r)
        out.append(s)
    return out


# ---------------------------------------------------------------- trajectories


@dataclass(frozen=True)
class Projection:
    """Points projected onto a plane.

    Attributes:
        coords: ``(T, K)`` least-squares coordinates (exact for orthonormal directions such
            as PCA's when the points lie in their span).
        residual: ``(T,)`` relative distance to the plane, ``‖θ_t − θ − Dc_t‖ / ‖θ_t − θ‖``
            (0 for a point at the centre).
    """

    coords: np.ndarray
    residual: np.ndarray


def project_trajectory(
    points: Sequence[Mapping[str, Tensor]],
    centre: Mapping[str, Tensor],
    directions: Directions | Sequence[Mapping[str, Tensor]],
) -> Projection:
    """Coordinates of ``points`` in the plane ``θ + span(d₁, d₂)`` by least squares (float64)."""
    vecs = _vectors(directions)
    for p in points:
        _check_same_keys(centre, p)
    c = flatten(centre).double().cpu()
    d = torch.stack([flatten(v).double().cpu() for v in vecs], dim=1)  # (P, K)
    diff = torch.stack([flatten(p).double().cpu() - c for p in points])  # (T, P)
    sol = torch.linalg.lstsq(d, diff.T).solution.T  # (T, K)
    res = (diff - sol @ d.T).norm(dim=1)
    scale = diff.norm(dim=1)
    rel = torch.where(scale > 0, res / scale.clamp_min(1e-300), torch.zeros_like(res))
    return Projection(sol.numpy(), rel.numpy())
