from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import grad, jacrev

from landscape import LandscapeError
from landscape.functional import FunctionalModel
from landscape.models import MLPSpec, build
from landscape.overparam.kernel import (
    ACTIVATIONS,
    SeminarNet,
    empirical_ntk,
    gradient_inequality,
    kernel_spectrum,
    lazy_descent,
    random_feature_kernel,
    second_derivative_magnitudes,
    seminar_forward,
    seminar_gradient,
    seminar_init,
    seminar_ntk,
)

F64 = torch.float64


def _data(m: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(m, d, generator=g, dtype=F64), torch.randn(m, generator=g, dtype=F64)


def _stacked(d: int, n: int, seeds, variance="1/(d+1)"):
    inits = [seminar_init(d, n, s, variance, dtype=F64) for s in seeds]
    return {k: torch.stack([p[k] for p in inits]) for k in inits[0]}


@pytest.mark.parametrize("activation", ["relu", "softplus", "tanh"])
def test_kbar_equals_a_double_loop(activation):
    x, _ = _data(7, 3, 0)
    p = _stacked(3, 11, [1, 2])
    rho = ACTIVATIONS[activation][0]
    K = random_feature_kernel(p["theta1"], x, activation)
    for e in range(2):
        ref = torch.zeros(7, 7, dtype=F64)
        for i in range(7):
            for j in range(7):
                for k in range(11):
                    w = p["theta1"][e, k]
                    vi = rho(w[:3] @ x[i] + w[3])
                    vj = rho(w[:3] @ x[j] + w[3])
                    ref[i, j] += vi * vj
        torch.testing.assert_close(K[e], ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["jacobian", "jvp"])
def test_empirical_ntk_equals_jacrev(method):
    spec = MLPSpec(in_features=4, widths=(6, 5), out_features=3, activation="tanh")
    fm = FunctionalModel(build(spec, seed=3, dtype=F64), loss="mse")
    params = fm.params()
    x, _ = _data(9, 4, 1)
    jac = jacrev(lambda p: fm.forward(p, x).reshape(-1))(params)
    J = torch.cat([jac[k].reshape(27, -1) for k in params], 1)
    K = empirical_ntk(fm, params, x, method=method, chunk_size=4)
    torch.testing.assert_close(K, J @ J.T, rtol=1e-10, atol=1e-10)
    # the user's module and params are untouched, any chunking gives the same matrix
    K2 = empirical_ntk(build(spec, seed=3, dtype=F64), params, x, method=method, chunk_size=9)
    torch.testing.assert_close(K, K2, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_seminar_ntk_closed_form_equals_empirical(activation):
    x, _ = _data(8, 3, 2)
    p = seminar_init(3, 13, 5, dtype=F64)
    net = SeminarNet(3, 13, activation).double()
    K = empirical_ntk(net, p, x, method="jvp", chunk_size=3)
    torch.testing.assert_close(seminar_ntk(p, x, activation), K, rtol=1e-10, atol=1e-10)
    # its θ2 block is K̄: the Jacobian of Φ restricted to θ2 is V
    jac = jacrev(lambda t2: seminar_forward({"theta1": p["theta1"], "theta2": t2}, x, activation))
    J2 = jac(p["theta2"]).reshape(8, 13)
    torch.testing.assert_close(
        random_feature_kernel(p["theta1"], x, activation), J2 @ J2.T, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("activation", ["relu", "softplus", "tanh"])
def test_closed_form_gradient_equals_autodiff(activation):
    x, y = _data(10, 4, 3)
    p = seminar_init(4, 9, 7, dtype=F64)

    def risk(q):
        return (seminar_forward(q, x, activation).squeeze(-1) - y).pow(2).mean()

    r, g = seminar_gradient(p, x, y, activation)
    ref = grad(risk)(p)
    torch.testing.assert_close(r, risk(p))
    for k in p:
        torch.testing.assert_close(g[k], ref[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_gradient_inequality_holds_on_random_instances(seed):
    g = torch.Generator().manual_seed(seed)
    m, d, n = (int(v) for v in torch.randint(3, 25, (3,), generator=g))
    x, y = _data(m, d, seed)
    act = ["relu", "softplus", "tanh"][seed % 3]
    var = ["1/(d+1)", "1/n"][seed % 2]
    p = _stacked(d, n, [seed, seed + 100], var)
    out = gradient_inequality(p, x, y, act)
    torch.testing.assert_close(out["grad_sq_theta2"], out["quadratic"], rtol=1e-10, atol=1e-14)
    assert (out["grad_sq"] >= out["grad_sq_theta2"] * (1 - 1e-12)).all()
    assert (out["quadratic"] >= out["bound"] - 1e-12 * out["quadratic"].abs()).all()
    lam = torch.linalg.eigvalsh(random_feature_kernel(p["theta1"], x, act))[:, 0]
    torch.testing.assert_close(out["lambda_min"], lam, rtol=1e-9, atol=1e-12)
    one = gradient_inequality({k: v[0] for k, v in p.items()}, x, y, act)
    torch.testing.assert_close(one["grad_sq"], out["grad_sq"][0])


def _slope(widths, variance, seeds=range(3)):
    x, _ = _data(12, 4, 11)
    lam = [
        np.mean(
            [
                kernel_spectrum(
                    random_feature_kernel(seminar_init(4, n, s, variance, dtype=F64)["theta1"], x)
                ).lambda_min.item()
                for s in seeds
            ]
        )
        for n in widths
    ]
    return np.polyfit(np.log(widths), np.log(lam), 1)[0]


def test_lambda_min_grows_linearly_in_the_width():
    # n from 8m to 800m: (1 − √(m/n))² moves from 0.42 to 0.93, slope 1 plus a little
    assert 0.85 <= _slope([96, 960, 9600], "1/(d+1)") <= 1.3
    # with the seminar's literal θ1 ~ N(0, 1/n) the trace, hence λ_min, stays bounded
    assert abs(_slope([96, 960, 9600], "1/n")) <= 0.3


def test_lazy_descent_checks_hold_and_wider_moves_less():
    x, y = _data(10, 3, 4)
    moved, losses = [], []
    wide = _stacked(3, 400, [0, 1])
    lr = 0.5 * 10 / kernel_spectrum(seminar_ntk(wide, x)).lambda_max.max().item()
    for n in (20, 400):
        p = _stacked(3, n, [0, 1])
        tr = lazy_descent(p, x, y, lr=lr, steps=100, check_every=5)  # one lr for both
        assert not tr.diverged.any()
        assert (tr.ratio_current >= 1 - 1e-9).all()  # K̄ at the current point: exact chain
        assert tr.steps[-1] == 100 and tr.loss.shape == (21, 2)
        assert (np.diff(tr.loss, axis=0) <= 1e-12).all()  # GD below the stability limit
        moved.append(tr.distance[-1].mean())
        losses.append(tr.loss[-1].mean() / tr.loss[0].mean())
        torch.testing.assert_close(
            torch.as_tensor(tr.lambda_min_init),
            kernel_spectrum(random_feature_kernel(p["theta1"], x)).lambda_min,
        )
    assert moved[1] < moved[0]
    assert losses[1] < losses[0]  # a common lr: the wider net decays faster


@pytest.mark.parametrize("activation", ["relu", "softplus", "tanh"])
def test_second_derivatives_match_the_closed_form(activation):
    x, _ = _data(5, 3, 6)
    p = seminar_init(3, 7, 2, dtype=F64)
    units = torch.tensor([1, 4])
    out = second_derivative_magnitudes(p, x, units, activation)
    some = second_derivative_magnitudes(p, x, units, activation, coords=torch.tensor([0, 3]))
    _, d1, d2 = ACTIVATIONS[activation]
    xt = torch.cat([x, torch.ones(5, 1, dtype=F64)], 1)
    z = xt @ p["theta1"].T  # (5, 7)
    # ∂²Φ/∂θ2_i∂(θ1_i)_k = ρ′(z_i) x̃_k; ∂²Φ/∂(θ1_i)_k∂(θ1_i)_l = θ2_i ρ″(z_i) x̃_k x̃_l
    t21 = (d1(z[:, units]).unsqueeze(-1) * xt.unsqueeze(1)).pow(2).mean()
    t11 = (
        (
            (p["theta2"][units] * d2(z[:, units]))[:, :, None, None]
            * (xt[:, :, None] * xt[:, None, :])[:, None]
        )
        .pow(2)
        .mean()
    )
    torch.testing.assert_close(out["t2t1_same"], t21, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(out["t1t1_same"], t11, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(
        some["t1t1_same"],
        (
            (p["theta2"][units] * d2(z[:, units]))[:, :, None, None]
            * (xt[:, [0, 3], None] * xt[:, None, :])[:, None]
        )
        .pow(2)
        .mean(),
        rtol=1e-10,
        atol=1e-14,
    )
    for key in ("t2t2", "t2t1_other", "t1t1_other"):
        assert out[key].item() == 0.0


def test_bad_inputs_are_one_line_errors():
    x, _ = _data(4, 2, 0)
    p = seminar_init(2, 3, 0, dtype=F64)
    with pytest.raises(LandscapeError, match="method="):
        empirical_ntk(SeminarNet(2, 3), p, x, method="exact")
    with pytest.raises(LandscapeError, match="chunk_size"):
        empirical_ntk(SeminarNet(2, 3), p, x, chunk_size=0)
    with pytest.raises(LandscapeError, match="train-mode"):
        empirical_ntk(FunctionalModel(SeminarNet(2, 3), "mse", mode="train"), p, x)
    with pytest.raises(LandscapeError, match="theta1_variance"):
        seminar_init(2, 3, 0, "1/d")
    with pytest.raises(LandscapeError, match=r"\(\.\.\., m, m\)"):
        kernel_spectrum(torch.zeros(3, 4))
    with pytest.raises(LandscapeError, match="stacked"):
        lazy_descent(p, x, x[:, 0], lr=0.1, steps=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layerwise_ntk_equals_the_jacobian(seed):
    """The structured (no-Jacobian) NTK of an MLP equals J Jᵀ from jacrev, several outputs,
    depths, activations and a frozen layer; ``auto`` picks it for an MLP."""
    act = ("relu", "tanh", "sigmoid")[seed]
    spec = MLPSpec(in_features=5, widths=(7, 4), out_features=3, activation=act)
    module = build(spec, seed=seed, dtype=F64)
    x, _ = _data(11, 5, seed)
    for frozen in (False, True):
        if frozen:
            next(module.parameters()).requires_grad_(False)
        fm = FunctionalModel(module, loss="mse")
        params = fm.params()
        jac = jacrev(lambda p, fm=fm: fm.forward(p, x).reshape(-1))(params)
        J = torch.cat([jac[k].reshape(33, -1) for k in params], 1)
        for method in ("layerwise", "auto"):
            K = empirical_ntk(fm, params, x, method=method)
            torch.testing.assert_close(K, J @ J.T, rtol=1e-10, atol=1e-10)


def test_layerwise_ntk_refuses_what_it_does_not_cover():
    class Mixer(torch.nn.Module):  # a model whose output for one sample uses the others
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)

        def forward(self, x):
            h = self.lin(x)
            return h * h.mean(0, keepdim=True)

    class Twice(torch.nn.Module):  # one layer called twice
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 3)

        def forward(self, x):
            return self.lin(torch.tanh(self.lin(x)))

    x, _ = _data(6, 3, 0)
    for net in (Mixer().double(), Twice().double()):
        fm = FunctionalModel(net, loss="mse")
        with pytest.raises(LandscapeError, match="layerwise"):
            empirical_ntk(fm, fm.params(), x, method="layerwise")
    # auto falls back to the Jacobian where the structure does not hold
    fm = FunctionalModel(Twice().double(), loss="mse")
    p = fm.params()
    jac = jacrev(lambda q: fm.forward(q, x).reshape(-1))(p)
    J = torch.cat([jac[k].reshape(18, -1) for k in p], 1)
    torch.testing.assert_close(empirical_ntk(fm, p, x), J @ J.T, rtol=1e-10, atol=1e-10)
