"""Fixtures for the connect tests: a 2-D two-basin function and a pair of trained MLPs."""

from __future__ import annotations

import pytest
import torch

from landscape import data, ensemble, models, optim
from landscape import params as P
from landscape.functional import FunctionalModel


@pytest.fixture(autouse=True)
def _one_thread():
    """Run single-threaded: on a small shared machine OpenMP threads oversubscribe the cores
    and tiny batched ops slow down a hundredfold. Restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def two_basin_loss(params, batch):
    """F(w) = (‖w‖² − 1)² + β (w₂ + c)²: minima near (±1, 0), a peak of height ≈ 1 at the
    origin on the straight line between them, and low valleys round the unit circle (the
    lower one through (0, −1) at ≈ β (1 − c)², the upper one at ≈ β (1 + c)²). The batch
    is ignored. The small tilt c makes the origin a non-critical point, so a bead placed
    there can descend."""
    w = params["w"]
    return ((w * w).sum() - 1.0) ** 2 + 0.05 * (w[1] + 0.2) ** 2


@pytest.fixture
def basin():
    """``(loss, batch, a, b)`` for the two-basin function, float64."""
    batch = (torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))
    a = {"w": torch.tensor([-1.0, 0.0], dtype=torch.float64)}
    b = {"w": torch.tensor([1.0, 0.0], dtype=torch.float64)}
    return two_basin_loss, batch, a, b


@pytest.fixture(scope="session")
def cubic_pair():
    """Two independently trained 1-4-4-1 sigmoid MLPs on the cubic regression (MAE).

    Returns ``(fm, train, test, a, b, losses)``: a small version of Freeman & Bruna's
    polynomial task (500 points, full-batch Adam), trained in one batched ensemble run.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ds = data.polynomial("cubic", n_train=500, n_test=200, seed=0)
    spec = models.MLPSpec(in_features=1, widths=(4, 4), out_features=1, activation="sigmoid")
    fm = FunctionalModel(models.build(spec), loss="mae")
    inits = ensemble.stack_inits(
        lambda s: models.init_params(spec, s, weight="uniform", bias="normal"), [1, 2]
    )
    try:
        run = ensemble.train_ensemble(fm.loss, inits, ds.train, optim.Adam(lr=5e-2), epochs=800)
    finally:
        torch.set_num_threads(threads)
    a, b = P.unstack(run.params)
    losses = run.final("train_loss")
    assert float(losses.max()) < 0.05, losses  # the set-up itself
    return fm, ds.train, ds.test, a, b, losses
