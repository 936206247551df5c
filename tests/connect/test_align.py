"""Weight matching (Ainsworth et al. 2022): permutations preserve the function; alignment."""

from __future__ import annotations

import itertools

import pytest
import torch

from landscape import LandscapeError, models
from landscape import params as P
from landscape.connect import align_and_interpolate, permute_mlp, weight_matching
from landscape.functional import FunctionalModel

SPECS = {
    "relu-bias": models.MLPSpec(in_features=3, widths=(6, 5), out_features=2, activation="relu"),
    "sigmoid-nobias": models.MLPSpec(
        in_features=1,
        widths=(4, 4),
        out_features=1,
        activation="sigmoid",
        bias=False,
        output_activation="sigmoid",
    ),
    "tanh-deep": models.MLPSpec(in_features=4, widths=(5, 7, 3), out_features=3, activation="tanh"),
}


def _random_perms(spec, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(w, generator=gen) for w in spec.widths]


@pytest.mark.parametrize("name", list(SPECS))
def test_permuted_model_computes_the_same_function(name):
    spec = SPECS[name]
    module = models.build(spec, dtype=torch.float64)
    fm = FunctionalModel(module, loss="mse")
    p = models.init_params(spec, 3, weight="uniform", bias="normal", dtype=torch.float64)
    q = permute_mlp(p, _random_perms(spec, 1))
    assert any(not torch.equal(p[k], q[k]) for k in p)  # something did move
    x = torch.randn(32, spec.in_features, dtype=torch.float64)
    assert torch.allclose(fm.forward(p, x), fm.forward(q, x), atol=1e-13, rtol=0)
    assert list(q) == list(p)


@pytest.mark.parametrize("name", list(SPECS))
def test_weight_matching_recovers_a_hidden_permutation(name):
    spec = SPECS[name]
    a = models.init_params(spec, 5, weight="uniform", bias="normal", dtype=torch.float64)
    b = permute_mlp(a, _random_perms(spec, 2))
    al = weight_matching(a, b, seed=0, restarts=4)
    assert al.converged
    for k in a:
        assert torch.equal(al.params[k], a[k])
    assert al.similarity == pytest.approx(float(P.norm(a) ** 2))
    assert al.similarity >= al.similarity_before


def test_aligned_model_computes_the_same_function_as_b():
    spec = SPECS["relu-bias"]
    fm = FunctionalModel(models.build(spec, dtype=torch.float64), loss="mse")
    a = models.init_params(spec, 1, weight="uniform", bias="normal", dtype=torch.float64)
    b = models.init_params(spec, 2, weight="uniform", bias="normal", dtype=torch.float64)
    al = weight_matching(a, b)
    x = torch.randn(50, 3, dtype=torch.float64)
    assert torch.allclose(fm.forward(al.params, x), fm.forward(b, x), atol=1e-13, rtol=0)
    assert al.similarity >= al.similarity_before - 1e-12
    assert float(P.distance(a, al.params)) <= float(P.distance(a, b)) + 1e-12


def test_one_hidden_layer_matches_brute_force():
    """With one hidden layer, weight matching is one exact assignment problem."""
    spec = models.MLPSpec(in_features=3, widths=(4,), out_features=2)
    a = models.init_params(spec, 10, weight="uniform", bias="normal", dtype=torch.float64)
    b = models.init_params(spec, 11, weight="uniform", bias="normal", dtype=torch.float64)
    best = max(
        float(sum((a[k] * q[k]).sum() for k in a))
        for q in (permute_mlp(b, [torch.tensor(perm)]) for perm in itertools.permutations(range(4)))
    )
    assert weight_matching(a, b).similarity == pytest.approx(best, abs=1e-12)


def test_restarts_escape_a_local_optimum_of_coordinate_descent():
    """Seed 31 of this net: one run from the identity stops short; restarts find the copy."""
    spec = SPECS["tanh-deep"]
    a = models.init_params(spec, 31, weight="uniform", bias="normal", dtype=torch.float64)
    gen = torch.Generator().manual_seed(131)
    b = permute_mlp(a, [torch.randperm(w, generator=gen) for w in spec.widths])
    single = weight_matching(a, b, seed=31)
    several = weight_matching(a, b, seed=31, restarts=4)
    assert single.converged and single.similarity < float(P.norm(a) ** 2) - 1.0
    assert several.similarity == pytest.approx(float(P.norm(a) ** 2))
    assert several.similarity >= single.similarity


def test_barrier_vanishes_after_aligning_a_permuted_copy():
    spec = SPECS["tanh-deep"]
    fm = FunctionalModel(models.build(spec, dtype=torch.float64), loss="mse")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen, dtype=torch.float64)
    a = models.init_params(spec, 7, weight="uniform", bias="normal", dtype=torch.float64)
    y = fm.forward(a, x)  # a (and every permuted copy of it) fits these targets exactly
    b = permute_mlp(a, _random_perms(spec, 4))
    report = align_and_interpolate(fm.loss, a, b, (x, y), grid=11, restarts=4)
    assert report.before.loss_a == 0.0 and report.before.loss_b < 1e-25
    assert report.before.barrier > 1e-3  # the same function, yet a barrier between copies
    assert report.after.barrier == pytest.approx(0.0, abs=1e-25)
    assert report.summary()["barrier_after"] == report.after.barrier


def test_inputs_are_not_modified():
    spec = SPECS["relu-bias"]
    a = models.init_params(spec, 1, dtype=torch.float64)
    b = models.init_params(spec, 2, dtype=torch.float64)
    a0, b0 = P.clone(a), P.clone(b)
    weight_matching(a, b)
    assert all(torch.equal(a[k], a0[k]) and torch.equal(b[k], b0[k]) for k in a)


def test_non_mlp_params_raise():
    conv = {"features.0.weight": torch.zeros(4, 1, 3, 3), "head.weight": torch.zeros(2, 4)}
    with pytest.raises(LandscapeError, match="layers"):
        weight_matching(conv, conv)


def test_bad_permutations_raise():
    spec = SPECS["relu-bias"]
    p = models.init_params(spec, 1)
    with pytest.raises(LandscapeError, match="permutations"):
        permute_mlp(p, [torch.arange(6)])
    with pytest.raises(LandscapeError, match=r"permutation of 0\.\.5"):
        permute_mlp(p, [torch.tensor([0, 0, 1, 2, 3, 4]), torch.arange(5)])


def test_different_architectures_raise():
    a = models.init_params(SPECS["relu-bias"], 1)
    b = models.init_params(models.MLPSpec(in_features=3, widths=(6, 4), out_features=2), 1)
    with pytest.raises(LandscapeError, match="different architectures"):
        weight_matching(a, b)


def _sequential_mlp(sizes, seed):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mods = []
        for i in range(len(sizes) - 1):
            mods += [torch.nn.Linear(sizes[i], sizes[i + 1]), torch.nn.Tanh()]
        return torch.nn.Sequential(*mods[:-1]).double()


def _perms(widths, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(w, generator=gen) for w in widths]


def test_weight_matching_accepts_a_plain_sequential_mlp():
    m = _sequential_mlp([3, 6, 5, 2], seed=0)  # parameters 0.*, 2.*, 4.*
    fm = FunctionalModel(m, loss="mse")
    a = fm.params()
    assert list(a)[:3] == ["0.weight", "0.bias", "2.weight"]
    b = permute_mlp(a, _perms([6, 5], 1))
    x = torch.randn(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(fm.forward(a, x), fm.forward(b, x), atol=1e-13, rtol=0)
    assert any(not torch.equal(a[k], b[k]) for k in a)
    al = weight_matching(a, b, restarts=4)
    assert all(torch.equal(al.params[k], a[k]) for k in a)


def test_layer_chain_is_ordered_numerically_not_alphabetically():
    """A state dict sorted by name puts ``10.weight`` before ``2.weight``."""
    sizes = [4, 5, 6, 5, 4, 5, 6, 3]  # 7 Linear layers: indices 0, 2, …, 12
    m = _sequential_mlp(sizes, seed=3)
    fm = FunctionalModel(m, loss="mse")
    params = fm.params()
    a = {k: params[k] for k in sorted(params)}
    assert list(a)[:4] == ["0.bias", "0.weight", "10.bias", "10.weight"]
    b = permute_mlp(a, _perms(sizes[1:-1], 4))
    x = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(fm.forward(a, x), fm.forward(b, x), atol=1e-12, rtol=0)
    al = weight_matching(a, b, restarts=4)
    assert al.similarity == pytest.approx(float(P.norm(a) ** 2))


class _Named(torch.nn.Module):
    """Layers registered out of chain order, with names that carry no index."""

    def __init__(self):
        super().__init__()
        self.out = torch.nn.Linear(5, 2)
        self.fc1 = torch.nn.Linear(3, 6)
        self.hidden = torch.nn.Linear(6, 5)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(torch.relu(self.fc1(x)))))


def test_layer_names_can_be_given_explicitly():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        m = _Named().double()
    fm = FunctionalModel(m, loss="mse")
    a = fm.params()
    with pytest.raises(LandscapeError, match=r"layers=\[") as err:
        weight_matching(a, a)  # out → fc1 → hidden is not a chain
    assert "\n" not in str(err.value)
    chain = ["fc1", "hidden", "out"]
    b = permute_mlp(a, _perms([6, 5], 6), layers=chain)
    x = torch.randn(10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(fm.forward(a, x), fm.forward(b, x), atol=1e-13, rtol=0)
    al = weight_matching(a, b, layers=chain, restarts=4)
    assert all(torch.equal(al.params[k], a[k]) for k in a)
    report = align_and_interpolate(fm.loss, a, b, (x, fm.forward(a, x)), grid=5, layers=chain)
    assert report.after.barrier == pytest.approx(0.0, abs=1e-20)
    with pytest.raises(LandscapeError, match="outside layers"):
        weight_matching(a, b, layers=["fc1", "hidden"])
    with pytest.raises(LandscapeError, match=r"no 'fc3\.weight'"):
        weight_matching(a, b, layers=["fc1", "hidden", "out", "fc3"])
