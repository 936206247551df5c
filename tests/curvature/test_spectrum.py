"""Eigenpairs, SLQ density and index against dense ``eigh`` references."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from landscape import LandscapeError
from landscape.curvature import (
    HessianOperator,
    MatrixOperator,
    eigenpairs,
    exact_index,
    gaussian_density,
    slq,
    spectral_density,
)


def _spd_like(p: int, eigenvalues: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``Q diag(λ) Qᵀ`` with a seeded random orthogonal ``Q``."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))
    return (q * eigenvalues) @ q.T


@pytest.mark.parametrize("method", ["lanczos", "scipy"])
@pytest.mark.parametrize("which", ["top", "bottom"])
def test_eigenpairs_match_numpy_eigh(mlp_problem, which, method):
    p = mlp_problem
    op = HessianOperator(p.fm, p.params, p.data, chunk_size=40)
    ref_vals, ref_vecs = np.linalg.eigh(p.hessian.numpy())
    k = 3
    idx = np.arange(len(ref_vals))[::-1][:k] if which == "top" else np.arange(k)
    r = eigenpairs(op, k, which, tol=1e-8, method=method, seed=1)
    assert r.converged and r.max_relative_residual <= 1e-8
    np.testing.assert_allclose(r.eigenvalues.numpy(), ref_vals[idx], rtol=0, atol=1e-8 * r.scale)
    # eigenvectors up to sign (the reference values are simple here)
    cos = np.abs(np.sum(r.eigenvectors.numpy() * ref_vecs[:, idx], axis=0))
    np.testing.assert_allclose(cos, 1.0, atol=1e-6)
    # reported residuals are the true ones
    res = (p.hessian @ r.eigenvectors - r.eigenvectors * r.eigenvalues).norm(dim=0)
    torch.testing.assert_close(r.residuals, res, rtol=1e-4, atol=1e-13)
    assert r.num_hvps == op.num_hvps and r.num_hvps < op.num_params


def test_requested_tolerance_bounds_the_eigenvalue_error():
    lam = torch.cat([torch.tensor([10.0, 9.0, 8.5]), torch.linspace(-2.0, 5.0, 197)])
    a = _spd_like(200, lam.double())
    for tol in (1e-3, 1e-6):
        r = eigenpairs(a, 3, "top", tol=tol, seed=3)
        assert r.converged and float(r.residuals.max()) <= tol * r.scale
        err = (r.eigenvalues - torch.tensor([10.0, 9.0, 8.5], dtype=torch.float64)).abs()
        assert float(err.max()) <= tol * r.scale


def test_unconverged_result_says_so():
    a = _spd_like(200, torch.linspace(-1.0, 1.0, 200, dtype=torch.float64))
    r = eigenpairs(a, 2, "top", tol=1e-10, max_iter=6)
    assert not r.converged
    assert r.max_relative_residual > 1e-10
    assert r.iterations == 6


def test_repeated_eigenvalues_found_across_invariant_subspaces():
    # three distinct eigenvalues: every Krylov space closes after 3 steps
    lam = torch.tensor([5.0] * 3 + [1.0] * 4 + [-2.0] * 3, dtype=torch.float64)
    a = _spd_like(10, lam)
    top = eigenpairs(a, 4, "top", tol=1e-10)
    torch.testing.assert_close(top.eigenvalues, torch.tensor([5.0, 5.0, 5.0, 1.0]).double())
    bottom = eigenpairs(a, 3, "bottom", tol=1e-10)
    torch.testing.assert_close(bottom.eigenvalues, torch.full((3,), -2.0).double())
    assert top.converged and bottom.converged
    v = top.eigenvectors
    torch.testing.assert_close(v.T @ v, torch.eye(4, dtype=torch.float64), atol=1e-10, rtol=0)


def test_slq_quadrature_reproduces_the_probe_moments(mlp_problem):
    # Gauss quadrature with m nodes is exact for polynomials of degree < 2m: Σ w θ^j = qᵀ Hʲ q
    h = mlp_problem.hessian
    q = slq(h, num_probes=3, num_steps=10, seed=5)
    probes = torch.randint(
        0, 2, (3, h.shape[0]), generator=torch.Generator().manual_seed(5), dtype=torch.int8
    ).double()
    probes = (probes * 2 - 1) / math.sqrt(h.shape[0])
    for j in (0, 1, 2, 5):
        exact = torch.einsum("vp,pq,vq->v", probes, torch.linalg.matrix_power(h, j), probes)
        quad = (q.weights * q.nodes**j).sum(dim=1)
        torch.testing.assert_close(quad, exact, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(q.weights.sum(1), torch.ones(3, dtype=torch.float64))
    assert q.num_hvps == 30


def test_slq_density_integrates_to_one_and_matches_dense_histogram(mlp_problem):
    h = mlp_problem.hessian
    eig = torch.linalg.eigvalsh(h)
    op = HessianOperator(mlp_problem.fm, mlp_problem.params, mlp_problem.data)
    d = spectral_density(op, num_probes=12, num_steps=40, seed=0, sigma=0.02)
    assert abs(d.integral() - 1.0) < 1e-6
    assert op.num_hvps == 12 * 40
    ref = gaussian_density(eig, torch.ones_like(eig), d.grid, d.sigma)
    dx = float(d.grid[1] - d.grid[0])
    l1 = float((d.density - ref).abs().sum()) * dx
    assert l1 < 0.15, l1
    # spectrum ends: Lanczos extremes converge first
    lo, hi = d.quadrature.spectral_range
    assert abs(hi - float(eig[-1])) < 1e-6 * float(eig.abs().max())
    assert abs(lo - float(eig[0])) < 1e-3 * float(eig.abs().max())


def test_density_from_an_slq_result_and_an_explicit_grid(mlp_problem):
    q = slq(mlp_problem.hessian, num_probes=2, num_steps=8, seed=1)
    grid = torch.linspace(-1, 1, 201, dtype=torch.float64)
    d = spectral_density(q, grid=grid, sigma=0.05)
    assert d.quadrature is q and torch.equal(d.grid, grid) and d.density.shape == (201,)
    assert bool((d.density >= 0).all())


def test_slq_without_reorthogonalisation_still_integrates(mlp_problem):
    q = slq(mlp_problem.hessian, num_probes=4, num_steps=30, seed=2, reorthogonalize=False)
    d = spectral_density(q)
    assert abs(d.integral() - 1.0) < 1e-6


def test_summaries_are_plain_python():
    a = torch.diag(torch.tensor([-1.0, 0.5, 2.0, 3.0], dtype=torch.float64))
    e = eigenpairs(a, 2, tol=1e-10).summary()
    i = exact_index(a).summary()
    json.dumps([e, i])
    assert e["eigenvalues"] == pytest.approx([3.0, 2.0]) and e["converged"] is True
    assert (i["index"], i["fraction"], i["method"]) == (1.0, 0.25, "exact")


def test_float32_operator_meets_a_float32_tolerance(mlp_problem):
    p = mlp_problem
    op = HessianOperator(p.fm, {k: v.float() for k, v in p.params.items()}, (p.x.float(), p.y))
    r = eigenpairs(op, 1, tol=1e-4)
    assert r.eigenvalues.dtype == torch.float32 and r.converged
    ref = float(torch.linalg.eigvalsh(p.hessian)[-1])
    assert abs(float(r.eigenvalues[0]) - ref) <= 1e-4 * ref


def test_bad_arguments_raise():
    a = torch.eye(4)
    for call, match in [
        (lambda: eigenpairs(a, 0), "k must be"),
        (lambda: eigenpairs(a, 5), "k must be"),
        (lambda: eigenpairs(a, 1, "middle"), "which"),
        (lambda: eigenpairs(a, 1, method="power"), "method"),
        (lambda: eigenpairs(a, 1, tol=0), "tol"),
        (lambda: slq(a, 0), "num_probes"),
        (lambda: slq(a, 2, probes="uniform"), "probes"),
        (lambda: spectral_density(a, sigma=-1.0), "sigma"),
        (lambda: MatrixOperator(torch.ones(2, 2, dtype=torch.int64)), "floating"),
    ]:
        with pytest.raises(LandscapeError, match=match):
            call()
