from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscape import LandscapeError, models
from landscape import params as P
from landscape.functional import FunctionalModel, dataset_mean, evaluate_points, get_loss


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_functional_loss_equals_module_loss_and_module_untouched(
    kind, digits64, mlp_spec, cnn_spec
):
    spec = mlp_spec if kind == "mlp" else cnn_spec
    module = models.build(spec, seed=0, dtype=torch.float64)
    module.train()
    before = _state(module)
    fm = FunctionalModel(module, loss="cross_entropy")
    x, y = digits64.train
    p = fm.params()
    ours = fm.loss(p, (x, y))
    ref = nn.functional.cross_entropy(module(x), y)
    assert torch.allclose(ours, ref, rtol=1e-12, atol=0)
    # evaluating at other params does not touch the module
    fm.loss(P.random_direction(p, seed=1), (x, y))
    assert module.training
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert all(v.requires_grad for v in module.parameters())


def test_batchnorm_running_stats_of_user_module_untouched():
    module = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)).double()
    module.train()
    before = _state(module)
    fm = FunctionalModel(module, loss="cross_entropy", mode="train")
    x = torch.randn(16, 4, dtype=torch.float64)
    y = torch.randint(0, 2, (16,))
    fm.loss(fm.params(), (x, y))
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


@pytest.mark.parametrize("chunk", [1, 7, 100, 5000])
def test_chunked_mean_equals_full_batch(chunk, digits64, mlp_spec):
    fm = FunctionalModel(models.build(mlp_spec, seed=0, dtype=torch.float64))
    p = fm.params()
    full = fm.loss(p, digits64.train)
    assert torch.allclose(dataset_mean(fm.loss, p, digits64.train, chunk), full, rtol=1e-12)
    m = dataset_mean(fm.metrics, p, digits64.train, chunk)
    assert torch.allclose(m["loss"], full, rtol=1e-12)
    x, y = digits64.train
    acc = (fm.forward(p, x).argmax(1) == y).double().mean()
    assert torch.allclose(m["accuracy"], acc)


def test_chunked_gradient_equals_full_batch_gradient(digits64, mlp_spec):
    fm = FunctionalModel(models.build(mlp_spec, seed=0, dtype=torch.float64))
    p = {k: v.requires_grad_(True) for k, v in fm.params().items()}
    g_full = torch.autograd.grad(fm.loss(p, digits64.train), list(p.values()))
    g_chunk = torch.autograd.grad(dataset_mean(fm.loss, p, digits64.train, 300), list(p.values()))
    for a, b in zip(g_full, g_chunk, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)


def test_dataloader_input_weighted_by_batch_size(digits64, mlp_spec):
    fm = FunctionalModel(models.build(mlp_spec, seed=0, dtype=torch.float64))
    p = fm.params()
    loader = DataLoader(TensorDataset(*digits64.train), batch_size=500)  # last batch 438
    assert torch.allclose(dataset_mean(fm.loss, p, loader), fm.loss(p, digits64.train), rtol=1e-12)


def test_evaluate_points_equals_python_loop(digits64, mlp_spec):
    fm = FunctionalModel(models.build(mlp_spec, seed=0, dtype=torch.float64))
    points = [models.init_params(mlp_spec, s, dtype=torch.float64) for s in range(5)]
    got = evaluate_points(fm.loss, P.stack(points), digits64.test, chunk_size=100, points_chunk=2)
    ref = torch.stack([fm.loss(q, digits64.test) for q in points])
    assert got.shape == (5,)
    assert torch.allclose(got, ref, rtol=1e-12)
    got_m = evaluate_points(fm.metrics, P.stack(points), digits64.test)
    assert set(got_m) == {"loss", "accuracy"}
    assert torch.allclose(got_m["loss"], ref, rtol=1e-12)


def test_regression_losses():
    out = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    y = torch.tensor([0.0, 4.0], dtype=torch.float64)
    assert get_loss("mse")(out, y).item() == pytest.approx((1 + 4) / 2)
    assert get_loss("mae")(out, y).item() == pytest.approx((1 + 2) / 2)


def test_bad_inputs_rejected():
    with pytest.raises(LandscapeError, match="loss"):
        FunctionalModel(nn.Linear(2, 2), loss="hinge")
    with pytest.raises(LandscapeError, match="Module"):
        FunctionalModel("not a model")
    fm = FunctionalModel(nn.Linear(2, 2))
    with pytest.raises(LandscapeError, match="rows"):
        dataset_mean(fm.loss, fm.params(), (torch.zeros(3, 2), torch.zeros(2, dtype=torch.long)))
    with pytest.raises(LandscapeError, match="pair"):
        dataset_mean(fm.loss, fm.params(), torch.zeros(3, 2))


def test_weighted_mean_of_uneven_chunks_is_the_full_batch_value(digits64, mlp_spec):
    """The one chunk-weighted mean: any tree of per-chunk means (tensor, dict, tuple, list),
    weighted by row counts, equals the full-batch value; half precision sums in float32."""
    from landscape.functional import batch_rows, weighted_mean

    fm = FunctionalModel(models.build(mlp_spec, seed=0, dtype=torch.float64))
    p = fm.params()
    x, y = digits64.train
    cuts = [0, 7, 20, 333, 1000, int(x.shape[0])]  # chunks of 7, 13, 313, 667 and the rest
    chunks = [(x[a:b], y[a:b]) for a, b in itertools.pairwise(cuts)]

    def values(batch):
        grads, value = torch.func.grad_and_value(lambda q: fm.loss(q, batch))(p)
        return {"loss": value, "parts": (grads, [fm.forward(p, batch[0]).mean()])}

    got = weighted_mean((batch_rows(b), values(b)) for b in chunks)
    ref = values((x, y))
    torch.testing.assert_close(got["loss"], ref["loss"], rtol=1e-13, atol=0)
    for k in p:
        torch.testing.assert_close(got["parts"][0][k], ref["parts"][0][k], rtol=1e-11, atol=1e-15)
    assert isinstance(got["parts"], tuple) and isinstance(got["parts"][1], list)
    torch.testing.assert_close(got["parts"][1][0], ref["parts"][1][0], rtol=1e-12, atol=1e-15)
    assert batch_rows(None) == 1 and batch_rows(chunks[1]) == 13
    # float16 chunk means are summed and returned in float32
    half = weighted_mean([(1, torch.tensor(1.0, dtype=torch.float16)), (3, torch.tensor(0.5))])
    assert half.dtype == torch.float32 and float(half) == 0.625
    with pytest.raises(LandscapeError, match="empty"):
        weighted_mean([])


# ---------------------------------------------------------------- issue 21, item 14


def _bn_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 3)
    )


@pytest.mark.parametrize(("n", "chunk"), [(1, None), (17, 16), (33, 8)])
def test_train_mode_batchnorm_on_a_chunk_of_one_row_is_a_landscape_error(n, chunk):
    from landscape import LandscapeError
    from landscape.functional import dataset_mean

    fm = FunctionalModel(_bn_model(), mode="train")
    x, y = torch.randn(n, 4), torch.randint(0, 3, (n,))
    with pytest.raises(LandscapeError, match=r"chunk of 1 row\(s\).*chunk_size"):
        dataset_mean(fm.loss, fm.params(), (x, y), chunk)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    ok = dataset_mean(fm.loss, fm.params(), (x, y), 8)  # chunks of 8: defined
    assert torch.isfinite(ok)


@pytest.mark.parametrize("classes", [3, 10, 100])  # the fast path (≤ 64) and F.cross_entropy
def test_a_label_outside_the_models_classes_is_a_landscape_error(classes):
    from landscape import LandscapeError, ensemble, optim
    from landscape import params as P

    fm = FunctionalModel(torch.nn.Linear(4, classes))
    x, y = torch.randn(20, 4), torch.randint(0, classes, (20,))
    y[3] = classes + 32
    with pytest.raises(LandscapeError, match=rf"labels 0?\d*\.\.{classes + 32}.*{classes} outputs"):
        fm.loss(fm.params(), (x, y))
    with pytest.raises(LandscapeError, match=f"{classes} outputs"):
        ensemble.train_ensemble(
            fm.loss, P.stack([fm.params(), fm.params()]), (x, y), optim.SGD(lr=0.1), 1
        )
    y[3] = -1
    with pytest.raises(LandscapeError, match=f"{classes} outputs"):
        fm.loss(fm.params(), (x, y))


def test_float_targets_for_cross_entropy_are_whole_class_numbers_or_probabilities():
    from landscape import LandscapeError

    fm = FunctionalModel(torch.nn.Linear(4, 3))
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 1, 0, 2])
    p = fm.params()
    assert torch.equal(fm.loss(p, (x, y.double())), fm.loss(p, (x, y)))
    probs = torch.nn.functional.one_hot(y, 3).float()
    torch.testing.assert_close(fm.loss(p, (x, probs)), fm.loss(p, (x, y)))
    with pytest.raises(LandscapeError, match="not whole numbers"):
        fm.loss(p, (x, y + 0.5))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0, 0.0])
def test_optimisers_refuse_a_learning_rate_that_is_not_a_finite_positive_number(bad):
    from landscape import LandscapeError, optim

    for make in (optim.SGD, optim.Adam):
        with pytest.raises(LandscapeError, match="lr > 0"):
            make(lr=bad)
