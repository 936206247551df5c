"""Deep linear, quadratic and ReLU controls against closed forms and brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape import LandscapeError
from landscape.overparam import controls as C


@pytest.fixture(autouse=True)
def _one_thread():
    # problems of a few dozen parameters: extra threads only synchronise (the machine is
    # shared); restored afterwards
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data(seed, n=30, d=5, m=3):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    Y = torch.randn(n, m, generator=g, dtype=torch.float64)
    return X, Y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reduced_rank_optimum_beats_random_products_and_matches_full_rank_ls(seed):
    X, Y = _data(seed)
    W, L = C.reduced_rank_optimum(X, Y, 2)
    assert torch.linalg.matrix_rank(W) == 2
    assert L == pytest.approx(float(((X @ W.T - Y) ** 2).sum(1).mean()))
    # no rank-2 product does better: random ones, and the truncated-SVD of the LS fit
    g = torch.Generator().manual_seed(seed)
    for _ in range(200):
        A, B = (torch.randn(3, 2, generator=g).double(), torch.randn(2, 5, generator=g).double())
        assert float(((X @ (A @ B).T - Y) ** 2).sum(1).mean()) >= L - 1e-12
    # full rank: ordinary least squares
    B = torch.linalg.lstsq(X, Y).solution
    _, Lfull = C.reduced_rank_optimum(X, Y, 3)
    assert Lfull == pytest.approx(float(((X @ B - Y) ** 2).sum(1).mean()), rel=1e-12)


@pytest.mark.parametrize("widths", [[2], [4, 2]])
def test_deep_linear_runs_reach_the_closed_form_optimum(widths):
    X, Y = _data(3)
    _, L_star = C.reduced_rank_optimum(X, Y, min(widths))
    _, L, gn = C.train_deep_linear(X, Y, widths, runs=4, seed=0)
    assert np.all(np.abs(L - L_star) < 1e-8) and np.all(gn < 1e-5)


def test_constructive_path_stays_below_the_endpoints_and_the_line_does_not():
    X, Y = _data(4)
    params, L, _ = C.train_deep_linear(X, Y, [4], runs=2, seed=1)  # n1 = 4 ≥ m = 3
    ts = torch.linspace(0, 1, 41, dtype=torch.float64)
    path, line = C.deep_linear_path(params[0], params[1], X, Y, ts, seed=0)
    assert path[0] == pytest.approx(L[0]) and path[-1] == pytest.approx(L[1])
    assert path.max() <= max(L) + 1e-9
    assert line.max() > max(L) + 1e-3  # the straight line in parameters crosses a barrier
    with pytest.raises(LandscapeError, match="W1"):
        C.deep_linear_path({"W1": X}, {"W1": X}, X, Y, ts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_constructive_path_of_three_and_four_layers(seed):
    """K layers with widths non-increasing to the output: the path's end points have the
    end points' losses (same products) and it never rises above them; the straight line
    does."""
    X, Y = _data(4)
    for widths in ([5, 4], [6, 5, 3]):
        params, L, _ = C.train_deep_linear(X, Y, widths, runs=2, seed=seed)
        ts = torch.linspace(0, 1, 41, dtype=torch.float64)
        path, line = C.deep_linear_path(params[0], params[1], X, Y, ts, seed=seed)
        assert path[0] == pytest.approx(L[0], rel=1e-9) and path[-1] == pytest.approx(
            L[1], rel=1e-9
        )
        assert path.max() <= max(L) + 1e-9
        assert line[0] == pytest.approx(L[0]) and line[-1] == pytest.approx(L[1])


def test_quadratic_optimum_is_the_least_squares_over_symmetric_matrices():
    g = torch.Generator().manual_seed(5)
    X = torch.randn(40, 3, generator=g, dtype=torch.float64)
    A = torch.randn(3, 3, generator=g, dtype=torch.float64)
    y = ((X @ (A + A.T)) * X).sum(1, keepdim=True)
    assert C.quadratic_optimum(X, y) == pytest.approx(0.0, abs=1e-20)  # planted, noiseless
    # a net of width M = N built from the eigendecomposition reaches it
    lam, vec = torch.linalg.eigh(A + A.T)
    p = {"W": vec.T.contiguous(), "U": lam.reshape(1, -1)}
    assert float(C.two_layer_loss("quadratic")(p, (X, y))) == pytest.approx(0.0, abs=1e-20)


def test_poor_minima_classification_is_consistent():
    g = torch.Generator().manual_seed(6)
    X = torch.randn(40, 2, generator=g, dtype=torch.float64)
    y = X[:, :1] ** 2 - X[:, 1:] ** 2 + 0.1 * torch.randn(40, 1, generator=g).double()
    best = C.quadratic_optimum(X, y)
    wide = C.poor_minima(X, y, width=4, runs=5, seed=0, best=best)  # M = 2N
    assert not wide.poor.any() and np.all(wide.loss <= best + 1e-6)
    narrow = C.poor_minima(X, y, width=1, runs=5, seed=0)
    assert narrow.best == pytest.approx(narrow.loss.min())
    # every "poor" run is converged, above the best, with a PSD Hessian
    assert np.all(narrow.loss[narrow.poor] > narrow.best)
    assert np.all(narrow.lambda_min[narrow.poor] >= -1e-6)
    with pytest.raises(LandscapeError, match="activation"):
        C.two_layer_loss("tanh")


def test_disconnected_relu_example_has_a_barrier_of_one_half_on_random_paths():
    loss, data, a, b = C.disconnected_relu_example()
    assert float(loss(a, data)) == 0.0 and float(loss(b, data)) == 0.0
    g = torch.Generator().manual_seed(0)
    ts = torch.linspace(0, 1, 201, dtype=torch.float64)
    for _ in range(20):  # piecewise-linear paths through a random waypoint
        mid = {k: 3 * torch.randn(v.shape, generator=g, dtype=v.dtype) for k, v in a.items()}
        worst = 0.0
        for s, e in ((a, mid), (mid, b)):  # all t at once
            p = {k: (1 - ts).reshape(-1, 1, 1) * s[k] + ts.reshape(-1, 1, 1) * e[k] for k in a}
            worst = max(worst, float(torch.vmap(loss, in_dims=(0, None))(p, data).max()))
        assert worst >= 0.5 - 1e-12
