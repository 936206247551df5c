from __future__ import annotations

import json

import pytest
import torch

from landscape import LandscapeError, models


def test_spec_json_round_trip():
    spec = models.MLPSpec(
        in_features=4,
        widths=(3, 2),
        out_features=1,
        activation="sigmoid",
        bias=False,
        output_activation="sigmoid",
    )
    again = models.spec_from_dict(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again == spec
    cnn = models.CNNSpec(image_size=8, out_features=10)
    assert models.spec_from_dict(cnn.model_dump(mode="json")) == cnn


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "quadratic", "linear"])
def test_mlp_shapes_and_activation(activation):
    spec = models.MLPSpec(in_features=5, widths=(4,), out_features=2, activation=activation)
    m = models.build(spec, seed=0, dtype=torch.float64)
    shapes = {k: tuple(v.shape) for k, v in m.named_parameters()}
    assert shapes == {
        "layers.0.weight": (4, 5),
        "layers.0.bias": (4,),
        "layers.1.weight": (2, 4),
        "layers.1.bias": (2,),
    }
    x = torch.randn(3, 5, dtype=torch.float64)
    w0, b0 = m.layers[0].weight, m.layers[0].bias
    pre = x @ w0.T + b0
    act = {
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "quadratic": lambda t: t * t,
        "linear": lambda t: t,
    }[activation]
    ref = act(pre) @ m.layers[1].weight.T + m.layers[1].bias
    assert torch.allclose(m(x), ref)


def test_no_bias_and_sigmoid_output():
    spec = models.MLPSpec(
        in_features=1,
        widths=(4, 4),
        out_features=1,
        activation="sigmoid",
        bias=False,
        output_activation="sigmoid",
    )
    m = models.build(spec, seed=1)
    assert all("bias" not in k for k, _ in m.named_parameters())
    y = m(torch.randn(10, 1))
    assert ((y > 0) & (y < 1)).all()


def test_cnn_forward_and_flat_inputs():
    spec = models.CNNSpec(in_channels=1, image_size=8, channels=(3, 4), out_features=10)
    m = models.build(spec, seed=0)
    x = torch.randn(6, 64)
    assert m(x).shape == (6, 10)
    assert torch.allclose(m(x), m(x.reshape(6, 1, 8, 8)))
    with pytest.raises(ValueError, match="too small"):
        models.CNNSpec(image_size=2, channels=(4, 4), out_features=3)


def test_build_seeded():
    spec = models.MLPSpec(in_features=3, widths=(2,), out_features=1)
    a, b = models.build(spec, seed=3), models.build(spec, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_init_params_schemes():
    spec = models.MLPSpec(in_features=50, widths=(40,), out_features=30)
    p = models.init_params(spec, seed=0, weight="uniform", weight_scale=1.0, bias="normal")
    w = p["layers.0.weight"]
    assert w.abs().max() <= 1.0 and w.abs().max() > 0.95  # U[-1, 1] over 2000 draws
    assert abs(w.mean().item()) < 0.05
    b = torch.cat([p["layers.0.bias"], p["layers.1.bias"]])
    assert 0.7 < b.std().item() < 1.3  # N(0, 1)
    again = models.init_params(spec, seed=0, weight="uniform", bias="normal")
    assert all(torch.equal(p[k], again[k]) for k in p)
    other = models.init_params(spec, seed=1, weight="uniform", bias="normal")
    assert not torch.equal(p["layers.0.weight"], other["layers.0.weight"])
    z = models.init_params(spec, seed=0, bias="zeros")
    assert torch.count_nonzero(z["layers.1.bias"]) == 0
    with pytest.raises(LandscapeError, match="weight"):
        models.init_params(spec, seed=0, weight="xavier")


def test_bad_spec_is_one_line():
    with pytest.raises(LandscapeError) as exc:
        models.spec_from_dict(
            {"kind": "mlp", "in_features": 3, "out_features": 2, "activation": "gelu"}
        )
    assert "activation" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(LandscapeError, match="kind"):
        models.spec_from_dict({"kind": "rnn"})


@pytest.mark.parametrize("widths", [(3,), (5, 4), (2, 3, 4), (6, 1, 3)])
def test_path_expansion_equals_forward_pass(widths):
    spec = models.MLPSpec(in_features=5, widths=widths, out_features=1, bias=False)
    params = models.init_params(spec, seed=sum(widths), weight="uniform", dtype=torch.float64)
    net = models.build(spec, dtype=torch.float64)
    net.load_state_dict(params)
    x = torch.randn(9, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    pe = models.path_expansion(params, spec, x)
    assert torch.allclose(pe.output, net(x)[:, 0], rtol=1e-12, atol=1e-12)
    gamma = 1
    for w in widths:
        gamma *= w
    assert pe.paths == 5 * gamma == models.path_count(spec)
    assert pe.depth == len(widths) + 1
    assert pe.spins == pytest.approx(pe.paths ** (1 / pe.depth))
    assert pe.n_params == sum(p.numel() for p in params.values())
    # the sum over paths, written out: x_i A_ij Π_k w_ij for every input-major path
    x_rep = x.repeat_interleave(gamma, dim=1)
    assert torch.allclose((x_rep * pe.activations * pe.path_weights).sum(1), pe.output)
    assert set(pe.activations.unique().tolist()) <= {0.0, 1.0}
    # brute force for one path: input 0 → unit 0 of every layer → output
    w_prod = torch.prod(
        torch.stack([params[f"layers.{k}.weight"][0, 0] for k in range(len(widths) + 1)])
    )
    assert torch.isclose(pe.path_weights[0], w_prod)


def test_path_expansion_refuses_wrong_nets_and_huge_sizes():
    x = torch.randn(4, 3)
    with_bias = models.MLPSpec(in_features=3, widths=(2,), out_features=1)
    with pytest.raises(LandscapeError, match="bias=False"):
        models.path_expansion(models.init_params(with_bias, 0), with_bias, x)
    tanh = models.MLPSpec(in_features=3, widths=(2,), out_features=1, bias=False, activation="tanh")
    with pytest.raises(LandscapeError, match="ReLU"):
        models.path_expansion(models.init_params(tanh, 0), tanh, x)
    big = models.MLPSpec(in_features=100, widths=(500, 500, 500), out_features=1, bias=False)
    with pytest.raises(LandscapeError, match="GiB") as exc:
        models.path_expansion({}, big, torch.randn(10, 100))
    assert "12,500,000,000" in str(exc.value)
