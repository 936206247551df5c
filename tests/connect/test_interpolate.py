"""Linear interpolation: batched profile vs a point-by-point loop, barriers, validation."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

from landscape import LandscapeError, models
from landscape import params as P
from landscape.connect import (
    CONNECTED,
    NOT_CONNECTED,
    interpolate,
    linear_path,
)
from landscape.evaluate import Evaluator, error_rate
from landscape.functional import FunctionalModel


def _mlp(seed: int, dtype=torch.float64):
    spec = models.MLPSpec(in_features=5, widths=(7,), out_features=3, activation="tanh")
    return models.init_params(spec, seed, dtype=dtype), spec


@pytest.fixture
def classifier():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=gen)
    a, spec = _mlp(1)
    b, _ = _mlp(2)
    fm = FunctionalModel(models.build(spec, dtype=torch.float64), loss="cross_entropy")
    return fm, (x, y), a, b


def test_batched_profile_equals_point_by_point_loop(classifier):
    fm, batch, a, b = classifier
    err = error_rate(fm.forward)
    r = interpolate(fm.loss, a, b, batch, grid=11, measure=err)
    for i, t in enumerate(r.t.tolist()):
        point = {k: (1 - t) * a[k] + t * b[k] for k in a}
        assert torch.allclose(r.loss[i], fm.loss(point, batch), atol=1e-12, rtol=0)
        x, y = batch
        wrong = (fm.forward(point, x).argmax(1) != y).double().mean()
        assert float(r.measure[i]) == pytest.approx(float(wrong), abs=1e-12)
    assert r.loss_a == pytest.approx(float(fm.loss(a, batch)), abs=1e-12)
    assert r.loss_b == pytest.approx(float(fm.loss(b, batch)), abs=1e-12)
    assert r.measure_name == "error"


def test_chunked_data_and_points_give_the_same_profile(classifier):
    fm, batch, a, b = classifier
    whole = interpolate(fm.loss, a, b, batch, grid=9)
    chunked = interpolate(Evaluator(fm.loss, batch, chunk_size=7, points_chunk=4), a, b, grid=9)
    assert torch.allclose(whole.loss, chunked.loss, atol=1e-12, rtol=0)


def test_an_evaluator_as_loss_equals_the_pure_loss_with_its_data(classifier):
    fm, batch, a, b = classifier
    plain = interpolate(fm.loss, a, b, batch, grid=7, measure=error_rate(fm.forward))
    ev = Evaluator.of_model(fm, batch)
    given = interpolate(ev, a, b, grid=7, measure=Evaluator.of_model(fm, batch, "error"))
    assert torch.equal(plain.loss, given.loss) and torch.equal(plain.measure, given.measure)
    assert given.measure_name == "error" and plain.summary() == given.summary()


def test_a_bare_measure_is_evaluated_on_the_loss_data_and_an_evaluator_on_its_own(classifier):
    fm, (x, y), a, b = classifier
    train, test = (x[:25], y[:25]), (x[25:], y[25:])
    err = error_rate(fm.forward)
    on_train = interpolate(fm.loss, a, b, train, grid=5, measure=err)
    on_test = interpolate(fm.loss, a, b, train, grid=5, measure=Evaluator(err, test, name="test"))
    assert torch.equal(on_train.loss, on_test.loss)
    for r, (xs, ys) in ((on_train, train), (on_test, test)):
        ref = [float(err({k: (1 - t) * a[k] + t * b[k] for k in a}, (xs, ys))) for t in r.t]
        assert r.measure.tolist() == pytest.approx(ref, abs=1e-12)
    assert (on_train.measure_name, on_test.measure_name) == ("error", "test")
    # a lambda is named "measure"; no measure reports the loss itself
    lam = interpolate(fm.loss, a, b, train, grid=5, measure=lambda p, bt: 2 * fm.loss(p, bt))
    assert lam.measure_name == "measure"
    assert interpolate(fm.loss, a, b, train, grid=5).measure is None


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda fm, batch, a, b: interpolate(fm.loss, a, b), "needs its data"),
        (lambda fm, batch, a, b: interpolate(Evaluator(fm.loss, batch), a, b, batch), "not both"),
        (lambda fm, batch, a, b: linear_path(Evaluator(fm.loss, batch), a, b, 0.5), "number"),
        (lambda fm, batch, a, b: interpolate(fm.loss, a, b, batch, measure=3), "measure"),
        (lambda fm, batch, a, b: linear_path(fm.loss, a, b, batch), "threshold"),
    ],
    ids=["no-data", "data-twice", "threshold-as-data", "bad-measure", "no-threshold"],
)
def test_objective_and_measure_mistakes_are_one_line(classifier, call, match):
    with pytest.raises(LandscapeError, match=match) as info:
        call(*classifier)
    assert "\n" not in str(info.value)


def test_barrier_formulas(classifier):
    fm, batch, a, b = classifier
    r = interpolate(fm.loss, a, b, batch, grid=21)
    peak = max(float(r.loss.max()), r.loss_a, r.loss_b)
    assert r.barrier == pytest.approx(peak - max(r.loss_a, r.loss_b))
    assert r.barrier_mean == pytest.approx(peak - 0.5 * (r.loss_a + r.loss_b))
    assert r.barrier_mean >= r.barrier >= 0.0
    assert float(r.loss[r.t == r.argmax_t][0]) == pytest.approx(float(r.loss.max()))


def _symmetry_loss(params, batch):
    """Φ(x, θ) = θ1 relu(θ3 x + θ5) + θ2 relu(θ4 x + θ6), mean squared error."""
    th = params["theta"]
    x, y = batch
    out = th[0] * torch.relu(th[2] * x + th[4]) + th[1] * torch.relu(th[3] * x + th[5])
    return ((out - y) ** 2).mean()


def test_symmetry_example_midpoint_has_risk_one_half():
    """Freeman & Bruna's example: two zero-risk parameters whose midpoint has risk 1/2."""
    theta = {"theta": torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0, 0.0], dtype=torch.float64)}
    theta_bar = {"theta": torch.tensor([-1.0, 1.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64)}
    s = (
        torch.tensor([-1.0, 1.0], dtype=torch.float64),
        torch.tensor([0.0, 1.0], dtype=torch.float64),
    )
    r = interpolate(_symmetry_loss, theta, theta_bar, s, grid=41)
    assert r.loss_a == 0.0 and r.loss_b == 0.0
    assert float(r.loss[20]) == pytest.approx(0.5)  # t = 1/2
    assert r.argmax_t == pytest.approx(0.5)
    assert r.barrier == pytest.approx(0.5) and r.barrier_mean == pytest.approx(0.5)


def test_asymmetric_endpoints_separate_the_two_barriers():
    loss = lambda p, batch: (p["w"] ** 2).sum()  # noqa: E731
    batch = (torch.zeros(1, 1), torch.zeros(1, 1))
    r = interpolate(loss, {"w": torch.tensor([-1.0])}, {"w": torch.tensor([2.0])}, batch, grid=31)
    # convex: the maximum is the higher endpoint, so the barrier is 0 but not the mean form
    assert r.barrier == pytest.approx(0.0)
    assert r.barrier_mean == pytest.approx(4.0 - 2.5)


def test_t_range_extends_the_profile_but_not_the_barrier(classifier):
    fm, batch, a, b = classifier
    inside = interpolate(fm.loss, a, b, batch, grid=11)
    wide = interpolate(fm.loss, a, b, batch, grid=21, t_range=(-0.5, 1.5))
    assert float(wide.t[0]) == -0.5 and float(wide.t[-1]) == 1.5
    assert wide.barrier == pytest.approx(inside.barrier, abs=1e-9)


def test_linear_path_record_on_a_convex_loss():
    loss = lambda p, batch: ((p["w"] - 0.5) ** 2).sum()  # noqa: E731
    batch = (torch.zeros(1, 1), torch.zeros(1, 1))
    a, b = {"w": torch.tensor([0.0, 0.0])}, {"w": torch.tensor([1.0, 1.0])}
    ok = linear_path(loss, a, b, batch, threshold=0.6)
    assert ok.connected and ok.status == CONNECTED and ok.bead_count == 0
    assert ok.length == pytest.approx(1.0)
    low = linear_path(loss, a, b, batch, threshold=0.1 + 0.4)  # ends at 0.5: just inside
    assert low.connected
    bowl = lambda p, batch: -((p["w"] - 0.5) ** 2).sum() + 1.0  # noqa: E731  (a hill)
    hill = linear_path(bowl, a, b, batch, threshold=0.8)
    assert not hill.connected and hill.status == NOT_CONNECTED


def test_inputs_are_not_modified(classifier):
    fm, batch, a, b = classifier
    a0, b0 = P.clone(a), P.clone(b)
    interpolate(fm.loss, a, b, batch, grid=5)
    assert all(torch.equal(a[k], a0[k]) and torch.equal(b[k], b0[k]) for k in a)


def test_dtype_argument_casts_endpoints_and_data(classifier):
    fm, batch, a, b = classifier
    a32 = {k: v.float() for k, v in a.items()}
    b32 = {k: v.float() for k, v in b.items()}
    x, y = batch
    ev = Evaluator(fm.loss, (x.float(), y), dtype=torch.float64)
    r = interpolate(ev, a32, b32, grid=5)
    assert r.loss.dtype == torch.float64
    assert r.loss.tolist() == pytest.approx(interpolate(fm.loss, a, b, batch, grid=5).loss.tolist())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"grid": 1}, "grid"),
        ({"t_range": (0.2, 1.0)}, "t_range"),
        ({"t_range": (1.0, 0.0)}, "t_range"),
    ],
)
def test_bad_options_raise(classifier, kwargs, match):
    fm, batch, a, b = classifier
    with pytest.raises(LandscapeError, match=match):
        interpolate(fm.loss, a, b, batch, **kwargs)


def test_endpoints_from_different_architectures_raise(classifier):
    fm, batch, a, _ = classifier
    spec = models.MLPSpec(in_features=5, widths=(8,), out_features=3)
    other = models.init_params(spec, 0, dtype=torch.float64)
    with pytest.raises(LandscapeError, match="different architectures"):
        interpolate(fm.loss, a, other, batch)
    with pytest.raises(LandscapeError, match="different architectures"):
        interpolate(fm.loss, a, {"w": torch.zeros(3)}, batch)


def test_list_of_parameters_is_rejected(classifier):
    fm, batch, a, b = classifier
    with pytest.raises(LandscapeError, match="dict"):
        interpolate(fm.loss, list(a.values()), b, batch)


def test_docstring_examples():
    # the package re-exports the function under the module's name, so fetch the module itself
    module = importlib.import_module("landscape.connect.interpolate")
    result = doctest.testmod(module, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0
