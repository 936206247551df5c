"""Complexity theory of the spherical H-spin glass (Auffinger, Ben Arous & Černý 2013)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from landscape import LandscapeError
from landscape import spinglass as sg
from landscape.spinglass import hamiltonian, optimize, theory

HS = [2, 3, 4, 6, 10]


def test_doctests_of_the_closed_forms():
    for module in (theory, hamiltonian, sg):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
    assert doctest.testmod(theory).attempted >= 5
    assert optimize.__doc__  # documented, no examples to run


def test_e_inf_closed_form():
    assert sg.e_inf(2) == pytest.approx(math.sqrt(2))
    assert sg.e_inf(3) == pytest.approx(2 * math.sqrt(2 / 3))
    assert sg.e_inf(3) == pytest.approx(1.632993, abs=1e-6)
    # E_∞ → 2 as H → ∞
    assert sg.e_inf(1000) == pytest.approx(2.0, abs=2e-3)


def test_goe_rate_is_zero_at_the_edge_positive_and_decreasing_below():
    e = sg.e_inf(3)
    assert sg.goe_rate(-e, 3) == pytest.approx(0.0, abs=1e-15)
    u = np.linspace(-3.0, -e - 1e-9, 200)
    rate = sg.goe_rate(u, 3)
    assert (rate > 0).all()
    assert (np.diff(rate) < 0).all()
    # I_1'(u) = −2√(u² − E_∞²)/E_∞² against a central difference
    h = 1e-6
    num = (sg.goe_rate(u + h, 3) - sg.goe_rate(u - h, 3)) / (2 * h)
    np.testing.assert_allclose(num[:-1], -2 * np.sqrt(u[:-1] ** 2 - e * e) / e**2, atol=1e-6)
    assert (sg.goe_rate(np.array([-e, -1.0, 0.0, 2.0]), 3) == 0).all()


@pytest.mark.parametrize("H", HS)
@pytest.mark.parametrize("k", [None, 0, 1, 5, 100])
def test_complexity_is_continuous_at_minus_e_inf_and_nondecreasing(H, k):
    e = sg.e_inf(H)
    left = sg.complexity(-e - 1e-10, H, k)
    right = sg.complexity(-e + 1e-10, H, k)
    assert left == pytest.approx(right, abs=1e-8)
    u = np.linspace(-4.0, 2.0, 4001)
    theta = sg.complexity(u, H, k)
    assert theta.shape == u.shape
    assert (np.diff(theta) >= -1e-12).all()
    if k is None:  # continuous at 0 too
        assert sg.complexity(-1e-10, H) == pytest.approx(sg.complexity(1e-10, H), abs=1e-8)


@pytest.mark.parametrize("H", [3, 4, 6])
def test_closed_forms_at_reference_energies(H):
    e = sg.e_inf(H)
    base = 0.5 * math.log(H - 1)
    assert sg.complexity(-e, H, 0) == pytest.approx(base - (H - 2) / H)
    assert sg.complexity(-0.5, H, 3) == pytest.approx(base - (H - 2) / H)
    assert sg.complexity(-0.5, H) == pytest.approx(base - (H - 2) / (4 * (H - 1)) * 0.25)
    assert sg.complexity(1.0, H) == pytest.approx(base)
    # u = −2E_∞ by hand: I_1 = 2√3 − log((2 + √3) E_∞) + log E_∞ = 2√3 − log(2 + √3)
    rate = 2 * math.sqrt(3) - math.log(2 + math.sqrt(3))
    assert sg.goe_rate(-2 * e, H) == pytest.approx(rate)
    quad = (H - 2) / (4 * (H - 1)) * 4 * e * e
    assert sg.complexity(-2 * e, H, 2) == pytest.approx(base - quad - 3 * rate)


@pytest.mark.parametrize("H", [3, 4, 6])
def test_total_complexity_bounds_every_index(H):
    u = np.linspace(-3.0, 1.0, 801)
    total = sg.complexity(u, H)
    for k in (0, 1, 7):
        assert (total >= sg.complexity(u, H, k) - 1e-12).all()
    # below −E_∞ the total equals the index-0 curve: minima dominate there
    below = u < -sg.e_inf(H)
    np.testing.assert_allclose(total[below], sg.complexity(u[below], H, 0))


@pytest.mark.parametrize("H", [3, 4, 5, 8])
def test_thresholds_decrease_toward_e_inf(H):
    e = sg.e_inf(H)
    ek = sg.thresholds(H, 12)
    assert (np.diff(ek) < 0).all()
    assert (ek > e).all()
    # each threshold is a zero of its curve
    for k, value in enumerate(ek):
        assert sg.complexity(-value, H, k) == pytest.approx(0.0, abs=1e-10)
    # approaching E_∞: the gap shrinks like (k+1)^(-2/3) (I_1 ∝ (|u| − E_∞)^{3/2} near the edge)
    gaps = [sg.threshold(H, k) - e for k in (10, 100, 1000)]
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert gaps[2] < 0.2 * gaps[0]


def test_known_values_for_h3():
    # E_0(3) ≈ 1.657 (the ground state of the spherical 3-spin glass), E_∞(3) ≈ 1.633
    assert sg.threshold(3, 0) == pytest.approx(1.6570, abs=5e-4)
    assert sg.threshold(3, 1) == pytest.approx(1.6529, abs=5e-4)
    assert sg.e_inf(3) < sg.threshold(3, 100) < sg.threshold(3, 10) < sg.threshold(3, 1)


@pytest.mark.parametrize("k", [0, 1, 10, 100])
def test_h2_collapses_to_sqrt2(k):
    assert sg.threshold(2, k) == pytest.approx(math.sqrt(2), abs=1e-14)
    assert sg.e_inf(2) == pytest.approx(math.sqrt(2), abs=1e-14)
    # Θ_{k,2} is 0 above −√2 and negative below
    assert sg.complexity(-1.0, 2, k) == 0.0
    assert sg.complexity(-1.5, 2, k) < 0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sg.e_inf(1), "H"),
        (lambda: sg.complexity(0.0, 3, k=-1), "k"),
        (lambda: sg.complexity(0.0, 2.5), "H"),
        (lambda: sg.threshold(3, -2), "k"),
        (lambda: sg.thresholds(1, 3), "H"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(LandscapeError, match=match):
        call()
