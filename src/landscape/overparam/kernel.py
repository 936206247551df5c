"""The random-feature kernel K̄_Θ, the empirical NTK, and why wide networks train (lazily).

The seminar's simple model (after Berner, Grohs, Kutyniok & Petersen, *The Modern
Mathematics of Deep Learning*, §1.2–2) is a two-layer network without output bias,

    Φ(x, θ) = Σ_{j≤n} θ2_j ρ(⟨θ1_j, [x; 1]⟩),

trained on the empirical risk r(θ) = (1/m) Σ_i (Φ(x_i, θ) − y_i)². Restricting the gradient
to θ2 gives

    ‖∇r(θ)‖² ≥ ‖∇_θ2 r(θ)‖² = (4/m²) resᵀ K̄_θ res ≥ (4/m²) λ_min(K̄_θ) ‖res‖²,

with res = (Φ(x_i, θ) − y_i)_i and K̄_θ = Σ_k v_k v_kᵀ, v_k = (ρ(⟨θ1_k, [x_i; 1]⟩))_i. Since
λ_min(K̄) grows linearly in n, ‖∇r‖² ≳ (n/m) r: gradient descent converges exponentially
and the parameters barely move (lazy training). :func:`gradient_inequality` evaluates
every term of that chain; :func:`lazy_descent` checks it at every step of full-batch
gradient descent.

**Initialisation.** The seminar writes θ1_j ~ N(0, 1/n)^(d+1). With that variance each
entry of v_k is O(1/√n) and trace K̄ = Σ_i Σ_k ρ(z_ik)² has expectation Σ_i ‖[x_i; 1]‖²/2
(ReLU) whatever n, so λ_min(K̄) ≤ trace/m stays bounded: the linear growth needs a
first-layer variance that does not shrink with n. :func:`seminar_init` offers both
(``theta1_variance="1/(d+1)"``, the default, and the literal ``"1/n"``); θ2_j ~ N(0, 1/n)
either way.

For any model, :func:`empirical_ntk` builds the Gram matrix J Jᵀ of the output Jacobian
over the samples — per-sample Jacobian rows by vmapped reverse mode, and either one
product of the Jacobian with itself where it fits in memory, or column blocks
K[:, b] = J (J_b)ᵀ by vmapped forward-mode products (JVPs) chunked over the samples, so
the whole Jacobian is never held. :func:`kernel_spectrum` gives λ_min, λ_max and the
condition number.

Shape letters: ``E`` members (a leading axis of stacked params), ``m`` (or ``N``) samples,
``n`` hidden units, ``d`` inputs, ``O`` outputs, ``P`` parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad, jacrev, jvp, vmap

from .._errors import LandscapeError, check_choice
from ..functional import FunctionalModel
from ..optim import SGD, masked_step
from ..params import Params, flatten, unflatten

__all__ = [
    "ACTIVATIONS",
    "KernelSpectrum",
    "LazyTrajectory",
    "SeminarNet",
    "empirical_ntk",
    "features",
    "gradient_inequality",
    "kernel_spectrum",
    "lazy_descent",
    "random_feature_kernel",
    "second_derivative_magnitudes",
    "seminar_forward",
    "seminar_gradient",
    "seminar_init",
    "seminar_ntk",
]

Activation = Literal["relu", "softplus", "tanh"]
Theta1Variance = Literal["1/(d+1)", "1/n"]

#: ρ, ρ′ and ρ″ of the activations the seminar model takes
ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], ...]] = {
    "relu": (torch.relu, lambda z: (z > 0).to(z.dtype), torch.zeros_like),
    "softplus": (
        F.softplus,
        torch.sigmoid,
        lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z)),
    ),
    "tanh": (
        torch.tanh,
        lambda z: 1 - torch.tanh(z) ** 2,
        lambda z: -2 * torch.tanh(z) * (1 - torch.tanh(z) ** 2),
    ),
}

#: bytes the full Jacobian may take before :func:`empirical_ntk` switches to JVP blocks
NTK_MEMORY_BUDGET = 1 << 30


def _act(activation: str, order: int = 0) -> Callable[[Tensor], Tensor]:
    check_choice("activation", activation, ACTIVATIONS)
    return ACTIVATIONS[activation][order]


# ---------------------------------------------------------------- the seminar's model


def seminar_init(
    in_features: int,
    width: int,
    seed: int,
    theta1_variance: Theta1Variance = "1/(d+1)",
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> Params:
    """Θ of the simple model: ``theta1`` ``(n, d+1)`` and ``theta2`` ``(n,)``, Gaussian.

    θ2_j ~ N(0, 1/n); θ1_j ~ N(0, 1/(d+1))^(d+1) (default, independent of n) or, as the
    seminar writes it, N(0, 1/n)^(d+1) (``theta1_variance="1/n"``; λ_min(K̄) then stays
    bounded in n, see the module docstring).

    Raises:
        LandscapeError: non-positive sizes or an unknown ``theta1_variance``.
    """
    check_choice("theta1_variance", theta1_variance, ("1/(d+1)", "1/n"))
    if int(in_features) < 1 or int(width) < 1:
        raise LandscapeError(
            f"in_features and width must be >= 1, got in_features={in_features}, width={width}"
        )
    d, n = int(in_features), int(width)
    gen = torch.Generator().manual_seed(int(seed))
    var1 = 1.0 / (d + 1) if theta1_variance == "1/(d+1)" else 1.0 / n
    theta1 = torch.randn(n, d + 1, generator=gen, dtype=torch.float64) * var1**0.5
    theta2 = torch.randn(n, generator=gen, dtype=torch.float64) * (1.0 / n) ** 0.5
    return {
        "theta1": theta1.to(device=device, dtype=dtype),
        "theta2": theta2.to(device=device, dtype=dtype),
    }


def _augment(x: Tensor) -> Tensor:
    """``[x; 1]``: inputs ``(m, d)`` with a column of ones, ``(m, d + 1)``."""
    return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)


def _preactivations(theta1: Tensor, x: Tensor) -> Tensor:
    """``z_ik = ⟨θ1_k, [x_i; 1]⟩``: ``(..., m, n)`` for ``theta1`` ``(..., n, d+1)``."""
    return _augment(x.to(theta1.dtype)) @ theta1.transpose(-1, -2)


def features(theta1: Tensor, x: Tensor, activation: Activation = "relu") -> Tensor:
    """The feature matrix ``V = (ρ(⟨θ1_k, [x_i; 1]⟩))_{ik}``, shape ``(..., m, n)``.

    Column ``k`` is the seminar's ``v_k``; leading axes of ``theta1`` (members) broadcast.
    """
    return _act(activation)(_preactivations(theta1, x))


def seminar_forward(params: Mapping[str, Tensor], x: Tensor, activation: Activation = "relu"):
    """``Φ(x_i, θ) = Σ_j θ2_j ρ(⟨θ1_j, [x_i; 1]⟩)``, shape ``(..., m, 1)``."""
    v = features(params["theta1"], x, activation)
    return v @ params["theta2"].unsqueeze(-1)


def random_feature_kernel(theta1: Tensor, x: Tensor, activation: Activation = "relu") -> Tensor:
    """The seminar's ``K̄_Θ = Σ_k v_k v_kᵀ = V Vᵀ``, shape ``(..., m, m)``.

    Args:
        theta1: first-layer weights ``(n, d+1)``, or stacked ``(E, n, d+1)``.
        x: inputs ``(m, d)``.
        activation: ρ.

    Example:
        >>> p = seminar_init(3, 50, seed=0, dtype=torch.float64)
        >>> x = torch.randn(4, 3, dtype=torch.float64)
        >>> K = random_feature_kernel(p["theta1"], x)
        >>> bool(torch.allclose(K, K.T)), bool(torch.linalg.eigvalsh(K).min() > -1e-12)
        (True, True)
    """
    v = features(theta1, x, activation)
    return v @ v.transpose(-1, -2)


def seminar_ntk(params: Mapping[str, Tensor], x: Tensor, activation: Activation = "relu"):
    """The full NTK Gram matrix of the seminar model in closed form, ``(..., m, m)``.

    ``K = K̄ + (A Aᵀ) ⊙ (X̃ X̃ᵀ)`` with ``A_ik = θ2_k ρ′(z_ik)``: the θ2 block is K̄, the θ1
    block ``Σ_k θ2_k² ρ′(z_ik) ρ′(z_jk) ⟨x̃_i, x̃_j⟩``. Batched over leading member axes;
    :func:`empirical_ntk` is its generic, slower counterpart.
    """
    theta1, theta2 = params["theta1"], params["theta2"]
    z = _preactivations(theta1, x)
    a = _act(activation, 1)(z) * theta2.unsqueeze(-2)
    xt = _augment(x.to(theta1.dtype))
    v = _act(activation)(z)
    return v @ v.transpose(-1, -2) + (a @ a.transpose(-1, -2)) * (xt @ xt.T)


class SeminarNet(nn.Module):
    """The simple model as an ``nn.Module`` (for :class:`FunctionalModel` and every tool).

    Parameters ``theta1`` ``(n, d+1)`` and ``theta2`` ``(n,)`` drawn by
    :func:`seminar_init`; ``forward(x)`` returns ``(N, 1)``.
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        activation: Activation = "relu",
        seed: int = 0,
        theta1_variance: Theta1Variance = "1/(d+1)",
    ) -> None:
        super().__init__()
        _act(activation)
        self.activation = activation
        p = seminar_init(in_features, width, seed, theta1_variance)
        self.theta1 = nn.Parameter(p["theta1"])
        self.theta2 = nn.Parameter(p["theta2"])

    def forward(self, x: Tensor) -> Tensor:
        return seminar_forward({"theta1": self.theta1, "theta2": self.theta2}, x, self.activation)


# ---------------------------------------------------------------- spectrum


@dataclass(frozen=True)
class KernelSpectrum:
    """Extreme eigenvalues of a Gram matrix (or of each of a stack of them).

    Attributes:
        lambda_min, lambda_max: ``(...)`` tensors, float64.
        condition: ``λ_max / λ_min`` (``inf`` where ``λ_min ≤ 0``).
    """

    lambda_min: Tensor
    lambda_max: Tensor
    condition: Tensor


def kernel_spectrum(kernel: Tensor) -> KernelSpectrum:
    """λ_min, λ_max and the condition number of symmetric ``(..., m, m)`` matrices.

    Eigenvalues by LAPACK's symmetric solver (``torch.linalg.eigvalsh``) in float64.

    Raises:
        LandscapeError: not a (stack of) square matrices.
    """
    if kernel.dim() < 2 or kernel.shape[-1] != kernel.shape[-2]:
        raise LandscapeError(f"kernel must be (..., m, m), got shape {tuple(kernel.shape)}")
    k = kernel.detach().to(torch.float64)
    ev = torch.linalg.eigvalsh((k + k.transpose(-1, -2)) / 2)
    lo, hi = ev[..., 0], ev[..., -1]
    cond = torch.where(lo > 0, hi / lo.clamp_min(1e-300), torch.full_like(lo, float("inf")))
    return KernelSpectrum(lo, hi, cond)


# ---------------------------------------------------------------- the empirical NTK


def _forward_fn(model: object) -> Callable[[Params, Tensor], Tensor]:
    if isinstance(model, FunctionalModel):
        if model.mode == "train":
            raise LandscapeError(
                "empirical_ntk evaluates samples one at a time; a train-mode FunctionalModel "
                "normalises with batch statistics, so use mode='eval'"
            )
        return model.forward
    if isinstance(model, nn.Module):
        return FunctionalModel(model, loss="mse").forward
    if callable(model):
        return model  # type: ignore[return-value]
    raise LandscapeError(
        f"model must be an nn.Module, a FunctionalModel or a forward(params, x), "
        f"got {type(model).__name__}"
    )


def _jacobian_rows(fwd: Callable, params: Params, xb: Tensor) -> Tensor:
    """Rows of the output Jacobian for the samples ``xb``: ``(B·O, P)``, by vmapped VJPs."""

    def single(p: Params, xi: Tensor) -> Tensor:
        return fwd(p, xi.unsqueeze(0)).reshape(-1)

    jac = vmap(jacrev(single), in_dims=(None, 0))(params, xb)
    b = xb.shape[0]
    return torch.cat([jac[k].reshape(b, -1, params[k].numel()) for k in params], -1).reshape(
        -1, sum(v.numel() for v in params.values())
    )


def _linear_layers(fm: FunctionalModel, names: set[str]) -> list[tuple[nn.Linear, str, str]]:
    """The ``nn.Linear`` layers of ``fm`` as ``(module, weight name, bias name)`` (a name is
    ``""`` when that tensor is not among ``names``), or ``[]`` unless every name in ``names``
    is the weight or bias of a Linear layer."""
    layers, covered = [], set()
    for prefix, m in fm.module.named_modules():
        if isinstance(m, nn.Linear):
            w, b = (f"{prefix}.{t}" if prefix else t for t in ("weight", "bias"))
            w, b = (w if w in names else ""), (b if b in names and m.bias is not None else "")
            if w or b:
                layers.append((m, w, b))
                covered |= {w, b} - {""}
    return layers if covered == names else []


def _layerwise_ntk(
    fm: FunctionalModel, layers: list[tuple[nn.Linear, str, str]], params: Params, x: Tensor
) -> Tensor | None:
    """``J Jᵀ`` of a model made of Linear layers without forming ``J``: a Linear layer's
    Jacobian rows are outer products of its input ``a_i`` and the gradient ``g_{i,o}`` of
    output ``o`` at its output, so its share of ``K`` is ``(a_i·a_j + 1[bias]) (g_{i,o}·g_{j,o'})``.
    One forward pass and ``O`` backward passes over all samples; ``None`` when a layer is
    not called exactly once on ``(N, in)`` inputs (the caller falls back)."""
    seen: dict[int, list[tuple[Tensor, Tensor]]] = {id(m): [] for m, _, _ in layers}

    def hook(m: nn.Module, inp: tuple, out: Tensor) -> None:
        seen[id(m)].append((inp[0], out))

    handles = [m.register_forward_hook(hook) for m, _, _ in layers]
    try:
        with torch.enable_grad():
            leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
            out = fm.forward(leaves, x)
    finally:
        for h in handles:
            h.remove()
    n = x.shape[0]
    calls = [seen[id(m)] for m, _, _ in layers]
    if any(len(c) != 1 or c[0][0].dim() != 2 or c[0][0].shape[0] != n for c in calls):
        return None
    out = out.reshape(n, -1)
    o = out.shape[1]
    zs = [c[0][1] for c in calls]
    grads = []  # per layer: (N·O, out_l), sample-major rows like J
    per_output = [
        torch.autograd.grad(out[:, k].sum(), zs, retain_graph=k < o - 1, allow_unused=True)
        for k in range(o)
    ]
    for li, z in enumerate(zs):
        g = [
            per_output[k][li] if per_output[k][li] is not None else torch.zeros_like(z)
            for k in range(o)
        ]
        grads.append(torch.stack(g, 1).reshape(n * o, -1).detach())
    k_mat = torch.zeros(n, o, n, o, dtype=out.dtype, device=out.device)
    for (_, w, b), c, g in zip(layers, calls, grads, strict=True):
        a = c[0][0].detach()
        inputs = (a @ a.T if w else torch.zeros(n, n, dtype=a.dtype, device=a.device)) + (
            1.0 if b else 0.0
        )
        k_mat += (g @ g.T).reshape(n, o, n, o) * inputs[:, None, :, None]
    return k_mat.reshape(n * o, n * o)


def empirical_ntk(
    model: FunctionalModel | nn.Module | Callable[[Params, Tensor], Tensor],
    params: Mapping[str, Tensor],
    x: Tensor,
    *,
    method: Literal["auto", "layerwise", "jacobian", "jvp"] = "auto",
    chunk_size: int = 64,
    memory_budget: int = NTK_MEMORY_BUDGET,
) -> Tensor:
    """The empirical NTK Gram matrix ``K = J Jᵀ`` of a model's outputs over ``N`` samples.

    ``J`` is the ``(N·O, P)`` Jacobian of the outputs (sample-major: row ``i·O + o`` is
    output ``o`` of sample ``i``) with respect to ``params``. Jacobian rows are computed by
    reverse mode, vmapped over ``chunk_size`` samples at a time.

    * ``"jacobian"``: all of ``J``, then one product ``J Jᵀ`` — fastest; needs ``N·O·P``
      numbers.
    * ``"jvp"``: for each block ``b`` of samples, its rows ``J_b`` (VJPs), then the column
      block ``K[:, b] = J J_bᵀ`` by forward-mode products (JVPs) vmapped over the block's
      rows and chunked over the samples; memory ``chunk_size·O·P``, never the whole ``J``.
    * ``"layerwise"``: for a module whose free parameters are all weights and biases of
      ``nn.Linear`` layers (an MLP), each called once per forward: a Linear layer's rows of
      ``J`` are outer products ``g_{i,o} a_iᵀ`` (its input ``a_i``, the output gradient
      ``g_{i,o}`` at its output), so ``K = Σ_layers (a_i·a_j + 1) (g_{i,o}·g_{j,o'})`` from one
      forward and ``O`` backward passes over all samples, without ``J``. Its first samples'
      block is checked against the Jacobian rows (a model that mixes samples is refused).
    * ``"auto"``: ``"layerwise"`` where it applies, else ``"jacobian"`` when ``N·O·P``
      elements fit in ``memory_budget`` bytes, else ``"jvp"``.

    Samples are evaluated one at a time (vmapped), so a model whose output for one sample
    depends on the others (batch norm in train mode) is refused.

    Args:
        model: an ``nn.Module`` (wrapped, never modified), a :class:`FunctionalModel` or a
            pure ``forward(params, x) -> (N, O)`` (or ``(N,)``).
        params: the point (a params dict, not stacked).
        x: inputs ``(N, ...)``.
        method: see above.
        chunk_size: samples per vmapped pass.
        memory_budget: bytes the full Jacobian may take under ``"auto"``.

    Returns:
        ``(N·O, N·O)`` symmetric positive semi-definite, in the dtype of ``params``.

    Raises:
        LandscapeError: an unknown method, a non-positive chunk size, a train-mode model.

    Example:
        >>> fm = FunctionalModel(torch.nn.Linear(3, 1).double(), loss="mse")
        >>> x = torch.randn(5, 3, dtype=torch.float64)
        >>> K = empirical_ntk(fm, fm.params(), x)
        >>> bool(torch.allclose(K, x @ x.T + 1))  # a linear model's NTK: x_i·x_j + 1
        True
    """
    check_choice("method", method, ("auto", "layerwise", "jacobian", "jvp"))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise LandscapeError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    fwd = _forward_fn(model)
    params = {k: v.detach() for k, v in params.items()}
    first = next(iter(params.values()))
    x = x.to(first.device)
    if x.is_floating_point():
        x = x.to(first.dtype)
    n = x.shape[0]
    p = sum(v.numel() for v in params.values())
    o = fwd(params, x[:1]).numel()
    if method in ("auto", "layerwise"):
        fm = getattr(fwd, "__self__", None)  # the FunctionalModel behind fwd, if any
        fm = fm if isinstance(fm, FunctionalModel) else None
        layers = _linear_layers(fm, set(params)) if fm is not None else []
        k_mat = _layerwise_ntk(fm, layers, params, x) if layers else None
        if k_mat is not None:
            head = min(n, 3)  # the first samples' block against their Jacobian rows
            rows = _jacobian_rows(fwd, params, x[:head])
            ref = rows @ rows.T
            err = float((k_mat[: head * o, : head * o] - ref).norm())
            tol = 1e-4 if first.dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-9
            if err <= tol * max(float(ref.norm()), 1e-30):
                return k_mat
            if method == "layerwise":
                raise LandscapeError(
                    "method 'layerwise' disagrees with the Jacobian on the first samples "
                    f"(relative error {err / max(float(ref.norm()), 1e-30):.1e}): the model "
                    "mixes samples or calls its layers in a way the method does not cover; "
                    "use method='jacobian' or 'jvp'"
                )
        elif method == "layerwise":
            raise LandscapeError(
                "method 'layerwise' needs an nn.Module whose free parameters are all weights "
                "and biases of nn.Linear layers, each called once on (N, features) inputs; "
                "use method='jacobian' or 'jvp'"
            )
        method = "jacobian" if n * o * p * first.element_size() <= memory_budget else "jvp"
    blocks = range(0, n, chunk_size)
    if method == "jacobian":
        jac = torch.cat([_jacobian_rows(fwd, params, x[s : s + chunk_size]) for s in blocks])
        return jac @ jac.T
    shapes = {k: v.shape for k, v in params.items()}
    flat = flatten(params)
    out = torch.empty(n * o, n * o, device=first.device, dtype=first.dtype)
    for s in blocks:
        rows = _jacobian_rows(fwd, params, x[s : s + chunk_size])  # (B·O, P)
        for c in blocks:
            xc = x[c : c + chunk_size]

            def push(t: Tensor, xc: Tensor = xc) -> Tensor:
                return jvp(lambda w: fwd(unflatten(w, shapes), xc).reshape(-1), (flat,), (t,))[1]

            out[c * o : (c + xc.shape[0]) * o, s * o : s * o + rows.shape[0]] = vmap(push)(rows).T
    return (out + out.T) / 2


# ---------------------------------------------------------------- the gradient inequality


def _risk(params: Params, x: Tensor, y: Tensor, activation: str) -> Tensor:
    res = seminar_forward(params, x, activation).squeeze(-1) - y
    return res.pow(2).mean()


def seminar_gradient(
    params: Mapping[str, Tensor], x: Tensor, y: Tensor, activation: Activation = "relu"
) -> tuple[Tensor, Params]:
    """``r(θ)`` and ``∇r(θ)`` of the seminar model in closed form, batched over members.

    ``∂r/∂θ2 = (2/m) Vᵀ res`` and ``∂r/∂θ1_k = (2/m) θ2_k Σ_i res_i ρ′(z_ik) [x_i; 1]``
    (``tests/overparam/test_kernel.py`` checks both against autodiff).

    Returns:
        ``(r, grads)``: ``(...)`` risks and a dict shaped like ``params``.
    """
    theta1, theta2 = params["theta1"], params["theta2"]
    x = x.to(theta1.dtype)
    z = _preactivations(theta1, x)  # (..., m, n)
    v = _act(activation)(z)
    res = (v @ theta2.unsqueeze(-1)).squeeze(-1) - y.reshape(-1).to(theta1.dtype)
    m = res.shape[-1]
    g2 = 2.0 / m * (v.transpose(-1, -2) @ res.unsqueeze(-1)).squeeze(-1)
    w = _act(activation, 1)(z) * res.unsqueeze(-1)  # (..., m, n)
    g1 = 2.0 / m * theta2.unsqueeze(-1) * (w.transpose(-1, -2) @ _augment(x))
    return res.pow(2).mean(-1), {"theta1": g1, "theta2": g2}


def gradient_inequality(
    params: Mapping[str, Tensor],
    x: Tensor,
    y: Tensor,
    activation: Activation = "relu",
    kernel: Tensor | None = None,
) -> dict[str, Tensor]:
    """Every term of ``‖∇r‖² ≥ ‖∇_θ2 r‖² = (4/m²) resᵀK̄res ≥ (4/m²) λ_min(K̄) ‖res‖²``.

    Args:
        params: the seminar model's params, one model or stacked ``(E, …)``.
        x: inputs ``(m, d)``.
        y: targets ``(m,)`` or ``(m, 1)``.
        activation: ρ.
        kernel: the K̄ to bound with (e.g. K̄ at initialisation, ``(m, m)`` or
            ``(E, m, m)``); default K̄ at ``params``, for which the chain holds exactly.

    Returns:
        ``(E,)`` (or scalar) tensors: ``loss`` r, ``grad_sq`` ‖∇r‖² (all parameters, see
        :func:`seminar_gradient`), ``grad_sq_theta2``, ``quadratic`` (4/m²) resᵀK̄res,
        ``lambda_min``,
        ``bound`` (4/m²) λ_min ‖res‖², ``ratio`` = grad_sq / bound (≥ 1 with the current
        kernel; ``inf`` where λ_min ≤ 0 makes the bound vacuous).
    """
    stacked = params["theta1"].dim() == 3
    p = {k: v if stacked else v.unsqueeze(0) for k, v in params.items()}
    y = y.reshape(-1).to(p["theta1"].dtype)
    m = y.shape[0]
    _, g = seminar_gradient(p, x, y, activation)
    res = seminar_forward(p, x, activation).squeeze(-1) - y  # (E, m)
    kbar = random_feature_kernel(p["theta1"], x, activation) if kernel is None else kernel
    kbar = kbar.to(res.dtype)
    if kbar.dim() == 2:
        kbar = kbar.expand(res.shape[0], m, m)
    lam = kernel_spectrum(kbar).lambda_min.to(res.dtype)
    rsq = res.pow(2).sum(-1)
    bound = 4.0 / m**2 * lam * rsq
    grad_sq = sum(v.reshape(v.shape[0], -1).pow(2).sum(-1) for v in g.values())
    # λ_min ≤ 0 (n < m, a singular K̄): the bound is vacuous, the ratio infinite
    ratio = torch.where(bound > 0, grad_sq / bound.clamp_min(1e-300), torch.inf)
    out = {
        "loss": rsq / m,
        "grad_sq": grad_sq,
        "grad_sq_theta2": g["theta2"].pow(2).sum(-1),
        "quadratic": 4.0 / m**2 * torch.einsum("ei,eij,ej->e", res, kbar, res),
        "lambda_min": lam,
        "bound": bound,
        "ratio": ratio,
    }
    return out if stacked else {k: v[0] for k, v in out.items()}


@dataclass
class LazyTrajectory:
    """Full-batch gradient descent on the seminar model, checked step by step.

    Attributes:
        steps: ``(R,)`` the recorded steps (0 = initialisation).
        loss, grad_sq: ``(R, E)`` r(θ_t) and ‖∇r(θ_t)‖².
        ratio_current: ``(R, E)`` ‖∇r‖² / ((4/m²) λ_min(K̄_θt) ‖res‖²): ≥ 1 at every step.
        ratio_init: ``(R, E)`` the same with K̄ at initialisation (≥ 1 in the lazy regime).
        distance: ``(R, E)`` ‖θ_t − θ_0‖ / ‖θ_0‖.
        lambda_min_init: ``(E,)`` λ_min(K̄_Θ0).
        ntk_change: ``(E,)`` ‖K_T − K_0‖_F / ‖K_0‖_F of the full NTK.
        kbar_change: ``(E,)`` the same for K̄.
        params: final stacked params.
        diverged: ``(E,)`` members frozen after a non-finite step.
    """

    steps: np.ndarray
    loss: np.ndarray
    grad_sq: np.ndarray
    ratio_current: np.ndarray
    ratio_init: np.ndarray
    distance: np.ndarray
    lambda_min_init: np.ndarray
    ntk_change: np.ndarray
    kbar_change: np.ndarray
    params: Params
    diverged: np.ndarray


def _rel_change(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).flatten(-2).norm(dim=-1) / b.flatten(-2).norm(dim=-1)


def lazy_descent(
    params: Mapping[str, Tensor],
    x: Tensor,
    y: Tensor,
    lr: float,
    steps: int,
    activation: Activation = "relu",
    check_every: int = 1,
) -> LazyTrajectory:
    """Full-batch gradient descent on ``r(θ)`` for stacked members, checking the inequality.

    The step is :class:`~landscape.optim.SGD` (no momentum) through
    :func:`~landscape.optim.masked_step`, so a member that goes non-finite is frozen and
    flagged. Every ``check_every`` steps (and at the last) the gradient inequality is
    evaluated with the current K̄ and with K̄ at initialisation.

    Args:
        params: stacked ``(E, …)`` seminar params (not modified).
        x, y: the data, ``(m, d)`` and ``(m,)`` or ``(m, 1)``.
        lr: learning rate (stable below ``m / λ_max(K)`` of the full NTK).
        steps: gradient steps.
        activation: ρ.
        check_every: steps between checks.

    Raises:
        LandscapeError: non-stacked params, a non-positive ``steps`` or ``check_every``.
    """
    if params["theta1"].dim() != 3:
        raise LandscapeError("lazy_descent needs stacked params (a leading member axis E)")
    if steps < 1 or check_every < 1:
        raise LandscapeError(
            f"steps and check_every must be >= 1, got steps={steps}, check_every={check_every}"
        )
    p0 = {k: v.detach().clone() for k, v in params.items()}
    y = y.reshape(-1).to(p0["theta1"].dtype)
    x = x.to(p0["theta1"].dtype)
    k0 = random_feature_kernel(p0["theta1"], x, activation)
    ntk0 = seminar_ntk(p0, x, activation)
    norm0 = flatten(p0, batch_dims=1).norm(dim=1)
    opt = SGD(lr=lr)
    state = opt.init(p0)
    cur = p0
    active = torch.ones(norm0.shape[0], dtype=torch.bool, device=norm0.device)
    rec: dict[str, list] = {k: [] for k in ("steps", "loss", "grad_sq", "rc", "ri", "dist")}

    def record(t: int) -> None:
        now = gradient_inequality(cur, x, y, activation)
        init = gradient_inequality(cur, x, y, activation, kernel=k0)
        dist = (flatten(cur, batch_dims=1) - flatten(p0, batch_dims=1)).norm(dim=1) / norm0
        for key, val in (
            ("loss", now["loss"]),
            ("grad_sq", now["grad_sq"]),
            ("rc", now["ratio"]),
            ("ri", init["ratio"]),
            ("dist", dist),
        ):
            rec[key].append(val.detach().cpu().numpy())
        rec["steps"].append(t)

    record(0)
    for t in range(1, steps + 1):
        g = seminar_gradient(cur, x, y, activation)[1]
        out = masked_step(opt, g, state, cur, active)
        cur, state, active = out.params, out.state, out.active
        if t % check_every == 0 or t == steps:
            record(t)
    return LazyTrajectory(
        steps=np.asarray(rec["steps"]),
        loss=np.stack(rec["loss"]),
        grad_sq=np.stack(rec["grad_sq"]),
        ratio_current=np.stack(rec["rc"]),
        ratio_init=np.stack(rec["ri"]),
        distance=np.stack(rec["dist"]),
        lambda_min_init=kernel_spectrum(k0).lambda_min.cpu().numpy(),
        ntk_change=_rel_change(seminar_ntk(cur, x, activation), ntk0).cpu().numpy(),
        kbar_change=_rel_change(random_feature_kernel(cur["theta1"], x, activation), k0)
        .cpu()
        .numpy(),
        params=cur,
        diverged=(~active).cpu().numpy(),
    )


# ---------------------------------------------------------------- second derivatives


def second_derivative_magnitudes(
    params: Mapping[str, Tensor],
    x: Tensor,
    units: Tensor,
    activation: Activation = "relu",
    coords: Tensor | None = None,
) -> dict[str, Tensor]:
    """Mean squares of the entries of the Hessian of ``Φ(x, ·)`` by block, measured by autodiff.

    For each sample and each unit ``i`` in ``units``, the Hessian rows of θ2_i and of the
    coordinates ``coords`` of θ1_i (all ``d + 1`` by default) are computed by
    forward-over-reverse products (vmapped), and their entries against unit ``j`` are
    squared and averaged, separately for ``j = i`` and
    ``j ≠ i``. The seminar's claims at initialisation: the θ2θ2 block is 0, the θ2θ1 block
    is O(δ_ij), the θ1θ1 block O(δ_ij / n) (exactly 0 a.e. for ReLU, whose ρ″ = 0).

    Vmappable over a leading member axis of ``params`` (``torch.func.vmap`` with
    ``in_dims=(0, None, None, None)``).

    Args:
        params: one model's params (``theta1`` ``(n, d+1)``, ``theta2`` ``(n,)``).
        x: samples ``(s, d)``.
        units: indices of the units whose rows are computed, ``(u,)``.
        activation: ρ.
        coords: indices (in ``0..d``; ``d`` is the bias input) of the θ1 rows computed.

    Returns:
        Scalars ``t2t2`` (all entries), ``t2t1_same``, ``t2t1_other``, ``t1t1_same``,
        ``t1t1_other``.
    """
    theta1 = params["theta1"]
    n, d1 = theta1.shape
    names = ("theta1", "theta2")
    shapes = {k: params[k].shape for k in names}
    flat = flatten({k: params[k] for k in names})
    units = units.to(torch.long).to(theta1.device)
    u = units.shape[0]
    ks = torch.arange(d1) if coords is None else coords.to(torch.long).cpu()
    ks = ks.to(units.device)
    c = ks.shape[0]
    # rows: θ2_i (offset n·d1 + i) and θ1_{i,k} (offset i·d1 + k), for i in units, k in ks
    rows = torch.cat([n * d1 + units, (units.unsqueeze(1) * d1 + ks).ravel()])
    eye = torch.zeros(rows.shape[0], flat.shape[0], dtype=flat.dtype, device=flat.device)
    eye[torch.arange(rows.shape[0]), rows] = 1.0

    def hess_rows(xi: Tensor) -> Tensor:
        g = grad(lambda w: seminar_forward(unflatten(w, shapes), xi[None], activation).sum())
        return vmap(lambda t: jvp(g, (flat,), (t,))[1])(eye)  # (R, P)

    h = vmap(hess_rows, chunk_size=1)(x.to(flat.dtype))  # (s, R, P), a sample at a time
    s = h.shape[0]
    h2 = h[:, :u, n * d1 :]  # θ2_i rows, θ2 columns: (s, u, n)
    t2t1 = h[:, :u, : n * d1].reshape(s, u, n, d1)  # θ2_i rows, θ1_j columns
    t1t1 = h[:, u:, : n * d1].reshape(s, u, c, n, d1)  # θ1_i rows, θ1_j columns
    same = torch.zeros(u, n, dtype=torch.bool, device=h.device)
    same[torch.arange(u), units] = True
    other = ~same

    def mean_sq(block: Tensor, mask: Tensor, axis: int) -> Tensor:
        view = [1] * block.dim()
        view[1], view[axis] = u, n
        w = mask.reshape(view).expand_as(block).to(block.dtype)
        return (block.pow(2) * w).sum() / w.sum().clamp_min(1.0)

    return {
        "t2t2": h2.pow(2).mean(),
        "t2t1_same": mean_sq(t2t1, same, 2),
        "t2t1_other": mean_sq(t2t1, other, 2),
        "t1t1_same": mean_sq(t1t1, same, 3),
        "t1t1_other": mean_sq(t1t1, other, 3),
    }
