"""Weight matching of the landscape CNN (channel permutations) and its LSTM refusal."""

from __future__ import annotations

import pytest
import torch

from landscape import models
from landscape import params as P
from landscape._errors import LandscapeError
from landscape.connect.align import align_and_interpolate, permute_cnn, weight_matching
from landscape.functional import FunctionalModel

SPECS = {
    "plain": models.CNNSpec(in_channels=1, image_size=8, channels=(5, 6), out_features=3),
    "bn": models.CNNSpec(
        in_channels=2, image_size=8, channels=(4, 6), out_features=3, batchnorm=True
    ),
    "nobias-3blocks": models.CNNSpec(
        in_channels=1, image_size=8, channels=(3, 4, 5), out_features=2, bias=False
    ),
}


def _params(spec, seed):
    p = models.init_params(spec, seed, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed + 100)
    # BN's scale and shift start at 1 and 0: make them distinct per channel
    return {k: v + 0.3 * torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in p.items()}


def _forward(spec, p, x):
    return torch.func.functional_call(models.build(spec, dtype=torch.float64), p, (x,))


def _perms(spec, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(c, generator=gen) for c in spec.channels]


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_permuted_and_aligned_cnn_computes_the_same_function(name, seed):
    spec = SPECS[name]
    a, b = _params(spec, seed), _params(spec, seed + 10)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(7, spec.in_channels * spec.image_size**2, generator=gen, dtype=torch.float64)
    ref = _forward(spec, b, x)
    q = permute_cnn(b, _perms(spec, seed), spec)
    assert any(not torch.equal(q[k], b[k]) for k in b)
    assert torch.allclose(_forward(spec, q, x), ref, rtol=1e-12, atol=1e-12)
    al = weight_matching(a, b, spec=spec, seed=seed)
    assert torch.allclose(_forward(spec, al.params, x), ref, rtol=1e-12, atol=1e-12)
    assert set(al.params) == set(b) and all(al.params[k].dtype == torch.float64 for k in b)
    # maximising ⟨θ_A, Pθ_B⟩ is minimising ‖θ_A − Pθ_B‖ (the norms are permutation-invariant)
    assert al.similarity >= al.similarity_before - 1e-12
    assert float(P.distance(a, al.params)) <= float(P.distance(a, b)) + 1e-12
    assert [len(p) for p in al.permutations] == list(spec.channels)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_weight_matching_undoes_a_channel_permutation(seed):
    spec = SPECS["bn"]
    a = _params(spec, seed)
    b = permute_cnn(a, _perms(spec, seed), spec)
    al = weight_matching(a, b, spec=spec, restarts=3, seed=seed)
    assert all(torch.allclose(al.params[k], a[k], atol=1e-14) for k in a)
    assert float(P.distance(a, al.params)) == pytest.approx(0.0, abs=1e-12)


def test_head_blocks_move_with_their_channel():
    """The flattened features of channel c are the columns c·s² … (c+1)·s² − 1 of the head."""
    spec = models.CNNSpec(in_channels=1, image_size=8, channels=(2, 3), out_features=2)
    p = _params(spec, 0)
    perm = [torch.arange(2), torch.tensor([2, 0, 1])]
    q = permute_cnn(p, perm, spec)
    s2 = (8 // 4) ** 2
    for new, old in enumerate([2, 0, 1]):
        cols_new, cols_old = slice(new * s2, (new + 1) * s2), slice(old * s2, (old + 1) * s2)
        assert torch.equal(q["head.weight"][:, cols_new], p["head.weight"][:, cols_old])
        assert torch.equal(q["features.3.weight"][new], p["features.3.weight"][old][[0, 1]])


def test_inputs_are_not_modified_and_interpolation_uses_the_spec():
    spec = SPECS["bn"]
    a, b = _params(spec, 1), _params(spec, 2)
    a0, b0 = P.clone(a), P.clone(b)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20, 2 * 64, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (20,), generator=gen)
    fm = FunctionalModel(models.build(spec, dtype=torch.float64), loss="cross_entropy")
    rep = align_and_interpolate(fm.loss, a, b, (x, y), grid=5, spec=spec)
    assert rep.after.loss_b == pytest.approx(rep.before.loss_b, rel=1e-12)
    assert all(torch.equal(a[k], a0[k]) and torch.equal(b[k], b0[k]) for k in a)


def test_lstm_and_mismatched_cnn_raise_one_line():
    lstm = models.LSTMSpec(vocab_size=11, embed_size=4, hidden_size=4, layers=1)
    p = models.init_params(lstm, 0)
    for spec in (lstm, None):
        with pytest.raises(LandscapeError, match="cannot align the LSTM") as err:
            weight_matching(p, p, spec=spec)
        assert "\n" not in str(err.value)
    spec = SPECS["plain"]
    a = _params(spec, 0)
    other = models.CNNSpec(in_channels=1, image_size=8, channels=(5, 7), out_features=3)
    with pytest.raises(LandscapeError, match="shape"):
        weight_matching(a, a, spec=other)
    with pytest.raises(LandscapeError, match=r"permutation of 0\.\.4"):
        permute_cnn(a, [torch.zeros(5, dtype=torch.int64), torch.arange(6)], spec)
    with pytest.raises(LandscapeError, match="CNNSpec"):
        weight_matching(a, a)  # without the spec, conv kernels are not an MLP
