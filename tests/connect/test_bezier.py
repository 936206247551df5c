"""Quadratic Bezier curves (Garipov et al. 2018)."""

from __future__ import annotations

import pytest
import torch

from landscape import LandscapeError, optim
from landscape import params as P
from landscape.connect import CONNECTED, bezier, bezier_points, interpolate
from landscape.evaluate import Evaluator


def test_curve_ends_at_the_endpoints_exactly():
    gen = torch.Generator().manual_seed(0)
    a = {"w": torch.randn(3, 2, generator=gen), "b": torch.randn(2, generator=gen)}
    c = {"w": torch.randn(3, 2, generator=gen), "b": torch.randn(2, generator=gen)}
    b = {"w": torch.randn(3, 2, generator=gen), "b": torch.randn(2, generator=gen)}
    pts = bezier_points(a, c, b, torch.tensor([0.0, 0.5, 1.0]))
    for k in a:
        assert torch.equal(pts[k][0], a[k]) and torch.equal(pts[k][2], b[k])
        assert torch.allclose(pts[k][1], 0.25 * a[k] + 0.5 * c[k] + 0.25 * b[k])


def test_midpoint_control_is_the_straight_segment(basin):
    """(1−t)²A + 2t(1−t)(A+B)/2 + t²B = (1−t)A + tB: untrained, the curve is the line."""
    loss, batch, a, b = basin
    r = bezier(loss, a, b, batch, 2.0, steps=0, grid=21)
    line = interpolate(loss, a, b, batch, grid=21)
    assert torch.allclose(r.profile.loss, line.loss, atol=1e-12, rtol=0)
    assert r.length == pytest.approx(1.0, abs=1e-12)


def test_trained_curve_keeps_its_endpoints_and_goes_round_the_barrier(basin):
    loss, batch, a, b = basin
    r = bezier(loss, a, b, batch, 0.1, optimizer=optim.Adam(lr=0.01), steps=3000)
    assert r.method == "bezier" and r.connected and r.status == CONNECTED
    assert torch.equal(r.beads["w"][0], a["w"]) and torch.equal(r.beads["w"][-1], b["w"])
    assert r.bead_count == 1  # the control point
    assert float(r.segment_max[0]) <= 0.1
    assert float(r.profile.values[0]) == pytest.approx(float(loss(a, batch)))
    assert float(r.profile.values[-1]) == pytest.approx(float(loss(b, batch)))
    assert r.length > 1.2  # bent, not straight
    assert float(r.beads["w"][1].norm()) > 1.0  # the control point pulls the curve outwards


def test_bezier_reports_failure_within_its_steps(basin):
    loss, batch, a, b = basin
    r = bezier(loss, a, b, batch, 0.1, optimizer=optim.Adam(lr=0.01), steps=3)
    assert not r.connected and r.status == "not connected within limits"
    assert r.reason == "max_steps" and r.steps == 3


def test_minibatch_training_is_seeded(cubic_pair):
    fm, train, _, a, b, _ = cubic_pair
    kwargs = dict(optimizer=optim.Adam(lr=1e-2), steps=30, batch_size=50, seed=1, t_per_step=2)
    r1 = bezier(fm.loss, a, b, train, 0.5, **kwargs)
    r2 = bezier(fm.loss, a, b, train, 0.5, **kwargs)
    assert all(torch.equal(r1.beads[k], r2.beads[k]) for k in r1.beads)
    assert not all(torch.equal(r1.beads[k][1], 0.5 * (a[k] + b[k])) for k in a)  # it moved


def test_inputs_are_not_modified(basin):
    loss, batch, a, b = basin
    c = {"w": torch.tensor([0.0, -1.5], dtype=torch.float64)}
    a0, b0, c0 = P.clone(a), P.clone(b), P.clone(c)
    r = bezier(loss, a, b, batch, 0.1, control=c, optimizer=optim.Adam(lr=0.01), steps=20)
    assert torch.equal(a["w"], a0["w"]) and torch.equal(b["w"], b0["w"])
    assert torch.equal(c["w"], c0["w"])
    assert not torch.equal(r.beads["w"][1], c["w"])


def test_an_evaluator_casts_the_endpoints_and_the_control_point(basin):
    loss, batch, a, b = basin
    c = {"w": torch.tensor([0.0, -1.5], dtype=torch.float64)}
    a32, b32, c32 = ({"w": p["w"].float()} for p in (a, b, c))  # exact in float32
    kwargs = dict(optimizer=optim.Adam(lr=0.01), steps=20)
    ev = Evaluator(loss, batch, dtype=torch.float64)
    r = bezier(ev, a32, b32, threshold=0.1, control=c32, **kwargs)
    ref = bezier(loss, a, b, batch, 0.1, control=c, **kwargs)
    assert r.beads["w"].dtype == torch.float64 and torch.equal(r.beads["w"], ref.beads["w"])
    assert c32["w"].dtype == torch.float32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": 1.0}, "alpha"),
        ({"steps": -1}, "steps"),
        ({"t_per_step": 0}, "t_per_step"),
        ({"control": {"w": torch.zeros(3, dtype=torch.float64)}}, "different architectures"),
    ],
)
def test_bad_options_raise(basin, kwargs, match):
    loss, batch, a, b = basin
    with pytest.raises(LandscapeError, match=match):
        bezier(loss, a, b, batch, 0.1, **kwargs)


def test_bad_threshold_raises(basin):
    loss, batch, a, b = basin
    with pytest.raises(LandscapeError, match="threshold"):
        bezier(loss, a, b, batch, -0.1)
