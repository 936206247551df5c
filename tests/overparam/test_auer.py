from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape import LandscapeError
from landscape.overparam.auer import AUER_1D, auer_dataset, find_minima, neuron_model


def _loss_1d(w: np.ndarray) -> np.ndarray:
    t = np.array([a for a, _ in AUER_1D])
    y = np.array([b for _, b in AUER_1D])
    return ((1 / (1 + np.exp(-np.outer(w, t))) - y) ** 2).mean(1)


def test_one_dimensional_set_has_two_strict_minima_on_a_grid():
    w = np.linspace(-30, 30, 120_001)
    ell = _loss_1d(w)
    inner = np.where((ell[1:-1] < ell[:-2]) & (ell[1:-1] < ell[2:]))[0] + 1
    assert len(inner) == 2
    a, b = inner
    barrier = ell[a:b].max()
    assert barrier - max(ell[a], ell[b]) > 0.02  # separated by a real barrier
    assert ell[0] > ell[a] + 0.02 and ell[-1] > ell[b] + 0.02  # walls rise to ℓ(±∞)


def test_loss_is_a_mean_of_coordinate_copies():
    d = 3
    x, y = auer_dataset(d)
    fm = neuron_model(d)
    w = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64)
    got = fm.loss({"layers.0.weight": w}, (x, y))
    assert float(got) == pytest.approx(_loss_1d(w[0].numpy()).mean(), rel=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_count_of_verified_minima_is_two_to_the_d(d, seed):
    r = find_minima(d, 12 * 2**d, seed)
    assert r.num_verified == len(r.points) == 2**d
    assert (r.grad_norms < 1e-6).all() and (r.min_eigenvalues > 0).all()
    # every minimum is a choice of one 1-D minimum per coordinate
    w = np.linspace(-3, 3, 60_001)
    ell = _loss_1d(w)
    one_d = w[np.where((ell[1:-1] < ell[:-2]) & (ell[1:-1] < ell[2:]))[0] + 1]
    nearest = np.abs(r.points[:, :, None] - one_d).min(-1)
    assert (nearest < 1e-3).all()
    assert (
        len({tuple(np.abs(r.points[i, :, None] - one_d).argmin(-1)) for i in range(2**d)}) == 2**d
    )


def test_bad_inputs():
    with pytest.raises(LandscapeError, match="d must be"):
        auer_dataset(0)
    with pytest.raises(LandscapeError, match="starts"):
        find_minima(2, 0)
