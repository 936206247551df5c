from __future__ import annotations

import math

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


@pytest.mark.parametrize("seed", range(3))
def test_a_nonzero_is_never_a_local_minimum_the_unit_can_run_off(seed):
    # (a, b) → (a e^(−s), b + s) keeps a e^(Wx + b), so L̃ falls by exactly λ a² (1 − e^(−2s)):
    # with λ > 0 no point with a ≠ 0 is a local minimum — the catch of the construction
    g = torch.Generator().manual_seed(seed)
    fm = FunctionalModel(
        build(MLPSpec(in_features=3, widths=(4,), out_features=1), seed=seed, dtype=F64), "mse"
    )
    x = torch.randn(9, 3, generator=g, dtype=F64)
    y = torch.randn(9, 1, generator=g, dtype=F64)
    w = KawaguchiLoss(fm, lam=0.2)
    p = w.init(fm.params(), x, seed=seed, scale=0.5)
    p["exp.a"] = torch.randn(1, generator=g, dtype=F64)
    p["exp.b"] = torch.randn(1, generator=g, dtype=F64)
    base = float(w(p, (x, y)))
    for s in (1e-3, 0.5, 3.0):
        q = dict(p, **{"exp.a": p["exp.a"] * math.exp(-s), "exp.b": p["exp.b"] + s})
        torch.testing.assert_close(w.unit(q, x), w.unit(p, x), rtol=1e-12, atol=0)
        drop = 0.2 * float(p["exp.a"] ** 2) * (1 - math.exp(-2 * s))
        assert base - float(w(q, (x, y))) == pytest.approx(drop, rel=1e-8)
        assert drop > 0
    # the directional derivative along it is −2λa², non-zero: ∇L̃ ≠ 0 wherever a ≠ 0
    gr = grad(w)(p, (x, y))
    along = float(-(gr["exp.a"] * p["exp.a"]).sum() + gr["exp.b"].sum())
    assert along == pytest.approx(-2 * 0.2 * float(p["exp.a"] ** 2), rel=1e-9)
