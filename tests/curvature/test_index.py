"""The one index convention: ``λ < −max(rtol · max|λ|, atol)`` is negative, everywhere."""

from __future__ import annotations

import pytest
import torch

from landscape import LandscapeError
from landscape import spinglass as sg
from landscape.curvature import (
    INDEX_RTOL,
    HessianOperator,
    count_negative,
    estimate_index,
    exact_index,
    index_threshold,
)

F64 = torch.float64


def _spd_like(p: int, eigenvalues: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``Q diag(λ) Qᵀ`` with a seeded random orthogonal ``Q``."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))
    return (q * eigenvalues) @ q.T


#: max|λ| = 10: a relative 1e-3 gives τ = 1e-2
SPECTRUM = torch.tensor([-3.0, -0.02, -1e-3, 0.0, 5e-4, 2.0, 10.0], dtype=F64)


@pytest.mark.parametrize(
    ("rtol", "atol", "tau", "negative", "zero"),
    [
        (1e-3, 0.0, 1e-2, 2, 3),  # relative: −3 and −0.02 are negative; |λ| ≤ 0.01 is zero
        (1e-3, 0.05, 0.05, 1, 4),  # the floor is larger: −0.02 becomes zero
        (1e-3, 1e-4, 1e-2, 2, 3),  # the floor is smaller: the relative part decides
        (0.0, 0.0, 0.0, 3, 1),  # no tolerance: every λ < 0
        (0.5, 0.0, 5.0, 0, 6),  # everything within half the radius is zero
    ],
)
def test_threshold_and_counts_match_a_hand_count(rtol, atol, tau, negative, zero):
    t = index_threshold(SPECTRUM, rtol, atol)
    assert t.dtype == F64 and t.shape == () and float(t) == pytest.approx(tau, rel=1e-12)
    assert int(count_negative(SPECTRUM, rtol, atol)) == negative
    r = exact_index(SPECTRUM, zero_tol=rtol, atol=atol)
    assert (r.count, r.num_zero, r.fraction) == (negative, zero, negative / 7)
    assert r.threshold == pytest.approx(tau, rel=1e-12)


def test_threshold_is_per_spectrum_over_the_last_axis():
    lam = torch.stack([SPECTRUM, 1e-4 * SPECTRUM, SPECTRUM.flip(0)])
    tau = index_threshold(lam, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(tau, torch.tensor([1e-2, 1e-5, 1e-2], dtype=F64))
    # the small spectrum: τ = 1e-6 relative alone counts −3e-4 and −2e-6; the floor 1e-5 not −2e-6
    assert count_negative(lam, 1e-3, 0.0).tolist() == [2, 2, 2]
    assert count_negative(lam, 1e-3, 1e-5).tolist() == [2, 1, 2]
    assert count_negative(lam, 1e-3, 1e-5).dtype == torch.int64


def test_absolute_threshold_is_the_convention_without_its_relative_part():
    r = exact_index(SPECTRUM, zero_tol=0.01, relative=False)
    assert (r.count, r.threshold) == (2, 0.01)
    assert exact_index(SPECTRUM, zero_tol=0.01, relative=False, atol=0.05).threshold == 0.05
    assert exact_index(SPECTRUM).threshold == pytest.approx(INDEX_RTOL * 10.0, rel=1e-12)


def test_spin_glass_index_uses_the_same_threshold():
    glass = sg.SpinGlass.random(10, 3, seed=3, dtype=F64)
    w = sg.random_sphere(5, 10, seed=4, dtype=F64)
    eig = glass.hessian_eigenvalues(w)
    for tol, rtol in [(1e-4, INDEX_RTOL), (0.0, 0.0), (0.3, 0.0), (0.0, 0.2), (0.1, 0.2)]:
        tau = torch.clamp(rtol * eig.abs().amax(-1), min=tol)  # by hand, per replica
        ref = (eig < -tau[:, None]).sum(-1)
        assert torch.equal(glass.index(w, tol=tol, rtol=rtol), ref)
        assert torch.equal(glass.index(w, tol=tol, rtol=rtol), count_negative(eig, rtol, tol))
    assert len(set(glass.index(w, tol=0.0, rtol=0.0).tolist())) > 1  # the points differ


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: index_threshold(SPECTRUM, rtol=-1.0), "rtol"),
        (lambda: index_threshold(SPECTRUM, atol=float("nan")), "atol"),
        (lambda: exact_index(SPECTRUM, atol=-1.0), "atol"),
        (lambda: sg.SpinGlass.random(5, 3, seed=0).index(torch.ones(5), rtol=-1.0), "rtol"),
    ],
    ids=["rtol<0", "atol-nan", "exact-atol<0", "glass-rtol<0"],
)
def test_bad_tolerances_raise_one_line_errors(call, match):
    with pytest.raises(LandscapeError, match=match) as err:
        call()
    assert "\n" not in str(err.value)


def test_index_of_a_constructed_quadratic():
    p, n_neg, n_zero = 60, 7, 5
    lam = torch.cat(
        [
            -torch.linspace(0.5, 3.0, n_neg),
            torch.zeros(n_zero),
            torch.linspace(0.2, 4.0, p - n_neg - n_zero),
        ]
    ).double()
    a = _spd_like(p, lam, seed=7)
    w = {"w": torch.zeros(p, dtype=torch.float64)}
    op = HessianOperator(lambda prm: 0.5 * prm["w"] @ a @ prm["w"], w)
    r = exact_index(op, zero_tol=1e-8)
    assert (r.count, r.num_zero, r.num_params) == (n_neg, n_zero, p)
    assert r.fraction == n_neg / p and r.method == "exact"
    assert r.eigenvalues.shape == (p,)
    est = estimate_index(op, num_probes=64, num_steps=p, seed=0)
    assert est.method == "slq" and est.fraction_stderr > 0
    assert abs(est.fraction - n_neg / p) <= 4 * est.fraction_stderr
    assert abs(est.count - n_neg) <= 4 * est.count_stderr


def test_zero_tolerance_absolute_and_relative():
    eig = torch.tensor([-1.0, -1e-4, 0.0, 1e-4, 2.0])
    assert exact_index(eig, zero_tol=1e-6).count == 2
    assert exact_index(eig, zero_tol=1e-3).count == 1  # τ = 2e-3 · … relative to max |λ| = 2
    r = exact_index(eig, zero_tol=1e-3, relative=False)
    assert (r.count, r.num_zero, r.threshold) == (1, 3, 1e-3)
    with pytest.raises(LandscapeError, match="zero_tol"):
        exact_index(eig, zero_tol=-1.0)
