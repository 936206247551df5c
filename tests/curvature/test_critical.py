"""Critical-point finders reach known saddles and never call a non-critical point critical."""

from __future__ import annotations

import json

import pytest
import torch

from landscape import LandscapeError, models
from landscape.curvature import (
    FINDERS,
    dense_hessian,
    exact_index,
    find_critical_point,
    loss_and_gradient,
    saddle_free_newton,
)
from landscape.data import area_downsample
from landscape.functional import FunctionalModel
from landscape.params import flatten


def _double_well(p):
    """``f = x² − y² + (x⁴ + y⁴)/4``: a saddle (index 1) at 0, minima at (0, ±√2)."""
    x, y = p["w"][0], p["w"][1]
    return x**2 - y**2 + 0.25 * (x**4 + y**4)


def _start(*values: float) -> dict[str, torch.Tensor]:
    return {"w": torch.tensor(values, dtype=torch.float64)}


@pytest.mark.parametrize("method", ["newton_mr", "damped_newton", "gradient_norm_lbfgs"])
def test_gradient_norm_finders_reach_the_saddle_of_a_double_well(method):
    r = find_critical_point(_double_well, _start(0.3, 0.2), method=method, grad_tol=1e-10)
    assert r.converged and r.grad_norm <= 1e-10
    torch.testing.assert_close(
        r.params["w"], torch.zeros(2, dtype=torch.float64), atol=1e-9, rtol=0
    )
    idx = exact_index(dense_hessian(_double_well, r.params))
    assert idx.count == 1 and idx.fraction == 0.5
    assert r.history["grad_norm"][0] > r.history["grad_norm"][-1] == r.grad_norm
    summary = r.summary()
    json.dumps(summary)
    assert summary["converged"] is True and summary["method"] == method
    assert r.num_grads >= r.iterations + 1 and r.num_hvps > 0


def test_saddle_free_newton_is_repelled_to_a_minimum():
    r = saddle_free_newton(_double_well, _start(0.3, 0.2), grad_tol=1e-10)
    assert r.converged
    torch.testing.assert_close(
        r.params["w"], torch.tensor([0.0, 2**0.5], dtype=torch.float64), atol=1e-8, rtol=0
    )
    assert exact_index(dense_hessian(_double_well, r.params)).count == 0


def _quartic_saddle(n: int = 20, n_neg: int = 5):
    """``½ θᵀAθ + ¼ Σθ⁴`` with ``A`` of ``n_neg`` negative eigenvalues: origin has that index."""
    lam = torch.cat([-torch.linspace(0.5, 2.0, n_neg), torch.linspace(0.3, 3.0, n - n_neg)])
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(0)))
    a = ((q * lam) @ q.T).double()
    return lambda p: 0.5 * p["w"] @ a @ p["w"] + 0.25 * (p["w"] ** 4).sum()


@pytest.mark.parametrize("backend", ["forward", "cached", "dense"])
def test_finders_reach_an_index_5_saddle_with_every_backend(backend):
    f = _quartic_saddle()
    start = {"w": 0.02 * torch.randn(20, generator=torch.Generator().manual_seed(1)).double()}
    for method in ("newton_mr", "damped_newton"):
        r = find_critical_point(f, start, method=method, grad_tol=1e-9, backend=backend)
        assert r.converged, r.message
        assert float(r.params["w"].abs().max()) < 1e-8
        assert exact_index(dense_hessian(f, r.params)).count == 5
        assert (r.num_hessians > 0) == (backend == "dense")


def test_network_critical_point_is_verified_independently(digits64):
    fm = FunctionalModel(
        models.build(
            models.MLPSpec(in_features=16, widths=(4,), out_features=10, activation="tanh"),
            seed=2,
            dtype=torch.float64,
        )
    )
    images = digits64.x_train[:60].reshape(-1, 8, 8).numpy()
    x = torch.as_tensor(area_downsample(images, 4).reshape(-1, 16))
    y = digits64.y_train[:60]
    for backend in ("dense", "forward"):
        r = find_critical_point(
            fm, fm.params(), (x, y), method="damped_newton", grad_tol=1e-8, backend=backend,
            chunk_size=25, max_iter=40,
        )  # fmt: skip
        assert r.converged, r.message
        g = torch.func.grad(lambda p: fm.loss(p, (x, y)))(r.params)
        assert float(flatten(g).norm()) <= 1e-8
        assert abs(float(fm.loss(r.params, (x, y))) - r.loss) < 1e-12
    idx = exact_index(dense_hessian(fm, r.params, (x, y)), zero_tol=1e-6)
    assert 0 < idx.count < idx.num_params  # a saddle near the start: Newton is attracted to it


def test_a_point_that_did_not_reach_the_threshold_is_not_critical(mlp_problem):
    p = mlp_problem
    r = find_critical_point(p.fm, p.params, p.data, method="newton_mr", max_iter=1)
    assert not r.converged and r.iterations <= 1
    _, g = loss_and_gradient(p.fm, r.params, p.data)
    assert r.grad_norm == pytest.approx(float(flatten(g).norm()), rel=1e-10)
    assert r.grad_norm > r.grad_tol
    assert "max_iter" in r.message
    # max_iter=0 returns the start, honestly measured
    r0 = find_critical_point(p.fm, p.params, p.data, method="damped_newton", max_iter=0)
    assert not r0.converged and r0.iterations == 0
    assert all(torch.equal(r0.params[k], v) for k, v in p.params.items())


def test_stall_stops_early_with_a_message():
    # f' = (x − 1)² + 0.1 > 0: no critical point, but ‖∇f‖ has a minimum 0.1 at x = 1
    def f(p):
        x = p["w"][0]
        return (x - 1) ** 3 / 3 + 0.1 * x

    r = find_critical_point(f, _start(1.5), method="gradient_norm_lbfgs", patience=5)
    assert not r.converged and r.grad_norm >= 0.1 - 1e-9
    assert "stalled" in r.message or "line search" in r.message


def test_bad_arguments_raise():
    for call, match in [
        (lambda: find_critical_point(_double_well, _start(0.1, 0.1), method="newton"), "method"),
        (lambda: find_critical_point(_double_well, _start(0.1, 0.1), inner_rtol=0.1), "option"),
        (lambda: find_critical_point(_double_well, _start(0.1, 0.1), grad_tol=0.0), "grad_tol"),
        (lambda: find_critical_point(_double_well, _start(0.1, 0.1), max_iter=-1), "max_iter"),
        (
            lambda: find_critical_point(
                _double_well, _start(0.1, 0.1), method="gradient_norm_lbfgs", backend="dense"
            ),
            "backend",
        ),
    ]:
        with pytest.raises(LandscapeError, match=match):
            call()
    assert set(FINDERS) == {
        "newton_mr",
        "damped_newton",
        "saddle_free_newton",
        "gradient_norm_lbfgs",
        "eigenvector_following",
    }


def _wells(p):
    """``f = Σ_i (w_i² − 1)²``: critical points at every w ∈ {−1, 0, 1}^P, index = #zeros."""
    return ((p["w"] ** 2 - 1.0) ** 2).sum()


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_eigenvector_following_reaches_the_asked_index(k):
    g = torch.Generator().manual_seed(k)
    start = {"w": 0.6 * torch.randn(5, generator=g, dtype=torch.float64)}
    r = find_critical_point(
        _wells, start, method="eigenvector_following", target_index=k, grad_tol=1e-10
    )
    assert r.converged and r.grad_norm <= 1e-10
    w = r.params["w"]
    # the end point is one of the 3^5 critical points, with exactly k coordinates at 0
    torch.testing.assert_close(w.abs().round(), w.abs(), atol=1e-8, rtol=0)
    assert int((w.abs() < 0.5).sum()) == k
    assert exact_index(dense_hessian(_wells, r.params)).count == k


def _tanh_problem():
    """A 4→5→3 tanh MLP (P = 43) with cross-entropy + 10⁻²‖θ‖² on 60 Gaussian points."""
    spec = models.MLPSpec(in_features=4, widths=(5,), out_features=3, activation="tanh")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (60,), generator=g)
    fm = FunctionalModel(models.build(spec, dtype=torch.float64))

    def loss(p, batch):
        return fm.loss(p, batch) + 1e-2 * sum((v * v).sum() for v in p.values())

    return spec, loss, (x, y)


def test_eigenvector_following_on_a_network_measures_the_index_it_was_asked_for():
    # Four starts, four targets: every point called converged is critical with exactly the
    # asked-for index (measured here, independently, from the dense Hessian); nearly every
    # search converges; and the loss rises with the index (Dauphin et al. 2014).
    spec, loss, data = _tanh_problem()
    targets, found = (0, 2, 5, 8), {}
    for seed in range(4):
        start = models.init_params(spec, seed, dtype=torch.float64)
        for k in targets:
            r = find_critical_point(
                loss, start, data, method="eigenvector_following", target_index=k,
                grad_tol=1e-8, max_iter=300,
            )  # fmt: skip
            assert r.index is not None
            if not r.converged:
                assert r.index != k or r.grad_norm > 1e-8, r.message
                continue
            assert r.grad_norm <= 1e-8
            idx = exact_index(dense_hessian(loss, r.params, data))
            assert idx.count == k == r.index
            found.setdefault(k, []).append(r.loss)
    assert all(len(found.get(k, [])) >= 3 for k in targets), found
    means = [sum(v) / len(v) for v in (found[k] for k in targets)]
    assert means == sorted(means) and means[-1] > means[0] + 0.05, means


def test_eigenvector_following_reports_a_runaway_instead_of_following_it():
    # From this start there is no index-10 point the search can reach: climbing the 10
    # lowest modes of a loss that grows like 10⁻²‖θ‖² never ends. It must stop at
    # max_distance with a non-converged result that says why, not wander to a huge loss.
    spec, loss, data = _tanh_problem()
    start = models.init_params(spec, 0, dtype=torch.float64)
    theta0 = flatten(start)
    r = find_critical_point(
        loss, start, data, method="eigenvector_following", target_index=10, grad_tol=1e-8,
        max_iter=300, max_distance=5.0,
    )  # fmt: skip
    if r.converged:  # another CPU may find one: then it must really be one
        assert exact_index(dense_hessian(loss, r.params, data)).count == 10
        return
    moved = float((flatten(r.params) - theta0).norm())
    assert moved <= 5.0 + 2.0  # at most one step (≤ max_radius) past the limit
    assert r.loss < float(loss(start, data)) + 0.5  # 5 from the start: 10⁻²·(5+‖θ₀‖)² at most
    assert "ran away" in r.message or "max_iter" in r.message
    assert f"target {10}" in r.message and r.index is not None
    summary = r.summary()
    assert summary["index"] == r.index and summary["converged"] is False


def test_eigenvector_following_is_not_fooled_by_a_critical_point_of_another_index():
    # from the saddle at the origin of the double well, asking for index 0: the start is
    # critical (‖∇L‖ = 0) but has index 1, so it is not reported as converged
    r = find_critical_point(
        _double_well, _start(0.0, 0.0), method="eigenvector_following", target_index=0,
        max_iter=0,
    )  # fmt: skip
    assert not r.converged and r.index == 1
    assert "index 1" in r.message and "target index 0" in r.message


def test_trust_region_primitives_against_their_definitions():
    from landscape.curvature.following import select_modes, signature_step, update_radius

    g = torch.Generator().manual_seed(3)
    lam = torch.randn(4, 6, generator=g, dtype=torch.float64)
    c = torch.randn(4, 6, generator=g, dtype=torch.float64)
    sign = torch.tensor([-1.0, -1.0, 1, 1, 1, 1], dtype=torch.float64)
    radius = torch.tensor([1e3, 0.5, 0.1, 0.01], dtype=torch.float64)
    coef, cut = signature_step(lam, c, sign, radius, 1e-3)
    newton = -sign * c / lam.abs().clamp_min(1e-3)
    assert not cut[0] and cut[1:].all()
    torch.testing.assert_close(coef[0], newton[0])  # inside the region: the Newton step
    torch.testing.assert_close(coef.norm(dim=-1)[1:], radius[1:])  # else on its boundary
    # on the boundary the step is −s c/(|λ|+μ) for one μ > 0 per row
    mu = (-sign * c / coef - lam.abs().clamp_min(1e-3))[1:]
    assert (mu > 0).all()
    torch.testing.assert_close(mu, mu[:, :1].expand_as(mu))
    # radius rule: reject only a poor model that also raised ‖∇L‖
    e = torch.tensor([0.1, 0.7, 2.0, 2.0, float("nan")], dtype=torch.float64)
    imp = torch.tensor([False, False, True, False, True])
    acc, new = update_radius(e, torch.ones(5), torch.ones(5), torch.ones(5, dtype=bool), 4, imp)
    assert acc.tolist() == [True, True, True, False, False]
    assert new.tolist() == [2.0, 0.5, 1.0, 0.25, 0.25]
    # mode selection: the k lowest, and a near tie keeps the last step's mode uphill
    lam2, u = torch.tensor([-1.0, -0.995, 0.5]), torch.eye(3)
    assert select_modes(lam2, u, None, 1, 0.01)[0].tolist() == [-1.0, 1.0, 1.0]
    assert select_modes(lam2, u, u[:, [1]], 1, 0.01)[0].tolist() == [1.0, -1.0, 1.0]
    assert select_modes(lam2, u, u[:, [2]], 1, 0.01)[0].tolist() == [-1.0, 1.0, 1.0]


def test_eigenvector_following_rejects_bad_targets():
    with pytest.raises(LandscapeError, match="target_index"):
        find_critical_point(
            _wells, _start(0.1, 0.2), method="eigenvector_following", target_index=-1
        )
    with pytest.raises(LandscapeError, match="below the parameter count"):
        find_critical_point(
            _wells, _start(0.1, 0.2), method="eigenvector_following", target_index=2
        )
