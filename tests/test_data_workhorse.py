"""CIFAR-10 binary, Penn Treebank text and full-size MNIST loaders on tiny files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape import DataError, data, text
from landscape.cifar import (
    RECORD_BYTES,
    TEST_FILE,
    TRAIN_FILES,
    read_cifar_batch,
    write_cifar_batch,
)


def _cifar_dir(tmp_path, n=(3, 2, 2, 1, 2), n_test=4):
    rng = np.random.default_rng(0)
    written = {}
    for name, k in [*zip(TRAIN_FILES, n, strict=True), (TEST_FILE, n_test)]:
        x = rng.integers(0, 256, size=(k, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, size=k, dtype=np.uint8)
        write_cifar_batch(tmp_path / name, x, y)
        written[name] = (x, y)
    return written


def test_cifar_record_layout_and_values(tmp_path):
    written = _cifar_dir(tmp_path)
    x, y = written[TRAIN_FILES[0]]
    raw = (tmp_path / TRAIN_FILES[0]).read_bytes()
    assert len(raw) == 3 * RECORD_BYTES
    # record 1: label byte, then red plane, green plane, blue plane, row by row
    rec = raw[RECORD_BYTES : 2 * RECORD_BYTES]
    assert rec[0] == y[1] and rec[1] == x[1, 0, 0, 0] and rec[1 + 1024] == x[1, 1, 0, 0]
    assert rec[1 + 2048 + 32 * 5 + 7] == x[1, 2, 5, 7]
    xi, yi = read_cifar_batch(tmp_path / TRAIN_FILES[0])
    assert np.array_equal(xi, x) and np.array_equal(yi, y)
    ds = data.load("cifar10", directory=tmp_path, dtype=torch.float64)
    assert ds.x_train.shape == (10, 3072) and ds.x_test.shape == (4, 3072)
    all_x = np.concatenate([written[f][0] for f in TRAIN_FILES])
    all_y = np.concatenate([written[f][1] for f in TRAIN_FILES])
    assert torch.equal(ds.y_train, torch.as_tensor(all_y, dtype=torch.int64))
    assert torch.allclose(ds.x_train, torch.as_tensor(all_x.reshape(10, -1) / 255.0))
    ch = data.load("cifar10", directory=tmp_path, standardize="channel", dtype=torch.float64)
    planes = ch.x_train.reshape(10, 3, -1)
    assert torch.allclose(planes.mean(dim=(0, 2)), torch.zeros(3, dtype=torch.float64), atol=1e-12)


def test_cifar_broken_files_are_one_line_errors(tmp_path):
    _cifar_dir(tmp_path)
    with pytest.raises(DataError, match="needs directory"):
        data.load("cifar10")
    bad = tmp_path / TRAIN_FILES[2]
    bad.write_bytes(bad.read_bytes()[:-5])
    with pytest.raises(DataError, match=r"not a whole number of 3073-byte records.*truncated"):
        data.load("cifar10", directory=tmp_path)
    raw = bytearray((tmp_path / TRAIN_FILES[1]).read_bytes())
    raw[RECORD_BYTES] = 42
    bad.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="record 1 has label byte 42"):
        read_cifar_batch(bad)
    (tmp_path / TEST_FILE).unlink()
    with pytest.raises(DataError, match=r"lacks test_batch\.bin") as err:
        data.load("cifar10", directory=tmp_path)
    assert "\n" not in str(err.value)


def _ptb_dir(tmp_path):
    (tmp_path / "ptb.train.txt").write_text(
        " the cat sat \n a dog ran \n the dog sat on the cat \n"
    )
    (tmp_path / "ptb.valid.txt").write_text(" the cat ran \n")
    (tmp_path / "ptb.test.txt").write_text(" a cat sat on a dog \n the dog \n")
    return tmp_path


def test_ptb_vocabulary_batchify_and_windows(tmp_path):
    corpus = text.read_corpus(_ptb_dir(tmp_path))
    assert corpus.vocab == ("the", "cat", "sat", "<eos>", "a", "dog", "ran", "on")
    words = "the cat sat <eos> a dog ran <eos> the dog sat on the cat <eos>".split()
    assert [corpus.vocab[i] for i in corpus.train] == words
    assert [corpus.vocab[i] for i in corpus.valid] == "the cat ran <eos>".split()
    cols = text.batchify(corpus.train, 2)  # 15 tokens → 2 columns of 7, one dropped
    assert cols.shape == (7, 2)
    assert torch.equal(cols[:, 0], corpus.train[:7]) and torch.equal(cols[:, 1], corpus.train[7:14])
    x, y = text.bptt_windows(cols, 3)  # (7 − 1) // 3 = 2 windows per column
    assert x.shape == (4, 3) and y.shape == (4, 3)
    for w in range(2):
        for b in range(2):
            assert torch.equal(x[2 * w + b], cols[3 * w : 3 * w + 3, b])
            assert torch.equal(y[2 * w + b], cols[3 * w + 1 : 3 * w + 4, b])
    ds = data.load("ptb", directory=tmp_path, batch_size=2, bptt=3)
    assert ds.task == "language-model" and ds.num_classes == 8 and ds.loss == "cross_entropy"
    assert torch.equal(ds.x_train, x) and ds.x_train.dtype == torch.int64
    assert ds.to("cpu", torch.float64).x_train.dtype == torch.int64


def test_ptb_errors(tmp_path):
    _ptb_dir(tmp_path)
    (tmp_path / "ptb.test.txt").write_text(" a zebra \n")
    with pytest.raises(DataError, match=r"word 'zebra' \(line 1\) is not in the training vocab"):
        text.read_corpus(tmp_path)
    (tmp_path / "ptb.valid.txt").unlink()
    with pytest.raises(DataError, match=r"lacks ptb\.valid\.txt"):
        data.load("ptb", directory=tmp_path)
    (tmp_path / "ptb.valid.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(DataError, match="not UTF-8"):
        text.tokenize(tmp_path / "ptb.valid.txt")
    with pytest.raises(DataError, match="no BPTT window"):
        text.bptt_windows(torch.arange(4).reshape(2, 2), 5)


def test_generated_corpus_is_seeded_and_predictable():
    a, b = text.generated_corpus(seed=3), text.generated_corpus(seed=3)
    assert torch.equal(a.train, b.train) and not torch.equal(
        a.train, text.generated_corpus(1).train
    )
    # the bigram entropy is far below the unigram entropy: there is something to learn
    v = len(a.vocab)
    counts = np.zeros((v, v))
    np.add.at(counts, (a.train[:-1].numpy(), a.train[1:].numpy()), 1)
    p = counts / counts.sum()
    pj = p.sum(1, keepdims=True)
    cond = -(p[p > 0] * np.log((p / np.where(pj > 0, pj, 1))[p > 0])).sum()
    uni = p.sum(0)
    assert cond < 0.6 * -(uni[uni > 0] * np.log(uni[uni > 0])).sum()


def test_mnist_full_size_option(tmp_path):
    rng = np.random.default_rng(0)
    for stem, n in (("train", 6), ("t10k", 3)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        data.write_idx(tmp_path / f"{stem}-images-idx3-ubyte", x)
        data.write_idx(
            tmp_path / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8)
        )
        if stem == "train":
            first = x
    full = data.load("mnist", directory=tmp_path, size=None, dtype=torch.float64)
    assert full.x_train.shape == (6, 784) and full.meta["image_size"] == 28
    assert torch.allclose(full.x_train, torch.as_tensor(first.reshape(6, -1) / 255.0))


@pytest.mark.parametrize(("split", "bptt"), [("test", 3), ("train", 40)])
def test_a_short_ptb_split_names_its_file(tmp_path, split, bptt):
    """issue 21, item 15: the error said "no BPTT window" without the file."""
    _ptb_dir(tmp_path)
    (tmp_path / "ptb.test.txt").write_text(" the \n")  # 2 tokens: no window of 3
    with pytest.raises(DataError, match=rf"ptb\.{split}\.txt \(ptb {split} split\) is too short"):
        data.load("ptb", directory=tmp_path, batch_size=2, bptt=bptt)


def test_a_gzip_bomb_is_refused_by_its_header_unread(tmp_path):
    """issue 21, item 15: 13 MB of gzip expanding without end ended in MemoryError."""
    import gzip

    # a header declaring 10¹⁰ bytes of images (over the limit), then a few MB of zeros
    header = bytes([0, 0, 0x08, 3]) + b"".join(n.to_bytes(4, "big") for n in (100_000, 1000, 100))
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb") as fh:
        fh.write(header)
        fh.write(bytes(4 << 20))
    with pytest.raises(DataError, match=r"declares shape \(100000, 1000, 100\).*GiB.*not read"):
        data.read_idx(bomb)
    # a small declared shape with far more data behind it: only what it declares is read
    liar = tmp_path / "liar.gz"
    small = bytes([0, 0, 0x08, 1]) + (10).to_bytes(4, "big")
    with gzip.open(liar, "wb") as fh:
        fh.write(small + bytes(8 << 20))
    with pytest.raises(DataError, match="more bytes follow"):
        data.read_idx(liar)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_a_bad_seed_is_a_landscape_error(seed):
    from landscape import LandscapeError

    with pytest.raises(LandscapeError, match=r"seed must be an integer in 0\.\.4294967295"):
        data.digits(seed=seed)
