"""The closed-form ReLU teacher–student loss against Monte Carlo, autograd and differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscape import LandscapeError
from landscape.overparam import (
    arccos_kernel,
    relu_population_grad,
    relu_population_hessian,
    relu_population_loss,
)

SEEDS = [0, 1, 2]


def _problem(seed: int, n: int = 3, m: int = 4, d: int = 4):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(n, d, generator=g, dtype=torch.float64)
    V = torch.randn(m, d, generator=g, dtype=torch.float64)
    return W, V


def _mc_residual(W, V, x):
    return torch.relu(x @ W.T).sum(1) - torch.relu(x @ V.T).sum(1)


@pytest.mark.parametrize("seed", SEEDS)
def test_loss_matches_monte_carlo_within_four_standard_errors(seed):
    W, V = _problem(seed)
    x = torch.randn(10**6, 4, generator=torch.Generator().manual_seed(100 + seed), dtype=W.dtype)
    per = 0.5 * _mc_residual(W, V, x) ** 2
    se = per.std() / math.sqrt(per.numel())
    assert abs(float(per.mean() - relu_population_loss(W, V))) < 4 * float(se)


@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_matches_autograd_of_monte_carlo_loss(seed):
    W, V = _problem(seed)
    x = torch.randn(10**6, 4, generator=torch.Generator().manual_seed(200 + seed), dtype=W.dtype)
    Wg = W.clone().requires_grad_(True)
    (0.5 * _mc_residual(Wg, V, x) ** 2).mean().backward()
    # per-sample gradients r(x)·1[w_i·x > 0]·x give the standard error of each component
    r = _mc_residual(W, V, x)
    per = r[:, None, None] * (x @ W.T > 0).to(W.dtype)[:, :, None] * x[:, None, :]
    se = per.std(0) / math.sqrt(x.shape[0])
    assert torch.all((Wg.grad - relu_population_grad(W, V)).abs() < 4.5 * se + 1e-12)


def _fd_grad(W, V, h=1e-6):
    out = torch.zeros_like(W)
    for idx in np.ndindex(*W.shape):
        e = torch.zeros_like(W)
        e[idx] = h
        out[idx] = (relu_population_loss(W + e, V) - relu_population_loss(W - e, V)) / (2 * h)
    return out


def _fd_hessian(W, V, h=1e-5):
    n, d = W.shape
    H = torch.zeros(n * d, n * d, dtype=W.dtype)
    for p in range(n * d):
        e = torch.zeros(n * d, dtype=W.dtype)
        e[p] = h
        e = e.reshape(n, d)
        gp, gm = relu_population_grad(W + e, V), relu_population_grad(W - e, V)
        H[:, p] = ((gp - gm) / (2 * h)).reshape(-1)
    return H


@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_and_hessian_match_finite_differences(seed):
    W, V = _problem(seed)
    assert torch.allclose(relu_population_grad(W, V), _fd_grad(W, V), atol=1e-8, rtol=1e-7)
    H = relu_population_hessian(W, V)
    assert torch.allclose(H, _fd_hessian(W, V), atol=1e-7, rtol=1e-6)
    assert torch.allclose(H, H.T, atol=1e-13)
    # and against autograd of the closed form (twice differentiable away from θ = 0)
    Ha = torch.func.hessian(lambda w: relu_population_loss(w.reshape(W.shape), V))(W.reshape(-1))
    assert torch.allclose(H, Ha, atol=1e-12)


def test_near_parallel_pairs_are_finite_and_accurate():
    """Student neurons 1e-9 from the teacher's and from each other: no NaN, FD agrees."""
    V = torch.eye(3, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    W = torch.cat([V, V[:1]]) + 1e-9 * torch.randn(4, 3, generator=g, dtype=torch.float64)
    W[3] *= 0.5  # parallel to neuron 0 (and to v_0): θ ≈ 1e-9
    for f in (relu_population_loss, relu_population_grad, relu_population_hessian):
        assert torch.isfinite(f(W, V)).all()
    assert torch.allclose(relu_population_grad(W, V), _fd_grad(W, V), atol=1e-8)
    # the Hessian is only Lipschitz across θ = 0 (its sin θ terms): differences of step h
    # see O(h) of it
    assert torch.allclose(relu_population_hessian(W, V), _fd_hessian(W, V, h=1e-6), atol=1e-5)
    # the diagonal of the kernel is exactly ‖w‖²/2
    K = arccos_kernel(W, W)
    assert torch.allclose(torch.diagonal(K), 0.5 * (W**2).sum(1), rtol=1e-15, atol=0)


@pytest.mark.parametrize("k", [3, 6])
def test_zero_at_the_teacher_and_any_permutation(k):
    V = torch.eye(k, dtype=torch.float64)
    perm = torch.randperm(k, generator=torch.Generator().manual_seed(k))
    for W in (V, V[perm]):
        assert float(relu_population_loss(W, V)) == pytest.approx(0.0, abs=1e-14)
        assert relu_population_grad(W, V).abs().max() < 1e-14
        # the global minimum with n = k is strict: the Hessian is positive definite
        assert torch.linalg.eigvalsh(relu_population_hessian(W, V))[0] > 1e-3
    # a random teacher (not orthogonal) too
    _, Vr = _problem(k, n=1, m=k, d=k)
    assert float(relu_population_loss(Vr[perm], Vr)) == pytest.approx(0.0, abs=1e-12)


def test_batched_equals_looped():
    g = torch.Generator().manual_seed(7)
    W = torch.randn(5, 3, 4, generator=g, dtype=torch.float64)
    V = torch.randn(2, 4, generator=g, dtype=torch.float64)
    Vb = torch.randn(5, 2, 4, generator=g, dtype=torch.float64)
    for f in (relu_population_loss, relu_population_grad, relu_population_hessian):
        for teacher, pick in ((V, lambda r: V), (Vb, lambda r: Vb[r])):
            batched = f(W, teacher)
            looped = torch.stack([f(W[r], pick(r)) for r in range(5)])
            assert torch.allclose(batched, looped, atol=1e-13, rtol=0)


def test_float32_and_numpy_inputs():
    W, V = _problem(0)
    f64 = relu_population_loss(W, V)
    assert relu_population_loss(W.float(), V.float()).dtype == torch.float32
    assert float(relu_population_loss(W.float(), V.float())) == pytest.approx(float(f64), rel=1e-5)
    assert float(relu_population_loss(W.numpy(), V.numpy())) == pytest.approx(float(f64))


@pytest.mark.parametrize(
    ("W", "V", "match"),
    [
        (torch.zeros(3), torch.eye(3), "n×d"),
        (torch.zeros(2, 3), torch.eye(4), "same input dimension"),
        (torch.zeros(2, 3, dtype=torch.long), torch.eye(3), "floating point"),
        ([[1.0, 2.0]], torch.eye(2), "torch.Tensor or numpy"),
        (torch.zeros(2, 3), torch.zeros(4, 2, 3), "batched W"),
    ],
)
def test_bad_inputs_raise_one_line(W, V, match):
    with pytest.raises(LandscapeError, match=match) as err:
        relu_population_loss(W, V)
    assert "\n" not in str(err.value)
