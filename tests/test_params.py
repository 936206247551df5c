from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape import LandscapeError, models
from landscape import params as P


def _example(dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=g, dtype=dtype),
        "conv.bias": torch.randn(4, generator=g, dtype=dtype),
        "fc.weight": torch.randn(5, 36, generator=g, dtype=dtype),
        "scale": torch.randn((), generator=g, dtype=dtype),
    }


def test_flatten_round_trip_exact_and_in_dict_order():
    p = _example()
    v = P.flatten(p)
    assert v.shape == (P.num_params(p),)
    # order-stable: the first entries are the first tensor's, in C order
    assert torch.equal(v[:108], p["conv.weight"].reshape(-1))
    assert torch.equal(v[-1], p["scale"])
    back = P.unflatten(v, p)
    assert list(back) == list(p)
    for k in p:
        assert back[k].shape == p[k].shape
        assert torch.equal(back[k], p[k])


def test_flatten_with_batch_axis_matches_per_member():
    members = [P.random_direction(_example(), seed=s) for s in range(3)]
    stacked = P.stack(members)
    flat = P.flatten(stacked, batch_dims=1)
    assert flat.shape == (3, P.num_params(members[0]))
    for i, m in enumerate(members):
        assert torch.equal(flat[i], P.flatten(m))
    back = P.unflatten(flat, members[0])
    assert all(torch.equal(back[k], stacked[k]) for k in stacked)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3), min_size=1, max_size=5))
def test_flatten_round_trip_property(shapes):
    g = torch.Generator().manual_seed(1)
    p = {f"t{i}": torch.randn(tuple(s), generator=g) for i, s in enumerate(shapes)}
    back = P.unflatten(P.flatten(p), p)
    assert all(torch.equal(back[k], p[k]) for k in p)


def test_unflatten_rejects_wrong_length():
    p = _example()
    with pytest.raises(LandscapeError, match="expected"):
        P.unflatten(torch.zeros(P.num_params(p) + 1), p)


def test_stack_unstack_round_trip_and_leading_axis():
    ms = [P.random_direction(_example(), seed=s) for s in range(4)]
    st_ = P.stack(ms)
    assert P.batch_size(st_) == 4
    assert st_["fc.weight"].shape == (4, 5, 36)
    for a, b in zip(P.unstack(st_), ms, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_stack_rejects_different_architectures():
    a = _example()
    b = dict(a)
    b.pop("scale")
    with pytest.raises(LandscapeError, match="missing"):
        P.stack([a, b])


def test_lerp_endpoints_midpoint_and_many_t():
    a, b = _example(), P.random_direction(_example(), seed=3)
    assert all(torch.equal(P.lerp(a, b, 0.0)[k], a[k]) for k in a)
    assert all(torch.allclose(P.lerp(a, b, 1.0)[k], b[k]) for k in a)
    mid = P.lerp(a, b, 0.5)
    assert all(torch.allclose(mid[k], (a[k] + b[k]) / 2) for k in a)
    ts = torch.linspace(0, 1, 7, dtype=torch.float64)
    path = P.lerp(a, b, ts)
    assert path["conv.weight"].shape == (7, 4, 3, 3, 3)
    assert torch.allclose(path["fc.weight"][3], mid["fc.weight"])


def test_distance_all_and_weights_only():
    a, b = _example(), P.random_direction(_example(), seed=5)
    d_all = P.distance(a, b)
    assert torch.allclose(d_all, (P.flatten(a) - P.flatten(b)).norm())
    d_w = P.distance(a, b, which="weights")
    ref = torch.cat([(a[k] - b[k]).reshape(-1) for k in ("conv.weight", "fc.weight")]).norm()
    assert torch.allclose(d_w, ref)
    assert d_w < d_all
    with pytest.raises(LandscapeError, match="which"):
        P.distance(a, b, which="filters")


def test_distance_batched():
    a = P.stack([_example(), P.random_direction(_example(), seed=1)])
    b = P.stack([P.random_direction(_example(), seed=2), _example()])
    d = P.distance(a, b, batch_dims=1)
    assert d.shape == (2,)
    for i in range(2):
        assert torch.allclose(d[i], P.distance(P.unstack(a)[i], P.unstack(b)[i]))


def test_random_direction_seeded_and_device_dtype():
    p = _example(torch.float32)
    d1, d2 = P.random_direction(p, seed=7), P.random_direction(p, seed=7)
    d3 = P.random_direction(p, seed=8)
    assert all(torch.equal(d1[k], d2[k]) for k in p)
    assert not torch.equal(d1["fc.weight"], d3["fc.weight"])
    assert all(d1[k].dtype == torch.float32 for k in p)
    d64 = P.random_direction(_example(torch.float64), seed=7)
    assert torch.allclose(d64["fc.weight"].float(), d1["fc.weight"])
    with pytest.raises(LandscapeError, match="exactly one"):
        P.random_direction(p)


def test_filter_normalization_row_norms_linear_and_conv():
    p = _example()
    d = P.filter_normalize(P.random_direction(p, seed=0), p)
    for k in ("conv.weight", "fc.weight"):
        dn = d[k].reshape(d[k].shape[0], -1).norm(dim=1)
        wn = p[k].reshape(p[k].shape[0], -1).norm(dim=1)
        assert torch.allclose(dn, wn, rtol=1e-10)
    # default: biases and other 0/1-D tensors zeroed
    assert torch.count_nonzero(d["conv.bias"]) == 0
    assert torch.count_nonzero(d["scale"]) == 0


def test_filter_normalization_one_d_scaled_as_a_whole_not_per_element():
    p = _example()
    raw = P.random_direction(p, seed=1)
    d = P.filter_normalize(raw, p, one_d="scale")
    assert torch.allclose(d["conv.bias"].norm(), p["conv.bias"].norm())
    # one factor for the whole vector: the direction is parallel to the raw draw
    ratio = d["conv.bias"] / raw["conv.bias"]
    assert torch.allclose(ratio, ratio[0].expand_as(ratio))
    with pytest.raises(LandscapeError, match="one_d"):
        P.filter_normalize(raw, p, one_d="elementwise")


def test_filter_normalization_on_a_real_model():
    spec = models.MLPSpec(in_features=6, widths=(5,), out_features=3)
    p = models.init_params(spec, seed=0, dtype=torch.float64)
    d = P.filter_normalize(P.random_direction(p, seed=0), p)
    assert torch.allclose(d["layers.0.weight"].norm(dim=1), p["layers.0.weight"].norm(dim=1))


def test_list_of_parameters_gives_a_helpful_error():
    m = torch.nn.Linear(2, 2)
    with pytest.raises(LandscapeError, match="named_parameters"):
        P.flatten(list(m.parameters()))


def test_inputs_not_mutated():
    p = _example()
    before = P.clone(p)
    P.filter_normalize(P.random_direction(p, seed=0), p, one_d="scale")
    P.lerp(p, before, 0.3)
    P.add(p, before, 2.0)
    assert all(torch.equal(p[k], before[k]) for k in p)
