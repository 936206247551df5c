"""Weight matching never returns an alignment that changes the function (issue 21, item 2).

A chain read from the names can differ from the model that runs: a frozen layer left out of
``FunctionalModel.params()``, a layer used twice, a residual connection, a module that is
not elementwise. Each is refused in one line, and every alignment that is returned was
checked to compute the same outputs as θ_B.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from landscape import LandscapeError
from landscape.connect import align_and_interpolate, weight_matching
from landscape.functional import FunctionalModel


def _net(seed: int, frozen: bool = False) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3)
    ).double()
    if frozen:
        net[2].requires_grad_(False)
    return net


def _data(seed: int = 0, n: int = 40):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    return x, torch.randint(0, 3, (n,), generator=gen)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_frozen_layer_left_out_of_the_params_is_refused(seed):
    fa, fb = FunctionalModel(_net(seed, frozen=True)), FunctionalModel(_net(seed + 10, True))
    a, b = fa.params(), fb.params()
    assert "2.weight" not in a  # what FunctionalModel.params() gives: the chain 0 → 4
    with pytest.raises(LandscapeError, match=r"frozen.*include_frozen=True"):
        align_and_interpolate(fa.loss, a, b, _data(seed), grid=5)
    with pytest.raises(LandscapeError, match="frozen"):
        weight_matching(a, b, model=fa)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_bare_loss_is_refused_for_want_of_a_model_to_check(seed):
    fa, fb = FunctionalModel(_net(seed, frozen=True)), FunctionalModel(_net(seed + 10, True))
    a, b = fa.params(), fb.params()

    def loss(params, batch):  # a bare function: no model to inspect
        return fa.loss(params, batch)

    with pytest.raises(LandscapeError, match="needs the model: pass model="):
        align_and_interpolate(loss, a, b, _data(seed), grid=5)
    with pytest.raises(LandscapeError, match="frozen"):  # given the model, it is checked
        align_and_interpolate(loss, a, b, _data(seed), grid=5, model=fa)
    unchecked = weight_matching(a, b)  # params alone: returned, and says it is unchecked
    assert unchecked.checked == "none"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_with_every_parameter_the_alignment_is_checked_and_kept(seed):
    fa = FunctionalModel(_net(seed, frozen=True), include_frozen=True)
    fb = FunctionalModel(_net(seed + 10, frozen=True), include_frozen=True)
    a, b = fa.params(), fb.params()
    rep = align_and_interpolate(fa.loss, a, b, _data(seed), grid=5)
    assert rep.alignment.checked == "outputs"
    assert rep.alignment.max_output_change < 1e-12
    x, _ = _data(seed + 5)
    with torch.no_grad():
        torch.testing.assert_close(fb.forward(rep.alignment.params, x), fb.forward(b, x))
    assert abs(rep.after.loss_b - rep.before.loss_b) < 1e-12


class _Residual(nn.Module):
    """h = relu(fc1 x); h = h + relu(fc2 h); out(h): fc1 and fc2 must share a permutation."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(5, 8), nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = h + torch.relu(self.fc2(h))
        return self.out(h)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_residual_connection_is_caught_by_the_output_check(seed):
    torch.manual_seed(seed)
    ma, mb = _Residual().double(), _Residual().double()
    a, b = dict(ma.named_parameters()), dict(mb.named_parameters())
    a = {k: v.detach() for k, v in a.items()}
    b = {k: v.detach() for k, v in b.items()}
    with pytest.raises(LandscapeError, match="would change what the model computes"):
        weight_matching(a, b, model=ma, layers=["fc1", "fc2", "out"])


def _params(m: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in m.named_parameters()}


def test_a_shared_layer_is_refused():
    torch.manual_seed(0)
    hidden = nn.Linear(6, 6)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), hidden, nn.ReLU(), hidden, nn.Linear(6, 2))
    with pytest.raises(LandscapeError, match="shared"):
        weight_matching(_params(net), _params(net), model=net)


def test_tied_parameters_are_refused():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    net[2].weight = net[0].weight
    with pytest.raises(LandscapeError, match="shared with other layers"):
        weight_matching(_params(net), _params(net), model=net)


@pytest.mark.parametrize(
    ("middle", "match"),
    [
        (nn.Softmax(dim=1), "not an elementwise module"),
        (nn.BatchNorm1d(6), "not a Linear layer"),
        (nn.LayerNorm(6, elementwise_affine=False), "not an elementwise module"),
    ],
)
def test_modules_that_do_not_commute_with_a_permutation_are_refused(middle, match):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), middle, nn.Linear(6, 2))
    p = _params(net)
    with pytest.raises(LandscapeError, match=match):
        weight_matching(p, p, model=net, layers=["0", "2"])


def test_a_sequential_in_another_order_than_the_names_is_refused():
    torch.manual_seed(0)
    net = nn.Sequential()
    net.add_module("b", nn.Linear(4, 4))
    net.add_module("act", nn.ReLU())
    net.add_module("a", nn.Linear(4, 4))
    p = _params(net)
    with pytest.raises(LandscapeError, match="runs its Linear layers in the order"):
        weight_matching(p, p, model=net, layers=["a", "b"])


@pytest.mark.parametrize("seed", range(4))
def test_every_returned_alignment_keeps_the_outputs(seed):
    torch.manual_seed(seed)
    widths = [3, 4 + seed, 5, 2 + seed % 2]
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        layers += [nn.Linear(n_in, n_out), nn.GELU() if i % 2 else nn.ReLU()]
    ma, mb = nn.Sequential(*layers[:-1]).double(), nn.Sequential(*layers[:-1]).double()
    for p in mb.parameters():
        nn.init.normal_(p)
    al = weight_matching(_params(ma), _params(mb), model=mb, seed=seed)
    assert al.checked == "outputs" and al.max_output_change < 1e-12
    x = torch.randn(30, 3, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(
            torch.func.functional_call(mb, al.params, (x,)), mb(x), rtol=1e-12, atol=1e-12
        )
