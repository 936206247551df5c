from __future__ import annotations

import pickle

import pytest
import torch

from landscape import CheckpointError, checkpoint, models


@pytest.fixture
def saved(tmp_path):
    spec = models.MLPSpec(in_features=4, widths=(3,), out_features=2)
    params = models.init_params(spec, seed=0)
    path = checkpoint.save(tmp_path / "m.ckpt", params, spec, meta={"loss": 0.5})
    return path, spec, params


def test_round_trip(saved):
    path, spec, params = saved
    ck = checkpoint.load(path)
    assert ck.spec == spec and ck.meta == {"loss": 0.5}
    assert list(ck.params) == list(params)
    assert all(torch.equal(ck.params[k], params[k]) for k in params)
    module = ck.build()
    assert torch.equal(module.layers[0].weight, params["layers.0.weight"])


def test_loads_with_weights_only(saved, monkeypatch):
    calls = []
    real = torch.load

    def spy(*a, **k):
        calls.append(k.get("weights_only"))
        return real(*a, **k)

    monkeypatch.setattr(torch, "load", spy)
    checkpoint.load(saved[0])
    assert calls == [True]


def test_user_module_without_spec(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1))
    path = checkpoint.save(tmp_path / "u.ckpt", net)
    ck = checkpoint.load(path, model=net)
    assert ck.spec is None and set(ck.params) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    with pytest.raises(CheckpointError, match="no model spec"):
        ck.build()
    other = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    with pytest.raises(CheckpointError, match="shape"):
        checkpoint.load(path, model=other)


def test_rejects_files_that_are_not_checkpoints(tmp_path):
    (tmp_path / "junk").write_bytes(b"hello, not a torch file")
    with pytest.raises(CheckpointError, match="not a landscape checkpoint"):
        checkpoint.load(tmp_path / "junk")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a landscape checkpoint"):
        checkpoint.load(tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "absent.ckpt")


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_refuses_pickled_code(tmp_path, capsys):
    with open(tmp_path / "evil.ckpt", "wb") as fh:
        pickle.dump({"format": checkpoint.FORMAT, "params": _Evil()}, fh)
    with pytest.raises(CheckpointError, match="not a landscape checkpoint"):
        checkpoint.load(tmp_path / "evil.ckpt")
    assert "code ran" not in capsys.readouterr().out


def _tamper(path, fn):
    payload = torch.load(path, weights_only=True)
    fn(payload)
    torch.save(payload, path)


def test_rejects_missing_extra_misshaped_and_nonfinite(saved):
    path, _, _ = saved
    _tamper(path, lambda p: p["params"].pop("layers.1.bias"))
    with pytest.raises(CheckpointError, match=r"missing \['layers.1.bias'\]"):
        checkpoint.load(path)
    _tamper(
        path,
        lambda p: p["params"].update({"layers.1.bias": torch.zeros(2), "extra": torch.zeros(1)}),
    )
    with pytest.raises(CheckpointError, match=r"unexpected \['extra'\]"):
        checkpoint.load(path)
    _tamper(
        path,
        lambda p: (
            p["params"].pop("extra"),
            p["params"].update({"layers.0.weight": torch.zeros(3, 5)}),
        ),
    )
    with pytest.raises(CheckpointError, match="shape"):
        checkpoint.load(path)

    def nan(p):
        w = torch.zeros(3, 4)
        w[0, 0] = float("nan")
        p["params"]["layers.0.weight"] = w

    _tamper(path, nan)
    with pytest.raises(CheckpointError, match="non-finite"):
        checkpoint.load(path)
    assert checkpoint.load(path, allow_nonfinite=True).params["layers.0.weight"].isnan().any()


def test_meta_must_be_json(tmp_path):
    with pytest.raises(CheckpointError, match="JSON"):
        checkpoint.save(tmp_path / "x.ckpt", {"w": torch.zeros(1)}, meta={"bad": object()})


def test_rejects_meta_that_is_not_a_dict_and_params_without_names(saved):
    path, _, _ = saved
    _tamper(path, lambda p: p.update(meta=[1, 2]))
    with pytest.raises(CheckpointError, match="'meta' must be a dict"):
        checkpoint.load(path)
    _tamper(path, lambda p: p.update(meta={}, params={}))
    with pytest.raises(CheckpointError, match="non-empty dict"):
        checkpoint.load(path)


def test_integer_tensors_load_but_do_not_build(saved):
    path, _, params = saved
    _tamper(path, lambda p: p["params"].update({k: v.long() for k, v in params.items()}))
    ck = checkpoint.load(path)  # readable (inspect lists it) ...
    assert ck.params["layers.0.weight"].dtype == torch.int64
    with pytest.raises(CheckpointError, match="not floating point"):
        ck.build()  # ... but a model cannot be made of it


def _bn_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.Linear(8, 3),
    )
    net[0].weight.requires_grad_(False)  # a frozen layer is still part of the model
    net.train()
    with torch.no_grad():
        for _ in range(3):  # running statistics far from their defaults
            net(3.0 * torch.randn(16, 3, 8, 8) + 1.0)
    return net.eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_module_checkpoint_keeps_the_whole_state_dict(tmp_path, seed):
    net = _bn_net(seed)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    path = checkpoint.save(tmp_path / "bn.ckpt", net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # not mutated
    ck = checkpoint.load(path, model=net)
    assert set(ck.state_dict()) == set(net.state_dict())
    assert {"1.running_mean", "1.running_var", "1.num_batches_tracked"} <= set(ck.buffers)
    assert "0.weight" in ck.params and "1.running_mean" not in ck.params
    fresh = _bn_net(seed + 100)  # other weights and other statistics
    fresh.load_state_dict(ck.state_dict())
    x = torch.randn(5, 3, 8, 8)
    assert torch.equal(fresh(x), net(x))  # eval mode: the saved statistics are used
    assert int(ck.buffers["1.num_batches_tracked"]) == 3


def test_version_one_file_without_buffers_is_refused_for_a_model_with_buffers(tmp_path):
    net = _bn_net()
    path = checkpoint.save(tmp_path / "old.ckpt", net)
    payload = torch.load(path, weights_only=True)
    payload["version"] = 1
    del payload["buffers"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"version-1 .*BatchNorm statistics are lost"):
        checkpoint.load(path, model=net)


def test_params_dict_with_a_spec_keeps_buffers_apart(tmp_path, saved):
    path, _spec, params = saved
    payload = torch.load(path, weights_only=True)
    assert payload["version"] == checkpoint.VERSION and payload["buffers"] == {}
    payload["version"] = 1  # a file from before buffers: still reads, nothing is missing
    del payload["buffers"]
    torch.save(payload, tmp_path / "v1.ckpt")
    ck = checkpoint.load(tmp_path / "v1.ckpt")
    assert ck.buffers == {} and all(torch.equal(ck.params[k], params[k]) for k in params)


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_not_a_regular_file_is_named_as_such(tmp_path, kind):
    import os

    if kind == "directory":
        path = tmp_path
    elif kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    with pytest.raises(CheckpointError, match=r"is a (directory|FIFO|character device)"):
        checkpoint.load(path)


def test_extra_state_that_is_not_a_tensor_is_refused_in_one_line(tmp_path):
    class WithExtra(torch.nn.Linear):
        def get_extra_state(self):
            return {"note": "not a tensor"}

        def set_extra_state(self, state):
            pass

    with pytest.raises(CheckpointError, match=r"not tensors.*_extra_state"):
        checkpoint.save(tmp_path / "x.ckpt", WithExtra(2, 2))
    assert not (tmp_path / "x.ckpt").exists()
