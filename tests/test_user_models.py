"""A user's own model, data and dtype (issue 9, section 4), against hand-written references.

Batch norm in train and eval mode, float64 on a float32 model, integer and half-precision
inputs and parameters, a module passed where a pure loss belongs, frozen parameters.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape import LandscapeError
from landscape import params as P
from landscape.connect import interpolate
from landscape.curvature import (
    GGNOperator,
    HessianOperator,
    dense_hessian,
    eigenpairs,
    loss_and_gradient,
)
from landscape.evaluate import Evaluator
from landscape.functional import FunctionalModel, dataset_mean, evaluate_points

EPS = 1e-5  # BatchNorm1d's default


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bn_model(seed: int = 0) -> nn.Sequential:
    """Linear → BatchNorm → tanh → Linear (float32), with non-trivial BN statistics."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        m = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3))
    g = _gen(seed + 100)
    with torch.no_grad():
        m[1].weight.copy_(1 + 0.3 * torch.randn(5, generator=g))
        m[1].bias.copy_(0.2 * torch.randn(5, generator=g))
        m[1].running_mean.copy_(0.5 * torch.randn(5, generator=g))
        m[1].running_var.copy_(0.5 + torch.rand(5, generator=g))
    return m


def bn_data(n: int = 24, seed: int = 1, dtype=torch.float32):
    g = _gen(seed)
    return torch.randn(n, 4, generator=g, dtype=dtype), torch.randint(0, 3, (n,), generator=g)


def manual_bn_forward(p, buffers, x, train: bool):
    """The model written out by hand: the oracle for both modes."""
    h = x @ p["0.weight"].T + p["0.bias"]
    if train:
        mu, var = h.mean(0), h.var(0, unbiased=False)
    else:
        mu, var = buffers["1.running_mean"], buffers["1.running_var"]
    h = (h - mu) / torch.sqrt(var + EPS) * p["1.weight"] + p["1.bias"]
    return torch.tanh(h) @ p["3.weight"].T + p["3.bias"]


def manual_hessian(p, buffers, x, y, train: bool):
    """float64 ``torch.func.hessian`` of the hand-written loss."""
    p64 = {k: v.double() for k, v in p.items()}
    b64 = {k: v.double() for k, v in buffers.items() if v.is_floating_point()}
    x64 = x.double()

    def f(w):
        return F.cross_entropy(manual_bn_forward(P.unflatten(w, p64), b64, x64, train), y)

    return torch.func.hessian(f)(P.flatten(p64))


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


# ---------------------------------------------------------------- 1. train mode is pure


def test_train_mode_batchnorm_is_pure_and_uses_batch_statistics():
    m = bn_model()
    x, y = bn_data()
    user_state = _state(m)
    fm = FunctionalModel(m, mode="train")
    buffers = {k: v.clone() for k, v in fm.buffers.items()}
    p = fm.params()
    first = fm.loss(p, (x, y))
    for _ in range(3):
        assert torch.equal(fm.loss(p, (x, y)), first)
    assert set(fm.buffers) == set(buffers)  # no running statistics written
    assert all(torch.equal(fm.buffers[k], buffers[k]) for k in buffers)
    # torch's own train-mode forward (on a copy, whose running stats it updates) agrees
    twin = copy.deepcopy(m).train()
    assert torch.allclose(fm.forward(p, x), twin(x), atol=1e-6)
    assert not torch.equal(twin[1].running_mean, m[1].running_mean)
    ref = F.cross_entropy(manual_bn_forward(p, {}, x, train=True), y)
    assert torch.allclose(first, ref, atol=1e-6)
    assert all(torch.equal(v, user_state[k]) for k, v in m.state_dict().items())


@pytest.mark.parametrize("backend", ["forward", "cached"])
def test_train_mode_hvp_dense_hessian_and_points_match_the_hand_written_reference(backend):
    m = bn_model().double()
    x, y = bn_data(dtype=torch.float64)
    fm = FunctionalModel(m, mode="train")
    buffers = {k: v.clone() for k, v in fm.buffers.items()}
    user_state = _state(m)
    p = fm.params()
    h_ref = manual_hessian(p, {}, x, y, train=True)
    v = torch.randn(h_ref.shape[0], 3, generator=_gen(2), dtype=torch.float64)
    op = HessianOperator(fm, p, (x, y), backend=backend)
    torch.testing.assert_close(op @ v, h_ref @ v, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(dense_hessian(fm, p, (x, y)), h_ref, rtol=1e-9, atol=1e-11)
    points = [P.add(p, P.random_direction(p, seed=s), 0.1) for s in range(3)]
    got = evaluate_points(fm.loss, P.stack(points), (x, y))
    ref = torch.stack([F.cross_entropy(manual_bn_forward(q, {}, x, True), y) for q in points])
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    # nothing was written: not our copy of the buffers, not the user's module
    assert set(fm.buffers) == set(buffers)
    assert all(torch.equal(fm.buffers[k], buffers[k]) for k in buffers)
    assert all(torch.equal(v, user_state[k]) for k, v in m.state_dict().items())


def test_cached_backend_never_mutates_buffers_in_eval_mode():
    m = bn_model().double()
    x, y = bn_data(dtype=torch.float64)
    fm = FunctionalModel(m)
    before = {k: v.clone() for k, v in fm.buffers.items()}
    p = fm.params()
    op = HessianOperator(fm, p, (x, y), backend="cached")
    h_ref = manual_hessian(p, before, x, y, train=False)
    torch.testing.assert_close(op.to_dense(), h_ref, rtol=1e-9, atol=1e-11)
    assert all(torch.equal(fm.buffers[k], before[k]) for k in before)


def test_train_mode_with_dropout_is_refused_in_one_line():
    m = nn.Sequential(nn.Linear(4, 5), nn.Dropout(0.5), nn.Linear(5, 3))
    with pytest.raises(LandscapeError, match="mode='eval'") as err:
        FunctionalModel(m, mode="train")
    assert "Dropout" in _one_line(err)
    # p = 0 is deterministic, and eval mode turns dropout off
    FunctionalModel(nn.Sequential(nn.Linear(4, 5), nn.Dropout(0.0)), mode="train")
    fm = FunctionalModel(m)
    x, y = bn_data()
    assert torch.equal(fm.loss(fm.params(), (x, y)), fm.loss(fm.params(), (x, y)))


# ---------------------------------------------------------------- 2. float64 with batch norm


def test_float64_on_a_float32_batchnorm_model_casts_the_buffers():
    m = bn_model()  # float32 weights and running statistics
    x, y = bn_data()
    fm = FunctionalModel(m)
    p = fm.params()
    buffers = {k: v for k, v in fm.buffers.items() if v.is_floating_point()}
    h_ref = manual_hessian(p, buffers, x, y, train=False)
    v = torch.randn(h_ref.shape[0], 2, generator=_gen(3), dtype=torch.float64)
    op = HessianOperator(fm, p, (x, y), dtype=torch.float64)
    assert op.dtype == torch.float64
    # float64 throughout: agreement far below float32's resolution
    torch.testing.assert_close(op @ v, h_ref @ v, rtol=1e-10, atol=1e-12)
    dense = dense_hessian(fm, p, (x, y), dtype=torch.float64)
    torch.testing.assert_close(dense, h_ref, rtol=1e-10, atol=1e-12)
    ggn = GGNOperator(fm, p, (x, y), dtype=torch.float64)
    g = ggn.to_dense()
    assert g.dtype == torch.float64
    assert float(torch.linalg.eigvalsh(g).min()) >= -1e-12 * float(g.abs().max())
    # the interpolation's endpoints are the float64 losses of the hand-written model
    q = P.add(p, P.random_direction(p, seed=4), 0.5)
    r = interpolate(Evaluator(fm.loss, (x, y), dtype=torch.float64), p, q, grid=3)
    x64, b64 = x.double(), {k: v.double() for k, v in buffers.items()}
    for end, point in ((r.loss_a, p), (r.loss_b, q)):
        ref = F.cross_entropy(
            manual_bn_forward({k: v.double() for k, v in point.items()}, b64, x64, False), y
        )
        assert end == pytest.approx(float(ref), rel=1e-12)
    assert fm.buffers["1.running_mean"].dtype == torch.float32  # our copy kept its dtype


# ---------------------------------------------------------------- 3. integer and half-precision


def test_integer_inputs_are_cast_to_the_parameters_dtype():
    lin = nn.Linear(4, 3).double()
    fm = FunctionalModel(lin)
    p = fm.params()
    x = torch.randint(0, 5, (10, 4), generator=_gen(5))
    y = torch.randint(0, 3, (10,), generator=_gen(6))
    ref = F.cross_entropy(x.double() @ p["weight"].T + p["bias"], y)
    torch.testing.assert_close(fm.loss(p, (x, y)), ref, rtol=1e-15, atol=0)
    assert torch.equal(
        dataset_mean(fm.loss, p, (x, y), chunk_size=3),
        dataset_mean(fm.loss, p, (x.double(), y), chunk_size=3),
    )
    pts = P.stack([p, P.scale(p, 2.0)])
    torch.testing.assert_close(
        evaluate_points(fm.loss, pts, (x, y)),
        evaluate_points(fm.loss, pts, (x.double(), y)),
        rtol=0,
        atol=0,
    )
    # token ids for an embedding stay integer
    emb = nn.Sequential(nn.Embedding(5, 3), nn.Flatten(), nn.Linear(12, 3))
    fe = FunctionalModel(emb)
    assert torch.allclose(fe.loss(fe.params(), (x, y)), F.cross_entropy(emb(x), y))


def _bf16_problem():
    m = bn_model(seed=3).to(torch.bfloat16)
    x, y = bn_data(n=40, seed=7)  # float32 data
    return m, x, y


def test_bfloat16_params_with_float32_data_reduce_in_float32():
    m, x, y = _bf16_problem()
    fm = FunctionalModel(m)
    p = fm.params()
    assert all(v.dtype == torch.bfloat16 for v in p.values())
    out = m.eval()(x.to(torch.bfloat16))  # the model's own bf16 forward
    value = fm.loss(p, (x, y))
    assert value.dtype == torch.float32
    # reduced in float32: equal to float32 rounding (a bfloat16 reduction is ~1e-2 away)
    ref = F.cross_entropy(out.float(), y)
    assert torch.allclose(value, ref, rtol=1e-6, atol=0)
    assert not torch.allclose(ref, F.cross_entropy(out, y).float(), rtol=1e-4, atol=0)
    metrics = dataset_mean(fm.metrics, p, (x, y), chunk_size=7)
    correct = int((out.argmax(1) == y).sum())
    assert metrics["accuracy"].dtype == torch.float32
    assert float(metrics["accuracy"]) * 40 == pytest.approx(correct, abs=1e-4)
    got = evaluate_points(fm.metrics, P.stack([p, p]), (x, y))
    assert float(got["accuracy"][1]) * 40 == pytest.approx(correct, abs=1e-4)


@pytest.mark.parametrize("method", ["lanczos", "scipy"])
def test_bfloat16_curvature_is_computed_in_float32(method):
    m, x, y = _bf16_problem()
    fm = FunctionalModel(m)
    p = fm.params()
    buffers = {k: v for k, v in fm.buffers.items() if v.is_floating_point()}
    h_ref = manual_hessian(p, buffers, x, y, train=False)  # at the bf16-rounded point
    top = torch.linalg.eigvalsh(h_ref).flip(0)[:2]
    op = HessianOperator(fm, p, (x, y))
    assert op.dtype == torch.float32
    r = eigenpairs(op, k=2, method=method, tol=1e-3)
    assert r.converged
    torch.testing.assert_close(r.eigenvalues.double(), top, rtol=1e-3, atol=1e-5)
    assert dense_hessian(fm, p, (x, y)).dtype == torch.float32
    with pytest.raises(LandscapeError, match="float32") as err:
        HessianOperator(fm, p, (x, y), dtype=torch.bfloat16)
    _one_line(err)
    # a bf16 dense matrix is upcast too: scipy gets float32, not a TypeError
    dense = eigenpairs(h_ref.to(torch.bfloat16), k=1, method="scipy", tol=1e-2)
    assert dense.eigenvalues.dtype == torch.float32


def test_inspect_on_a_bfloat16_checkpoint_counts_accuracy_in_float32(tmp_path, capsys):
    from landscape import checkpoint, data, models
    from landscape.cli import main

    ds = data.digits(seed=0)
    spec = models.MLPSpec(in_features=64, widths=(16,), out_features=10)
    p = {k: v.to(torch.bfloat16) for k, v in models.init_params(spec, 2).items()}
    path = checkpoint.save(tmp_path / "m.ckpt", p, spec, meta={"data": {"name": "digits"}})
    assert main(["inspect", str(path), "--data", "digits"]) == 0
    out = capsys.readouterr().out
    # the reference: the bf16 forward's correct count, divided in float64
    fm = FunctionalModel(models.build(spec).to(torch.bfloat16))
    for n, (x, y) in ((len(ds.y_train), ds.train), (len(ds.y_test), ds.test)):
        correct = int((fm.forward(p, x.to(torch.bfloat16)).argmax(1) == y).sum())
        acc = dataset_mean(fm.metrics, p, (x, y), chunk_size=4096)["accuracy"]
        assert float(acc) * n == pytest.approx(correct, abs=1e-3)
        assert f"{correct / n:.5g}"[:5] in out


# ---------------------------------------------------------------- 4. a module where a loss belongs


def test_a_module_where_a_pure_loss_belongs_says_what_to_pass():
    m = bn_model()
    x, y = bn_data()
    params = dict(m.named_parameters())
    for make in (
        lambda: HessianOperator(m, params, (x, y)),
        lambda: dense_hessian(m, params, (x, y)),
        lambda: loss_and_gradient(m, params, (x, y)),
        lambda: dataset_mean(m, params, (x, y)),
        lambda: evaluate_points(m, P.stack([params]), (x, y)),
        lambda: interpolate(m, params, params, (x, y)),
        lambda: GGNOperator(m, params, (x, y)),
    ):
        with pytest.raises(LandscapeError, match="FunctionalModel") as err:
            make()
        assert "nn.Module" in _one_line(err)
    fm = FunctionalModel(m)
    with pytest.raises(LandscapeError, match=r"fm.params\(\)|named_parameters") as err:
        HessianOperator(fm, m, (x, y))
    _one_line(err)
    # a module with its loss named is wrapped: the same GGN as through FunctionalModel
    a = GGNOperator(m, params, (x, y), output_loss="cross_entropy").to_dense()
    b = GGNOperator(fm, fm.params(), (x, y)).to_dense()
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- 5. frozen parameters


def _frozen_model():
    m = bn_model().double()
    m[0].requires_grad_(False)  # freeze the first layer
    return m


def test_frozen_parameters_are_left_out_by_default():
    m = _frozen_model()
    x, y = bn_data(dtype=torch.float64)
    trainable = ["1.weight", "1.bias", "3.weight", "3.bias"]
    fm = FunctionalModel(m)
    assert list(fm.params()) == trainable
    assert list(fm.params(include_frozen=True)) == [k for k, _ in m.named_parameters()]
    assert list(FunctionalModel(m, include_frozen=True).params()) == list(
        fm.params(include_frozen=True)
    )
    assert list(P.random_direction(fm.params(), seed=0)) == trainable
    # the reference: the full Hessian's trainable block
    full = fm.params(include_frozen=True)
    h_full = manual_hessian(full, fm.buffers, x, y, train=False)
    n_frozen = full["0.weight"].numel() + full["0.bias"].numel()
    block = h_full[n_frozen:, n_frozen:]
    assert block.shape == (P.num_params(fm.params()),) * 2
    h = HessianOperator(fm, fm.params(), (x, y)).to_dense()
    torch.testing.assert_close(h, block, rtol=1e-10, atol=1e-12)
    # dict(model.named_parameters()): the requires_grad flags say which are frozen
    named = dict(m.named_parameters())
    op = HessianOperator(fm, named, (x, y))
    assert list(op.params) == trainable and list(op.frozen) == ["0.weight", "0.bias"]
    torch.testing.assert_close(op.to_dense(), block, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(dense_hessian(fm, named, (x, y)), block, rtol=1e-10, atol=1e-12)
    all_op = HessianOperator(fm, named, (x, y), include_frozen=True)
    torch.testing.assert_close(all_op.to_dense(), h_full, rtol=1e-10, atol=1e-12)
    ggn = GGNOperator(fm, named, (x, y))
    assert ggn.shape == block.shape


def test_frozen_tensors_are_held_fixed_for_a_plain_pure_loss():
    # a loss of its own that needs every tensor: the frozen one is filled in
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([3.0], dtype=torch.float64)  # requires_grad=False: frozen

    def loss(p):
        return (p["w"] ** 2).sum() * p["c"].sum() + (p["w"] ** 3).sum()

    op = HessianOperator(loss, {"w": w, "c": c})
    assert op.shape == (2, 2)
    torch.testing.assert_close(op.to_dense(), torch.diag(6.0 + 6.0 * w.detach()))
    assert dense_hessian(loss, {"w": w, "c": c}).shape == (2, 2)
    # at() takes new values of the frozen tensors too
    moved = op.at({"w": w.detach(), "c": torch.tensor([0.0], dtype=torch.float64)})
    torch.testing.assert_close(moved.to_dense(), torch.diag(6.0 * w.detach()))


def test_train_mode_dense_hessian_is_not_rechunked_by_rows(monkeypatch):
    """Batch statistics depend on the chunk: a small memory budget may split tangents, never
    the rows of a train-mode model."""
    from landscape.curvature import dense as opmod

    m = bn_model().double()
    x, y = bn_data(dtype=torch.float64)
    fm = FunctionalModel(m, mode="train")
    p = fm.params()
    monkeypatch.setattr(opmod, "DENSE_MEMORY_BUDGET", 2**14)
    h_ref = manual_hessian(p, {}, x, y, train=True)
    torch.testing.assert_close(dense_hessian(fm, p, (x, y)), h_ref, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(dense_hessian(fm.loss, p, (x, y)), h_ref, rtol=1e-9, atol=1e-11)


def test_params_that_do_not_fit_the_model_raise_one_line():
    fm = FunctionalModel(bn_model())
    p = fm.params()
    x, _ = bn_data()
    bad = {k: v for k, v in p.items() if k != "3.bias"}
    with pytest.raises(LandscapeError, match=r"missing \['3.bias'\]") as err:
        fm.forward(bad, x)
    _one_line(err)
    with pytest.raises(LandscapeError, match="unknown"):
        fm.forward({**p, "extra": p["3.bias"]}, x)
