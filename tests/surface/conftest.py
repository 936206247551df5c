"""Small models and data for the surface tests (float64 references)."""

from __future__ import annotations

import pytest
import torch
from torch import nn


@pytest.fixture(autouse=True)
def _one_thread():
    # the shared 2-core test machine: two threads per process thrash under load
    torch.set_num_threads(1)
    yield


def make_cnn_bn(seed: int = 0) -> nn.Module:
    """A CNN whose first layer is a conv, with batch norm whose running stats are non-trivial."""
    torch.manual_seed(seed)
    m = nn.Sequential(
        nn.Unflatten(1, (1, 6, 6)),
        nn.Conv2d(1, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Conv2d(3, 4, 3),
        nn.Flatten(),
        nn.Linear(64, 5),
    ).double()
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(40, 36, dtype=torch.float64) * 2 + 1)
    return m.eval()


def make_mlp(seed: int = 0, dtype=torch.float64) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(36, 12), nn.Tanh(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 5)
    ).to(dtype)


def make_data(n: int = 60, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 36, generator=g, dtype=dtype), torch.randint(0, 5, (n,), generator=g)
