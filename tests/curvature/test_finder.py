"""The one outer loop of the Newton-type finders (:func:`landscape.curvature._finder.solve`),
driven by hand-written step rules; the finders themselves run through it in test_critical."""

from __future__ import annotations

import torch

from landscape.curvature._finder import Problem, Step, solve


def _bowl(p):
    """``½ Σ c_i w_i²`` with curvatures 1 and 4: gradient ``c ⊙ w``, critical at 0."""
    w = p["w"]
    return 0.5 * (w[0] ** 2 + 4.0 * w[1] ** 2)


def _problem() -> Problem:
    start = {"w": torch.tensor([1.0, 1.0], dtype=torch.float64)}
    return Problem(_bowl, start, None, None, "forward", None, None)


def _descent(prob: Problem, lr: float):
    def step(theta, value, g):
        new = theta - lr * g
        loss, grad = prob.evaluate(new)
        return Step(new, loss, grad, float((new - theta).norm()))

    return step


def test_solve_takes_steps_until_the_gradient_threshold():
    prob = _problem()
    r = solve(prob, _descent(prob, 0.2), method="descent", grad_tol=1e-8, max_iter=500)
    assert r.converged and r.grad_norm <= 1e-8 and r.method == "descent"
    # gradient descent with lr 0.2 contracts the slow mode by 0.8 per step
    assert 70 <= r.iterations <= 90
    assert r.num_grads == r.iterations + 1  # the start, then one evaluation per step
    h = r.history
    assert len(h["loss"]) == len(h["grad_norm"]) == len(h["step"]) == r.iterations + 1
    assert h["step"][0] == 0.0 and h["grad_norm"][-1] == r.grad_norm
    assert all(a > b for a, b in zip(h["loss"], h["loss"][1:], strict=False))


def test_solve_reports_max_iter_and_the_step_rules_own_stop():
    prob = _problem()
    r = solve(prob, _descent(prob, 0.2), method="descent", grad_tol=1e-8, max_iter=3)
    assert not r.converged and r.iterations == 3 and r.message == "max_iter=3 reached"
    prob = _problem()
    r = solve(prob, lambda t, v, g: "no step here", method="none", grad_tol=1e-8, max_iter=5)
    assert not r.converged and r.iterations == 0 and r.message == "no step here"
    torch.testing.assert_close(r.params["w"], torch.ones(2, dtype=torch.float64))


def test_solve_stops_on_a_stall_and_calls_start_once():
    prob = _problem()
    seen = []

    def stuck(theta, value, g):  # a step that goes nowhere: ‖∇L‖ never falls
        return Step(theta, value, g, 0.0)

    r = solve(
        prob, stuck, method="stuck", grad_tol=1e-8, max_iter=50, patience=4,
        start=lambda theta, g: seen.append(float(g.norm())),
    )  # fmt: skip
    assert not r.converged and r.iterations == 4 and "stalled" in r.message
    assert seen == [r.history["grad_norm"][0]]
    # patience 0 never stops early
    r = solve(_problem(), stuck, method="stuck", grad_tol=1e-8, max_iter=7, patience=0)
    assert r.iterations == 7 and "max_iter" in r.message
