from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape import DataError, LandscapeError, data


def test_digits_split_deterministic_and_disjoint():
    a, b = data.digits(seed=0), data.digits(seed=0)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.x_train.shape == (1438, 64) and a.x_test.shape == (359, 64)
    assert a.num_classes == 10 and a.task == "classification"
    assert float(a.x_train.max()) <= 1.0 and float(a.x_train.min()) >= 0.0
    c = data.digits(seed=1)
    assert not torch.equal(a.y_train, c.y_train)
    # the split is a partition of the 1797 images
    allx = torch.cat([a.x_train, a.x_test])
    assert (
        torch.unique(allx, dim=0).shape[0]
        == torch.unique(torch.cat([c.x_train, c.x_test]), dim=0).shape[0]
    )


def test_feature_standardization_uses_train_statistics():
    d = data.digits(seed=0, standardize="feature", dtype=torch.float64)
    mu = d.x_train.mean(0)
    assert torch.allclose(mu, torch.zeros_like(mu), atol=1e-10)
    varying = d.x_train.std(0) > 0
    assert torch.allclose(
        d.x_train.std(0, unbiased=False)[varying],
        torch.ones(int(varying.sum()), dtype=torch.float64),
    )
    with pytest.raises(LandscapeError, match="standardize"):
        data.digits(standardize="minmax")


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_idx_round_trip(tmp_path, name, dtype):
    arr = (np.arange(2 * 3 * 4).reshape(2, 3, 4) % 251).astype(dtype)
    path = data.write_idx(tmp_path / name, arr)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = data.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    assert np.array_equal(back, arr)


def test_idx_header_bytes_by_hand(tmp_path):
    # magic 0x00000801 (uint8, 1 dim), size 3, data 7 8 9
    (tmp_path / "l").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    assert data.read_idx(tmp_path / "l").tolist() == [7, 8, 9]


def test_idx_rejections(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(DataError, match="not an IDX"):
        data.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(DataError, match="truncated"):
        data.read_idx(tmp_path / "short")
    with pytest.raises(DataError, match="not found"):
        data.read_idx(tmp_path / "missing")


def test_area_downsample_hand_computed():
    img = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])[None]
    # 3 -> 2: cell width 1.5; row weights [[1, .5, 0], [0, .5, 1]] / 1.5
    out = data.area_downsample(img, 2)[0]
    w = np.array([[1, 0.5, 0], [0, 0.5, 1]]) / 1.5
    assert np.allclose(out, w @ img[0] @ w.T)
    # top-left by hand: (1 + .5*2 + .5*4 + .25*5) / 2.25
    assert out[0, 0] == pytest.approx((1 + 1 + 2 + 1.25) / 2.25)
    # integer factor 4 -> 2 is a plain 2x2 block mean
    sq = np.arange(16.0).reshape(1, 4, 4)
    assert np.allclose(data.area_downsample(sq, 2)[0], [[2.5, 4.5], [10.5, 12.5]])


def test_area_downsample_28_to_10_preserves_mean():
    rng = np.random.default_rng(0)
    imgs = rng.uniform(0, 255, size=(3, 28, 28))
    out = data.area_downsample(imgs, 10)
    assert out.shape == (3, 10, 10)
    assert np.allclose(out.mean(axis=(1, 2)), imgs.mean(axis=(1, 2)))
    with pytest.raises(DataError, match="k must be"):
        data.area_downsample(imgs, 40)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_files(tmp_path, gz, write_mnist):
    write_mnist(tmp_path, gz=gz)
    ds = data.mnist(tmp_path, size=10)
    assert ds.x_train.shape == (12, 100) and ds.x_test.shape == (5, 100)
    assert ds.y_train.tolist() == [i % 10 for i in range(12)]
    raw = data.read_idx(next(tmp_path.glob("train-images*")))
    expect = data.area_downsample(raw.astype(np.float64), 10).reshape(12, -1) / 255.0
    assert np.allclose(ds.x_train.numpy(), expect, atol=1e-6)
    full = data.load("mnist", directory=tmp_path, size=None)
    assert full.x_train.shape == (12, 784)
    sub = data.mnist(tmp_path, n_train=4, seed=3)
    assert sub.x_train.shape == (4, 100)


def test_mnist_missing_files(tmp_path):
    with pytest.raises(DataError, match="train-images"):
        data.mnist(tmp_path)
    with pytest.raises(DataError, match="directory"):
        data.load("mnist")


@pytest.mark.parametrize("kind", ["quadratic", "cubic"])
def test_polynomials(kind):
    ds = data.polynomial(kind, n_train=500, n_test=100, seed=0, dtype=torch.float64)
    x, y = ds.train
    assert x.shape == (500, 1) and y.shape == (500, 1)
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    f = (
        (lambda t: 0.5 * t**2 + 0.25 * t + 0.1)
        if kind == "quadratic"
        else (lambda t: 8 * t**3 - 10 * t**2 + 3 * t)
    )
    assert torch.allclose(y, f(x))
    again = data.polynomial(kind, n_train=500, n_test=100, seed=0, dtype=torch.float64)
    assert torch.equal(again.x_test, ds.x_test)


def test_teacher_student():
    ds, teacher = data.teacher_student(d=6, k=3, n_train=200, seed=0, dtype=torch.float64)
    assert torch.allclose(teacher @ teacher.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
    x, y = ds.train
    assert torch.allclose(y[:, 0], torch.relu(x @ teacher.T).sum(1))
    with pytest.raises(LandscapeError, match="teacher units"):
        data.teacher_student(d=3, k=4)


def test_unknown_dataset():
    with pytest.raises(LandscapeError, match="allowed"):
        data.load("imagenet")  # cifar10 is a known dataset now


# ---------------------------------------------------------------- bad files: one DataError each


def _bad_mnist(folder, write_mnist, kind):
    """A small MNIST folder with one file broken in the way ``kind`` names."""
    write_mnist(folder)
    images, labels = folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    if kind == "not gzip":
        labels.write_bytes(b"\x1f\x8b" + b"not really gzip" * 4)
    elif kind == "truncated gzip":
        raw = images.read_bytes()
        images.write_bytes(raw[: len(raw) // 2])
    elif kind == "labels outside 0-9":
        data.write_idx(labels, np.full(12, 42, np.uint8))
    elif kind == "zero samples":
        data.write_idx(images, np.zeros((0, 28, 28), np.uint8))
        data.write_idx(labels, np.zeros(0, np.uint8))
    elif kind == "NaN images":
        data.write_idx(images, np.full((12, 28, 28), np.nan, np.float32))
    elif kind == "float labels":
        data.write_idx(labels, np.arange(12, dtype=np.float32))
    elif kind == "empty file":
        images.write_bytes(b"")
    elif kind == "counts disagree":
        data.write_idx(labels, np.zeros(11, np.uint8))
    return (
        images if kind in ("truncated gzip", "NaN images", "empty file", "zero samples") else labels
    )


BAD_MNIST = {
    "not gzip": "not a valid gzip file",
    "truncated gzip": "truncated",
    "labels outside 0-9": "outside 0-9",
    "zero samples": "0 samples",
    "NaN images": "NaN or infinite",
    "float labels": "must be integers",
    "empty file": "not an IDX file",
    "counts disagree": "12 images",
}


@pytest.mark.parametrize("kind", list(BAD_MNIST))
def test_bad_mnist_files_are_one_data_error_naming_the_file(tmp_path, write_mnist, kind):
    bad = _bad_mnist(tmp_path, write_mnist, kind)
    with pytest.raises(DataError) as exc:
        data.mnist(tmp_path)
    text = str(exc.value)
    assert "\n" not in text and BAD_MNIST[kind] in text and bad.name in text, text
    with pytest.raises(DataError, match=BAD_MNIST[kind]):
        data.check_mnist_dir(tmp_path, values=True)


def test_check_mnist_dir_reads_only_headers_unless_asked(tmp_path, write_mnist):
    _bad_mnist(tmp_path, write_mnist, "labels outside 0-9")
    shapes = data.check_mnist_dir(tmp_path)  # headers are fine
    assert shapes["train_images"] == (12, 28, 28) and shapes["test_labels"] == (5,)
    assert data.read_idx_header(tmp_path / "train-images-idx3-ubyte.gz")[1] == (12, 28, 28)


def test_idx_header_promising_more_dimensions_than_the_file_has(tmp_path):
    p = tmp_path / "short"
    p.write_bytes(bytes([0, 0, 0x08, 3, 0, 0]))
    with pytest.raises(DataError, match="truncated"):
        data.read_idx(p)


def test_mnist_subset_sizes_must_be_positive(tmp_path, write_mnist):
    write_mnist(tmp_path)
    with pytest.raises(DataError, match="n_train=0"):
        data.mnist(tmp_path, n_train=0)
