"""``landscape connect`` and ``landscape hessian`` on the workhorse specs and data files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape import checkpoint, models, text
from landscape.cifar import TEST_FILE, TRAIN_FILES, write_cifar_batch
from landscape.cli import main
from landscape.runtime import Store

WORDS = "a the cat dog sat ran on big".split()


def _ptb_dir(folder, seed=0, n_train=40):
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("valid", 6), ("test", 12)):
        lines = [" ".join(rng.choice(WORDS, size=rng.integers(3, 8))) for _ in range(n)]
        (folder / f"ptb.{split}.txt").write_text("".join(f" {ln} \n" for ln in lines))
    return folder


def _cifar_dir(folder):
    rng = np.random.default_rng(0)
    for name, k in [*zip(TRAIN_FILES, (4, 4, 4, 4, 4), strict=True), (TEST_FILE, 6)]:
        x = rng.integers(0, 256, size=(k, 3, 32, 32), dtype=np.uint8)
        write_cifar_batch(folder / name, x, rng.integers(0, 10, size=k, dtype=np.uint8))
    return folder


def _results(store, name):
    with Store(store) as st:
        run = st.runs(name)[0]
        return run, next(iter(st.task_results(run.id).values()))


def _lstm_ckpts(tmp_path, folder, dtype=torch.float64, size=4):
    vocab = len(text.read_corpus(folder).vocab)
    spec = models.LSTMSpec(vocab_size=vocab, embed_size=size, hidden_size=size, layers=1)
    meta = {"data": {"name": "ptb", "seed": 0, "batch_size": 4, "bptt": 5}}
    return spec, [
        checkpoint.save(
            tmp_path / f"lm{s}.ckpt", models.init_params(spec, s, dtype=dtype), spec, meta
        )
        for s in (1, 2)
    ]


def _reference_perplexity(spec, params, folder):
    """exp of the mean cross-entropy over the test windows, with torch's nn.LSTM."""
    ds = text.ptb(folder, batch_size=4, bptt=5)
    x, y = ds.test
    lstm = torch.nn.LSTM(spec.embed_size, spec.hidden_size, batch_first=True).double()
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            p.copy_(params[f"rnn.{name}"])
        h, _ = lstm(params["embed.weight"][x])
        logits = h @ params["decoder.weight"].T + params["decoder.bias"]
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, spec.vocab_size), y.reshape(-1))
    return float(torch.exp(ce))


def test_connect_lstm_on_ptb_files_thresholds_the_perplexity(tmp_path, capsys):
    folder = _ptb_dir(tmp_path)
    spec, (a, b) = _lstm_ckpts(tmp_path, folder)
    pa = _reference_perplexity(spec, checkpoint.load(a).params, folder)
    pb = _reference_perplexity(spec, checkpoint.load(b).params, folder)
    store = tmp_path / "s.db"
    argv = ["connect", str(a), str(b), "--data", "ptb", "--data-dir", str(folder)]
    opts = ["--threshold", str(1.5 * max(pa, pb)), "--measure", "perplexity", "--quiet"]
    opts += ["--set", "dtype=float64"]
    code = main([*argv, *opts, "--method", "linear", "--store", str(store)])
    assert code == 0, capsys.readouterr()
    _, r = _results(store, "connect")
    assert r["measure"] == "test perplexity"
    ends = np.asarray(r["profile.bead_measure"])
    assert ends[0] == pytest.approx(pa, rel=1e-9) and ends[-1] == pytest.approx(pb, rel=1e-9)
    assert r["max_value"] >= max(pa, pb) - 1e-9
    # no weight matching for the LSTM: one line naming it
    code = main([*argv, *opts, "--align", "--store", str(store)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err and "cannot align the LSTM" in err
    # perplexity on a classifier, a file dataset without its folder: one line each
    code = main([*argv[:3], "--data", "digits", *opts, "--store", str(store)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err and "ptb" in err
    code = main([*argv[:5], *opts, "--store", str(store)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err and "--data-dir" in err


def test_lstm_vocabulary_mismatch_is_one_line(tmp_path, capsys):
    folder = _ptb_dir(tmp_path)
    spec = models.LSTMSpec(vocab_size=5, embed_size=4, hidden_size=4, layers=1)
    meta = {"data": {"name": "ptb", "seed": 0, "batch_size": 4, "bptt": 5}}
    a = checkpoint.save(tmp_path / "x.ckpt", models.init_params(spec, 0), spec, meta)
    code = main(["hessian", str(a), "--data", "ptb", "--data-dir", str(folder)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err and "vocabulary" in err


def test_hessian_of_an_lstm_on_ptb_matches_the_dense_hessian(tmp_path, capsys):
    folder = _ptb_dir(tmp_path, seed=1, n_train=12)
    spec, (a, _) = _lstm_ckpts(tmp_path, folder, size=2)
    store = tmp_path / "h.db"
    argv = ["hessian", str(a), "--data", "ptb", "--data-dir", str(folder), "--top", "1"]
    code = main(
        [*argv, "--set", "tol=1e-8", "--set", "dtype=float64", "--store", str(store), "--quiet"]
    )
    assert code == 0, capsys.readouterr()
    _, r = _results(store, "hessian")
    # the slow reference: the dense Hessian of the training cross-entropy, nn.LSTM inside
    p = checkpoint.load(a).params
    names = list(p)
    flat = torch.cat([p[k].reshape(-1) for k in names])
    x, y = text.ptb(folder, batch_size=4, bptt=5).train
    lstm = torch.nn.LSTM(spec.embed_size, spec.hidden_size, batch_first=True).double()

    def loss(v):
        q, i = {}, 0
        for k in names:
            q[k] = v[i : i + p[k].numel()].reshape(p[k].shape)
            i += p[k].numel()
        rnn = {n: q[f"rnn.{n}"] for n, _ in lstm.named_parameters()}
        h, _ = torch.func.functional_call(lstm, rnn, (q["embed.weight"][x],))
        logits = h @ q["decoder.weight"].T + q["decoder.bias"]
        return torch.nn.functional.cross_entropy(logits.reshape(-1, spec.vocab_size), y.reshape(-1))

    dense = torch.func.hessian(loss)(flat)
    top = float(torch.linalg.eigvalsh(dense)[-1])
    assert float(r["top_eigenvalues"][0]) == pytest.approx(top, rel=1e-6)


def test_connect_cnn_on_cifar_files_aligns_channels(tmp_path, capsys):
    folder = _cifar_dir(tmp_path)
    spec = models.CNNSpec(in_channels=3, image_size=32, channels=(3, 4), out_features=10)
    meta = {"data": {"name": "cifar10", "seed": 0, "standardize": "unit"}, "loss": "cross_entropy"}
    paths = [
        checkpoint.save(tmp_path / f"c{s}.ckpt", models.init_params(spec, s), spec, meta)
        for s in (1, 2)
    ]
    store = tmp_path / "c.db"
    argv = ["connect", *map(str, paths), "--data", "cifar10", "--data-dir", str(folder)]
    code = main(
        [*argv, "--threshold", "50", "--align", "--method", "linear", "--store", str(store)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "barrier after align" in out
    run, _ = _results(store, "connect")
    beads = sorted((run.folder / "string").glob("bead_*.ckpt"))
    last, b = checkpoint.load(beads[-1]), checkpoint.load(paths[1])
    assert any(not torch.equal(last.params[k], b.params[k]) for k in b.params)  # permuted
    x = torch.rand(5, 3 * 32 * 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(last.build()(x), b.build()(x), atol=1e-5)
