"""CIFAR-10 from its binary files (``data_batch_1.bin`` … ``_5.bin``, ``test_batch.bin``).

Each file is a sequence of 3073-byte records: one label byte (0–9), then the 32×32 image as
1024 red, 1024 green and 1024 blue bytes, rows in order (Krizhevsky 2009). Nothing is
unpickled (the Python version of the dataset would need it) and nothing is downloaded: the
user points at the folder that ``cifar-10-binary.tar.gz`` unpacks to.

Images become ``(N, 3072)`` rows in that channel-major order, which
:class:`~landscape.models.SmallCNN` reshapes to ``(N, 3, 32, 32)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ._errors import DataError, check_choice
from ._validate import check_seed
from .data import Dataset

__all__ = [
    "RECORD_BYTES",
    "TEST_FILE",
    "TRAIN_FILES",
    "cifar10",
    "read_cifar_batch",
    "write_cifar_batch",
]

#: bytes per record: 1 label byte + 3 × 32 × 32 pixel bytes
RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 3, 32, 32) uint8, labels (N,) uint8)`` of one CIFAR-10 binary file.

    Raises:
        DataError: missing or empty file, a size that is not a whole number of 3073-byte
            records (truncated, or not the binary version), or a label outside 0–9.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CIFAR-10 file not found: {path}")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise DataError(
            f"{path}: {raw.size} bytes is not a whole number of {RECORD_BYTES}-byte records "
            f"({raw.size // RECORD_BYTES} records and {raw.size % RECORD_BYTES} bytes over); "
            "the file is truncated or not the CIFAR-10 binary version"
        )
    rec = raw.reshape(-1, RECORD_BYTES)
    labels = rec[:, 0].copy()
    bad = labels > 9
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: record {i} has label byte {int(labels[i])}; CIFAR-10 labels are 0-9 "
            "(is this the CIFAR-100 binary version?)"
        )
    return rec[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def write_cifar_batch(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write ``(N, 3, 32, 32)`` uint8 images and ``(N,)`` labels as a CIFAR-10 binary file."""
    images, labels = np.asarray(images, dtype=np.uint8), np.asarray(labels, dtype=np.uint8)
    if images.shape[1:] != (3, 32, 32) or labels.shape != (images.shape[0],):
        raise DataError(
            f"write_cifar_batch needs images (N, 3, 32, 32) and labels (N,), got "
            f"{images.shape} and {labels.shape}"
        )
    rec = np.concatenate([labels[:, None], images.reshape(len(images), -1)], axis=1)
    path = Path(path)
    path.write_bytes(rec.tobytes())
    return path


def _folder(directory: str | os.PathLike) -> Path:
    """The folder holding the ``.bin`` files (also found one level down, as unpacked)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"CIFAR-10 directory not found: {directory}")
    if not (directory / TEST_FILE).is_file() and (directory / "cifar-10-batches-bin").is_dir():
        directory = directory / "cifar-10-batches-bin"
    missing = [f for f in (*TRAIN_FILES, TEST_FILE) if not (directory / f).is_file()]
    if missing:
        raise DataError(
            f"{directory} lacks {', '.join(missing)}; expected the CIFAR-10 binary files "
            f"{TRAIN_FILES[0]} … {TRAIN_FILES[-1]} and {TEST_FILE}"
        )
    return directory


def cifar10(
    directory: str | os.PathLike,
    standardize: Literal["unit", "channel"] = "unit",
    n_train: int | None = None,
    n_test: int | None = None,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> Dataset:
    """CIFAR-10 (50 000 training and 10 000 test images) from the binary files in ``directory``.

    Args:
        directory: the folder with the six ``.bin`` files (or its parent).
        standardize: ``"unit"`` divides pixels by 255; ``"channel"`` also subtracts each
            colour channel's training mean and divides by its training standard deviation.
        n_train, n_test: keep a seeded random subset of each split.
        dtype: of the images (labels are int64).
        seed: the subsets.

    Raises:
        DataError: a missing folder or file, a broken file (see :func:`read_cifar_batch`).
    """
    check_choice("standardize", standardize, ("unit", "channel"))
    folder = _folder(directory)
    parts = [read_cifar_batch(folder / f) for f in TRAIN_FILES]
    xtr, ytr = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    xte, yte = read_cifar_batch(folder / TEST_FILE)
    rng = np.random.default_rng(check_seed(seed))
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if n is not None and n < 1:
            raise DataError(f"{name}={n}: a subset needs at least 1 sample (or None for all)")

    def take(x: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
        if n is None or n >= len(x):
            return x, y
        idx = np.sort(rng.choice(len(x), size=n, replace=False))
        return x[idx], y[idx]

    xtr, ytr = take(xtr, ytr, n_train)
    xte, yte = take(xte, yte, n_test)
    xtr, xte = xtr.astype(np.float64) / 255.0, xte.astype(np.float64) / 255.0
    if standardize == "channel":
        mu = xtr.mean(axis=(0, 2, 3), keepdims=True)
        sd = xtr.std(axis=(0, 2, 3), keepdims=True)
        sd = np.where(sd > 0, sd, 1.0)
        xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    return Dataset(
        "cifar10",
        torch.as_tensor(xtr.reshape(len(xtr), -1), dtype=dtype),
        torch.as_tensor(ytr.astype(np.int64)),
        torch.as_tensor(xte.reshape(len(xte), -1), dtype=dtype),
        torch.as_tensor(yte.astype(np.int64)),
        "classification",
        10,
        {
            "directory": str(folder),
            "image_size": 32,
            "in_channels": 3,
            "standardize": standardize,
            "seed": seed,
        },
    )
