"""Shared test fixtures: small models and data, float64 references."""

from __future__ import annotations

import os
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on the 2-core CI machine the suite runs
# worker processes (process pools, Ray) beside the test process, and spinning threads of one
# process starve the others (a Hessian test went from 5 s to 40 s). Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", os.environ.get("LANDSCAPE_OMP_WAIT", "PASSIVE"))

import numpy as np
import pytest
import torch

from landscape import data, models

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _outside_the_checkout(tmp_path_factory, monkeypatch):
    """Every test runs in a folder of its own: a command's default ``runs/`` (store, run
    folders, report) lands there, never in the checkout."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    yield


def pytest_sessionfinish(session, exitstatus):
    """The suite writes nothing into the checkout (issue 21, item 11)."""
    if not session.config.getoption("collectonly", False) and (ROOT / "runs").exists():
        before = session.config.stash.get(_RUNS_BEFORE, None)
        now = sorted(p.name for p in (ROOT / "runs").iterdir())
        if before is not None and now != before:
            session.exitstatus = 1
            print(f"\nthe test suite wrote into the checkout: {ROOT / 'runs'} now holds {now[:5]}")


_RUNS_BEFORE = pytest.StashKey[list]()


def pytest_configure(config):
    runs = ROOT / "runs"
    config.stash[_RUNS_BEFORE] = sorted(p.name for p in runs.iterdir()) if runs.exists() else []


@pytest.fixture(autouse=True)
def _few_threads():
    # the CI machine has 2 cores; keep tests from oversubscribing
    torch.set_num_threads(2)
    yield


@pytest.fixture(scope="session")
def digits64():
    """Digits in float64 (train 1438, test 359)."""
    return data.digits(seed=0, dtype=torch.float64)


@pytest.fixture
def mlp_spec():
    return models.MLPSpec(in_features=64, widths=(8, 6), out_features=10)


@pytest.fixture
def cnn_spec():
    return models.CNNSpec(in_channels=1, image_size=8, channels=(3, 4), out_features=10)


@pytest.fixture
def write_mnist():
    """A function writing small MNIST IDX files into a folder (no download anywhere)."""
    return _write_mnist


def _write_mnist(folder, n_train=12, n_test=5, gz=True):
    """Write the four MNIST IDX files (random 28×28 images, labels i mod 10) into folder."""
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    images = {
        "train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "t10k": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
    }
    for split, imgs in images.items():
        data.write_idx(folder / f"{split}-images-idx3-ubyte{sfx}", imgs)
        data.write_idx(
            folder / f"{split}-labels-idx1-ubyte{sfx}", (np.arange(len(imgs)) % 10).astype(np.uint8)
        )
    return folder
