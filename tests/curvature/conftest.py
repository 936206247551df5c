"""Small float64 problems with dense references for the curvature tests."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import torch

from landscape import models
from landscape.functional import FunctionalModel
from landscape.params import Params, flatten, unflatten


@dataclass
class Problem:
    """A model, its params, data and the dense Hessian of the full-batch mean loss."""

    name: str
    fm: FunctionalModel
    params: Params
    x: torch.Tensor
    y: torch.Tensor
    hessian: torch.Tensor

    @property
    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x, self.y


def _reference_hessian(fm, params, x, y) -> torch.Tensor:
    """``torch.func.hessian`` of the full-batch loss of the flat parameters: the oracle."""
    flat = flatten(params)
    return torch.func.hessian(lambda w: fm.loss(unflatten(w, params), (x, y)))(flat)


@contextmanager
def one_thread():
    """Tiny problems gain nothing from a second thread, and on a loaded 2-core machine two
    OpenMP threads contend badly (10–100× slower here); run these tests single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _curvature_one_thread(_few_threads):
    with one_thread():
        yield


def make_problem(kind: str, digits, n: int = 100, seed: int = 0) -> Problem:
    with one_thread():
        return _make_problem(kind, digits, n, seed)


def _make_problem(kind: str, digits, n: int, seed: int) -> Problem:
    if kind == "mlp":
        spec = models.MLPSpec(in_features=64, widths=(6,), out_features=10, activation="tanh")
    elif kind == "relu-mlp":
        spec = models.MLPSpec(in_features=64, widths=(8, 6), out_features=10)
    elif kind == "cnn":
        spec = models.CNNSpec(in_channels=1, image_size=8, channels=(2, 3), out_features=10)
    else:  # pragma: no cover
        raise ValueError(kind)
    fm = FunctionalModel(models.build(spec, seed=seed, dtype=torch.float64))
    params = fm.params()
    x, y = digits.x_train[:n], digits.y_train[:n]
    return Problem(kind, fm, params, x, y, _reference_hessian(fm, params, x, y))


@pytest.fixture(scope="session")
def digits64_module():
    from landscape import data

    return data.digits(seed=0, dtype=torch.float64)


@pytest.fixture(scope="session", params=["mlp", "cnn"])
def problem(request, digits64_module) -> Problem:
    return make_problem(request.param, digits64_module)


@pytest.fixture(scope="session")
def mlp_problem(digits64_module) -> Problem:
    return make_problem("relu-mlp", digits64_module)


@pytest.fixture(scope="session")
def reference_hessian():
    """The oracle as a function ``(fm, params, x, y) -> (P, P)``."""
    return _reference_hessian
