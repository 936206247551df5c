"""Datasets: bundled digits, MNIST from IDX files, polynomial regression, teacher–student.

Every loader is deterministic for its ``seed``, returns a :class:`Dataset` with a train and
a test split, and needs no download: digits ship with scikit-learn, MNIST is read from IDX
files the user supplies (area-downsampled or at full 28×28), CIFAR-10 from its binary files
(:mod:`landscape.cifar`), Penn Treebank from its text files (:mod:`landscape.text`), the rest
is generated. :func:`load` knows them all by name.

Shape letters: ``N`` samples, ``D`` input features.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

from ._errors import DataError, LandscapeError, check_choice
from ._validate import check_file, check_seed

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetName",
    "area_downsample",
    "check_mnist_dir",
    "digits",
    "load",
    "mnist",
    "polynomial",
    "read_idx",
    "read_idx_header",
    "teacher_student",
    "write_idx",
]

Standardize = Literal["none", "unit", "feature", "global"]


@dataclass
class Dataset:
    """A train/test split of (inputs, targets) tensors.

    Attributes:
        name: short name (``digits``, ``mnist``, ``quadratic``, …).
        x_train, y_train, x_test, y_test: ``(N, D)`` inputs and ``(N,)`` class labels
            (int64) or ``(N, 1)`` regression targets.
        task: ``"classification"``, ``"regression"`` or ``"language-model"`` (``x`` and
            ``y`` are ``(N, T)`` token ids, see :mod:`landscape.text`).
        num_classes: classes for classification (the vocabulary size of a language
            model), else 0.
        meta: how it was made (seed, sizes, options) for the run store.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    task: Literal["classification", "regression", "language-model"]
    num_classes: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def train(self) -> tuple[Tensor, Tensor]:
        return self.x_train, self.y_train

    @property
    def test(self) -> tuple[Tensor, Tensor]:
        return self.x_test, self.y_test

    @property
    def in_features(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def out_features(self) -> int:
        if self.task == "regression":
            return int(self.y_train.shape[1])
        return self.num_classes

    @property
    def loss(self) -> str:
        """The natural loss name for the task (cross-entropy or mean squared error)."""
        return "mse" if self.task == "regression" else "cross_entropy"

    def to(self, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> Dataset:
        """A copy on ``device``; inputs (and regression targets) cast to ``dtype``."""

        def cast(t: Tensor, is_target: bool) -> Tensor:
            if dtype is None or (is_target and self.task != "regression"):
                return t.to(device)
            if self.task == "language-model":  # token ids stay int64
                return t.to(device)
            return t.to(device=device, dtype=dtype)

        return Dataset(
            self.name,
            cast(self.x_train, False),
            cast(self.y_train, True),
            cast(self.x_test, False),
            cast(self.y_test, True),
            self.task,
            self.num_classes,
            dict(self.meta),
        )

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` / ``n_test`` rows of each split."""
        return Dataset(
            self.name,
            self.x_train[:n_train],
            self.y_train[:n_train],
            self.x_test[:n_test],
            self.y_test[:n_test],
            self.task,
            self.num_classes,
            {**self.meta, "n_train": n_train, "n_test": n_test},
        )

    def summary(self) -> dict:
        return {
            "name": self.name,
            "task": self.task,
            "n_train": int(self.x_train.shape[0]),
            "n_test": int(self.x_test.shape[0]),
            "in_features": self.in_features,
            "out_features": self.out_features,
        }


# ---------------------------------------------------------------- splitting and scaling


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < test_fraction < 1.0:
        raise LandscapeError(f"test_fraction must be in (0, 1), got {test_fraction}")
    perm = np.random.default_rng(check_seed(seed)).permutation(n)
    n_test = max(1, round(n * test_fraction))
    return perm[n_test:], perm[:n_test]


def _standardize(
    x_train: np.ndarray, x_test: np.ndarray, how: str, max_value: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Scale inputs with statistics of the training split only."""
    check_choice("standardize", how, ("none", "unit", "feature", "global"))
    if how == "none":
        return x_train, x_test
    if how == "unit":
        m = max_value if max_value is not None else float(np.abs(x_train).max()) or 1.0
        return x_train / m, x_test / m
    if how == "global":
        mu, sd = x_train.mean(), x_train.std() or 1.0
        return (x_train - mu) / sd, (x_test - mu) / sd
    mu, sd = x_train.mean(0), x_train.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return (x_train - mu) / sd, (x_test - mu) / sd


def _classification(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    test_fraction: float,
    standardize: str,
    max_value: float | None,
    meta: dict,
    dtype: torch.dtype,
) -> Dataset:
    tr, te = _split(len(x), test_fraction, seed)
    xtr, xte = _standardize(
        x[tr].astype(np.float64), x[te].astype(np.float64), standardize, max_value
    )
    return Dataset(
        name,
        torch.as_tensor(xtr, dtype=dtype),
        torch.as_tensor(y[tr], dtype=torch.int64),
        torch.as_tensor(xte, dtype=dtype),
        torch.as_tensor(y[te], dtype=torch.int64),
        "classification",
        int(y.max()) + 1,
        {"seed": seed, "test_fraction": test_fraction, "standardize": standardize, **meta},
    )


# ---------------------------------------------------------------- digits


def digits(
    seed: int = 0,
    test_fraction: float = 0.2,
    standardize: Standardize = "unit",
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """scikit-learn's bundled 8×8 handwritten digits (1797 images, 10 classes, no download).

    Pixel values are 0–16; ``standardize="unit"`` (default) divides by 16.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _classification(
        "digits",
        bunch.data,
        bunch.target,
        seed,
        test_fraction,
        standardize,
        16.0,
        {"image_size": 8},
        dtype,
    )


# ---------------------------------------------------------------- IDX / MNIST

_IDX_TYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


_GZIP_MAGIC = b"\x1f\x8b"


def _gzip_error(path: Path, err: BaseException) -> DataError:
    if isinstance(err, EOFError):
        return DataError(
            f"{path} is truncated: its gzip stream ends early ({err}); "
            "download or copy the file again"
        )
    return DataError(
        f"{path} is not a valid gzip file ({type(err).__name__}: {err}); "
        "give the raw IDX file or a gzip of it"
    )


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes, gunzipped if it is gzip (only the first ``limit`` if given).

    Raises:
        DataError: unreadable file, broken or truncated gzip.
    """
    try:
        with path.open("rb") as fh:
            magic = fh.read(2)
            fh.seek(0)
            if magic != _GZIP_MAGIC:
                return fh.read() if limit is None else fh.read(limit)
            with gzip.GzipFile(fileobj=fh) as gz:
                return gz.read() if limit is None else gz.read(limit)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise _gzip_error(path, err) from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None


def _parse_idx_header(path: Path, raw: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, shape, header bytes)`` from the start of an IDX file."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        gz = " (and not gzip-compressed)" if path.suffix == ".gz" else ""
        raise DataError(
            f"{path} is not an IDX file{gz} (bad magic number {raw[:4].hex() or 'empty file'}; "
            "IDX files start with 00 00, a type byte 08-0e and the number of dimensions)"
        )
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"{path}: the IDX header promises {ndim} dimensions but the file ends after "
            f"{len(raw)} bytes; the file is truncated"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return dtype, shape, header


def read_idx_header(path: str | os.PathLike) -> tuple[np.dtype, tuple[int, ...]]:
    """The element type and shape an IDX file declares, reading only its first bytes.

    Raises:
        DataError: missing file, broken gzip, or not an IDX file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file not found: {path}")
    raw = _read_bytes(path, limit=4 + 4 * 255)
    dtype, shape, _ = _parse_idx_header(path, raw)
    return dtype, shape


#: the most data an IDX file may declare (a gzip bomb is refused by its header, unread)
MAX_IDX_BYTES = 2 << 30


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or raw.

    Format: two zero bytes, a type byte (0x08 uint8 … 0x0E float64), a byte with the number
    of dimensions, one big-endian uint32 per dimension, then the data in C order.

    Raises:
        DataError: missing or unreadable file, broken or truncated gzip, bad magic, or a
            size that does not match the header.
    """
    path = check_file(path, "IDX file", exc=DataError)
    dtype, shape, header = _parse_idx_header(path, _read_bytes(path, limit=4 + 4 * 255))
    expected = math.prod(shape) * dtype.itemsize
    if expected > MAX_IDX_BYTES:
        raise DataError(
            f"{path}: its header declares shape {shape} ({expected / 2**30:.1f} GiB), more "
            f"than the {MAX_IDX_BYTES / 2**30:g} GiB an IDX file may hold here; not read"
        )
    raw = _read_bytes(path, limit=header + expected + 1)  # never more than it declares
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: header says shape {shape} ({expected} bytes) but "
            f"{'more' if len(raw) - header > expected else len(raw) - header} bytes follow; "
            "the file is truncated or not IDX"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64) as an IDX file.

    ``compress`` defaults to whether the name ends in ``.gz``.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise DataError(
            f"write_idx cannot store dtype {array.dtype}; "
            "use uint8, int8, int16, int32, float32 or float64"
        )
    code = codes[native]
    body = array.astype(np.dtype(_IDX_TYPES[code]), copy=False).tobytes()
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape
    )
    payload = header + body
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``W (n_out, n_in)``: W[i, j] = overlap of input pixel j with output cell i, / cell width."""
    s = n_in / n_out
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = i * s, (i + 1) * s
        for j in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            w[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
    return w / s


def area_downsample(images: np.ndarray, k: int) -> np.ndarray:
    """Resize ``(N, h, w)`` images to ``(N, k, k)`` by exact area averaging.

    Each output pixel is the mean of the input over its cell ``[i·h/k, (i+1)·h/k) ×
    [j·w/k, (j+1)·w/k)``, input pixels that straddle a cell boundary counted by the
    fraction inside (so 28 → 10, the Choromanska et al. setting, is exact). The mean
    intensity is preserved.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise DataError(f"area_downsample expects (N, h, w) images, got shape {images.shape}")
    if k <= 0 or k > min(images.shape[1:]):
        raise DataError(f"downsample size k must be in 1..{min(images.shape[1:])}, got {k}")
    rows = _area_matrix(images.shape[1], k)
    cols = _area_matrix(images.shape[2], k)
    return np.einsum("ih,nhw,jw->nij", rows, images, cols)


_MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _find(directory: Path, stems: tuple[str, ...]) -> Path:
    for stem in stems:
        for suffix in ("", ".gz"):
            p = directory / f"{stem}{suffix}"
            if p.is_file():
                return p
    raise DataError(
        f"no {stems[0]}[.gz] in {directory}; expected the four MNIST IDX files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, raw or .gz)"
    )


def _mnist_paths(directory: str | os.PathLike) -> dict[str, Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"MNIST directory not found: {directory}")
    return {k: _find(directory, v) for k, v in _MNIST_FILES.items()}


def _checked_mnist_paths(directory: str | os.PathLike) -> dict[str, Path]:
    """The four files, with their IDX headers checked to fit MNIST."""
    paths = _mnist_paths(directory)
    _check_mnist_shapes(paths, {k: read_idx_header(p)[1] for k, p in paths.items()})
    return paths


def _check_mnist_shapes(paths: dict[str, Path], shapes: dict[str, tuple[int, ...]]) -> None:
    for split in ("train", "test"):
        pi, pl = paths[f"{split}_images"], paths[f"{split}_labels"]
        xs, ys = shapes[f"{split}_images"], shapes[f"{split}_labels"]
        if len(xs) != 3 or min(xs[1:], default=0) < 1:
            raise DataError(
                f"{pi}: MNIST images must have shape (N, h, w) with h, w >= 1, got {xs}"
            )
        if len(ys) != 1:
            raise DataError(f"{pl}: MNIST labels must have shape (N,), got {ys}")
        if xs[0] != ys[0]:
            raise DataError(
                f"MNIST {split} files disagree: {pi.name} has {xs[0]} images, "
                f"{pl.name} has {ys[0]} labels; they must have one label per image"
            )
        if xs[0] == 0:
            raise DataError(f"{pi}: the MNIST {split} split has 0 samples; it needs at least 1")


def _check_mnist_values(pi: Path, x: np.ndarray, pl: Path, y: np.ndarray) -> None:
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{pl}: MNIST labels must be integers 0-9, the file stores {y.dtype}")
    bad = (y < 0) | (y > 9)
    if bad.any():
        raise DataError(
            f"{pl}: {int(bad.sum())} labels are outside 0-9 (e.g. {int(y[bad][0])} at index "
            f"{int(np.flatnonzero(bad)[0])}); MNIST has the 10 classes 0-9"
        )
    if np.issubdtype(x.dtype, np.floating):
        nonfinite = ~np.isfinite(x)
        if nonfinite.any():
            raise DataError(
                f"{pi}: {int(nonfinite.sum())} pixel values are NaN or infinite "
                f"(first in image {int(np.flatnonzero(nonfinite.any(axis=(1, 2)))[0])}); "
                "MNIST pixels must be finite numbers"
            )


def check_mnist_dir(
    directory: str | os.PathLike, values: bool = False
) -> dict[str, tuple[int, ...]]:
    """Check an MNIST folder before using it: file names, gzip and IDX headers, shapes and
    sample counts (cheap: only the headers are read); with ``values``, also read every file
    through (a truncated gzip, labels outside 0-9, non-finite pixels), as :func:`mnist` does.

    Returns:
        the shape of each of the four files.

    Raises:
        DataError: one line naming the file and what is wrong with it.
    """
    paths = _checked_mnist_paths(directory)
    if values:
        for split in ("train", "test"):
            pi, pl = paths[f"{split}_images"], paths[f"{split}_labels"]
            _check_mnist_values(pi, read_idx(pi), pl, read_idx(pl))
    return {k: read_idx_header(p)[1] for k, p in paths.items()}


def mnist(
    directory: str | os.PathLike,
    size: int | None = 10,
    standardize: Standardize = "unit",
    n_train: int | None = None,
    n_test: int | None = None,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> Dataset:
    """MNIST from the four IDX files in ``directory`` (raw or ``.gz``), no download.

    Args:
        directory: folder holding the IDX files.
        size: area-downsample images to ``size × size`` (10 is the Choromanska et al.
            setting); ``None`` keeps 28 × 28.
        standardize: ``"unit"`` divides by 255; see :func:`digits` for the others.
        n_train, n_test: keep a seeded random subset of each split.
    """
    directory = Path(directory)
    paths = _checked_mnist_paths(directory)
    arrays = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        images, labels = f"{split}_images", f"{split}_labels"
        _check_mnist_values(paths[images], arrays[images], paths[labels], arrays[labels])
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if n is not None and n < 1:
            raise DataError(f"{name}={n}: a subset needs at least 1 sample (or None for all)")
    rng = np.random.default_rng(check_seed(seed))

    def take(x: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
        if n is None or n >= len(x):
            return x, y
        idx = np.sort(rng.choice(len(x), size=n, replace=False))
        return x[idx], y[idx]

    xtr, ytr = take(arrays["train_images"], arrays["train_labels"], n_train)
    xte, yte = take(arrays["test_images"], arrays["test_labels"], n_test)
    xtr, xte = xtr.astype(np.float64), xte.astype(np.float64)
    if size is not None:
        xtr, xte = area_downsample(xtr, size), area_downsample(xte, size)
    side = xtr.shape[1]
    xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    xtr, xte = _standardize(xtr, xte, standardize, 255.0)
    return Dataset(
        "mnist",
        torch.as_tensor(xtr, dtype=dtype),
        torch.as_tensor(ytr.astype(np.int64)),
        torch.as_tensor(xte, dtype=dtype),
        torch.as_tensor(yte.astype(np.int64)),
        "classification",
        10,
        {"directory": str(directory), "image_size": side, "standardize": standardize, "seed": seed},
    )


# ---------------------------------------------------------------- synthetic

POLYNOMIALS = {
    "quadratic": (lambda x: 0.5 * x**2 + 0.25 * x + 0.1, "0.5x² + 0.25x + 0.1"),
    "cubic": (lambda x: 8 * x**3 - 10 * x**2 + 3 * x, "8x³ − 10x² + 3x"),
}


def polynomial(
    kind: Literal["quadratic", "cubic"] = "quadratic",
    n_train: int = 10_000,
    n_test: int = 2_000,
    noise: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """1-D polynomial regression of Freeman & Bruna 2017: x ~ U[0, 1], y = f(x) (+ noise).

    ``quadratic``: f(x) = 0.5x² + 0.25x + 0.1; ``cubic``: f(x) = 8x³ − 10x² + 3x.
    Targets have shape ``(N, 1)``.
    """
    check_choice("kind", kind, POLYNOMIALS)
    f, formula = POLYNOMIALS[kind]
    rng = np.random.default_rng(check_seed(seed))

    def make(n: int) -> tuple[Tensor, Tensor]:
        x = rng.uniform(0.0, 1.0, size=(n, 1))
        y = f(x) + noise * rng.standard_normal((n, 1))
        return torch.as_tensor(x, dtype=dtype), torch.as_tensor(y, dtype=dtype)

    xtr, ytr = make(n_train)
    xte, yte = make(n_test)
    return Dataset(
        kind,
        xtr,
        ytr,
        xte,
        yte,
        "regression",
        0,
        {"formula": formula, "noise": noise, "seed": seed},
    )


def teacher_student(
    d: int = 10,
    k: int = 4,
    n_train: int = 2_000,
    n_test: int = 1_000,
    noise: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[Dataset, Tensor]:
    """Gaussian inputs x ~ N(0, I_d), targets from a teacher of ``k`` orthonormal ReLU units.

    ``y = Σ_j relu(w_j · x)`` with ``w_1..w_k`` orthonormal rows (Safran & Shamir 2018's
    setting). Returns the dataset and the teacher weights ``(k, d)``.
    """
    if not 1 <= k <= d:
        raise LandscapeError(f"teacher units k must be in 1..d={d}, got {k}")
    rng = np.random.default_rng(check_seed(seed))
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    teacher = q[:k]

    def make(n: int) -> tuple[Tensor, Tensor]:
        x = rng.standard_normal((n, d))
        y = np.maximum(x @ teacher.T, 0).sum(1, keepdims=True) + noise * rng.standard_normal((n, 1))
        return torch.as_tensor(x, dtype=dtype), torch.as_tensor(y, dtype=dtype)

    xtr, ytr = make(n_train)
    xte, yte = make(n_test)
    ds = Dataset(
        "teacher-student",
        xtr,
        ytr,
        xte,
        yte,
        "regression",
        0,
        {"d": d, "k": k, "noise": noise, "seed": seed},
    )
    return ds, torch.as_tensor(teacher, dtype=dtype)


#: the datasets :func:`load` knows (configs use the ``Literal``, help texts the tuple)
DatasetName = Literal["digits", "mnist", "cifar10", "ptb", "quadratic", "cubic", "teacher-student"]
DATASETS: tuple[str, ...] = get_args(DatasetName)


def load(name: str, seed: int = 0, dtype: torch.dtype = torch.float32, **options) -> Dataset:
    """Load a dataset by name: ``digits``, ``mnist``, ``cifar10``, ``ptb`` (these three need
    ``directory=``; ``mnist`` takes ``size=None`` for full 28×28 images), ``quadratic``,
    ``cubic`` or ``teacher-student``. Extra keyword options go to the loader.

    Raises:
        LandscapeError: unknown name or a missing required option.
    """
    check_choice("dataset", name, DATASETS)
    if name == "digits":
        return digits(seed=seed, dtype=dtype, **options)
    if name in ("mnist", "cifar10", "ptb") and options.get("directory") is None:
        files = {"mnist": "the IDX files", "cifar10": "the .bin files", "ptb": "ptb.*.txt"}
        raise DataError(f"dataset {name!r} needs directory=<folder with {files[name]}>")
    if name == "mnist":
        return mnist(seed=seed, dtype=dtype, **options)
    if name == "cifar10":
        from .cifar import cifar10

        return cifar10(seed=seed, dtype=dtype, **options)
    if name == "ptb":
        from .text import ptb

        return ptb(seed=seed, **options)
    if name in POLYNOMIALS:
        return polynomial(name, seed=seed, dtype=dtype, **options)
    return teacher_student(seed=seed, dtype=dtype, **options)[0]
