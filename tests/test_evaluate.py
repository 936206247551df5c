"""The one evaluator: exact dataset means whatever the chunking, batched points, casting."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import grad, vmap

from landscape import LandscapeError, models
from landscape import params as P
from landscape.evaluate import Evaluator, error_rate, objective_and_measure
from landscape.functional import FunctionalModel

SPEC = models.MLPSpec(in_features=5, widths=(7,), out_features=3, activation="tanh")
N = 53  # a prime: no chunk size divides it


@pytest.fixture
def problem():
    """A float32 classifier, its data and a float64 twin for the reference."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(N, 5, generator=gen)
    y = torch.randint(0, 3, (N,), generator=gen)
    fm = FunctionalModel(models.build(SPEC), loss="cross_entropy")
    params = models.init_params(SPEC, 1)
    return fm, params, (x, y)


def _reference(fm, params, data):
    """The full-batch mean in float64: the quantity every chunking must reproduce."""
    x, y = data
    p64 = {k: v.double() for k, v in params.items()}
    return float(fm.loss(p64, (x.double(), y)))


@pytest.mark.parametrize("chunk_size", [None, 1, 7, 52, 53, 100])
def test_chunking_never_changes_the_mean(problem, chunk_size):
    fm, params, data = problem
    ref = _reference(fm, params, data)
    got = Evaluator(fm.loss, data, chunk_size=chunk_size)(params)
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(ref, rel=2e-6)
    # in float64 the chunked mean is the full-batch mean to rounding
    ev64 = Evaluator(fm.loss, data, chunk_size=chunk_size, dtype=torch.float64)
    assert float(ev64(ev64.prepare(params))) == pytest.approx(ref, rel=1e-13)


def test_an_iterable_of_uneven_batches_gives_the_same_mean(problem):
    fm, params, (x, y) = problem
    loader = [(x[:10], y[:10]), (x[10:11], y[10:11]), (x[11:], y[11:])]
    p64 = {k: v.double() for k, v in params.items()}
    got = Evaluator(fm.loss, loader)(p64)
    assert float(got) == pytest.approx(_reference(fm, params, (x, y)), rel=1e-13)


@pytest.mark.parametrize("points_chunk", [None, 1, 2, 5, 9])
def test_points_equal_a_python_loop_over_points(problem, points_chunk):
    fm, _, data = problem
    ev = Evaluator(fm.loss, data, chunk_size=11, points_chunk=points_chunk, dtype=torch.float64)
    points = [ev.prepare(models.init_params(SPEC, s)) for s in range(5)]
    got = ev.points(P.stack(points))
    assert got.shape == (5,) and got.dtype == torch.float64 and not got.requires_grad
    loop = torch.stack([ev(p) for p in points])
    torch.testing.assert_close(got, loop, rtol=1e-12, atol=0)


def test_gradients_flow_through_the_call_and_mean_of_averages_any_batch_function(problem):
    fm, params, data = problem
    ev = Evaluator(fm.loss, data, chunk_size=10, dtype=torch.float64)
    p = ev.prepare(params)
    whole = grad(lambda q: fm.loss(q, ev.data))(p)
    chunked = grad(ev)(p)
    stacked = P.stack([p, p])
    batched = ev.mean_of(vmap(grad(fm.loss), in_dims=(0, None)), stacked)
    for k in p:
        torch.testing.assert_close(chunked[k], whole[k], rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(batched[k][1], whole[k], rtol=1e-12, atol=1e-14)


def test_device_and_dtype_cast_data_and_params_but_not_integer_targets(problem):
    fm, params, (x, y) = problem
    ev = Evaluator(fm.loss, (x, y), device="cpu", dtype=torch.float64)
    assert ev.device == torch.device("cpu")
    assert ev.data[0].dtype == torch.float64 and ev.data[1].dtype == torch.int64
    assert x.dtype == torch.float32  # the caller's tensors are not touched
    p = ev.prepare(params)
    assert all(v.dtype == torch.float64 and not v.requires_grad for v in p.values())
    assert all(params[k].dtype == torch.float32 for k in params)
    assert ev(p).dtype == torch.float64
    # without device/dtype nothing moves
    plain = Evaluator(fm.loss, (x, y))
    assert plain.data[0] is x and plain.prepare(params)["layers.0.weight"].dtype == torch.float32
    # regression targets are floating and follow the dtype
    reg = Evaluator(fm.loss, (x, x[:, :1]), dtype=torch.float64)
    assert reg.data[1].dtype == torch.float64


def test_error_rate_against_a_hand_count():
    logits = torch.tensor(
        [[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.1, 0.2, 0.3], [5.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    )
    y = torch.tensor([0, 2, 2, 1, 2])  # argmax 0, 1, 2, 0, 2: wrong at rows 1 and 3
    err = error_rate(lambda params, x: x * params["s"])
    assert err.__name__ == "error"
    assert float(err({"s": torch.tensor(1.0)}, (logits, y))) == pytest.approx(2 / 5)
    ev = Evaluator(err, (logits, y), chunk_size=2, name="error")
    assert float(ev({"s": torch.tensor(1.0)})) == pytest.approx(2 / 5)


def test_of_model_measures_loss_and_error(problem):
    fm, params, data = problem
    loss = Evaluator.of_model(fm, data)
    error = Evaluator.of_model(fm, data, measure="error", chunk_size=8)
    assert (loss.name, error.name, error.chunk_size) == ("loss", "error", 8)
    assert Evaluator.of_model(fm, data, "error", name="test error").name == "test error"
    assert float(loss(params)) == pytest.approx(float(fm.loss(params, data)))
    x, y = data
    wrong = int((fm.forward(params, x).argmax(1) != y).sum())
    assert float(error(params)) == pytest.approx(wrong / N)


def test_of_with_fn_and_with_measure_share_data_chunking_and_casting(problem):
    fm, _, data = problem
    base = Evaluator.of(fm.loss, data, chunk_size=5, dtype=torch.float64)
    assert base.name == "loss" and base.chunk_size == 5
    assert Evaluator.of(base) is base
    assert Evaluator.of(base, points_chunk=3).points_chunk == 3
    err = error_rate(fm.forward)
    for other in (base.with_fn(err, "error"), base.with_measure(err)):
        assert other.name == "error" and other.data[0] is base.data[0]
        assert (other.chunk_size, other.dtype) == (5, torch.float64)
    assert base.with_measure(None) is base
    test = Evaluator(err, data, name="test error")
    assert base.with_measure(test) is test
    assert base.with_measure(lambda p, b: fm.loss(p, b)).name == "measure"
    objective, measure = objective_and_measure(fm.loss, data)
    assert objective.name == "loss" and measure is objective
    objective, measure = objective_and_measure(base, measure=err)
    assert objective is base and measure.name == "error"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda fm, d: Evaluator(nn.Linear(5, 3), d), "FunctionalModel"),
        (lambda fm, d: Evaluator(3, d), "callable"),
        (lambda fm, d: Evaluator(fm.loss, None), "needs data"),
        (lambda fm, d: Evaluator(fm.loss, d, chunk_size=0), "chunk_size"),
        (lambda fm, d: Evaluator(fm.loss, d, points_chunk=1.5), "points_chunk"),
        (lambda fm, d: Evaluator(fm.loss, d, dtype=torch.int64), "dtype"),
        (lambda fm, d: Evaluator.of(fm.loss), "needs its data"),
        (lambda fm, d: Evaluator.of(Evaluator(fm.loss, d), d), "not both"),
        (lambda fm, d: Evaluator.of_model(nn.Linear(5, 3), d), "FunctionalModel"),
        (lambda fm, d: Evaluator.of_model(fm, d, measure="accuracy"), "measure"),
        (lambda fm, d: Evaluator(fm.loss, d).with_measure(nn.Linear(5, 3)), "measure"),
        (lambda fm, d: error_rate(3), "forward"),
        (lambda fm, d: objective_and_measure(nn.Linear(5, 3), d), "loss is an nn.Module"),
        (lambda fm, d: objective_and_measure(Evaluator(fm.loss, d), 0.1), "threshold"),
    ],
)
def test_mistakes_are_one_line_errors(problem, make, match):
    fm, _, data = problem
    with pytest.raises(LandscapeError, match=match) as info:
        make(fm, data)
    assert "\n" not in str(info.value)
