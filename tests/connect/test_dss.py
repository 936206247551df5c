"""Dynamic String Sampling, greedy and constrained: convex case, two basins, limits, checks."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from landscape import LandscapeError, data, ensemble, models, optim
from landscape import params as P
from landscape.connect import (
    CONNECTED,
    NOT_CONNECTED,
    dss,
    dss_constrained,
    find_path,
    interpolate,
)
from landscape.evaluate import Evaluator, error_rate
from landscape.functional import FunctionalModel

FAST = optim.Adam(lr=0.01)
FINDERS = [dss, dss_constrained]
IDS = ["greedy", "constrained"]


def _segment_maxima_by_loop(fn, beads, grid):
    """Reference: every grid point of every segment evaluated one at a time."""
    out = []
    stack = beads
    e = next(iter(stack.values())).shape[0]
    for i in range(e - 1):
        values = []
        for t in torch.linspace(0, 1, grid, dtype=torch.float64).tolist():
            point = {k: (1 - t) * v[i] + t * v[i + 1] for k, v in stack.items()}
            values.append(float(fn(point)))
        out.append(max(values))
    return torch.tensor(out, dtype=torch.float64)


# ---------------------------------------------------------------- convex


@pytest.fixture
def linear_regression():
    """A convex problem: least squares with a linear model, two low-loss endpoints."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.3
    spec = models.MLPSpec(in_features=3, out_features=1)
    fm = FunctionalModel(models.build(spec, dtype=torch.float64), loss="mse")
    best = {
        "layers.0.weight": torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64),
        "layers.0.bias": torch.tensor([0.3], dtype=torch.float64),
    }
    a = {k: v + 0.1 for k, v in best.items()}
    b = {k: v - 0.1 for k, v in best.items()}
    return fm, (x, y), a, b


@pytest.mark.parametrize("finder", FINDERS, ids=IDS)
def test_convex_loss_needs_no_beads_and_has_length_one(finder, linear_regression):
    fm, batch, a, b = linear_regression
    threshold = 1.5 * max(float(fm.loss(a, batch)), float(fm.loss(b, batch)))
    r = finder(fm.loss, a, b, batch, threshold)
    assert r.connected and r.status == CONNECTED and r.reason is None
    assert r.bead_count == 0 and r.steps == 0
    assert r.length == pytest.approx(1.0, abs=1e-12)
    assert r.length_weights == pytest.approx(1.0, abs=1e-12)
    assert bool((r.segment_max <= threshold).all())
    assert torch.equal(r.beads["layers.0.weight"][0], a["layers.0.weight"])
    assert torch.equal(r.beads["layers.0.weight"][-1], b["layers.0.weight"])


# ---------------------------------------------------------------- two basins


@pytest.mark.parametrize("finder", FINDERS, ids=IDS)
def test_two_basins_path_goes_round_the_barrier(finder, basin):
    loss, batch, a, b = basin
    threshold = 0.1
    straight = interpolate(loss, a, b, batch, grid=33)
    assert float(straight.loss.max()) > 0.9  # the straight segment crosses the peak
    r = finder(loss, a, b, batch, threshold, optimizer=FAST)
    assert r.connected and r.status == CONNECTED
    assert r.bead_count >= 2
    assert bool((r.segment_max <= threshold).all()), r.segment_max
    assert bool((r.profile.bead_values <= threshold).all())
    # the reported maxima are the grid maxima of each segment, point by point
    ref = _segment_maxima_by_loop(lambda p: loss(p, batch), r.beads, grid=33)
    assert torch.allclose(r.segment_max, ref, atol=1e-12, rtol=0)
    # the path bends round the unit circle: longer than the chord, shorter than the arc + slack
    assert 1.2 < r.length < math.pi / 2 + 0.1
    assert math.isnan(r.length_weights)  # a vector parameter has no weight matrices
    # every inner bead sits off the straight line, near the unit circle
    radii = r.beads["w"][1:-1].norm(dim=1)
    assert bool(((radii > 0.8) & (radii < 1.1)).all()), radii


def test_profile_is_consistent_with_the_string(basin):
    loss, batch, a, b = basin
    r = dss(loss, a, b, batch, 0.1, optimizer=FAST, grid=17)
    e = r.bead_count + 2
    p = r.profile
    assert p.s.shape == p.loss.shape == p.distance.shape == ((e - 1) * 17,)
    assert torch.equal(p.bead_s, torch.arange(e, dtype=p.bead_s.dtype))
    assert float(p.values.max()) == pytest.approx(r.max_value)
    assert float(p.distance[-1]) == pytest.approx(r.length)
    assert float(p.bead_distance[-1]) == pytest.approx(r.length)
    assert p.measure is None and p.measure_name == "loss"
    steps = [e_["steps"] for e_ in r.log if e_["event"] == "insert"]
    assert sum(steps) == r.steps and len(steps) == r.bead_count


def test_normalized_length_matches_a_loop_and_is_at_least_one(basin):
    loss, batch, a, b = basin
    r = dss(loss, a, b, batch, 0.1, optimizer=FAST)
    beads = P.unstack(r.beads)
    total = sum(float((p["w"] - q["w"]).norm()) for p, q in itertools.pairwise(beads))
    assert r.length == pytest.approx(total / float((a["w"] - b["w"]).norm()), rel=1e-12)
    assert r.length >= 1.0


@pytest.mark.parametrize("finder", FINDERS, ids=IDS)
def test_threshold_below_the_saddle_is_not_connected_within_limits(finder, basin):
    loss, batch, a, b = basin
    # both valleys round the circle rise above 0.03 (≈ 0.032 and 0.072): no path exists
    r = finder(loss, a, b, batch, 0.03, optimizer=FAST, max_steps=300)
    assert not r.connected
    assert r.status == NOT_CONNECTED == "not connected within limits"
    assert "disconnected" not in r.status
    assert r.reason in {"max_steps", "max_depth", "max_beads", "max_total_steps"}
    assert r.max_value > 0.03


@pytest.mark.parametrize(
    "limits, reason",
    [
        ({"max_beads": 0}, "max_beads"),
        ({"max_depth": 0}, "max_depth"),
        ({"max_depth": 1}, "max_depth"),
        ({"max_total_steps": 5}, "max_total_steps"),
        ({"max_steps": 0}, "max_steps"),
    ],
)
@pytest.mark.parametrize("finder", FINDERS, ids=IDS)
def test_each_limit_is_reported(finder, basin, limits, reason):
    loss, batch, a, b = basin
    r = finder(loss, a, b, batch, 0.1, optimizer=FAST, **limits)
    assert not r.connected and r.status == NOT_CONNECTED
    assert r.reason == reason
    assert r.bead_count <= limits.get("max_beads", 99)


def test_midpoint_insertion_also_connects(basin):
    loss, batch, a, b = basin
    r = dss(loss, a, b, batch, 0.1, optimizer=FAST, insert_at="midpoint")
    assert r.connected
    assert r.log[0]["t"] == 0.5


def test_threshold_on_a_separate_measure(basin):
    """Beads descend the loss; the threshold is checked on another function."""
    loss, batch, a, b = basin
    doubled = lambda p, bt: 2.0 * loss(p, bt)  # noqa: E731
    twice = Evaluator(doubled, batch, name="twice")
    r = dss(loss, a, b, batch, 0.2, optimizer=FAST, measure=twice)
    assert r.connected and r.measure_name == "twice"
    assert torch.allclose(r.profile.measure, 2.0 * r.profile.loss)
    ref = _segment_maxima_by_loop(lambda p: doubled(p, batch), r.beads, grid=33)
    assert torch.allclose(r.segment_max, ref, atol=1e-12, rtol=0)
    assert bool((r.segment_max <= 0.2).all())


def test_same_seed_same_string_with_minibatches(cubic_pair):
    fm, train, _, a, b, _ = cubic_pair
    kwargs = dict(optimizer=optim.Adam(lr=1e-2), batch_size=64, seed=3, max_steps=200)
    r1 = dss(fm.loss, a, b, train, 0.08, **kwargs)
    r2 = dss(fm.loss, a, b, train, 0.08, **kwargs)
    assert r1.bead_count == r2.bead_count and r1.steps == r2.steps
    assert all(torch.equal(r1.beads[k], r2.beads[k]) for k in r1.beads)


def test_inputs_are_not_modified(basin):
    loss, batch, a, b = basin
    a0, b0 = P.clone(a), P.clone(b)
    dss(loss, a, b, batch, 0.1, optimizer=FAST)
    dss_constrained(loss, a, b, batch, 0.1, optimizer=FAST, constraint="equidistant")
    assert torch.equal(a["w"], a0["w"]) and torch.equal(b["w"], b0["w"])


# ---------------------------------------------------------------- constrained variants


def test_equidistant_constraint_puts_a_new_bead_on_the_bisector(basin):
    loss, batch, a, b = basin
    r = dss_constrained(
        loss, a, b, batch, 0.1, optimizer=FAST, constraint="equidistant", max_depth=1
    )
    assert r.bead_count == 1 and r.reason == "max_depth"
    w = r.beads["w"]
    assert float((w[1] - w[0]).norm()) == pytest.approx(float((w[1] - w[2]).norm()), abs=1e-9)
    assert float(loss({"w": w[1]}, batch)) <= 0.095 + 1e-12


@pytest.mark.parametrize("constraint", ["spring", "equidistant", "none"])
def test_every_constraint_connects_the_two_basins(basin, constraint):
    loss, batch, a, b = basin
    r = dss_constrained(loss, a, b, batch, 0.1, optimizer=FAST, constraint=constraint)
    assert r.connected and bool((r.segment_max <= 0.1).all())
    rounds = [e["inserted"] for e in r.log if e["event"] == "round"]
    assert sum(rounds) == r.bead_count and len(rounds) == r.depth


def test_a_strong_spring_shortens_the_string(basin):
    loss, batch, a, b = basin
    loose = dss_constrained(loss, a, b, batch, 0.1, optimizer=FAST, spring=0.0)
    tight = dss_constrained(loss, a, b, batch, 0.1, optimizer=FAST, spring=0.2)
    assert tight.connected and loose.connected
    assert tight.length < loose.length


def test_greedy_and_constrained_agree_on_the_polynomial_task(cubic_pair):
    fm, train, _, a, b, _ = cubic_pair
    threshold = 0.08
    straight = interpolate(fm.loss, a, b, train, grid=33)
    assert float(straight.loss.max()) > threshold  # there is something to connect
    kwargs = dict(optimizer=optim.Adam(lr=1e-2), max_steps=2000)
    greedy = dss(fm.loss, a, b, train, threshold, **kwargs)
    constrained = dss_constrained(fm.loss, a, b, train, threshold, **kwargs)
    assert greedy.connected == constrained.connected
    assert greedy.connected
    for r in (greedy, constrained):
        assert r.bead_count >= 1
        assert bool((r.segment_max <= threshold).all())
        assert r.length >= 1.0 and r.length_weights >= 1.0


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": 0.0}, "alpha"),
        ({"insert_at": "middle"}, "insert_at"),
        ({"grid": 2}, "grid"),
        ({"max_depth": -1}, "max_depth"),
        ({"max_beads": 1.5}, "max_beads"),
        ({"check_every": 0}, "check_every"),
        ({"batch_size": 5}, "batch_size"),
        ({"optimizer": torch.optim.SGD}, "optimizer"),
    ],
)
@pytest.mark.parametrize("finder", FINDERS, ids=IDS)
def test_bad_options_raise_one_line(finder, basin, kwargs, match):
    loss, batch, a, b = basin
    with pytest.raises(LandscapeError, match=match) as info:
        finder(loss, a, b, batch, 0.1, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("threshold", [0.0, -1.0, float("nan"), float("inf")])
@pytest.mark.parametrize("finder", FINDERS, ids=IDS)
def test_bad_threshold_raises(finder, basin, threshold):
    loss, batch, a, b = basin
    with pytest.raises(LandscapeError, match="threshold"):
        finder(loss, a, b, batch, threshold)


@pytest.mark.parametrize("kwargs", [{"constraint": "rubber"}, {"alpha1": -0.1}, {"spring": -1.0}])
def test_bad_constrained_options_raise(basin, kwargs):
    loss, batch, a, b = basin
    with pytest.raises(LandscapeError, match=next(iter(kwargs))):
        dss_constrained(loss, a, b, batch, 0.1, **kwargs)


@pytest.mark.parametrize("finder", FINDERS, ids=IDS)
def test_endpoints_above_the_threshold_raise(finder, basin):
    loss, batch, a, _ = basin
    high = {"w": torch.tensor([0.0, 0.0], dtype=torch.float64)}  # the peak
    with pytest.raises(LandscapeError, match=r"endpoint b .* > threshold"):
        finder(loss, a, high, batch, 0.1)


@pytest.mark.parametrize("finder", FINDERS, ids=IDS)
def test_endpoints_of_different_architectures_raise(finder, basin):
    loss, batch, a, _ = basin
    with pytest.raises(LandscapeError, match="different architectures"):
        finder(loss, a, {"w": torch.zeros(3, dtype=torch.float64)}, batch, 0.1)
    with pytest.raises(LandscapeError, match="different architectures"):
        finder(loss, a, {"v": torch.zeros(2, dtype=torch.float64)}, batch, 0.1)
    with pytest.raises(LandscapeError, match="same point"):
        finder(loss, a, P.clone(a), batch, 0.1)


def test_find_path_dispatches_and_rejects_unknown_names(basin):
    loss, batch, a, b = basin
    r = find_path(loss, a, b, batch, 0.1, method="dss-constrained", optimizer=FAST)
    assert r.method == "dss-constrained" and r.connected
    lin = find_path(loss, a, b, batch, 0.1, method="linear")
    assert lin.method == "linear" and not lin.connected
    ev = Evaluator(loss, batch)
    curve = find_path(ev, a, b, threshold=0.1, method="bezier", steps=0, measure=loss)
    assert curve.method == "bezier" and curve.measure_name == "two_basin_loss"
    with pytest.raises(LandscapeError, match="method"):
        find_path(loss, a, b, batch, 0.1, method="teleport")
    with pytest.raises(LandscapeError, match="spring"):
        find_path(loss, a, b, batch, 0.1, method="dss", spring=0.1)


def test_threshold_on_test_error_for_a_digits_classifier():
    """Freeman & Bruna's classification setting: beads descend the training cross-entropy,
    the threshold is on the test error."""
    ds = data.digits(seed=0)
    spec = models.MLPSpec(in_features=64, widths=(16,), out_features=10)
    fm = FunctionalModel(models.build(spec), loss="cross_entropy")
    inits = ensemble.stack_inits(lambda s: models.init_params(spec, s), [1, 2])
    run = ensemble.train_ensemble(
        fm.loss, inits, ds.train, optim.Adam(lr=1e-2), epochs=4, batch_size=64
    )
    a, b = P.unstack(run.params)
    error = error_rate(fm.forward)
    ends = [float(error(p, ds.test)) for p in (a, b)]
    threshold = max(ends) + 0.02
    r = dss(
        fm.loss,
        a,
        b,
        ds.train,
        threshold,
        optimizer=optim.Adam(lr=1e-2),
        grid=9,
        measure=Evaluator(error, ds.test, name="test error"),
        max_steps=300,
    )
    assert r.measure_name == "test error" and r.profile.measure is not None
    straight = interpolate(fm.loss, a, b, ds.train, grid=9, measure=Evaluator(error, ds.test))
    assert float(straight.measure.max()) > threshold and r.bead_count >= 1
    n_test = ds.test[0].shape[0]
    assert torch.allclose(r.segment_max * n_test, (r.segment_max * n_test).round(), atol=1e-3)
    ref = _segment_maxima_by_loop(lambda p: error(p, ds.test), r.beads, grid=9)
    assert torch.allclose(r.segment_max.double(), ref, atol=1e-6)
    assert r.connected == bool((r.segment_max <= threshold).all())
    assert r.connected, r.summary()


def test_tensor_pair_and_iterable_of_batches_agree(linear_regression):
    fm, (x, y), a, b = linear_regression
    loader = [(x[:20], y[:20]), (x[20:], y[20:])]
    threshold = 1.5 * max(float(fm.loss(a, (x, y))), float(fm.loss(b, (x, y))))
    r1 = dss(fm.loss, a, b, (x, y), threshold)
    r2 = dss(fm.loss, a, b, loader, threshold)
    assert torch.allclose(r1.profile.loss, r2.profile.loss, atol=1e-12, rtol=0)


def test_dtype_argument_moves_the_string(basin):
    loss, batch, a, b = basin
    a32, b32 = {"w": a["w"].float()}, {"w": b["w"].float()}
    batch32 = (batch[0].float(), batch[1].float())
    ev = Evaluator(loss, batch32, dtype=torch.float64)
    r = dss(ev, a32, b32, threshold=0.1, optimizer=FAST)
    assert r.beads["w"].dtype == torch.float64 and r.connected
    assert a32["w"].dtype == torch.float32
    # the same string as from float64 endpoints and a pure loss
    ref = dss(loss, a, b, batch, 0.1, optimizer=FAST)
    assert torch.equal(r.beads["w"], ref.beads["w"]) and r.steps == ref.steps


@pytest.mark.parametrize("finder", FINDERS, ids=IDS)
def test_an_evaluator_as_loss_gives_the_same_string(finder, linear_regression):
    fm, batch, a, b = linear_regression
    threshold = 1.5 * max(float(fm.loss(a, batch)), float(fm.loss(b, batch)))
    plain = finder(fm.loss, a, b, batch, threshold)
    given = finder(
        Evaluator.of_model(fm, batch, chunk_size=20, points_chunk=5), a, b, None, threshold
    )
    assert torch.allclose(plain.profile.loss, given.profile.loss, atol=1e-12, rtol=0)
    assert given.summary() == pytest.approx(plain.summary())


@pytest.mark.parametrize("finder", FINDERS, ids=IDS)
def test_a_diverging_bead_is_rolled_back_and_reported(finder, basin):
    """SGD at lr 5 throws the bead off in a few steps: it keeps its last finite point."""
    loss, batch, a, b = basin
    r = finder(loss, a, b, batch, 0.1, optimizer=optim.SGD(lr=5.0))
    assert not r.connected and r.reason == "diverged" and r.bead_count == 1
    assert bool(torch.isfinite(r.beads["w"]).all()) and 0 < r.steps < 100


@pytest.mark.slow
def test_full_size_cubic_task_greedy_and_constrained_agree_over_thresholds():
    """Freeman & Bruna's size: 10k points, Adam lr 1e-3, several thresholds."""
    ds = data.polynomial("cubic", n_train=10_000, seed=0)
    spec = models.MLPSpec(in_features=1, widths=(4, 4), out_features=1, activation="sigmoid")
    fm = FunctionalModel(models.build(spec), loss="mae")
    inits = ensemble.stack_inits(
        lambda s: models.init_params(spec, s, weight="uniform", bias="normal"), [1, 2]
    )
    run = ensemble.train_ensemble(
        fm.loss,
        inits,
        ds.train,
        optim.Adam(lr=3e-2),
        epochs=40,
        batch_size=100,
        schedule=optim.make_schedule("step", lr=3e-2, gamma=0.1, step_size=30),
    )
    a, b = P.unstack(run.params)
    counts = []
    for threshold in (0.2, 0.1, 0.05):
        g = dss(fm.loss, a, b, ds.train, threshold)
        c = dss_constrained(fm.loss, a, b, ds.train, threshold)
        assert g.connected == c.connected
        counts.append(g.bead_count)
        if g.connected:
            assert bool((g.segment_max <= threshold).all())
    assert counts == sorted(counts)  # lower thresholds need at least as many beads


def test_endpoint_levels_are_compared_in_the_values_precision():
    """A float32 error of exactly 0.3 lies at L0 = 0.3 (training stops there in float32):
    the endpoint check must not see it as 0.30000001 > 0.3."""
    from landscape.connect.string import check_endpoint_levels

    level = torch.tensor(0.3, dtype=torch.float32)
    assert float(level) > 0.3  # the float64 view is above L0

    def at_level(params, batch):
        return level + 0.0 * params["w"].sum()

    ev = Evaluator(at_level, (torch.zeros(1, 1), torch.zeros(1)))
    a, b = {"w": torch.zeros(2)}, {"w": torch.ones(2)}
    assert check_endpoint_levels(ev, a, b, 0.3).tolist() == [float(level)] * 2
    with pytest.raises(LandscapeError, match=r"endpoint a .* > threshold"):
        check_endpoint_levels(ev, a, b, 0.29)
