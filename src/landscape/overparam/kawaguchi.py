"""Kawaguchi & Kaelbling's exponential unit: every local minimum becomes global — at a price.

Kawaguchi & Kaelbling 2019, *Elimination of all bad local minima in deep learning*
(arXiv:1901.00279), as the Golikov lecture states it: for any model ŷ(x, θ) and a loss
L(y, ŷ) convex and differentiable in ŷ, the modified loss

    L̃(θ, W, a, b) = (1/m) Σ_i L(y_i, ŷ(x_i, θ) + a ⊙ exp(W x_i + b)) + λ ‖a‖²

(one exponential unit per output: ``a``, ``b`` of size O, ``W`` of shape O × D) has the
property that at every local minimum of L̃, θ is a global minimum of the original loss.
"Where is the catch?" — such a local minimum need not exist at finite parameters: the
exponential unit's parameters may run off. For λ > 0 no point with a ≠ 0 is a local minimum
of L̃, since ``(a, b) → (a e^{−s}, b + s)`` keeps the unit's output and lowers λ‖a‖²; from a
spurious minimum of L the descent on L̃ follows b → ∞, a → 0 with the unit's amplitude
|a| e^b staying finite (``landscape reproduce kawaguchi`` measures it).

:class:`KawaguchiLoss` is a pure ``loss(params, batch)`` over one flat params dict (the
model's names plus ``exp.W``, ``exp.b``, ``exp.a``), so every optimiser and diagnostic of
the library applies to it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from .._errors import LandscapeError
from ..functional import Batch, FunctionalModel, OutputLoss, get_loss
from ..params import Params

__all__ = ["EXP_KEYS", "KawaguchiLoss"]

#: the names of the exponential unit's parameters in the wrapped params dict
EXP_KEYS = ("exp.W", "exp.b", "exp.a")


class KawaguchiLoss:
    """``L̃(θ, W, a, b)`` for any model and output loss (pure, vmappable).

    Args:
        model: an ``nn.Module`` (wrapped in a :class:`FunctionalModel`, never modified), a
            FunctionalModel, or a pure ``forward(params, x) -> (N, O)``.
        loss: an output loss name or callable ``(output, target) -> mean`` (default: the
            FunctionalModel's, else ``"mse"``).
        lam: λ ≥ 0, the penalty on ‖a‖².

    Raises:
        LandscapeError: a negative ``lam`` or a model of the wrong kind.
    """

    def __init__(
        self,
        model: nn.Module | FunctionalModel | Callable[[Params, Tensor], Tensor],
        loss: str | OutputLoss | None = None,
        lam: float = 1e-3,
    ) -> None:
        if not float(lam) >= 0:
            raise LandscapeError(f"lam must be >= 0, got {lam!r}")
        if isinstance(model, nn.Module):
            model = FunctionalModel(model, loss=loss or "mse")
        if isinstance(model, FunctionalModel):
            self.forward = model.forward
            self.output_loss = get_loss(loss) if loss is not None else model.output_loss
        elif callable(model):
            self.forward = model
            self.output_loss = get_loss(loss or "mse")
        else:
            raise LandscapeError(
                f"model must be an nn.Module, a FunctionalModel or a forward(params, x), "
                f"got {type(model).__name__}"
            )
        self.lam = float(lam)

    def init(
        self, theta: Mapping[str, Tensor], x: Tensor, seed: int = 0, scale: float = 0.1
    ) -> Params:
        """``θ`` with the exponential unit added: ``a = 0``, ``W ~ N(0, scale²)``, ``b = 0``."""
        first = next(iter(theta.values()))
        out = self.forward(dict(theta), x[:1].to(first.dtype)).reshape(1, -1)
        o, d = out.shape[1], x[0].numel()
        gen = torch.Generator().manual_seed(int(seed))
        w = torch.randn(o, d, generator=gen, dtype=torch.float64) * scale
        zeros = torch.zeros(o, dtype=first.dtype, device=first.device)
        return {
            **{k: v.detach().clone() for k, v in theta.items()},
            "exp.W": w.to(device=first.device, dtype=first.dtype),
            "exp.b": zeros.clone(),
            "exp.a": zeros.clone(),
        }

    @staticmethod
    def split(params: Mapping[str, Tensor]) -> tuple[Params, Params]:
        """``(θ, {W, b, a})``."""
        theta = {k: v for k, v in params.items() if k not in EXP_KEYS}
        return theta, {k: params[k] for k in EXP_KEYS}

    def unit(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """``a ⊙ exp(W x + b)``, shape ``(N, O)``."""
        flat = x.reshape(x.shape[0], -1).to(params["exp.W"].dtype)
        return params["exp.a"] * torch.exp(flat @ params["exp.W"].T + params["exp.b"])

    def __call__(self, params: Mapping[str, Tensor], batch: Batch) -> Tensor:
        """``L̃`` on one batch (the batch mean of L plus λ‖a‖²)."""
        x, y = batch
        theta, _ = self.split(params)
        out = self.forward(theta, x)
        out = out.reshape(out.shape[0], -1) + self.unit(params, x)
        return self.output_loss(out, y) + self.lam * params["exp.a"].pow(2).sum()

    loss = __call__

    def original(self, params: Mapping[str, Tensor], batch: Batch) -> Tensor:
        """The original loss ``L(θ)`` of the θ part alone."""
        x, y = batch
        out = self.forward(self.split(params)[0], x)
        return self.output_loss(out.reshape(out.shape[0], -1), y)
