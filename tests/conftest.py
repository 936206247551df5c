"""Shared test fixtures: small models and data, float64 references."""

from __future__ import annotations

import pytest
import torch

from landscape import data, models


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
