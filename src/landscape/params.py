"""Parameters as plain dictionaries of tensors.

``Params = dict[str, Tensor]`` is the one parameter type in ``landscape``. A single model's
parameters have the shapes of its module's parameters; an ensemble, a string of beads or a
set of grid points is the same dict with a leading axis ``E`` on every tensor ("stacked").

Shape letters: ``E`` models/replicas/beads, ``P`` parameters, ``K`` directions, ``T`` points
along a path.

Everything here is pure: inputs are never modified, outputs are new tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor

from ._errors import LandscapeError, check_choice

__all__ = [
    "Params",
    "add",
    "batch_size",
    "clone",
    "distance",
    "filter_normalize",
    "flatten",
    "lerp",
    "map_params",
    "norm",
    "num_params",
    "random_direction",
    "scale",
    "select",
    "stack",
    "sub",
    "unflatten",
    "unstack",
]

Params = dict[str, Tensor]
Which = Literal["all", "weights", "biases"]
_WHICH = ("all", "weights", "biases")


def _check_params(params: Mapping[str, Tensor], name: str = "params") -> None:
    if not isinstance(params, Mapping):
        hint = ""
        if isinstance(params, list | tuple) or hasattr(params, "__next__"):
            hint = "; use dict(model.named_parameters()) instead of model.parameters()"
        elif hasattr(params, "named_parameters"):
            hint = "; pass FunctionalModel(model).params() or dict(model.named_parameters())"
        raise LandscapeError(
            f"{name} must be a dict of name -> Tensor, got {type(params).__name__}{hint}"
        )
    if not params:
        raise LandscapeError(f"{name} is empty; it needs at least one tensor")
    for key, value in params.items():
        if not isinstance(value, Tensor):
            raise LandscapeError(f"{name}[{key!r}] must be a Tensor, got {type(value).__name__}")


def _check_same_keys(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> None:
    if list(a.keys()) != list(b.keys()):
        missing = sorted(set(a) - set(b))
        extra = sorted(set(b) - set(a))
        raise LandscapeError(
            f"parameter names differ: missing {missing}, extra {extra} "
            "(both must come from the same architecture, in the same order)"
        )


def map_params(fn: Callable[..., Tensor], *trees: Mapping[str, Tensor]) -> Params:
    """Apply ``fn`` leaf-wise to one or more params dicts with the same keys."""
    first = trees[0]
    for other in trees[1:]:
        _check_same_keys(first, other)
    return {k: fn(*(t[k] for t in trees)) for k in first}


def clone(params: Mapping[str, Tensor]) -> Params:
    """Detached copies of every tensor (safe to modify)."""
    return {k: v.detach().clone() for k, v in params.items()}


def add(a: Mapping[str, Tensor], b: Mapping[str, Tensor], alpha: float | Tensor = 1.0) -> Params:
    """``a + alpha * b`` leaf-wise."""
    return map_params(lambda x, y: x + alpha * y, a, b)


def sub(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Params:
    """``a - b`` leaf-wise."""
    return map_params(lambda x, y: x - y, a, b)


def scale(a: Mapping[str, Tensor], alpha: float | Tensor) -> Params:
    """``alpha * a`` leaf-wise."""
    return {k: alpha * v for k, v in a.items()}


def is_weight(name: str, tensor: Tensor, batch_dims: int = 0) -> bool:
    """A weight is a tensor with two or more non-batch dimensions (matrices, conv filters)."""
    return tensor.dim() - batch_dims >= 2


def select(params: Mapping[str, Tensor], which: Which = "all", batch_dims: int = 0) -> Params:
    """The sub-dict of ``"all"``, ``"weights"`` (≥ 2-D tensors) or ``"biases"`` (0/1-D).

    Raises:
        LandscapeError: unknown ``which``, or no tensor selected.
    """
    check_choice("which", which, _WHICH)
    if which == "all":
        return dict(params)
    want_weights = which == "weights"
    out = {k: v for k, v in params.items() if is_weight(k, v, batch_dims) == want_weights}
    if not out:
        raise LandscapeError(f"which={which!r} selects no tensor among {list(params)}")
    return out


def num_params(params: Mapping[str, Tensor], batch_dims: int = 0) -> int:
    """Number of scalar parameters of one model (leading ``batch_dims`` axes excluded)."""
    _check_params(params)
    total = 0
    for v in params.values():
        n = 1
        for s in v.shape[batch_dims:]:
            n *= s
        total += n
    return total


def flatten(params: Mapping[str, Tensor], batch_dims: int = 0) -> Tensor:
    """Concatenate all tensors into one vector, in the dict's order.

    Args:
        params: a params dict; with ``batch_dims`` leading batch axes shared by every tensor.
        batch_dims: number of leading axes kept (0 for one model, 1 for stacked ``E``).

    Returns:
        Tensor of shape ``(*batch, P)``.
    """
    _check_params(params)
    first = next(iter(params.values()))
    batch = first.shape[:batch_dims]
    parts = []
    for k, v in params.items():
        if v.shape[:batch_dims] != batch:
            raise LandscapeError(
                f"params[{k!r}] has leading shape {tuple(v.shape[:batch_dims])}, "
                f"expected {tuple(batch)} like the others"
            )
        parts.append(v.reshape(*batch, -1))
    return torch.cat(parts, dim=-1)


def unflatten(vector: Tensor, like: Mapping[str, Tensor | torch.Size | Sequence[int]]) -> Params:
    """Inverse of :func:`flatten`: split ``vector (*batch, P)`` into tensors shaped like ``like``.

    ``like`` maps names to tensors (of one model) or to shapes. Leading axes of ``vector``
    beyond the last one become leading batch axes of every output tensor.

    Raises:
        LandscapeError: the vector's last dimension is not the total parameter count.
    """
    shapes = {k: tuple(v.shape) if isinstance(v, Tensor) else tuple(v) for k, v in like.items()}
    sizes = []
    for s in shapes.values():
        n = 1
        for d in s:
            n *= d
        sizes.append(n)
    total = sum(sizes)
    if vector.shape[-1] != total:
        raise LandscapeError(
            f"vector has {vector.shape[-1]} entries in its last dimension, "
            f"expected {total} (the parameter count of `like`)"
        )
    batch = vector.shape[:-1]
    pieces = torch.split(vector, sizes, dim=-1)
    return {k: p.reshape((*batch, *s)) for (k, s), p in zip(shapes.items(), pieces, strict=True)}


def stack(params_list: Sequence[Mapping[str, Tensor]]) -> Params:
    """Stack a list of E params dicts into one dict with a leading axis ``E``."""
    if not params_list:
        raise LandscapeError("stack needs at least one params dict, got an empty list")
    for p in params_list[1:]:
        _check_same_keys(params_list[0], p)
    return {k: torch.stack([p[k] for p in params_list]) for k in params_list[0]}


def unstack(params: Mapping[str, Tensor]) -> list[Params]:
    """Split a stacked params dict (leading axis ``E``) into a list of E dicts."""
    e = batch_size(params)
    return [{k: v[i] for k, v in params.items()} for i in range(e)]


def batch_size(params: Mapping[str, Tensor]) -> int:
    """The common leading dimension ``E`` of a stacked params dict.

    Raises:
        LandscapeError: tensors disagree on their leading dimension, or one is 0-D.
    """
    _check_params(params)
    sizes = {k: (v.shape[0] if v.dim() else None) for k, v in params.items()}
    values = set(sizes.values())
    if None in values or len(values) != 1:
        raise LandscapeError(f"stacked params must share one leading dimension E, got {sizes}")
    return values.pop()


def lerp(a: Mapping[str, Tensor], b: Mapping[str, Tensor], t: float | Tensor) -> Params:
    """Points on the segment ``θ(t) = (1 - t) θ_a + t θ_b``.

    Args:
        a, b: params of one model each.
        t: a scalar (returns one model) or a 1-D tensor of ``T`` values (returns a stacked
            dict with leading axis ``T``).
    """
    _check_same_keys(a, b)
    t = torch.as_tensor(t)
    if t.dim() > 1:
        raise LandscapeError(f"t must be a scalar or 1-D, got shape {tuple(t.shape)}")
    out = {}
    for k in a:
        tk = t.to(device=a[k].device, dtype=a[k].dtype)
        if tk.dim() == 1:
            tk = tk.reshape(-1, *([1] * a[k].dim()))
        out[k] = a[k] + tk * (b[k] - a[k])
    return out


def norm(params: Mapping[str, Tensor], which: Which = "all", batch_dims: int = 0) -> Tensor:
    """Euclidean norm over the selected tensors; shape ``(*batch,)``."""
    sel = select(params, which, batch_dims)
    sq = sum(v.reshape(*v.shape[:batch_dims], -1).pow(2).sum(-1) for v in sel.values())
    return torch.as_tensor(sq).sqrt()


def distance(
    a: Mapping[str, Tensor], b: Mapping[str, Tensor], which: Which = "all", batch_dims: int = 0
) -> Tensor:
    """Euclidean distance ``‖θ_a − θ_b‖`` over all parameters, weights only or biases only.

    ``a`` and ``b`` may carry ``batch_dims`` leading axes (broadcast against each other).
    """
    _check_same_keys(a, b)
    diff = {k: a[k] - b[k] for k in a}
    return norm(diff, which, batch_dims)


def random_direction(
    params: Mapping[str, Tensor],
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> Params:
    """A Gaussian direction N(0, I) shaped like ``params``.

    Draws on the CPU (so a seed gives the same direction on every device), then moves to
    each tensor's device and dtype.

    Args:
        params: params of one model (shapes, device and dtype are copied).
        seed: seed of a fresh generator; or pass ``generator``. One of them is required.
    """
    _check_params(params)
    if (seed is None) == (generator is None):
        raise LandscapeError("random_direction needs exactly one of seed= or generator=")
    if generator is None:
        generator = torch.Generator().manual_seed(int(seed))
    return {
        k: torch.randn(v.shape, generator=generator, dtype=torch.float64).to(
            device=v.device, dtype=v.dtype
        )
        for k, v in params.items()
    }


def filter_normalize(
    direction: Mapping[str, Tensor],
    params: Mapping[str, Tensor],
    one_d: Literal["zero", "scale"] = "zero",
    eps: float = 1e-10,
) -> Params:
    """Filter-normalise a direction (Li et al. 2018, *Visualizing the Loss Landscape of Neural
    Nets*).

    For every tensor with ≥ 2 dimensions (linear weights ``(out, in)``, conv filters
    ``(out, in, kh, kw)``), each output row/filter ``d_i`` is rescaled to the norm of the
    matching row of the weights: ``d_i ← d_i / ‖d_i‖ · ‖θ_i‖``.

    0/1-D tensors (biases, norm scales) have no filters; ``one_d`` says what to do with them:
    ``"zero"`` sets them to zero (Li et al.'s choice), ``"scale"`` rescales the whole vector
    to the norm of the parameter vector. Never per element.

    Args:
        direction: a direction shaped like ``params``.
        params: the parameters at the centre of the plot.
        one_d: ``"zero"`` or ``"scale"``.
        eps: guards the division for all-zero rows.

    Raises:
        LandscapeError: unknown ``one_d`` or mismatched names/shapes.
    """
    check_choice("one_d", one_d, ("zero", "scale"))
    _check_params(direction, "direction")
    _check_same_keys(params, direction)
    out = {}
    for k, d in direction.items():
        w = params[k]
        if d.shape != w.shape:
            raise LandscapeError(
                f"direction[{k!r}] has shape {tuple(d.shape)}, params has {tuple(w.shape)}"
            )
        if d.dim() >= 2:
            dn = d.reshape(d.shape[0], -1).norm(dim=1)
            wn = w.reshape(w.shape[0], -1).norm(dim=1)
            factor = (wn / (dn + eps)).reshape(-1, *([1] * (d.dim() - 1)))
            out[k] = d * factor
        elif one_d == "zero":
            out[k] = torch.zeros_like(d)
        else:
            out[k] = d * (w.norm() / (d.norm() + eps))
    return out
