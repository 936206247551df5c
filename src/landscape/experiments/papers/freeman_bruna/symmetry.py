"""The symmetry example of Freeman & Bruna 2017, section 2 (computed, not hard-coded)."""

from __future__ import annotations

import torch

from ....connect import interpolate
from ....functional import FunctionalModel
from ....models import MLPSpec, build

__all__ = ["SYMMETRY_SPEC", "THETA", "THETA_BAR", "symmetry_example", "symmetry_params"]

THETA = (1.0, -1.0, 1.0, 1.0, 1.0, 0.0)
THETA_BAR = (-1.0, 1.0, 1.0, 1.0, 0.0, 1.0)
SYMMETRY_SPEC = MLPSpec(in_features=1, widths=(2,), out_features=1, activation="relu")


def symmetry_params(theta: tuple[float, ...], dtype: torch.dtype = torch.float64) -> dict:
    """Φ(x, θ) = θ1 relu(θ3 x + θ5) + θ2 relu(θ4 x + θ6) as a 1-2-1 ReLU MLP (output bias 0)."""
    t = torch.tensor(theta, dtype=dtype)
    return {
        "layers.0.weight": t[[2, 3]].reshape(2, 1),
        "layers.0.bias": t[[4, 5]],
        "layers.1.weight": t[[0, 1]].reshape(1, 2),
        "layers.1.bias": torch.zeros(1, dtype=dtype),
    }


def symmetry_example(grid: int = 101) -> dict:
    """The empirical risk (mean squared error) on s = {(−1, 0), (1, 1)} along θ → θ̄."""
    fm = FunctionalModel(build(SYMMETRY_SPEC, dtype=torch.float64), loss="mse")
    x = torch.tensor([[-1.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    a, b = symmetry_params(THETA), symmetry_params(THETA_BAR)
    interp = interpolate(fm.loss, a, b, (x, y), grid=grid)
    midpoint = fm.loss({k: 0.5 * (a[k] + b[k]) for k in a}, (x, y))
    return {
        "interpolation": interp,
        "risk_theta": float(interp.loss_a),
        "risk_theta_bar": float(interp.loss_b),
        "risk_midpoint": float(midpoint),
        "barrier": float(interp.barrier),
    }
