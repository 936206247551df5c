"""Grids: batched and factored evaluation against a point-by-point loop, batch norm
recomputed against a module put through the batches, the user's module untouched,
trajectory projection against the contour, zoom."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from landscape import LandscapeError
from landscape.functional import FunctionalModel
from landscape.surface import (
    line,
    plane,
    project_trajectory,
    random_directions,
    zoom,
)

from .conftest import make_cnn_bn, make_data, make_mlp


def _loop(model, centre, vecs, alphas, betas, batch):
    """The obvious reference: a fresh module per grid point, its loss in eval mode."""
    x, y = batch
    out = np.zeros((len(alphas), len(betas)))
    err = np.zeros_like(out)
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            m = copy.deepcopy(model)
            with torch.no_grad():
                for k, p in m.named_parameters():
                    p.copy_(centre[k] + a * vecs[0][k] + b * vecs[1][k])
                logits = m.eval()(x)
            out[i, j] = float(nn.functional.cross_entropy(logits, y))
            err[i, j] = float((logits.argmax(1) != y).double().mean())
    return out, err


@pytest.mark.parametrize("make", [make_mlp, make_cnn_bn], ids=["mlp", "cnn-bn"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("factored", [True, False])
@pytest.mark.parametrize("expand", ["auto", False])
def test_plane_equals_a_point_by_point_loop_float64(make, seed, factored, expand):
    model = make(seed)
    fm = FunctionalModel(model)
    p = fm.params()
    d = random_directions(p, 2, seed=seed)
    batch = make_data(50, seed)
    alphas, betas = np.linspace(-1, 1, 4), np.array([-0.5, 0.0, 0.7])
    kw = dict(factored=factored, expand=expand)
    # the MLP with its first layer factored goes expanded (every layer); the CNN never
    method = "expanded" if (make is make_mlp and factored and expand) else "vmapped"
    # small chunks and a tiny memory budget: several data chunks, one point per pass
    s = plane(model, p, d, batch, alphas, betas, chunk_size=17, memory_mb=0.001, **kw)
    assert s.meta["factored"] is factored and s.meta["points_per_pass"] == 1
    assert s.meta["method"] == method
    ref, err = _loop(model, p, d.vectors, alphas, betas, batch)
    np.testing.assert_allclose(s.loss, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.error, err, atol=1e-12)
    big = plane(model, p, d, batch, alphas, betas, **kw)
    assert big.meta["points_per_pass"] == 12
    np.testing.assert_allclose(big.loss, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(big.error, err, atol=1e-12)
    # the points of a pass one after another (what 'auto' picks for large points)
    looped = plane(model, p, d, batch, alphas, betas, vmap_points=False, **kw)
    assert looped.meta["method"] == "looped"
    np.testing.assert_allclose(looped.loss, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(looped.error, err, atol=1e-12)


@pytest.mark.parametrize("make", [make_mlp, make_cnn_bn], ids=["mlp", "cnn-bn"])
def test_float32_factored_within_1e5_of_float64_loop(make):
    model64 = make(3)
    model = copy.deepcopy(model64).float()
    fm = FunctionalModel(model)
    p = fm.params()
    d = random_directions(p, 2, seed=3)
    x, y = make_data(80, 3)
    s = plane(fm, p, d, (x.float(), y), [-1.0, 0.25, 1.0], factored=True)
    p64 = {k: v.double() for k, v in p.items()}
    v64 = [{k: v.double() for k, v in dv.items()} for dv in d.vectors]
    ref, _ = _loop(model64, p64, v64, [-1.0, 0.25, 1.0], [-1.0, 0.25, 1.0], (x, y))
    np.testing.assert_allclose(s.loss, ref, rtol=1e-5, atol=1e-6)


def test_vmap_points_auto_and_its_validation():
    from landscape.surface import LOOP_WORK, evaluate_coefficients

    model = make_mlp(0)
    fm = FunctionalModel(model)
    p = fm.params()
    d = random_directions(p, 2, seed=0)
    c = np.array([[0.0, 0.0], [0.5, -0.5]])
    n_params = sum(v.numel() for v in p.values())
    small = make_data(10, 0)
    # small points of a chain of Linear layers: expanded; not a chain (or refused): vmapped
    assert evaluate_coefficients(model, p, d.vectors, c, small)["method"] == "expanded"
    assert evaluate_coefficients(model, p, d.vectors, c, small, expand=False)["vmapped"] is True
    rows = LOOP_WORK // n_params + 1  # a point's work above the threshold: looped
    big = make_data(rows, 1)
    res = evaluate_coefficients(model, p, d.vectors, c, big, chunk_size=None)
    assert res["vmapped"] is False and res["method"] == "looped"
    for kw in ({"vmap_points": True}, {"vmap_points": True, "expand": False}):
        ref = evaluate_coefficients(model, p, d.vectors, c, big, chunk_size=None, **kw)
        np.testing.assert_allclose(res["loss"], ref["loss"], rtol=1e-5)
    with pytest.raises(LandscapeError, match="vmap_points"):
        evaluate_coefficients(model, p, d.vectors, c, small, vmap_points="yes")


def test_factoring_refused_where_it_cannot_apply():
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(36, 36), nn.ReLU(), nn.Linear(36, 5)).double()
    norm_first = nn.Sequential(nn.LayerNorm(36), nn.Linear(36, 5)).double()
    for model in (norm_first,):
        fm = FunctionalModel(model)
        d = random_directions(fm.params(), 2, seed=0)
        s = plane(fm, fm.params(), d, make_data(20), [0.0, 1.0])
        assert s.meta["factored"] is False
        with pytest.raises(LandscapeError, match="factored=True"):
            plane(fm, fm.params(), d, make_data(20), [0.0, 1.0], factored=True)
    fm = FunctionalModel(plain)
    assert (
        plane(
            fm, fm.params(), random_directions(fm.params(), 2, seed=0), make_data(20), [0.0]
        ).meta["factored"]
        is True
    )


def _recompute_reference(model, params, batches, eval_batch):
    m = copy.deepcopy(model)
    with torch.no_grad():
        for k, p in m.named_parameters():
            p.copy_(params[k])
        for mod in m.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.reset_running_stats()
                mod.momentum = None
        m.train()
        for xb, _ in batches:
            m(xb)
        m.eval()
        return float(nn.functional.cross_entropy(m(eval_batch[0]), eval_batch[1]))


@pytest.mark.parametrize("seed", [0, 1])
def test_bn_recompute_equals_a_module_put_through_the_batches(seed):
    model = make_cnn_bn(seed)
    fm = FunctionalModel(model)
    p = fm.params()
    d = random_directions(p, 2, seed=seed)
    train_x, train_y = make_data(90, seed + 10)
    test = make_data(30, seed + 20)
    alphas = [-0.8, 0.0, 0.6]
    s = plane(
        model,
        p,
        d,
        test,
        alphas,
        bn="recompute",
        bn_data=(train_x, train_y),
        bn_batches=2,
        bn_batch_size=32,
    )
    batches = [(train_x[:32], train_y[:32]), (train_x[32:64], train_y[32:64])]
    for i, a in enumerate(alphas):
        for j, b in enumerate(alphas):
            q = {k: p[k] + a * d.vectors[0][k] + b * d.vectors[1][k] for k in p}
            assert s.loss[i, j] == pytest.approx(
                _recompute_reference(model, q, batches, test), rel=1e-10
            )
    # the recomputed statistics differ from the stored ones: the losses differ too
    s_eval = plane(model, p, d, test, alphas)
    assert np.abs(s.loss - s_eval.loss).max() > 1e-3
    with pytest.raises(LandscapeError, match="bn_data"):
        plane(model, p, d, test, alphas, bn="recompute")


def test_the_users_module_is_unchanged():
    model = make_cnn_bn(4).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fm_p = FunctionalModel(model).params()
    d = random_directions(fm_p, 2, seed=0)
    data = make_data(30)
    plane(model, fm_p, d, data, [-1.0, 1.0])
    line(model, fm_p, d, data, [-1.0, 1.0])
    plane(model, fm_p, d, data, [-1.0, 1.0], bn="recompute", bn_data=data, bn_batches=1)
    assert model.training
    after = model.state_dict()
    assert list(before) == list(after)
    for k in before:
        assert torch.equal(before[k], after[k]), k


def test_line_is_two_sided_and_matches_the_plane_axis():
    model = make_mlp(2)
    fm = FunctionalModel(model)
    p = fm.params()
    d = random_directions(p, 2, seed=2)
    data = make_data(40, 2)
    alphas = np.linspace(-1, 1, 5)
    ln = line(fm, p, d, data, alphas)
    pl = plane(fm, p, d, data, alphas, [0.0])
    np.testing.assert_allclose(ln.loss, pl.loss[:, 0], rtol=1e-12)
    assert ln.loss[2] == pytest.approx(float(fm.loss(p, data)), rel=1e-12)


def test_trajectory_in_the_plane_agrees_with_the_contour():
    model = make_mlp(5)
    fm = FunctionalModel(model)
    p = fm.params()
    d = random_directions(p, 2, seed=5)
    data = make_data(40, 5)
    axis = np.linspace(-1, 1, 5)
    s = plane(fm, p, d, data, axis)
    nodes = [(0, 4), (1, 3), (2, 2), (3, 1), (4, 0)]
    traj = [
        {k: p[k] + axis[i] * d.vectors[0][k] + axis[j] * d.vectors[1][k] for k in p}
        for i, j in nodes
    ]
    proj = project_trajectory(traj, p, d)
    np.testing.assert_allclose(proj.coords, [[axis[i], axis[j]] for i, j in nodes], atol=1e-10)
    assert proj.residual.max() < 1e-10
    own = [float(fm.loss(t, data)) for t in traj]
    np.testing.assert_allclose(own, [s.loss[i, j] for i, j in nodes], rtol=1e-10)
    # a point off the plane: its residual says so
    off = {k: v + 0.1 * torch.ones_like(v) for k, v in traj[0].items()}
    assert project_trajectory([off], p, d).residual[0] > 0.05


def test_zoom_evaluates_the_same_directions_at_each_range():
    model = make_mlp(6)
    fm = FunctionalModel(model)
    p = fm.params()
    d = random_directions(p, 2, seed=6)
    data = make_data(30, 6)
    levels = zoom(fm, p, d, data, ranges=(1.0, 0.1, 0.01), steps=3)
    assert [s.meta["range"] for s in levels] == [1.0, 0.1, 0.01]
    for s in levels:
        r = s.meta["range"]
        q = {k: p[k] + r * d.vectors[0][k] - r * d.vectors[1][k] for k in p}
        assert s.loss[2, 0] == pytest.approx(float(fm.loss(q, data)), rel=1e-12)
    spread = [np.ptp(s.loss) for s in levels]
    assert spread[0] > spread[1] > spread[2]
    with pytest.raises(LandscapeError, match="ranges"):
        zoom(fm, p, d, data, ranges=(1.0, -0.1))


# ---------------------------------------------------------------- issue 21, items 7 and 14


def test_directions_of_the_wrong_shape_are_a_landscape_error():
    fm = FunctionalModel(make_mlp())
    p = fm.params()
    d = random_directions(p, 2, seed=0)
    bad = {k: (v[:-1] if k == "2.weight" else v) for k, v in d.vectors[1].items()}
    with pytest.raises(LandscapeError, match=r"direction 1 has '2.weight' of shape \(7, 12\)"):
        plane(fm, p, [d.vectors[0], bad], make_data())
    with pytest.raises(LandscapeError, match="a plane needs 2 directions, got 0"):
        plane(fm, p, [], make_data())
    with pytest.raises(LandscapeError, match="params dicts shaped like the parameters"):
        plane(fm, p, torch.zeros(2, 3), make_data())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_grid_beyond_the_floating_range_is_refused(dtype):
    fm = FunctionalModel(make_mlp(dtype=dtype))
    p = fm.params()
    d = random_directions(p, 1, seed=0)
    huge = float(torch.finfo(dtype).max) / 10
    with pytest.raises(LandscapeError, match="beyond what float"):
        line(fm, p, d, make_data(dtype=dtype), np.linspace(-huge, huge, 5))
    with pytest.raises(LandscapeError, match="finite"):
        line(fm, p, d, make_data(dtype=dtype), [0.0, float("nan")])


def test_a_line_whose_every_loss_overflows_is_refused_but_a_partial_one_is_kept():
    fm = FunctionalModel(make_mlp(dtype=torch.float32))
    p = fm.params()
    d = random_directions(p, 1, seed=0)
    data = make_data(dtype=torch.float32)
    s = line(fm, p, d, data, np.linspace(-1e20, 1e20, 5))  # the centre is finite
    assert np.isfinite(s.loss[2]) and not np.isfinite(s.loss[[0, 1, 3, 4]]).any()
    with pytest.raises(LandscapeError, match="NaN or inf at every point"):
        line(fm, p, d, data, [-1e20, 1e20])
