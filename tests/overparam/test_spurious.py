"""The batched Safran–Shamir search: spurious points are strict minima, nothing dropped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape import LandscapeError
from landscape.overparam import (
    descend,
    match_families,
    relu_population_grad,
    relu_population_loss,
    spurious_minima,
)
from landscape.overparam.spurious import initial_students


@pytest.fixture(scope="module")
def k10():
    """k = n = 10 (a third of starts end spurious), 16 starts, Newton finish."""
    return spurious_minima(10, 10, 16, seed=3, max_steps=2500, newton_below=1e-2)


def test_a_known_spurious_point_is_a_strict_local_minimum(k10):
    assert k10.spurious.sum() >= 1  # seed 3 gives spurious points; checked below, not trusted
    V = torch.eye(10, dtype=torch.float64)
    for r in np.flatnonzero(k10.spurious)[:2]:  # two are enough; each costs a dense Hessian
        W = torch.from_numpy(k10.W[r])
        F = float(relu_population_loss(W, V))
        assert F > 1e-3 and F == pytest.approx(k10.loss[r], rel=1e-12)
        g = (2 * np.pi * relu_population_grad(W, V)).norm(dim=1).max()
        assert float(g) <= 1e-9
        # λ_min from a dense autograd Hessian of the closed-form loss, not the record's
        H = torch.func.hessian(lambda w: relu_population_loss(w.reshape(10, 10), V))(W.reshape(-1))
        lam = torch.linalg.eigvalsh(H)[0]
        assert float(lam) > 0 and float(lam) == pytest.approx(k10.lambda_min[r], rel=1e-6)
        # and every small random perturbation raises F (a strict minimum)
        gen = torch.Generator().manual_seed(int(r))
        for _ in range(20):
            d = torch.randn(10, 10, generator=gen, dtype=torch.float64)
            d *= 1e-3 / d.norm()
            assert float(relu_population_loss(W + d, V)) > F


def test_record_counts_every_run(k10):
    c = k10.counts()
    assert c["runs"] == 16 == c["converged"] + c["not converged"]
    assert c["spurious"] + c["saddle"] <= c["converged"]
    assert np.all(k10.family[k10.spurious] >= 0) and np.all(k10.family[~k10.spurious] == -1)
    assert sum(f["count"] for f in k10.families) == c["spurious"]
    # converged non-spurious runs sit at the global minimum F = 0
    glob = k10.converged & ~k10.spurious & ~k10.saddle
    assert np.all(k10.loss[glob] < 1e-3)


def test_non_converged_runs_are_counted_not_dropped():
    rec = spurious_minima(6, 6, 5, seed=0, max_steps=3)
    assert rec.counts()["not converged"] == 5 and not rec.converged.any()
    assert not rec.spurious.any() and np.all(rec.steps == 3)
    assert np.all(np.isfinite(rec.loss)) and np.all(rec.grad_norm > 1e-9)


def test_batched_descent_equals_looped():
    W0 = initial_students(5, 6, 4, seed=1)
    V = torch.eye(5, dtype=torch.float64)
    batched = descend(W0, V, tol=1e-6, max_steps=400)
    for r in range(4):
        one = descend(W0[r : r + 1], V, tol=1e-6, max_steps=400)
        assert int(one.steps[0]) == int(batched.steps[r])
        assert bool(one.converged[0]) == bool(batched.converged[r])
        assert torch.allclose(one.W[0], batched.W[r], atol=1e-13, rtol=0)
    assert torch.equal(W0, initial_students(5, 6, 4, seed=1))  # the input was not modified


def test_splitting_runs_into_tasks_changes_nothing():
    whole = spurious_minima(6, 7, 6, seed=2, max_steps=300)
    parts = [spurious_minima(6, 7, 3, seed=2, first=f, max_steps=300) for f in (0, 3)]
    for key in ("loss", "steps", "converged"):
        joined = np.concatenate([getattr(p, key) for p in parts])
        np.testing.assert_allclose(getattr(whole, key), joined, rtol=0, atol=1e-13)


def test_families_merge_permuted_copies_only():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(4, 5))
    other = rng.normal(size=(4, 5))
    copies = [W, W[rng.permutation(4)], W[:, rng.permutation(5)], other]
    perms = np.stack([c[rng.permutation(4)] for c in copies])
    ids, reps = match_families(perms, np.array([1.0, 1.0, 1.0, 1.0]))
    assert ids.tolist() == [0, 0, 0, 1] and reps == [0, 3]
    ids, _ = match_families(np.stack([W, W]), np.array([1.0, 1.1]))
    assert ids.tolist() == [0, 1]  # same invariants, different loss


@pytest.mark.parametrize(
    ("args", "match"),
    [((0, 3, 2), "k must be"), ((3, 3, 0), "runs must be"), ((3, 2.5, 2), "n must be")],
)
def test_bad_sizes_raise(args, match):
    with pytest.raises(LandscapeError, match=match):
        spurious_minima(*args)


def test_bad_descent_settings_raise():
    with pytest.raises(LandscapeError, match="step and tol"):
        descend(torch.zeros(1, 2, 2, dtype=torch.float64), torch.eye(2), step=0.0)
