"""Optimisers and critical-point finders on the sphere.

Invariants (the iterates stay on the sphere, batched equals looped, same seed same result),
the stopping rule (converged means ``‖grad‖/√Λ ≤ gtol``, unconverged points are never
reported as critical), and the eigenvector-following saddle search (index as targeted,
energy rising with the index).
"""

from __future__ import annotations

import math

import pytest
import torch

from landscape import LandscapeError
from landscape import spinglass as sg

F64 = torch.float64


@pytest.fixture(scope="module")
def glass64():
    return sg.SpinGlass.random(20, 3, seed=3, dtype=F64)


def _sphere_error(w: torch.Tensor) -> float:
    n = w.shape[-1]
    return ((w * w).sum(-1) - n).abs().max().item() / n


def test_gradient_descent_converges_and_stays_on_the_sphere(glass64):
    w0 = sg.random_sphere(16, 20, seed=0, dtype=F64) * 1.7  # off the sphere: retracted first
    res = sg.gradient_descent(glass64, w0, lr=0.1, momentum=0.8, gtol=1e-8)
    assert _sphere_error(res.w) < 1e-13
    assert res.converged.all()
    assert (res.grad_norm <= 1e-8).all()
    # the reported energies and gradient norms are those of the returned points
    torch.testing.assert_close(res.energy, glass64.energy(res.w))
    rg = glass64.riemannian_gradient(res.w)
    torch.testing.assert_close(res.grad_norm, rg.norm(dim=-1) / math.sqrt(20))
    # descent from random starts ends at minima, below the starting energies
    assert (res.index == 0).all()
    assert (res.energy < glass64.energy(sg.retract(w0))).all()
    # w0 is not modified
    torch.testing.assert_close(w0, sg.random_sphere(16, 20, seed=0, dtype=F64) * 1.7)


def test_plain_descent_decreases_the_energy_monotonically_with_a_small_step(glass64):
    w = sg.random_sphere(8, 20, seed=1, dtype=F64)
    energies = [glass64.energy(w)]
    for _ in range(30):  # one step per call: the call returns the point after that step
        w = sg.gradient_descent(glass64, w, lr=0.05, max_steps=1, gtol=1e-12).w
        energies.append(glass64.energy(w))
        assert _sphere_error(w) < 1e-13
    e = torch.stack(energies)
    assert (e[1:] < e[:-1]).all()
    # one step is w ← √Λ (w − η P∇L)/‖w − η P∇L‖
    w1 = sg.gradient_descent(glass64, w, lr=0.05, max_steps=1, gtol=1e-12).w
    torch.testing.assert_close(w1, sg.retract(w - 0.05 * glass64.riemannian_gradient(w)))


def test_batched_descent_equals_a_loop_over_replicas(glass64):
    w0 = sg.random_sphere(5, 20, seed=2, dtype=F64)
    kw = dict(lr=0.1, momentum=0.5, gtol=1e-7, compute_index=False)
    batched = sg.gradient_descent(glass64, w0, **kw)
    for r in range(5):
        one = sg.gradient_descent(glass64, w0[r], **kw)
        torch.testing.assert_close(one.w[0], batched.w[r], rtol=1e-10, atol=1e-10)
        assert one.steps[0] == batched.steps[r]


def test_unconverged_replicas_are_flagged_and_have_no_index(glass64):
    w0 = sg.random_sphere(6, 20, seed=4, dtype=F64)
    res = sg.gradient_descent(glass64, w0, lr=0.1, max_steps=3, gtol=1e-8)
    assert not res.converged.any()
    assert (res.index == -1).all()
    assert (res.grad_norm > 1e-8).all()
    assert (res.steps == 3).all()
    assert len(res.critical()) == 0
    assert set(res.to_dict()) == {"energy", "grad_norm", "converged", "index", "steps"}


def test_same_seed_same_minima_and_float32_agrees_with_float64():
    g32 = sg.SpinGlass.random(20, 3, seed=3)
    a = sg.sample_minima(g32, 8, seed=5)
    b = sg.sample_minima(g32, 8, seed=5)
    assert torch.equal(a.w, b.w) and torch.equal(a.energy, b.energy)
    assert a.converged.all() and (a.index == 0).all()
    assert a.w.dtype == torch.float32 and a.energy.dtype == torch.float32
    g64 = sg.SpinGlass(g32.couplings.double(), symmetric=True)
    c = sg.sample_minima(g64, 8, seed=5, newton_gtol=1e-9)
    # the same starts reach the same minima (float32 only resolves ~1e-5 in the gradient)
    torch.testing.assert_close(a.energy.double(), c.energy, rtol=0, atol=1e-6)


def test_stochastic_descent_polishes_to_critical_points():
    glass = sg.SpinGlass.random(16, 3, seed=8, dtype=F64)
    w0 = sg.random_sphere(12, 16, seed=9, dtype=F64)
    res = sg.stochastic_gradient_descent(
        glass, w0, parts=4, seed=1, epochs=20, lr=0.05, momentum=0.5, gtol=1e-8
    )
    assert _sphere_error(res.w) < 1e-13
    assert res.converged.all() and (res.index == 0).all()
    assert (res.steps >= 80).all()  # the 20 · 4 stochastic steps are counted
    # the stochastic phase alone (no polishing budget) leaves a noisy, unconverged point
    rough = sg.stochastic_gradient_descent(
        glass, w0, parts=4, seed=1, epochs=20, lr=0.05, max_steps=0, gtol=1e-8
    )
    assert not rough.converged.any()
    # a precomputed split gives the same result
    again = sg.stochastic_gradient_descent(
        glass,
        w0,
        parts=4,
        seed=999,
        epochs=20,
        lr=0.05,
        momentum=0.5,
        gtol=1e-8,
        split=glass.split(4, seed=1),
    )
    torch.testing.assert_close(again.w, res.w)


def test_sample_minima_with_sgd_method():
    glass = sg.SpinGlass.random(16, 3, seed=8)
    res = sg.sample_minima(glass, 10, seed=2, method="sgd", parts=2, epochs=10, lr=0.05)
    assert res.converged.all() and (res.index == 0).all()
    assert (res.energy < -1.0).all()


@pytest.mark.parametrize("k", [0, 1, 2, 4])
def test_find_saddles_reaches_the_target_index(glass64, k):
    res = sg.find_saddles(glass64, k, replicas=6, seed=10, gtol=1e-10, max_steps=100)
    crit = res.critical()
    assert len(crit) >= 4  # eigenvector following converges from most random starts
    assert (crit.index == k).all()
    assert (crit.grad_norm <= 1e-10).all()
    assert _sphere_error(crit.w) < 1e-13
    # the reported index is the dense reference count at the returned points
    ev = glass64.hessian_eigenvalues(crit.w)
    assert torch.equal((ev < -1e-4).sum(-1), crit.index)
    assert (ev.abs() > 1e-4).all()  # nondegenerate critical points


def test_saddle_energies_rise_with_the_index():
    glass = sg.SpinGlass.random(40, 3, seed=12, dtype=F64)
    means = []
    for k in (0, 1, 3, 8):
        res = sg.find_saddles(glass, k, replicas=12, seed=k, gtol=1e-9, max_steps=150).critical()
        assert (res.index == k).all() and len(res) >= 8
        means.append(res.energy.mean().item())
    assert means == sorted(means), means


def test_unconverged_saddle_searches_are_not_reported_as_critical(glass64):
    res = sg.find_saddles(glass64, 3, replicas=5, seed=1, max_steps=1, gtol=1e-12)
    assert not res.converged.any()
    assert (res.index == -1).all()
    assert (res.grad_norm > 1e-12).all()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda g, w: sg.gradient_descent(g, w, lr=0.0), "lr"),
        (lambda g, w: sg.gradient_descent(g, w, gtol=-1.0), "gtol"),
        (lambda g, w: sg.gradient_descent(g, w, momentum=1.0), "momentum"),
        (lambda g, w: sg.gradient_descent(g, w, max_steps=-1), "max_steps"),
        (lambda g, w: sg.gradient_descent(g, w.float()), "float32"),
        (lambda g, w: sg.gradient_descent(g, w[:, :5]), "shape"),
        (lambda g, w: sg.sample_minima(g, 2, seed=0, method="adam"), "method"),
        (lambda g, w: sg.find_saddles(g, 20, w), "target_index"),
        (lambda g, w: sg.find_saddles(g, 1), "replicas"),
        (lambda g, w: sg.find_saddles(g, 1, w, replicas=3), "either"),
        (lambda g, w: sg.stochastic_gradient_descent(g, w, parts=2, seed=0, split=[g]), "split"),
    ],
    ids=[
        "lr",
        "gtol",
        "momentum",
        "steps",
        "dtype",
        "shape",
        "method",
        "k",
        "no-starts",
        "both-starts",
        "split",
    ],
)
def test_bad_arguments_raise_one_line_errors(glass64, call, match):
    w = sg.random_sphere(2, 20, seed=0, dtype=F64)
    with pytest.raises(LandscapeError, match=match) as err:
        call(glass64, w)
    assert "\n" not in str(err.value)


def test_minimize_escapes_from_saddles(glass64):
    saddles = sg.find_saddles(glass64, 1, replicas=6, seed=2, gtol=1e-10).critical()
    assert len(saddles) >= 4 and (saddles.index == 1).all()
    kw = dict(gtol=1e-8, newton_gtol=1e-10)
    # descent does not move from an exact saddle: converged, and reported with index 1
    stuck = sg.minimize(glass64, saddles.w, escape_rounds=0, **kw)
    assert stuck.converged.all() and (stuck.index == 1).all()
    torch.testing.assert_close(stuck.energy, saddles.energy)
    # pushed along the negative-curvature direction, it descends to a lower minimum
    res = sg.minimize(glass64, saddles.w, **kw)
    assert res.converged.all() and (res.index == 0).all()
    assert (res.energy < saddles.energy - 1e-3).all()
    assert (res.steps > stuck.steps).all()
