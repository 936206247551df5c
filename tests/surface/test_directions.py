"""Directions: filter/layer/model normalisation, orthogonalisation, PCA, Hessian, three models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape import LandscapeError
from landscape.curvature import dense_hessian
from landscape.functional import FunctionalModel
from landscape.params import flatten
from landscape.surface import (
    hessian_directions,
    normalize_direction,
    pca_directions,
    random_directions,
    three_model_plane,
)

from .conftest import make_cnn_bn, make_data, make_mlp


def _params(kind, seed):
    return FunctionalModel(make_mlp(seed) if kind == "mlp" else make_cnn_bn(seed)).params()


def _reference_filter(d, p, one_d):
    """Li et al.'s normalisation written out filter by filter with Python loops."""
    out = {}
    for k in d:
        if d[k].dim() <= 1:
            out[k] = torch.zeros_like(d[k]) if one_d == "zero" else d[k] * p[k].norm() / d[k].norm()
            continue
        rows = [d[k][i] * (p[k][i].norm() / d[k][i].norm()) for i in range(d[k].shape[0])]
        out[k] = torch.stack(rows)
    return out


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("one_d", ["zero", "scale"])
def test_filter_normalisation_matches_a_filter_by_filter_reference(kind, seed, one_d):
    p = _params(kind, seed)
    dirs = random_directions(p, 2, seed=seed, one_d=one_d)
    gen = torch.Generator().manual_seed(seed)
    raw = {k: torch.randn(v.shape, generator=gen, dtype=torch.float64) for k, v in p.items()}
    ref = _reference_filter(raw, p, one_d)
    for k in p:
        torch.testing.assert_close(dirs.vectors[0][k], ref[k], rtol=1e-9, atol=1e-12)
        d = dirs.vectors[1][k]
        if p[k].dim() >= 2:  # every filter has the norm of θ's filter
            torch.testing.assert_close(
                d.flatten(1).norm(dim=1), p[k].flatten(1).norm(dim=1), rtol=1e-8, atol=1e-12
            )
        elif one_d == "zero":
            assert not d.any()
        else:  # kept, scaled as a whole, signs kept
            torch.testing.assert_close(d.norm(), p[k].norm(), rtol=1e-8, atol=0)
    # buffers (batch-norm running statistics) are never part of a direction
    assert not any("running" in k for k in dirs.vectors[0])


def test_layer_model_and_none_normalisations():
    p = _params("cnn", 0)
    raw = random_directions(p, 1, seed=3, norm="none", one_d="scale").vectors[0]
    gen = torch.Generator().manual_seed(3)
    direct = {k: torch.randn(v.shape, generator=gen, dtype=torch.float64) for k, v in p.items()}
    for k in p:
        torch.testing.assert_close(raw[k], direct[k])
    layer = normalize_direction(raw, p, "layer", "scale")
    for k in p:
        torch.testing.assert_close(layer[k].norm(), p[k].norm(), rtol=1e-8, atol=0)
        if p[k].norm() > 0:  # (a zero tensor of θ, e.g. an untrained BN β, scales to 0)
            assert torch.all(torch.sign(layer[k]) == torch.sign(raw[k]))
    model = normalize_direction(raw, p, "model", "zero")
    w = [k for k in p if p[k].dim() >= 2]
    total = torch.sqrt(sum(model[k].pow(2).sum() for k in w))
    torch.testing.assert_close(total, torch.sqrt(sum(p[k].pow(2).sum() for k in w)))
    with pytest.raises(LandscapeError, match="norm='filters'"):
        normalize_direction(raw, p, "filters")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_orthogonalize_leaves_d1_and_reports_the_cosines(seed):
    p = _params("mlp", seed)
    plain = random_directions(p, 2, seed=seed)
    orth = random_directions(p, 2, seed=seed, orthogonalize=True)
    f1, f2 = flatten(plain.vectors[0]), flatten(plain.vectors[1])
    cos = float(f1 @ f2 / (f1.norm() * f2.norm()))
    assert orth.info["cosine_before"] == pytest.approx(cos, abs=1e-12)
    assert abs(orth.info["cosine"]) < 1e-12 and abs(cos) > 1e-4
    g2 = flatten(orth.vectors[1])
    assert abs(float(g2 @ f1)) < 1e-10 * float(g2.norm() * f1.norm())
    torch.testing.assert_close(flatten(orth.vectors[0]), f1)
    # d2 minus its projection on d1
    torch.testing.assert_close(g2, f2 - (f2 @ f1) / (f1 @ f1) * f1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pca_directions_match_numpy_svd(seed):
    p = _params("mlp", 0)
    g = torch.Generator().manual_seed(seed)
    traj = [
        {k: v + 0.1 * t * torch.randn(v.shape, generator=g, dtype=v.dtype) for k, v in p.items()}
        for t in range(6)
    ]
    d = pca_directions(traj)
    final = flatten(traj[-1]).numpy()
    m = np.stack([flatten(t).numpy() - final for t in traj[:-1]])
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    for i in range(2):
        got = flatten(d.vectors[i]).numpy()
        assert abs(abs(got @ vt[i]) - 1) < 1e-10
    np.testing.assert_allclose(d.info["explained_variance"], (s**2 / (s**2).sum())[:2], rtol=1e-10)
    # the coordinates are exact: θ_i − θ_n = Σ c_ik v_k up to the discarded components
    coords = d.points["trajectory"]
    v = np.stack([flatten(x).numpy() for x in d.vectors])
    np.testing.assert_allclose(coords[:-1], m @ v.T, atol=1e-10)
    np.testing.assert_allclose(coords[-1], 0, atol=1e-12)


def test_pca_needs_two_dimensions():
    p = _params("mlp", 0)
    line = [{k: v * (1 + 0.1 * t) for k, v in p.items()} for t in range(4)]
    with pytest.raises(LandscapeError, match="fewer than 2 dimensions"):
        pca_directions(line)


def test_hessian_directions_are_the_dense_eigenvectors():
    fm = FunctionalModel(make_mlp(1))
    p = fm.params()
    batch = make_data(40, 1)
    d = hessian_directions(fm, p, batch, "top", tol=1e-8)
    h = dense_hessian(fm, p, batch)
    evals, evecs = torch.linalg.eigh(h)
    for i in range(2):
        v = flatten(d.vectors[i])
        assert abs(abs(float(v @ evecs[:, -1 - i])) - 1) < 1e-6
        assert d.info["eigenvalues"][i] == pytest.approx(float(evals[-1 - i]), rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_three_models_lie_at_their_reported_coordinates(seed):
    a, b, c = (_params("cnn", seed + i) for i in range(3))
    d = three_model_plane(a, b, c)
    u, v = (flatten(x) for x in d.vectors)
    assert (
        abs(float(u @ v)) < 1e-12
        and float(u.norm()) == pytest.approx(1)
        and float(v.norm()) == pytest.approx(1)
    )
    for name, model in (("a", a), ("b", b), ("c", c)):
        x, y = d.points[name]
        torch.testing.assert_close(flatten(a) + x * u + y * v, flatten(model), rtol=0, atol=1e-10)
    with pytest.raises(LandscapeError, match="one line"):
        three_model_plane(a, b, {k: 2 * b[k] - a[k] for k in a})
