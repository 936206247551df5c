"""Permutation alignment of MLPs by weight matching (Ainsworth et al. 2022).

Hidden units of a network can be permuted without changing the function it computes:
for a fully connected net with layers ``h_ℓ = σ(W_ℓ h_{ℓ−1} + b_ℓ)``, permuting the units
of layer ``ℓ`` by ``P_ℓ`` maps ``W_ℓ → P_ℓ W_ℓ P_{ℓ−1}ᵀ`` and ``b_ℓ → P_ℓ b_ℓ`` (with
``P_0 = P_L = I`` for the inputs and outputs), for any elementwise activation σ. Two
independently trained models may sit in basins that are copies of each other under such a
permutation, so interpolating between them measures the symmetry as much as the landscape.

Weight matching (Ainsworth, Hayase & Srinivasa 2022, *Git Re-Basin*, Algorithm 1) picks the
permutations of ``θ_B`` that maximise ``Σ_ℓ ⟨W_ℓ^A, P_ℓ W_ℓ^B P_{ℓ−1}ᵀ⟩_F + ⟨b_ℓ^A, P_ℓ b_ℓ^B⟩``
by coordinate descent: with the other permutations fixed the objective is linear in
``P_ℓ``, a linear assignment problem solved exactly by
:func:`scipy.optimize.linear_sum_assignment`. Layers are visited in a seeded random order
until a full sweep changes nothing.

The layer chain is read from the parameter names: every tensor is ``<layer>.weight``
``(out, in)`` or ``<layer>.bias`` ``(out,)``, and the layers are ordered by their trailing
index when they share a stem (``layers.0``, ``layers.1`` … of :class:`landscape.models.MLP`;
``0``, ``2``, ``4`` of an ``nn.Sequential`` of ``Linear`` and activation modules), else in
the order of the dict (``named_parameters()`` order). Pass ``layers=["fc1", "fc2", "out"]``
to name the chain explicitly.

Convolutional nets (:class:`landscape.models.CNNSpec`, pass ``spec=``): the units are the
channels of each conv block. Permuting block ``k``'s channels by ``P_k`` acts on the conv
kernel ``(out, in, 3, 3)`` along ``out`` (``P_k``) and ``in`` (``P_{k−1}``), on the conv
bias and the frozen-statistics BatchNorm's scale and shift along their channel axis, and
passes unchanged through ReLU and max-pooling (both per channel). The last block's
channels enter the linear head after flattening, channel-major: ``head.weight``
``(out, C·s²)`` is read as ``(out, C, s²)`` and its ``C`` axis permuted, moving each
channel's block of ``s²`` features together. Each ``P_k`` is again the solution of a linear
assignment, its cost summing the inner products over every tensor axis it acts on.

**No silently wrong alignment.** A permutation preserves the function only when the chain
read from the names *is* the model: no frozen layer left out of the params, no skipped or
shared layer, nothing but elementwise modules between the Linear layers. Given the model
(``model=``, or through :func:`align_and_interpolate`'s loss), :func:`weight_matching`
refuses in one line a chain it cannot prove: parameters of the model missing from the
params (a frozen layer), a parameter or a layer used twice, a module that is not Linear or
elementwise, a buffer, an ``nn.Sequential`` whose Linear layers run in another order. Then,
whatever the structure, it checks on a batch, in float64, that the aligned ``θ_B``
computes the same outputs as ``θ_B`` (to rounding) before returning it; a difference is an
error, never a result. Without a model (params alone) the alignment is returned unchecked
(``Alignment.checked`` says so); :func:`align_and_interpolate`, which uses it, always has
the model (it refuses a bare loss function).

Not aligned: the LSTM language model (:class:`landscape.models.LSTMSpec`), whose hidden
units would have to be permuted in all four gate blocks of the input and recurrent weights
at once (and through a tied embedding); :func:`weight_matching` says so in one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import replace as _replace

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from .._errors import LandscapeError
from .._validate import check_endpoints, check_int
from ..evaluate import Evaluator, PureFn, objective_and_measure
from ..functional import Data
from ..params import Params
from .interpolate import Interpolation, interpolate

__all__ = [
    "Alignment",
    "AlignmentReport",
    "align_and_interpolate",
    "permute_cnn",
    "permute_mlp",
    "weight_matching",
]

_NAME = re.compile(r"^(.+)\.(weight|bias)$")
_INDEXED = re.compile(r"^(.*?)(\d+)$")
_MLP_HINT = (
    "weight matching needs an MLP: a chain of Linear layers named <layer>.weight (out, in) "
    "and optionally <layer>.bias (out,); pass layers=[...] with the layer names in order "
    "(for a landscape CNN, pass spec=its CNNSpec)"
)
_LSTM_ERROR = (
    "weight matching cannot align the LSTM language model: its hidden units would have to be "
    "permuted jointly in the four gate blocks of weight_ih/weight_hh and the recurrence; it "
    "aligns MLPs and CNNs only (connect LSTM models without --align)"
)

#: per tensor, the permutation group acting on each axis (None: that axis is not permuted)
AxisGroups = dict[str, tuple[int | None, ...]]

#: one layer of the chain: (weight name, bias name or None)
Layer = tuple[str, str | None]


@dataclass(frozen=True)
class Alignment:
    """Outcome of :func:`weight_matching`.

    Attributes:
        params: ``θ_B`` with its hidden units permuted to match ``θ_A`` (same function).
        permutations: one ``(n_ℓ,)`` int64 tensor per hidden layer; unit ``i`` of the
            aligned layer ``ℓ`` is unit ``permutations[ℓ][i]`` of ``θ_B``.
        similarity: final ``Σ_ℓ ⟨W_ℓ^A, W_ℓ^{B'}⟩ + ⟨b_ℓ^A, b_ℓ^{B'}⟩``.
        similarity_before: the same before alignment (identity permutations).
        sweeps: coordinate-descent sweeps over the layers.
        converged: a sweep changed no permutation before ``max_sweeps``.
        checked: how the alignment was checked to keep the function: ``"outputs"`` (the
            model's outputs at ``θ_B`` and at the aligned ``θ_B`` on a batch, in float64)
            or ``"none"`` (params alone: nothing to run them with).
        max_output_change: the largest ``|f_{θ_B}(x) − f_{aligned}(x)|`` over the check
            batch, relative to ``1 + max |f_{θ_B}(x)|`` (``nan`` when unchecked).
    """

    params: Params
    permutations: list[Tensor]
    similarity: float
    similarity_before: float
    sweeps: int
    converged: bool
    checked: str = "none"
    max_output_change: float = float("nan")


@dataclass(frozen=True)
class AlignmentReport:
    """Linear interpolation before and after aligning ``θ_B`` to ``θ_A``.

    Attributes:
        alignment: the :class:`Alignment`.
        before: :class:`~landscape.connect.Interpolation` from ``θ_A`` to ``θ_B``.
        after: the same from ``θ_A`` to the aligned ``θ_B``.
    """

    alignment: Alignment
    before: Interpolation
    after: Interpolation

    def summary(self) -> dict[str, float | int | bool]:
        """Barriers before and after, for a table or a run store."""
        return {
            "barrier_before": self.before.barrier,
            "barrier_after": self.after.barrier,
            "barrier_mean_before": self.before.barrier_mean,
            "barrier_mean_after": self.after.barrier_mean,
            "sweeps": self.alignment.sweeps,
            "converged": self.alignment.converged,
        }


def _order_layers(prefixes: list[str]) -> list[str]:
    """Layers by trailing index when they share a stem (``0``, ``2``, ``layers.10``).

    Otherwise in the order given (the dict's, i.e. ``named_parameters()`` order).
    """
    matches = [_INDEXED.match(p) for p in prefixes]
    if all(matches) and len({m.group(1) for m in matches}) == 1:
        return sorted(prefixes, key=lambda p: int(_INDEXED.match(p).group(2)))
    return prefixes


def _layers(
    params: Mapping[str, Tensor], name: str, layers: Sequence[str] | None = None
) -> list[Layer]:
    """Validate an MLP's names and shapes; return its chain of ``(weight, bias)`` names."""
    if not isinstance(params, Mapping) or not params:
        raise LandscapeError(f"{name} must be a non-empty dict of name -> Tensor")
    if layers is None:
        prefixes: list[str] = []
        for key in params:
            m = _NAME.match(key)
            if m is None:
                raise LandscapeError(f"{name}[{key!r}] is not a weight or bias; {_MLP_HINT}")
            if m.group(1) not in prefixes:
                prefixes.append(m.group(1))
        prefixes = _order_layers(prefixes)
    else:
        if isinstance(layers, str) or not all(isinstance(p, str) for p in layers):
            raise LandscapeError(f"layers must be a list of layer names, got {layers!r}")
        prefixes = list(layers)
        if len(set(prefixes)) != len(prefixes) or not prefixes:
            raise LandscapeError(f"layers must name distinct layers, got {prefixes}")
        covered = {f"{p}.{kind}" for p in prefixes for kind in ("weight", "bias")}
        extra = [k for k in params if k not in covered]
        if extra:
            raise LandscapeError(
                f"{name} has tensors outside layers={prefixes}: {extra}; "
                "weight matching must permute every tensor, so name all layers"
            )
    chain: list[Layer] = []
    for i, prefix in enumerate(prefixes):
        wkey, bkey = f"{prefix}.weight", f"{prefix}.bias"
        if wkey not in params:
            raise LandscapeError(f"{name} has no {wkey!r}; {_MLP_HINT}")
        w = params[wkey]
        if w.dim() != 2:
            raise LandscapeError(
                f"{name}[{wkey!r}] must be 2-D (out, in), got shape {tuple(w.shape)}; {_MLP_HINT}"
            )
        if i > 0:
            prev = params[chain[-1][0]]
            if w.shape[1] != prev.shape[0]:
                raise LandscapeError(
                    f"{name}: {wkey} takes {w.shape[1]} inputs but {chain[-1][0]} has "
                    f"{prev.shape[0]} outputs; {_MLP_HINT}"
                )
        if bkey in params and params[bkey].shape != (w.shape[0],):
            raise LandscapeError(
                f"{name}[{bkey!r}] must have shape ({w.shape[0]},), got {tuple(params[bkey].shape)}"
            )
        chain.append((wkey, bkey if bkey in params else None))
    return chain


def _hidden_index(chain: list[Layer]) -> dict[str, tuple[int, str]]:
    """Tensor name → (layer index, ``"weight"`` or ``"bias"``)."""
    out = {}
    for i, (wkey, bkey) in enumerate(chain):
        out[wkey] = (i, "weight")
        if bkey is not None:
            out[bkey] = (i, "bias")
    return out


def permute_mlp(
    params: Mapping[str, Tensor],
    permutations: Sequence[Tensor | np.ndarray],
    layers: Sequence[str] | None = None,
) -> Params:
    """Permute the hidden units of an MLP; the function it computes is unchanged.

    Args:
        params: MLP params (``<layer>.weight`` / ``<layer>.bias``, see the module docs);
            not modified.
        permutations: one permutation per hidden layer (``len = layers − 1``); the new unit
            ``i`` of layer ``ℓ`` is old unit ``permutations[ℓ][i]``.
        layers: the layer names in order (default: inferred from the names).

    Returns:
        New params with ``W_ℓ ← W_ℓ[π_ℓ][:, π_{ℓ−1}]`` and ``b_ℓ ← b_ℓ[π_ℓ]``.

    Raises:
        LandscapeError: not an MLP, wrong number of permutations, or one that is not a
            permutation of its layer's units.
    """
    chain = _layers(params, "params", layers)
    n = len(chain)
    if len(permutations) != n - 1:
        raise LandscapeError(
            f"got {len(permutations)} permutations for an MLP with {n - 1} hidden layers"
        )
    perms = []
    for i, p in enumerate(permutations):
        width = params[chain[i][0]].shape[0]
        p = torch.as_tensor(np.asarray(p), dtype=torch.int64)
        if p.shape != (width,) or not torch.equal(torch.sort(p).values, torch.arange(width)):
            raise LandscapeError(
                f"permutations[{i}] must be a permutation of 0..{width - 1}, got {p.tolist()}"
            )
        perms.append(p)
    where = _hidden_index(chain)
    out: Params = {}
    for key, v in params.items():
        i, kind = where[key]
        v = v.detach()
        if i < n - 1:
            v = v[perms[i].to(v.device)]
        if kind == "weight" and i > 0:
            v = v[:, perms[i - 1].to(v.device)]
        out[key] = v.clone()
    return out


def _similarity(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    return float(sum((a[k] * b[k]).sum() for k in a))


def _permute_np(w: Mapping[str, np.ndarray], perms: list[np.ndarray], chain: list[Layer]) -> dict:
    n, where = len(chain), _hidden_index(chain)
    out = {}
    for key, v in w.items():
        i, kind = where[key]
        if i < n - 1:
            v = v[perms[i]]
        if kind == "weight" and i > 0:
            v = v[:, perms[i - 1]]
        out[key] = v
    return out


def _coordinate_descent(
    cost, widths: list[int], score, max_sweeps: int, restarts: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], int, bool]:
    """Maximise over one permutation per group by exact linear assignments, group by group.

    ``cost(g, perms)`` is group ``g``'s ``(n_g, n_g)`` gain matrix with the others fixed;
    ``score(perms)`` the objective, to keep the best of ``restarts`` runs (the first from
    the identity). Returns ``(perms, sweeps, converged)`` of the best run.
    """
    best: tuple[float, list[np.ndarray], int, bool] | None = None
    for run in range(restarts):
        perms = [np.arange(w) if run == 0 else rng.permutation(w) for w in widths]
        sweeps, converged = 0, not widths
        while not converged and sweeps < max_sweeps:
            sweeps += 1
            changed = False
            for group in rng.permutation(len(widths)):
                c = cost(int(group), perms)
                old = float(c[np.arange(len(perms[group])), perms[group]].sum())
                _, cols = linear_sum_assignment(c, maximize=True)
                new = float(c[np.arange(len(cols)), cols].sum())
                if new > old + 1e-12 * max(1.0, abs(old)):
                    perms[group] = cols
                    changed = True
            converged = not changed
        value = score(perms)
        if best is None or value > best[0] + 1e-12 * max(1.0, abs(value)):
            best = (value, perms, sweeps, converged)
    _, perms, sweeps, converged = best
    return perms, sweeps, converged


def _looks_like_lstm(params: Mapping[str, Tensor]) -> bool:
    return isinstance(params, Mapping) and any("weight_hh" in str(k) for k in params)


_FEATURE = re.compile(r"^features\.(\d+)\.(weight|bias)$")


def _cnn_groups(
    params: Mapping[str, Tensor], name: str, spec
) -> tuple[AxisGroups, list[int], dict[str, tuple[int, ...]]]:
    """The channel groups of a :class:`~landscape.models.SmallCNN`'s parameters.

    Returns ``(groups, widths, views)``: the group acting on each axis of each tensor, the
    channels of each conv block, and the shape each tensor is read in (``head.weight`` as
    ``(out, C, s²)``).
    """
    if not isinstance(params, Mapping) or not params:
        raise LandscapeError(f"{name} must be a non-empty dict of name -> Tensor")
    hint = f"for a landscape CNN ({spec.describe()}): features.<i>.weight/bias and head.*"
    extra = [k for k in params if not (_FEATURE.match(k) or k in ("head.weight", "head.bias"))]
    if extra or "head.weight" not in params:
        what = f"tensors {extra}" if extra else "no 'head.weight'"
        raise LandscapeError(f"{name} has {what}; weight matching expects the parameters {hint}")
    groups: AxisGroups = {}
    views: dict[str, tuple[int, ...]] = {}
    widths: list[int] = []
    modules = sorted({int(_FEATURE.match(k).group(1)) for k in params if _FEATURE.match(k)})
    for i in modules:
        wkey, bkey = f"features.{i}.weight", f"features.{i}.bias"
        w = params.get(wkey)
        if w is not None and w.dim() == 4:
            g = len(widths)
            if g >= len(spec.channels):
                raise LandscapeError(f"{name} has more conv layers than the spec; {hint}")
            c_in = spec.in_channels if g == 0 else spec.channels[g - 1]
            expected = (spec.channels[g], c_in, *w.shape[2:])
            if tuple(w.shape) != expected:
                raise LandscapeError(
                    f"{name}[{wkey!r}] has shape {tuple(w.shape)}, the spec needs {expected}"
                )
            widths.append(spec.channels[g])
            groups[wkey] = (g, g - 1 if g > 0 else None, None, None)
            keys = [bkey]
        else:
            if not widths:
                raise LandscapeError(f"{name}: {wkey} comes before any conv layer; {hint}")
            keys = [wkey, bkey]
        for key in keys:
            if key in params:
                if tuple(params[key].shape) != (widths[-1],):
                    raise LandscapeError(
                        f"{name}[{key!r}] must have shape ({widths[-1]},), got "
                        f"{tuple(params[key].shape)}"
                    )
                groups[key] = (len(widths) - 1,)
    if len(widths) != len(spec.channels):
        raise LandscapeError(
            f"{name} has {len(widths)} conv layers, the spec {len(spec.channels)}; {hint}"
        )
    side = spec.image_size // 2 ** len(spec.channels)
    head = params["head.weight"]
    expected = (spec.out_features, widths[-1] * side * side)
    if tuple(head.shape) != expected:
        raise LandscapeError(
            f"{name}['head.weight'] has shape {tuple(head.shape)}, the spec needs {expected}"
        )
    groups["head.weight"] = (None, len(widths) - 1, None)
    views["head.weight"] = (spec.out_features, widths[-1], side * side)
    if "head.bias" in params:
        groups["head.bias"] = (None,)
    return groups, widths, views


def _take(v, axes: tuple[int | None, ...], perms, skip: int | None = None):
    """Index every axis of ``v`` that a group acts on by that group's permutation."""
    for axis, g in enumerate(axes):
        if g is not None and g != skip:
            idx = perms[g]
            if isinstance(v, Tensor):
                v = v.index_select(axis, torch.as_tensor(idx, dtype=torch.int64, device=v.device))
            else:
                v = np.take(v, idx, axis=axis)
    return v


def _check_perms(permutations, widths: list[int], what: str) -> list[Tensor]:
    if len(permutations) != len(widths):
        raise LandscapeError(
            f"got {len(permutations)} permutations for a {what} with {len(widths)} "
            "permutable layers"
        )
    perms = []
    for i, (p, width) in enumerate(zip(permutations, widths, strict=True)):
        p = torch.as_tensor(np.asarray(p), dtype=torch.int64)
        if p.shape != (width,) or not torch.equal(torch.sort(p).values, torch.arange(width)):
            raise LandscapeError(
                f"permutations[{i}] must be a permutation of 0..{width - 1}, got {p.tolist()}"
            )
        perms.append(p)
    return perms


def permute_cnn(
    params: Mapping[str, Tensor], permutations: Sequence[Tensor | np.ndarray], spec
) -> Params:
    """Permute the channels of a landscape CNN's conv blocks; its function is unchanged.

    Args:
        params: the CNN's params (not modified).
        permutations: one per conv block; new channel ``i`` is old channel ``perm[i]``.
        spec (CNNSpec): the :class:`~landscape.models.CNNSpec`.

    Returns:
        New params (see the module docs for how each tensor is permuted).

    Raises:
        LandscapeError: params that do not fit the spec, or bad permutations.
    """
    groups, widths, views = _cnn_groups(params, "params", spec)
    perms = _check_perms(permutations, widths, "CNN")
    out: Params = {}
    for key, v in params.items():
        v = v.detach()
        shape = v.shape
        v = _take(v.reshape(views.get(key, shape)), groups[key], perms)
        out[key] = v.reshape(shape).clone()
    return out


def _weight_matching_cnn(a, b, spec, max_sweeps: int, seed: int, restarts: int) -> Alignment:
    """:func:`weight_matching` over the channel groups of a CNN (see the module docs)."""
    groups, widths, views = _cnn_groups(a, "a", spec)
    _cnn_groups(b, "b", spec)
    check_int("max_sweeps", max_sweeps, 1)
    check_int("restarts", restarts, 1)

    def np64(p: Mapping[str, Tensor]) -> dict[str, np.ndarray]:
        return {
            k: v.detach().cpu().double().numpy().reshape(views.get(k, tuple(v.shape)))
            for k, v in p.items()
        }

    wa, wb = np64(a), np64(b)

    def cost(g: int, perms: list[np.ndarray]) -> np.ndarray:
        n = widths[g]
        c = np.zeros((n, n))
        for key, axes in groups.items():
            for axis, h in enumerate(axes):
                if h == g:
                    xa = np.moveaxis(wa[key], axis, 0).reshape(n, -1)
                    xb = np.moveaxis(_take(wb[key], axes, perms, skip=g), axis, 0).reshape(n, -1)
                    c += xa @ xb.T
        return c

    def score(perms: list[np.ndarray]) -> float:
        return _similarity(wa, {k: _take(v, groups[k], perms) for k, v in wb.items()})

    rng = np.random.default_rng(seed)
    perms, sweeps, converged = _coordinate_descent(cost, widths, score, max_sweeps, restarts, rng)
    aligned = permute_cnn(b, [torch.as_tensor(p) for p in perms], spec)
    return Alignment(
        params=aligned,
        permutations=[torch.as_tensor(p, dtype=torch.int64) for p in perms],
        similarity=_similarity(wa, np64(aligned)),
        similarity_before=_similarity(wa, wb),
        sweeps=sweeps,
        converged=converged,
    )


#: beyond :data:`landscape.models.ELEMENTWISE`, modules that commute with a permutation of
#: units here (Flatten and Dropout are the identity on an MLP's (N, F) rows in eval mode)
_ALSO_ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU6,
    nn.PReLU,
    nn.SELU,
    nn.CELU,
    nn.Mish,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Tanhshrink,
    nn.Softsign,
    nn.Flatten,
    nn.Dropout,
)


def _elementwise(module: nn.Module) -> bool:
    from ..models import ELEMENTWISE

    if isinstance(module, nn.PReLU):  # one slope per channel would need permuting too
        return module.num_parameters == 1
    return isinstance(module, (*ELEMENTWISE, *_ALSO_ELEMENTWISE))


def _module_of(model: object) -> nn.Module:
    from ..functional import FunctionalModel

    if isinstance(model, FunctionalModel):
        return model.module
    if isinstance(model, nn.Module):
        return model
    raise LandscapeError(
        f"model must be an nn.Module or a FunctionalModel, got {type(model).__name__}"
    )


def _refuse(why: str) -> LandscapeError:
    return LandscapeError(f"weight matching refuses this model: {why}")


def _check_structure(module: nn.Module, a: Mapping[str, Tensor], mlp: bool) -> None:
    """Refuse what a permutation of units cannot be proven to preserve (before any matching).

    Every model: no tied parameter, no layer used twice, the params are exactly the model's
    parameters (a frozen layer left out would be skipped by the chain). An MLP (``mlp``):
    only Linear layers carry parameters, no buffers, every other module elementwise.
    """
    every = [k for k, _ in module.named_parameters(remove_duplicate=False)]
    unique = dict(module.named_parameters())
    if len(every) != len(unique):
        shared = [k for k in every if k not in unique]
        raise _refuse(
            f"parameters {shared[:3]} are shared with other layers (tied weights); a "
            "permutation would have to act on both uses at once"
        )
    seen: dict[int, str] = {}
    for name, sub in module.named_modules(remove_duplicate=False):
        if any(True for _ in sub.parameters(recurse=False)):
            if id(sub) in seen and seen[id(sub)] != name:
                raise _refuse(
                    f"the layer {seen[id(sub)]!r} is used again as {name!r} (a shared "
                    "layer); its units cannot be permuted for one use only"
                )
            seen[id(sub)] = name
    missing = [k for k in unique if k not in a]
    if missing:
        frozen = [k for k in missing if not unique[k].requires_grad]
        why = (
            f"the params leave out the model's parameters {missing[:3]}"
            + (" (frozen)" if frozen else "")
            + ", so the chain read from the names would skip a layer the model runs"
        )
        hint = (
            "; to permute a frozen layer with the others pass "
            "FunctionalModel(model, include_frozen=True).params() for both models"
            if frozen
            else "; pass every parameter of the model"
        )
        raise _refuse(why + hint)
    extra = [k for k in a if k not in unique]
    if extra:
        raise _refuse(f"the params have tensors the model does not: {extra[:3]}")
    if not mlp:
        return
    for name, sub in module.named_modules():
        if any(True for _ in sub.children()):
            continue
        if any(True for _ in sub.parameters(recurse=False)):
            if not isinstance(sub, nn.Linear):
                raise _refuse(
                    f"{type(sub).__name__} at {name!r} is not a Linear layer; an MLP of "
                    "Linear layers and elementwise activations is aligned"
                )
        elif not _elementwise(sub):
            raise _refuse(
                f"{type(sub).__name__} at {name!r} is not an elementwise module; between "
                "the Linear layers of an MLP only activations (ReLU, Tanh, GELU …), "
                "Dropout, Identity and Flatten commute with a permutation of units"
            )
    buffers = [k for k, _ in module.named_buffers()]
    if buffers:
        raise _refuse(
            f"it has buffers {buffers[:3]}, which weight matching of an MLP does not permute"
        )


def _check_order(module: nn.Module, chain: list[Layer]) -> None:
    """An ``nn.Sequential`` runs its Linear layers in the order of the chain."""
    if not isinstance(module, nn.Sequential):
        return  # a custom forward: its order is checked by running it (the output check)
    order = [n for n, m in module.named_modules() if isinstance(m, nn.Linear)]
    expected = [w[: -len(".weight")] for w, _ in chain]
    if order != expected:
        raise _refuse(
            f"the nn.Sequential runs its Linear layers in the order {order}, but the chain "
            f"read from the names is {expected}; pass layers={order}"
        )


def _check_inputs(inputs: object, first: Tensor, spec: object) -> Tensor:
    """The rows to check the function on: the user's, else Gaussian inputs of the right width."""
    from ..functional import iter_chunks

    if inputs is not None:
        if isinstance(inputs, Tensor):
            x = inputs
        else:  # an (x, y) batch or an iterable of them (a DataLoader): its first chunk
            x = next(iter_chunks(inputs), (None, None))[0]
        if not isinstance(x, Tensor) or x.dim() == 0 or x.shape[0] == 0:
            raise LandscapeError("inputs for the function check must be a non-empty batch")
        return x[:256]
    gen = torch.Generator().manual_seed(0)
    if getattr(spec, "kind", None) == "cnn":
        shape = (64, spec.in_channels, spec.image_size, spec.image_size)
    else:
        shape = (64, first.shape[1])
    return torch.randn(shape, generator=gen, dtype=torch.float64)


def _output_change(model: object, b: Mapping[str, Tensor], aligned: Params, x: Tensor) -> float:
    """``max |f_b(x) − f_aligned(x)|`` relative to ``1 + max |f_b(x)|``, in float64."""
    from ..functional import FunctionalModel

    fm = model if isinstance(model, FunctionalModel) else FunctionalModel(model)
    dev = next(iter(b.values())).device

    def as64(p: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.detach().to(device=dev, dtype=torch.float64) for k, v in p.items()}

    x = x.to(dev, torch.float64) if x.is_floating_point() else x.to(dev)
    try:
        with torch.no_grad():
            out_b, out_al = fm.forward(as64(b), x), fm.forward(as64(aligned), x)
    except LandscapeError:
        raise
    except Exception as err:
        raise LandscapeError(
            f"weight matching could not run the model to check the alignment "
            f"({type(err).__name__}: {' '.join(str(err).split())[:160]}); pass inputs= a "
            "batch the model takes"
        ) from None
    if not (isinstance(out_b, Tensor) and isinstance(out_al, Tensor)):
        raise LandscapeError("weight matching checks models whose forward returns a tensor")
    scale = 1.0 + float(out_b.abs().max())
    return float((out_b - out_al).abs().max()) / scale


#: the largest relative output change (float64) an alignment may show: rounding only
OUTPUT_TOLERANCE = 1e-9


def _verified(alignment: Alignment, model, b, inputs, first: Tensor, spec) -> Alignment:
    x = _check_inputs(inputs, first, spec)
    change = _output_change(model, b, alignment.params, x)
    if not change <= OUTPUT_TOLERANCE:
        raise LandscapeError(
            f"weight matching would change what the model computes: the aligned θ_B's "
            f"outputs differ from θ_B's by {change:.3g} (relative, float64, on "
            f"{x.shape[0]} inputs), so the layer chain is not the model's (a skipped, "
            "shared or residual layer?); pass layers=[...] in forward order, or connect "
            "without alignment"
        )
    return _replace(alignment, checked="outputs", max_output_change=change)


def weight_matching(
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    max_sweeps: int = 100,
    seed: int = 0,
    restarts: int = 1,
    layers: Sequence[str] | None = None,
    spec: object | None = None,
    model: object | None = None,
    inputs: object | None = None,
) -> Alignment:
    """Permute ``θ_B``'s hidden units to match ``θ_A`` (Ainsworth et al. 2022, weight matching).

    For hidden layer ``ℓ``, with every other permutation fixed, the objective's dependence on
    ``P_ℓ`` is ``⟨P_ℓ, C_ℓ⟩`` with

        C_ℓ = W_ℓ^A (W_ℓ^B P_{ℓ−1}ᵀ)ᵀ + b_ℓ^A (b_ℓ^B)ᵀ + (W_{ℓ+1}^A)ᵀ (P_{ℓ+1} W_{ℓ+1}^B),

    maximised exactly by the Hungarian algorithm. Computed in float64 on the CPU.

    Coordinate descent can stop in a local optimum (no single layer's permutation improves
    the objective); ``restarts > 1`` runs it again from random permutations and keeps the
    best. Ainsworth et al. use one run from the identity (the default).

    Args:
        a: the reference MLP's params.
        b: the MLP to permute (same architecture); neither is modified.
        max_sweeps: most passes over all hidden layers.
        seed: the random order of layers in each sweep (and the restarts' starting points).
        restarts: runs of coordinate descent; the first starts from the identity.
        layers: the layer names in order, e.g. ``["fc1", "fc2", "out"]`` (default: inferred
            from the names, see the module docs; an ``nn.Sequential`` MLP works as is).
        spec: the models' :class:`~landscape.models.CNNSpec` to align the channels of a
            landscape CNN (see the module docs); an MLP spec or ``None`` for an MLP.
        model: the ``nn.Module`` (or :class:`~landscape.FunctionalModel`) both params
            belong to: its structure is checked (see the module docs) and the alignment is
            checked to compute the same outputs as ``θ_B`` before it is returned. Without
            it the result is unchecked (``checked="none"``).
        inputs: the batch for that check (a tensor, an ``(x, y)`` pair or a DataLoader;
            at most 256 rows are used); default: 64 Gaussian inputs of the first layer's
            width (the spec's image shape for a CNN).

    Returns:
        :class:`Alignment`; ``params`` is on ``b``'s device and dtype. For a CNN,
        ``permutations`` has one entry per conv block (its channels).

    Raises:
        LandscapeError: not MLP (or CNN) params, an LSTM (not aligned), ``a`` and ``b``
            of different architectures; with ``model``, a chain that cannot be proven to
            keep the function, or an alignment that changes the outputs.
    """
    check_endpoints(a, b)
    kind = getattr(spec, "kind", None)
    if kind == "lstm" or (kind is None and _looks_like_lstm(a)):
        raise LandscapeError(_LSTM_ERROR)
    if model is not None:
        _check_structure(_module_of(model), a, mlp=kind != "cnn")
    if kind == "cnn":
        result = _weight_matching_cnn(a, b, spec, max_sweeps, seed, restarts)
        if model is None:
            return result
        return _verified(result, model, b, inputs, a["head.weight"], spec)
    chain = _layers(a, "a", layers)
    _layers(b, "b", layers)
    if model is not None:
        _check_order(_module_of(model), chain)
    n = len(chain)
    check_int("max_sweeps", max_sweeps, 1)
    wa = {k: v.detach().cpu().double().numpy() for k, v in a.items()}
    wb = {k: v.detach().cpu().double().numpy() for k, v in b.items()}
    check_int("restarts", restarts, 1)
    widths = [wa[chain[i][0]].shape[0] for i in range(n - 1)]
    rng = np.random.default_rng(seed)

    def cost(layer: int, perms: list[np.ndarray]) -> np.ndarray:
        wkey, bkey = chain[layer]
        w_a, w_b = wa[wkey], wb[wkey]
        if layer > 0:
            w_b = w_b[:, perms[layer - 1]]
        c = w_a @ w_b.T
        if bkey is not None:
            c = c + np.outer(wa[bkey], wb[bkey])
        nxt_a, nxt_b = wa[chain[layer + 1][0]], wb[chain[layer + 1][0]]
        if layer + 1 < n - 1:
            nxt_b = nxt_b[perms[layer + 1]]
        return c + nxt_a.T @ nxt_b

    before = _similarity(wa, wb)
    perms, sweeps, converged = _coordinate_descent(
        cost,
        widths,
        lambda perms: _similarity(wa, _permute_np(wb, perms, chain)),
        max_sweeps,
        restarts,
        rng,
    )
    aligned = permute_mlp(
        b, [torch.as_tensor(p) for p in perms], layers=[w[: -len(".weight")] for w, _ in chain]
    )
    after = _similarity(wa, {k: v.cpu().double().numpy() for k, v in aligned.items()})
    result = Alignment(
        params=aligned,
        permutations=[torch.as_tensor(p, dtype=torch.int64) for p in perms],
        similarity=after,
        similarity_before=before,
        sweeps=sweeps,
        converged=converged,
    )
    if model is None:
        return result
    return _verified(result, model, b, inputs, a[chain[0][0]], spec)


def align_and_interpolate(
    loss: Evaluator | PureFn,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data | None = None,
    grid: int = 51,
    max_sweeps: int = 100,
    seed: int = 0,
    restarts: int = 1,
    measure: Evaluator | PureFn | None = None,
    layers: Sequence[str] | None = None,
    spec: object | None = None,
    model: object | None = None,
) -> AlignmentReport:
    """Barrier of the straight segment before and after weight matching ``θ_B`` to ``θ_A``.

    The alignment is checked before it is used, on the model's structure and outputs (see
    :func:`weight_matching`; the check batch is the first chunk of the data), so the model
    is needed: ``model=``, or the :class:`~landscape.FunctionalModel` whose ``loss`` is
    the objective (a bare function cannot be checked, and is refused).

    Args:
        loss: a pure ``loss(params, batch) -> scalar`` with its ``data``, or an
            :class:`~landscape.evaluate.Evaluator` (then leave ``data`` out).
        a, b: MLP params of one architecture (not modified).
        data: data for a pure ``loss``.
        grid, measure: as in :func:`~landscape.connect.interpolate`.
        max_sweeps, seed, restarts, layers, spec, model: as in :func:`weight_matching`.

    Returns:
        :class:`AlignmentReport` with both :class:`~landscape.connect.Interpolation`\\ s.

    Raises:
        LandscapeError: as :func:`weight_matching`, or no model to check the alignment on.
    """
    objective, measure = objective_and_measure(loss, data, measure)
    if model is None:
        model = _model_behind(objective.fn)
    if model is None:
        raise LandscapeError(
            "align_and_interpolate checks that the alignment keeps the model's function, so "
            "it needs the model: pass model=your_module (or the loss of a FunctionalModel, "
            "fm.loss, or an Evaluator of one)"
        )
    alignment = weight_matching(
        a,
        b,
        max_sweeps=max_sweeps,
        seed=seed,
        restarts=restarts,
        layers=layers,
        spec=spec,
        model=model,
        inputs=objective.data,
    )
    before = interpolate(objective, a, b, grid=grid, measure=measure)
    after = interpolate(objective, a, alignment.params, grid=grid, measure=measure)
    return AlignmentReport(alignment=alignment, before=before, after=after)


def _model_behind(fn: object) -> object | None:
    """The :class:`~landscape.FunctionalModel` a bound ``loss``/``forward`` belongs to."""
    from ..functional import FunctionalModel

    owner = getattr(fn, "__self__", None)
    return owner if isinstance(owner, FunctionalModel) else None
