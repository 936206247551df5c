"""Hutchinson trace: unbiased, the right standard error, converging to the exact trace."""

from __future__ import annotations

import json
import math

import pytest
import torch

from landscape import LandscapeError
from landscape.curvature import HessianOperator, hutchinson_trace


def test_hutchinson_converges_to_the_exact_trace(mlp_problem):
    h = mlp_problem.hessian
    exact = float(torch.trace(h))
    r = hutchinson_trace(h, 4000, batch_size=500, seed=0)
    assert r.num_probes == 4000 and r.num_hvps == 4000 and r.converged
    assert abs(r.trace - exact) <= 4 * r.stderr
    # Rademacher variance: 2 (‖H‖_F² − Σ H_ii²)
    sd = math.sqrt(2 * (float((h**2).sum()) - float((torch.diagonal(h) ** 2).sum())))
    assert abs(r.stderr - sd / math.sqrt(4000)) <= 0.15 * sd / math.sqrt(4000)
    # the error shrinks like 1/√n
    small = hutchinson_trace(h, 100, seed=0)
    assert small.stderr > 3 * r.stderr


def test_adaptive_mode_meets_its_relative_error(mlp_problem):
    p = mlp_problem
    op = HessianOperator(p.fm, p.params, p.data)
    r = hutchinson_trace(op, rtol=0.05, batch_size=16, seed=1, deflate=0)
    assert r.converged and r.stderr <= 0.05 * abs(r.trace)
    assert r.num_probes % 16 == 0 and r.num_probes >= 32
    assert r.num_hvps == r.num_probes == op.num_hvps
    assert op.num_passes == r.num_probes // 16  # one batched pass per 16 probes
    exact = float(torch.trace(p.hessian))
    assert abs(r.trace - exact) <= 4 * r.stderr


def test_deflation_is_unbiased_reduces_variance_and_is_exact_at_full_rank(mlp_problem):
    h = mlp_problem.hessian
    exact = float(torch.trace(h))
    plain = hutchinson_trace(h, 400, batch_size=200, seed=0)
    deflated = hutchinson_trace(h, 400, batch_size=200, seed=0, deflate=30)
    assert deflated.deflate == 30 and deflated.num_hvps == 430
    assert abs(deflated.trace - exact) <= 4 * deflated.stderr
    assert deflated.stderr < 0.7 * plain.stderr
    full = hutchinson_trace(h, 2, seed=0, deflate=h.shape[0])
    assert abs(full.deflated_trace - exact) <= 1e-9 * abs(exact)
    assert abs(full.trace - exact) <= 1e-8 * abs(exact)
    summary = full.summary()
    json.dumps(summary)
    assert summary["deflate"] == h.shape[0] and summary["trace"] == full.trace


def test_cap_reached_is_not_converged():
    a = torch.randn(50, 50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    r = hutchinson_trace(a + a.T, rtol=1e-6, batch_size=8, max_probes=24, seed=0)
    assert not r.converged and r.num_probes == 24


def test_same_seed_same_samples_and_gaussian_probes(mlp_problem):
    h = mlp_problem.hessian
    a, b = hutchinson_trace(h, 20, seed=3), hutchinson_trace(h, 20, seed=3)
    assert torch.equal(a.samples, b.samples)
    c = hutchinson_trace(h, 20, seed=4)
    assert not torch.equal(a.samples, c.samples)
    g = hutchinson_trace(h, 3000, seed=0, probes="gaussian", batch_size=1000)
    assert abs(g.trace - float(torch.trace(h))) <= 4 * g.stderr


def test_bad_arguments_raise():
    a = torch.eye(3)
    for kwargs, match in [
        ({"num_probes": 1}, "num_probes"),
        ({"rtol": 0.0}, "rtol"),
        ({"batch_size": 0}, "batch_size"),
        ({"probes": "sobol"}, "probes"),
        ({"deflate": -1}, "deflate"),
        ({"deflate": "always"}, "deflate"),
    ]:
        with pytest.raises(LandscapeError, match=match):
            hutchinson_trace(a, **kwargs)


def test_auto_deflation_pays_on_a_network_hessian(mlp_problem):
    """A network Hessian's outliers dominate the variance: deflating them is chosen by
    default in the adaptive mode, and spends far fewer products than plain Hutchinson."""
    h = mlp_problem.hessian
    exact = float(torch.trace(h))
    plain = hutchinson_trace(h, rtol=0.02, deflate=0, seed=0)
    auto = hutchinson_trace(h, rtol=0.02, seed=0)
    assert plain.deflate == 0 and plain.converged
    assert auto.deflate == 30 and auto.pilot_probes == 32 and auto.converged
    assert auto.num_hvps == auto.num_probes + 30 + 32
    assert auto.num_hvps < 0.5 * plain.num_hvps
    assert auto.summary()["pilot_probes"] == 32
    assert abs(auto.trace - exact) <= 4 * auto.stderr


def test_auto_deflation_spends_nothing_where_it_cannot_pay(mlp_problem):
    diag = torch.diag(torch.linspace(1.0, 2.0, 50, dtype=torch.float64))
    r = hutchinson_trace(diag, rtol=1e-3, seed=0)  # Rademacher on a diagonal: exact
    assert r.deflate == 0 and r.pilot_probes == 0 and r.num_hvps == r.num_probes == 64
    assert r.trace == pytest.approx(75.0, rel=1e-12)
    # a fixed number of probes and no rtol: exactly that many products
    fixed = hutchinson_trace(mlp_problem.hessian, 40, seed=0)
    assert fixed.deflate == 0 and fixed.num_hvps == 40
