"""The workhorse specs: CNN with BatchNorm/dropout, the explicit LSTM language model."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from landscape import checkpoint, models, params
from landscape.evaluate import Evaluator
from landscape.functional import FunctionalModel

CNN = models.CNNSpec(image_size=8, channels=(3, 4), out_features=5, batchnorm=True, dropout=0.3)
LSTM = models.LSTMSpec(vocab_size=11, embed_size=6, hidden_size=5, layers=2)
TIED = models.LSTMSpec(vocab_size=11, embed_size=5, hidden_size=5, layers=1, tie_weights=True)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_explicit_lstm_equals_nn_lstm(layers, seed):
    spec = models.LSTMSpec(vocab_size=13, embed_size=6, hidden_size=4, layers=layers)
    m = models.build(spec, seed=seed, dtype=torch.float64)
    ref = nn.LSTM(6, 4, num_layers=layers, batch_first=True).double()
    ref.load_state_dict(
        {k.removeprefix("rnn."): v for k, v in m.state_dict().items() if k.startswith("rnn.")}
    )
    x = torch.randint(0, 13, (5, 9), generator=torch.Generator().manual_seed(seed))
    h, _ = ref(m.embed(x))
    expected = (h @ m.decoder.weight.T + m.decoder.bias).transpose(1, 2)
    assert torch.allclose(m(x), expected, atol=1e-12, rtol=0)


def test_tied_lstm_uses_the_embedding_as_decoder():
    m = models.build(TIED, seed=0, dtype=torch.float64)
    names = dict(m.named_parameters())
    assert "decoder.weight" not in names and "embed.weight" in names
    with pytest.raises(ValueError, match="tie_weights needs embed_size == hidden_size"):
        models.LSTMSpec(vocab_size=5, embed_size=4, hidden_size=3, tie_weights=True)


@pytest.mark.parametrize("spec", [CNN, LSTM, TIED], ids=["cnn-bn", "lstm", "lstm-tied"])
def test_json_and_checkpoint_round_trip(tmp_path, spec):
    again = models.spec_from_dict(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again == spec
    p = models.init_params(spec, seed=4, dtype=torch.float64)
    path = checkpoint.save(tmp_path / "m.ckpt", p, spec, meta={"loss": "cross_entropy"})
    ck = checkpoint.load(path)
    assert ck.spec == spec and all(torch.equal(ck.params[k], p[k]) for k in p)
    m = ck.build()
    x = (
        torch.randint(0, 11, (3, 4))
        if spec.kind == "lstm"
        else torch.randn(3, 64, dtype=torch.float64)
    )
    fm = FunctionalModel(models.build(spec, dtype=torch.float64))
    assert torch.allclose(m.eval()(x), fm.forward(p, x))


@pytest.mark.parametrize("spec", [CNN, LSTM, TIED], ids=["cnn-bn", "lstm", "lstm-tied"])
def test_vmapped_evaluation_equals_a_loop(spec):
    fm = FunctionalModel(models.build(spec, dtype=torch.float64), loss="cross_entropy")
    g = torch.Generator().manual_seed(0)
    if spec.kind == "lstm":
        x, y = torch.randint(0, 11, (7, 6), generator=g), torch.randint(0, 11, (7, 6), generator=g)
    else:
        x, y = (
            torch.randn(7, 64, generator=g, dtype=torch.float64),
            torch.randint(0, 5, (7,), generator=g),
        )
    pts = [models.init_params(spec, seed=s, dtype=torch.float64) for s in range(4)]
    measure = "perplexity" if spec.kind == "lstm" else "error"
    for name in ("loss", measure):
        ev = Evaluator.of_model(fm, (x, y), name, chunk_size=3, points_chunk=3)
        batched = ev.points(params.stack(pts))
        looped = torch.stack([ev(p) for p in pts])
        assert torch.allclose(batched, looped, atol=1e-12, rtol=0)
    # the loop's reference by hand: per-token cross-entropy, its exponential the perplexity
    out = fm.forward(pts[0], x)
    ce = nn.functional.cross_entropy(out, y) if spec.kind == "lstm" else None
    if ce is not None:
        ppl = Evaluator.of_model(fm, (x, y), "perplexity")(pts[0])
        assert torch.allclose(ppl, torch.exp(ce))
        tokens = out.transpose(1, 2).reshape(-1, 11)
        assert torch.allclose(ce, nn.functional.cross_entropy(tokens, y.reshape(-1)))


def test_cnn_batchnorm_is_eval_mode_affine_and_dropout_off():
    m = models.build(CNN, seed=0, dtype=torch.float64)
    bn = m.features[1]
    assert isinstance(bn, nn.BatchNorm2d) and "features.1.running_mean" not in m.state_dict()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    expected = (
        x * (bn.weight / torch.sqrt(torch.tensor(1.0 + bn.eps)))[:, None, None]
        + bn.bias[:, None, None]
    )
    assert torch.allclose(bn.eval()(x), expected)
    fm = FunctionalModel(m)
    xs = torch.randn(4, 64, dtype=torch.float64)
    assert torch.equal(fm.forward(fm.params(), xs), fm.forward(fm.params(), xs))
