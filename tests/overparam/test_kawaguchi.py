from __future__ import annotations

import pytest
import torch
from torch.func import grad

from landscape import LandscapeError
from landscape.functional import FunctionalModel
from landscape.models import MLPSpec, build
from landscape.overparam.kawaguchi import KawaguchiLoss

F64 = torch.float64


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_with_a_zero_it_is_the_original_loss_and_gradient(seed, loss):
    g = torch.Generator().manual_seed(seed)
    spec = MLPSpec(in_features=5, widths=(4,), out_features=3)
    fm = FunctionalModel(build(spec, seed=seed, dtype=F64), loss=loss)
    x = torch.randn(11, 5, generator=g, dtype=F64)
    y = (
        torch.randint(0, 3, (11,), generator=g)
        if loss == "cross_entropy"
        else torch.randn(11, 3, generator=g, dtype=F64)
    )
    wrapped = KawaguchiLoss(fm, lam=0.3)
    p = wrapped.init(fm.params(), x, seed=seed, scale=0.5)
    assert float(p["exp.a"].abs().max()) == 0
    torch.testing.assert_close(wrapped(p, (x, y)), fm.loss(fm.params(), (x, y)))
    gw = grad(wrapped)(p, (x, y))
    go = grad(fm.loss)(fm.params(), (x, y))
    for k in go:
        torch.testing.assert_close(gw[k], go[k], rtol=1e-12, atol=1e-14)
    # ∂L̃/∂a at a = 0 is the mean of ∂L/∂ŷ ⊙ exp(Wx + b): a moves off zero
    out = fm.forward(fm.params(), x).detach().requires_grad_(True)
    fm.output_loss(out, y).backward()
    ref = (out.grad * torch.exp(x @ p["exp.W"].T + p["exp.b"])).sum(0)
    torch.testing.assert_close(gw["exp.a"], ref, rtol=1e-10, atol=1e-14)


def test_a_nonzero_adds_the_unit_and_the_penalty():
    fm = FunctionalModel(build(MLPSpec(in_features=2, out_features=1), seed=0, dtype=F64), "mse")
    x, y = torch.randn(6, 2, dtype=F64), torch.randn(6, 1, dtype=F64)
    w = KawaguchiLoss(fm, lam=0.5)
    p = w.init(fm.params(), x)
    p["exp.a"] = torch.tensor([0.7], dtype=F64)
    p["exp.b"] = torch.tensor([-0.2], dtype=F64)
    yhat = fm.forward(fm.params(), x) + 0.7 * torch.exp(x @ p["exp.W"].T - 0.2)
    ref = (yhat - y).pow(2).mean() + 0.5 * 0.49
    torch.testing.assert_close(w(p, (x, y)), ref)
    torch.testing.assert_close(w.original(p, (x, y)), fm.loss(fm.params(), (x, y)))


def test_bad_lambda():
    with pytest.raises(LandscapeError, match="lam"):
        KawaguchiLoss(torch.nn.Linear(2, 1), lam=-1.0)
