"""Batched ensemble training equals a per-model PyTorch loop (same seeds, same batches)."""

from __future__ import annotations

import pytest
import torch

from landscape import LandscapeError, models
from landscape import params as P
from landscape.data import polynomial
from landscape.ensemble import batch_order, minibatches, train_ensemble
from landscape.functional import FunctionalModel
from landscape.optim import SGD, Adam, finite_members, make_schedule, masked_step

SPEC = models.MLPSpec(in_features=64, widths=(12,), out_features=10, activation="tanh")


def _torch_opt(name, params):
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.2, momentum=0.9, weight_decay=1e-3)
    if name == "sgd-nesterov":
        return torch.optim.SGD(params, lr=0.1, momentum=0.5, nesterov=True)
    return torch.optim.Adam(params, lr=0.01, weight_decay=1e-3)


def _ours(name):
    if name == "sgd":
        return SGD(lr=0.2, momentum=0.9, weight_decay=1e-3)
    if name == "sgd-nesterov":
        return SGD(lr=0.1, momentum=0.5, nesterov=True)
    return Adam(lr=0.01, weight_decay=1e-3)


def _reference(init, seed, data, opt_name, epochs, bs, scheduler_fn):
    x, y = data
    m = models.build(SPEC, dtype=torch.float64)
    m.load_state_dict(init)
    opt = _torch_opt(opt_name, m.parameters())
    sched = scheduler_fn(opt)
    for ep in range(epochs):
        order = batch_order(seed, ep, len(x))
        for s in range(0, len(x), bs):
            idx = order[s : s + bs]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x[idx]), y[idx]).backward()
            opt.step()
        sched.step()
    return {k: v.detach() for k, v in m.named_parameters()}


@pytest.mark.parametrize("opt_name", ["sgd", "sgd-nesterov", "adam"])
@pytest.mark.parametrize("schedule", ["step", "exponential"])
def test_batched_equals_per_model_loop(opt_name, schedule, digits64):
    data = (digits64.x_train[:400], digits64.y_train[:400])
    seeds = [3, 4, 5]
    inits = [models.init_params(SPEC, s, dtype=torch.float64) for s in seeds]
    lr = _ours(opt_name).lr
    if schedule == "step":
        ours_sched = make_schedule("step", lr=lr, gamma=0.5, step_size=2)
        ref_sched = lambda o: torch.optim.lr_scheduler.StepLR(o, 2, 0.5)  # noqa: E731
    else:
        ours_sched = make_schedule("exponential", lr=lr, gamma=0.7)
        ref_sched = lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.7)  # noqa: E731
    fm = FunctionalModel(models.build(SPEC, dtype=torch.float64))
    res = train_ensemble(
        fm.loss,
        P.stack(inits),
        data,
        _ours(opt_name),
        epochs=4,
        batch_size=64,
        seeds=seeds,
        schedule=ours_sched,
    )
    assert res.steps == 4 * 7
    for i, (init, seed) in enumerate(zip(inits, seeds, strict=True)):
        ref = _reference(init, seed, data, opt_name, 4, 64, ref_sched)
        for k in ref:
            assert torch.allclose(res.params[k][i], ref[k], rtol=1e-10, atol=1e-12), (
                opt_name,
                i,
                k,
            )
    assert not res.diverged.any()
    # the recorded history is each member's dataset loss at the end of each epoch
    final = torch.stack([fm.loss(q, data) for q in P.unstack(res.params)])
    assert torch.allclose(res.history["train_loss"][-1], final)


def test_full_batch_and_inverse_schedule_equal_loop(digits64):
    data = (digits64.x_train[:200], digits64.y_train[:200])
    inits = [models.init_params(SPEC, s, dtype=torch.float64) for s in (0, 1)]
    fm = FunctionalModel(models.build(SPEC, dtype=torch.float64))
    sched = make_schedule("inverse", lr=0.5, c=0.3)
    res = train_ensemble(fm.loss, P.stack(inits), data, SGD(lr=0.5), epochs=5, schedule=sched)
    for i, init in enumerate(inits):
        p = dict(init)
        for ep in range(5):
            g = torch.func.grad(fm.loss)(p, data)
            p = {k: p[k] - sched(ep) * g[k] for k in p}
        assert all(torch.allclose(res.params[k][i], p[k], rtol=1e-10) for k in p)


def test_diverging_member_is_frozen_and_does_not_poison_others():
    # a quadratic-activation net: curvature grows with the weights, so SGD at this lr
    # converges from a normal init and blows up from one 30 times larger
    spec = models.MLPSpec(in_features=1, widths=(4,), out_features=1, activation="quadratic")
    data = polynomial("quadratic", n_train=200, dtype=torch.float64).train
    inits = [models.init_params(spec, s, dtype=torch.float64) for s in range(3)]
    bad = {k: 30 * v for k, v in inits[1].items()}
    fm = FunctionalModel(models.build(spec, dtype=torch.float64), loss="mse")
    stacked = P.stack([inits[0], bad, inits[2]])
    res = train_ensemble(
        fm.loss, stacked, data, SGD(lr=0.05), epochs=3, batch_size=50, seeds=[0, 1, 2]
    )
    assert res.diverged.tolist() == [False, True, False]
    assert res.diverged_epoch.tolist() == [-1, 0, -1]
    # the frozen member keeps its last finite parameters
    assert all(torch.isfinite(res.params[k][1]).all() for k in bad)
    # the others are exactly what training them alone gives, and they did learn
    alone = train_ensemble(
        fm.loss,
        P.stack([inits[0], inits[2]]),
        data,
        SGD(lr=0.05),
        epochs=3,
        batch_size=50,
        seeds=[0, 2],
    )
    for k in bad:
        assert torch.allclose(res.params[k][[0, 2]], alone.params[k], rtol=1e-12, atol=1e-15)
    hist = res.history["train_loss"][:, [0, 2]]
    assert torch.isfinite(hist).all() and (hist[-1] < hist[0]).all()


def test_eval_metrics_and_validation(digits64):
    fm = FunctionalModel(models.build(SPEC, dtype=torch.float64))
    init = P.stack([models.init_params(SPEC, 0, dtype=torch.float64)])
    res = train_ensemble(
        fm.loss,
        init,
        digits64.train,
        Adam(lr=0.01),
        epochs=2,
        batch_size=128,
        eval_data=digits64.test,
        metrics=fm.metrics,
    )
    assert res.history["test_accuracy"].shape == (3, 1)
    assert res.history["test_accuracy"][-1, 0] > res.history["test_accuracy"][0, 0]
    with pytest.raises(LandscapeError, match="batch_size"):
        train_ensemble(fm.loss, init, digits64.train, SGD(), epochs=1, batch_size=0)
    with pytest.raises(LandscapeError, match="seeds"):
        train_ensemble(fm.loss, init, digits64.train, SGD(), epochs=1, seeds=[1, 2])
    with pytest.raises(LandscapeError, match="momentum"):
        SGD(lr=0.1, momentum=1.5)


@pytest.mark.parametrize("opt", [SGD(lr=0.1, momentum=0.9), Adam(lr=0.1)], ids=["sgd", "adam"])
def test_masked_step_rolls_back_a_diverging_member_and_leaves_the_others_exact(opt):
    """The shared update of train_ensemble and the connect bead descent: a member whose
    step goes non-finite keeps its parameters and state; the others step as if alone."""
    gen = torch.Generator().manual_seed(0)
    params = {"w": torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)}
    grads = {"w": torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)}
    state = opt.init(params)
    state = opt.update(grads, state, params)[1]  # a state with momentum in it
    grads["w"][1, 2, 0] = float("inf")
    active = torch.tensor([True, True, False])
    step = masked_step(opt, grads, state, params, active)
    assert step.diverged.tolist() == [False, True, False]
    assert step.active.tolist() == [True, False, False]
    assert torch.equal(step.params["w"][1:], params["w"][1:])  # rolled back / never active
    for key in ("buf", "m", "v"):
        if key in state:
            assert torch.equal(step.state[key]["w"][1:], state[key]["w"][1:])
    # member 0 moved exactly as in an update of member 0 alone
    alone_state = {k: ({"w": v["w"][:1]} if isinstance(v, dict) else v) for k, v in state.items()}
    alone, _ = opt.update({"w": grads["w"][:1]}, alone_state, {"w": params["w"][:1]})
    assert torch.equal(step.params["w"][:1], alone["w"])
    assert bool(finite_members(step.params).all())


def test_masked_step_reads_non_finite_values_and_projects_with_the_final_mask():
    params = {"w": torch.zeros(2, 3, dtype=torch.float64)}
    grads = {"w": torch.ones(2, 3, dtype=torch.float64)}
    masks = []

    def project(p, mask):
        masks.append(mask.tolist())
        return p

    step = masked_step(
        SGD(lr=0.5),
        grads,
        SGD(lr=0.5).init(params),
        params,
        torch.ones(2, dtype=torch.bool),
        values=torch.tensor([1.0, float("nan")]),
        project=project,
    )
    assert step.diverged.tolist() == [False, True] and masks == [[True, True], [True, False]]
    assert step.params["w"][0].tolist() == [-0.5] * 3 and step.params["w"][1].tolist() == [0.0] * 3


def test_finite_members_flags_each_member_with_a_non_finite_entry():
    p = {"a": torch.zeros(4, 2), "b": torch.zeros(4, 3, 1)}
    p["a"][1, 0] = float("nan")
    p["b"][3, 2, 0] = float("-inf")
    assert finite_members(p).tolist() == [True, False, True, False]


def test_minibatches_replay_batch_order_epoch_after_epoch_and_drop_the_tail():
    x = torch.arange(10.0).reshape(10, 1)
    y = torch.arange(10)
    stream = minibatches((x, y), 4, seed=7)
    got = [next(stream)[1].tolist() for _ in range(5)]
    ref = []
    for epoch in range(3):
        order = batch_order(7, epoch, 10).tolist()
        ref += [order[0:4], order[4:8]]  # the last 2 rows of each epoch are dropped
    assert got == ref[:5]


@pytest.mark.parametrize("chunk", [1, 2, 3, "auto-small"])
def test_member_chunks_train_exactly_like_one_pass(chunk, digits64):
    """Members are independent: chunks of them (explicit, or 'auto' under a small memory
    budget) give the one-pass result, history, divergence flags and step count."""
    spec = models.MLPSpec(in_features=64, widths=(7,), out_features=10)
    fm = FunctionalModel(models.build(spec, dtype=torch.float64))
    inits = P.stack([models.init_params(spec, s, dtype=torch.float64) for s in range(5)])
    inits["layers.0.weight"][3, 0, 0] = float("inf")  # one member diverges at once
    kw = dict(
        epochs=2, batch_size=100, seeds=[4, 1, 7, 2, 9], eval_data=digits64.test,
        metrics=fm.metrics,
    )  # fmt: skip
    whole = train_ensemble(fm.loss, inits, digits64.train, SGD(lr=0.5), member_chunk=None, **kw)
    if chunk == "auto-small":
        parts = train_ensemble(fm.loss, inits, digits64.train, SGD(lr=0.5), memory_mb=0.2, **kw)
    else:
        parts = train_ensemble(
            fm.loss, inits, digits64.train, SGD(lr=0.5), member_chunk=chunk, **kw
        )
    for k in whole.params:
        torch.testing.assert_close(parts.params[k], whole.params[k], rtol=1e-12, atol=1e-12)
    assert parts.history.keys() == whole.history.keys()
    for k in whole.history:
        assert parts.history[k].shape == whole.history[k].shape == (3, 5)
        torch.testing.assert_close(parts.history[k], whole.history[k], equal_nan=True)
    assert parts.diverged.tolist() == whole.diverged.tolist()
    assert whole.diverged.tolist()[3] is True
    assert parts.diverged_epoch.tolist() == whole.diverged_epoch.tolist()
    assert parts.steps == whole.steps


def test_member_chunk_validation(digits64):
    fm = FunctionalModel(models.build(SPEC, dtype=torch.float64))
    init = P.stack([models.init_params(SPEC, s, dtype=torch.float64) for s in range(3)])
    for bad in (0, -2, 1.5, True, "big"):
        with pytest.raises(LandscapeError, match="member_chunk"):
            train_ensemble(fm.loss, init, digits64.train, SGD(), 1, member_chunk=bad)
    with pytest.raises(LandscapeError, match="callback"):
        train_ensemble(
            fm.loss, init, digits64.train, SGD(), 1, member_chunk=1, callback=lambda e, r: None
        )
    with pytest.raises(LandscapeError, match="seeds"):
        train_ensemble(fm.loss, init, digits64.train, SGD(), 1, member_chunk=1, seeds=[1])


def test_eval_every_keeps_the_rows_of_the_recorded_epochs(digits64):
    fm = FunctionalModel(models.build(SPEC, dtype=torch.float64))
    init = P.stack([models.init_params(SPEC, s, dtype=torch.float64) for s in range(2)])
    kw = dict(epochs=7, eval_data=digits64.test, metrics=fm.metrics)
    every = train_ensemble(fm.loss, init, digits64.train, SGD(lr=0.1), **kw)
    thin = train_ensemble(fm.loss, init, digits64.train, SGD(lr=0.1), eval_every=3, **kw)
    assert every.eval_epochs == list(range(8))
    assert thin.eval_epochs == [0, 3, 6, 7]  # and the last epoch
    for k in every.history:
        torch.testing.assert_close(thin.history[k], every.history[k][[0, 3, 6, 7]])
    for k in every.params:  # the training itself is unchanged
        torch.testing.assert_close(thin.params[k], every.params[k], rtol=0, atol=0)
    with pytest.raises(LandscapeError, match="eval_every"):
        train_ensemble(fm.loss, init, digits64.train, SGD(), 1, eval_every=0)
