"""The expanded evaluation of chains of Linear layers (``expand=``): every layer's output at
``θ + Σ c_k d_k`` from ``K + 1`` products of scaled inputs, no point's weights built."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from landscape import LandscapeError, kernels
from landscape.functional import FunctionalModel
from landscape.models import MLPSpec, build
from landscape.surface import evaluate_coefficients, random_directions

from .conftest import make_cnn_bn, make_data

F64 = torch.float64


def _reference(model, centre, vecs, coeffs, batch, loss):
    """A fresh module per point (the obvious loop), its mean loss and error."""
    x, y = batch
    out, err = [], []
    for c in coeffs:
        m = copy.deepcopy(model)
        with torch.no_grad():
            for k, p in m.named_parameters():
                p.copy_(centre[k] + sum(float(ci) * v[k] for ci, v in zip(c, vecs, strict=True)))
            o = m.eval()(x)
        if loss == "mse":
            out.append(float(nn.functional.mse_loss(o, y)))
        else:
            out.append(float(nn.functional.cross_entropy(o, y)))
            err.append(float((o.argmax(1) != y).double().mean()))
    return np.array(out), np.array(err) if err else None


def _chains():
    torch.manual_seed(0)
    yield (
        "sequential",
        nn.Sequential(
            nn.Flatten(),
            nn.Linear(36, 10),
            nn.Tanh(),
            nn.Linear(10, 9, bias=False),
            nn.GELU(),
            nn.Linear(9, 7),
            nn.LeakyReLU(0.1),
            nn.Linear(7, 5),
        ).double(),
    )
    yield (
        "mlp-quadratic",
        build(
            MLPSpec(in_features=36, widths=(11, 6), out_features=5, activation="quadratic")
        ).double(),
    )
    yield (
        "mlp-nobias",
        build(MLPSpec(in_features=36, widths=(8,), out_features=5, bias=False)).double(),
    )
    yield "one-layer", nn.Sequential(nn.Linear(36, 5)).double()  # the first layer only
    yield "one-layer-relu", nn.Sequential(nn.Linear(36, 5), nn.ReLU()).double()


@pytest.mark.parametrize("name, model", list(_chains()), ids=[n for n, _ in _chains()])
@pytest.mark.parametrize("k", [1, 2])
def test_expanded_equals_a_fresh_module_per_point_float64(name, model, k, monkeypatch):
    fm = FunctionalModel(model)
    p = fm.params()
    vecs = random_directions(p, k, seed=3).vectors
    coeffs = np.random.default_rng(k).uniform(-1.5, 1.5, size=(13, k))
    batch = make_data(45, 1)
    ref, err = _reference(model, p, vecs, coeffs, batch, "cross_entropy")
    state = copy.deepcopy(model.state_dict())
    # several data chunks and passes of one, two and all points
    for memory_mb in (1e-4, 0.01, 64.0):
        res = evaluate_coefficients(
            model, p, vecs, coeffs, batch, expand=True, chunk_size=16, memory_mb=memory_mb
        )
        assert res["method"] == "expanded" and res["factored"] is True
        np.testing.assert_allclose(res["loss"], ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res["error"], err, atol=1e-12)
    small = evaluate_coefficients(model, p, vecs, coeffs, batch, expand=True, memory_mb=1e-4)
    assert small["points_per_pass"] == 1
    # large points: one by one on the chain's own forward (rows in blocks), same values
    from landscape.surface import grid

    for block in (2**18, 40):  # one block of rows, or blocks of about 4 rows
        monkeypatch.setattr(grid, "_POINT_BLOCK_ELEMENTS", block)
        one = evaluate_coefficients(model, p, vecs, coeffs, batch, vmap_points=False, chunk_size=16)
        assert one["method"] == "looped" and one["factored"] is True
        np.testing.assert_allclose(one["loss"], ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(one["error"], err, atol=1e-12)
    for k_, v in model.state_dict().items():  # the user's module is untouched
        assert torch.equal(v, state[k_])


@pytest.mark.parametrize("matmul", ["blas", "onednn"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expanded_float32_within_1e5_of_float64_on_every_backend(matmul, seed, monkeypatch):
    if matmul == "onednn" and not kernels.onednn_available():
        pytest.skip("this PyTorch build has no oneDNN float32 product")
    monkeypatch.setenv("LANDSCAPE_MATMUL", matmul)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(36, 64), nn.ReLU(), nn.Linear(64, 48), nn.ReLU())
    model.append(nn.Linear(48, 3))
    x = torch.randn(70, 36)
    y = torch.randn(70, 3)  # a regression target: mean squared error, no error rate
    fm32 = FunctionalModel(model, loss="mse")
    p32 = fm32.params()
    vecs32 = random_directions(p32, 2, seed=seed).vectors
    coeffs = np.random.default_rng(seed).uniform(-1, 1, size=(40, 2))
    res = evaluate_coefficients(fm32, p32, vecs32, coeffs, (x, y), expand=True)
    assert res["method"] == "expanded" and res["error"] is None
    one = evaluate_coefficients(fm32, p32, vecs32, coeffs, (x, y), vmap_points=False)
    assert one["method"] == "looped"
    m64 = copy.deepcopy(model).double()
    p64 = {k: v.double() for k, v in p32.items()}
    v64 = [{k: v.double() for k, v in d.items()} for d in vecs32]
    ref, _ = _reference(m64, p64, v64, coeffs, (x.double(), y.double()), "mse")
    np.testing.assert_allclose(res["loss"], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one["loss"], ref, rtol=1e-5, atol=1e-6)


def test_auto_expands_only_chains_with_small_points_and_refuses_clearly():
    torch.manual_seed(0)
    chain = nn.Sequential(nn.Linear(36, 8), nn.ReLU(), nn.Linear(8, 5)).double()
    fm = FunctionalModel(chain)
    p = fm.params()
    vecs = random_directions(p, 2, seed=0).vectors
    c = np.array([[0.0, 0.0], [0.3, -0.2]])
    data = make_data(20)
    assert evaluate_coefficients(fm, p, vecs, c, data)["method"] == "expanded"
    # the caller said no vmapping (large points), or no factoring: not expanded
    assert evaluate_coefficients(fm, p, vecs, c, data, vmap_points=False)["method"] == "looped"
    assert evaluate_coefficients(fm, p, vecs, c, data, factored=False)["method"] == "vmapped"
    # not chains: a buffer (batch norm), a conv, a frozen parameter
    bn = nn.Sequential(nn.Linear(36, 8), nn.BatchNorm1d(8), nn.Linear(8, 5)).double().eval()
    frozen = copy.deepcopy(chain)
    frozen[0].bias.requires_grad_(False)
    for model in (bn, make_cnn_bn(0), frozen):
        f = FunctionalModel(model)
        d = random_directions(f.params(), 2, seed=0).vectors
        assert evaluate_coefficients(f, f.params(), d, c, data)["method"] != "expanded"
        with pytest.raises(LandscapeError, match="expand=True needs a chain of Linear layers"):
            evaluate_coefficients(f, f.params(), d, c, data, expand=True)
    with pytest.raises(LandscapeError, match="cannot go with factored=False"):
        evaluate_coefficients(fm, p, vecs, c, data, expand=True, factored=False)
    with pytest.raises(LandscapeError, match="expand must be True, False or 'auto'"):
        evaluate_coefficients(fm, p, vecs, c, data, expand="yes")


def test_linear_layers_on_the_last_axis_of_sequences_are_not_expanded():
    """``nn.Linear`` on ``(n, T, F)`` inputs acts on the last axis: not a chain of rows."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)).double()
    fm = FunctionalModel(model, loss="mse")
    p = fm.params()
    vecs = random_directions(p, 2, seed=0).vectors
    x = torch.randn(10, 5, 6, dtype=F64)
    y = torch.randn(10, 5, 3, dtype=F64)
    c = np.array([[0.0, 0.0], [0.4, -0.3]])
    res = evaluate_coefficients(fm, p, vecs, c, (x, y))
    assert res["method"] != "expanded"
    ref, _ = _reference(model, p, vecs, c, (x, y), "mse")
    np.testing.assert_allclose(res["loss"], ref, rtol=1e-10)
    with pytest.raises(LandscapeError, match="expand=True needs a chain"):
        evaluate_coefficients(fm, p, vecs, c, (x, y), expand=True)
