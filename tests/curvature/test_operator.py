"""Hessian and GGN operators against dense float64 references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import hessian, jacrev
from torch.utils.data import DataLoader, TensorDataset

from landscape import LandscapeError, models
from landscape.curvature import (
    GGNOperator,
    HessianOperator,
    MatrixOperator,
    as_operator,
    dense_hessian,
    loss_and_gradient,
)
from landscape.functional import FunctionalModel
from landscape.params import flatten, unflatten


def _probe(p: int, k: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(p, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("backend", ["forward", "cached"])
def test_hvp_equals_dense_hessian_with_uneven_chunks(problem, backend):
    # 100 rows in chunks of 37: 37 + 37 + 26, so the chunk weights matter
    op = HessianOperator(problem.fm, problem.params, problem.data, chunk_size=37, backend=backend)
    h = problem.hessian
    v = _probe(h.shape[0], 5)
    assert op.shape == h.shape and op.dtype == torch.float64
    torch.testing.assert_close(op @ v, h @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(op @ v[:, 0], h @ v[:, 0], rtol=1e-10, atol=1e-12)
    assert op.num_hvps == 6


def test_vmapped_columns_equal_one_at_a_time(mlp_problem):
    op = HessianOperator(mlp_problem.fm, mlp_problem.params, mlp_problem.data, vector_chunk=3)
    v = _probe(op.num_params, 7, seed=1)
    together = op @ v
    assert op.num_passes == 1  # 7 columns in 3 vmapped chunks, one pass over the data
    alone = torch.stack([op @ v[:, i] for i in range(7)], dim=1)
    torch.testing.assert_close(together, alone, rtol=1e-12, atol=1e-14)


def test_dense_hessian_is_chunk_invariant_and_matches_operator(mlp_problem):
    p = mlp_problem
    chunked = dense_hessian(p.fm, p.params, p.data, chunk_size=30)
    torch.testing.assert_close(chunked, p.hessian, rtol=1e-10, atol=1e-13)
    op = HessianOperator(p.fm, p.params, p.data, chunk_size=45)
    torch.testing.assert_close(op.to_dense(block=100), p.hessian, rtol=1e-10, atol=1e-13)


def test_to_scipy_matches_operator(mlp_problem):
    p = mlp_problem
    op = HessianOperator(p.fm, p.params, p.data)
    lin = op.to_scipy()
    v = _probe(op.num_params, 3, seed=2)
    np.testing.assert_allclose(lin @ v.numpy(), (p.hessian @ v).numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        lin.matvec(v[:, 0].numpy()), (p.hessian @ v[:, 0]).numpy(), rtol=1e-9, atol=1e-12
    )
    assert lin.shape == op.shape and lin.dtype == np.float64


def test_dataloader_list_and_generator_give_the_same_hessian(mlp_problem):
    p = mlp_problem
    v = _probe(p.hessian.shape[0], 2, seed=3)
    ref = p.hessian @ v
    loader = DataLoader(TensorDataset(p.x, p.y), batch_size=32)  # 32, 32, 32, 4
    batches = [(p.x[i : i + 25], p.y[i : i + 25]) for i in range(0, 100, 25)]
    gen = ((p.x[i : i + 40], p.y[i : i + 40]) for i in range(0, 100, 40))
    for data in (loader, batches, gen):
        op = HessianOperator(p.fm, p.params, data)
        torch.testing.assert_close(op @ v, ref, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(op @ v, ref, rtol=1e-10, atol=1e-12)  # re-iterable


def test_loss_without_data_is_a_quadratic_form():
    a = torch.tensor([[2.0, 1.0, 0.0], [1.0, -3.0, 0.5], [0.0, 0.5, 1.0]], dtype=torch.float64)
    w = {"w": torch.tensor([0.3, -0.1, 2.0], dtype=torch.float64)}
    op = HessianOperator(lambda p: 0.5 * p["w"] @ a @ p["w"], w)
    torch.testing.assert_close(op.to_dense(), a)
    assert torch.equal(dense_hessian(lambda p: 0.5 * p["w"] @ a @ p["w"], w), a)


def test_float32_params_with_float64_dtype_and_result_follows_input(mlp_problem, reference_hessian):
    p = mlp_problem
    params32 = {k: v.float() for k, v in p.params.items()}
    op = HessianOperator(p.fm, params32, (p.x.float(), p.y), dtype=torch.float64)
    assert op.dtype == torch.float64 and op.device == torch.device("cpu")
    v = _probe(op.num_params, 1, seed=4)[:, 0]
    out32 = op @ v.float()
    assert out32.dtype == torch.float32
    h = reference_hessian(p.fm, {k: v.double() for k, v in params32.items()}, p.x, p.y)
    torch.testing.assert_close(op @ v, h @ v, rtol=1e-10, atol=1e-12)
    assert all(t.dtype == torch.float32 for t in params32.values())  # inputs untouched


def test_at_moves_the_point_and_shares_the_data(mlp_problem, reference_hessian):
    p = mlp_problem
    op = HessianOperator(p.fm, p.params, p.data, chunk_size=50)
    other = {k: v + 0.1 for k, v in p.params.items()}
    moved = op.at(other)
    v = _probe(op.num_params, 2, seed=5)
    ref = reference_hessian(p.fm, other, p.x, p.y)
    torch.testing.assert_close(moved @ v, ref @ v, rtol=1e-10, atol=1e-12)
    assert moved.data is op.data and moved.num_hvps == 2 and op.num_hvps == 0
    with pytest.raises(LandscapeError, match="names and shapes"):
        op.at({"w": torch.zeros(3, dtype=torch.float64)})


def test_module_and_params_are_not_modified(mlp_problem):
    module = models.build(
        models.MLPSpec(in_features=64, widths=(5,), out_features=10), seed=3, dtype=torch.float64
    )
    before = {k: v.clone() for k, v in module.state_dict().items()}
    fm = FunctionalModel(module)
    params = fm.params()
    kept = {k: v.clone() for k, v in params.items()}
    for backend in ("forward", "cached"):
        op = HessianOperator(fm, params, mlp_problem.data, backend=backend)
        op @ _probe(op.num_params, 2)
    GGNOperator(fm, params, mlp_problem.data) @ _probe(op.num_params, 2)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert all(torch.equal(kept[k], v) for k, v in params.items())
    assert all(v.requires_grad for v in module.parameters())


def test_ggn_equals_jacobian_sandwich_and_is_psd(problem):
    p = problem
    ggn = GGNOperator(p.fm, p.params, p.data, chunk_size=30).to_dense()
    flat = flatten(p.params)
    out = p.fm.forward(p.params, p.x)
    jac = jacrev(lambda w: p.fm.forward(unflatten(w, p.params), p.x).reshape(-1))(flat)
    h_out = hessian(lambda o: torch.nn.functional.cross_entropy(o.reshape(out.shape), p.y))(
        out.reshape(-1)
    )
    torch.testing.assert_close(ggn, jac.T @ h_out @ jac, rtol=1e-9, atol=1e-13)
    assert torch.linalg.eigvalsh(ggn).min() > -1e-12


def test_ggn_equals_hessian_for_a_model_linear_in_its_params(digits64_module, reference_hessian):
    # f(θ, x) = W x + b with squared error: the residual term vanishes, G = H
    fm = FunctionalModel(
        models.build(models.MLPSpec(in_features=64, out_features=3), seed=0, dtype=torch.float64),
        loss="mse",
    )
    x = digits64_module.x_train[:40]
    y = torch.randn(40, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    params = fm.params()
    g = GGNOperator(fm.forward, params, (x, y), output_loss="mse").to_dense()
    torch.testing.assert_close(g, reference_hessian(fm, params, x, y), rtol=1e-10, atol=1e-13)


def test_matrix_operator_and_as_operator():
    a = torch.diag(torch.tensor([1.0, -2.0, 3.0]))
    op = as_operator(a)
    assert isinstance(op, MatrixOperator)
    assert torch.equal(op @ torch.ones(3), torch.tensor([1.0, -2.0, 3.0]))
    assert as_operator(op) is op
    with pytest.raises(LandscapeError, match="not symmetric"):
        MatrixOperator(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(LandscapeError, match="square"):
        MatrixOperator(torch.ones(2, 3))
    with pytest.raises(LandscapeError, match="CurvatureOperator or a"):
        as_operator([[1.0]])


def test_loss_and_gradient_matches_full_batch(mlp_problem):
    p = mlp_problem
    value, grads = loss_and_gradient(p.fm, p.params, p.data, chunk_size=33)
    ref_grads, ref_value = torch.func.grad_and_value(lambda q: p.fm.loss(q, p.data))(p.params)
    torch.testing.assert_close(value, ref_value, rtol=1e-12, atol=0)
    torch.testing.assert_close(flatten(grads), flatten(ref_grads), rtol=1e-10, atol=1e-14)


def test_bad_inputs_raise_one_line_errors(mlp_problem):
    p = mlp_problem
    cases = [
        (lambda: HessianOperator(p.fm, list(p.params.values()), p.data), "dict"),
        (lambda: HessianOperator(p.fm, p.params, p.data, backend="magic"), "backend"),
        (lambda: HessianOperator(p.fm, p.params, p.data, vector_chunk=0), "vector_chunk"),
        (lambda: HessianOperator(p.fm, p.params, torch.zeros(3)), "data must be"),
        (lambda: HessianOperator(p.fm, p.params, (p.x, p.y[:5])), "rows"),
        (lambda: HessianOperator(lambda q, b: p.fm.forward(q, b[0]), p.params, p.data), "scalar"),
        (lambda: HessianOperator(3, p.params, p.data), "callable"),
        (lambda: HessianOperator(p.fm, p.params, p.data, dtype=torch.int64), "floating"),
        (lambda: HessianOperator(p.fm, p.params, p.data) @ torch.ones(5), "cannot multiply"),
        (lambda: GGNOperator(p.fm.forward, p.params, p.data), "output_loss"),
        (lambda: dense_hessian(p.fm, p.params, p.data, max_params=10), "max_params"),
    ]
    for make, match in cases:
        with pytest.raises(LandscapeError, match=match) as info:
            make()
        assert "\n" not in str(info.value)


def test_dense_hessian_plan_fits_the_budget():
    from landscape.curvature import dense as opmod

    p, n, row = 644, 100, 1000.0
    assert opmod._dense_plan(p, n, row, 8, 2**40, True) == (n, p)  # all at once when it fits
    for budget in (2**18, 2**21, 2**24, 2**27):
        for split in (True, False):
            r, k = opmod._dense_plan(p, n, row, 8, budget, split)
            assert 1 <= r <= n and 1 <= k <= p
            assert split or r == n
            cost = opmod._JVP_FACTOR * (k + 1) * (r * row + p * 8)
            assert cost <= budget or k == 1  # one tangent is the floor


def test_dense_hessian_bounds_its_memory_by_default(mlp_problem, monkeypatch):
    """All P tangents through the whole data set at once took > 20 GB on a small CNN: the
    default now splits rows and tangents to fit DENSE_MEMORY_BUDGET, same Hessian."""
    from landscape.curvature import dense as opmod

    p = mlp_problem
    rows_seen: list[int] = []

    def spy(params, batch):
        rows_seen.append(int(batch[0].shape[0]))
        return p.fm.loss(params, batch)

    row_bytes = opmod._saved_bytes_per_row(spy, p.params, p.data)
    rows_seen.clear()
    monkeypatch.setattr(opmod, "DENSE_MEMORY_BUDGET", 2**24)
    r, k = opmod._dense_plan(p.hessian.shape[0], 100, row_bytes, 8, 2**24, True)
    assert r < 100 and k < p.hessian.shape[0]  # this budget forces both splits
    h = dense_hessian(spy, p.params, p.data)
    torch.testing.assert_close(h, p.hessian, rtol=1e-10, atol=1e-13)
    assert max(rows_seen[1:]) == r  # after the probe, no pass saw more rows than planned
    with pytest.raises(LandscapeError, match="memory_budget"):
        dense_hessian(p.fm, p.params, p.data, memory_budget=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_before_any_product(bad):
    """issue 21, item 14: eigenpairs on NaN weights failed in scipy after seconds."""
    from landscape import FunctionalModel, LandscapeError
    from landscape.curvature import HessianOperator, eigenpairs

    fm = FunctionalModel(torch.nn.Linear(3, 2))
    p = fm.params()
    p["weight"][0, 1] = bad
    batch = (torch.randn(8, 3), torch.randint(0, 2, (8,)))
    with pytest.raises(LandscapeError, match=r"NaN or inf values in \['weight'\]"):
        eigenpairs(HessianOperator(fm.loss, p, batch), k=1)
    good = HessianOperator(fm.loss, fm.params(), batch)
    with pytest.raises(LandscapeError, match="NaN or inf"):
        good.at(p)


def test_nan_in_the_data_is_named_before_any_product():
    from landscape import FunctionalModel, LandscapeError
    from landscape.curvature import HessianOperator

    fm = FunctionalModel(torch.nn.Linear(3, 2))
    x = torch.randn(8, 3)
    x[2, 1] = float("nan")
    with pytest.raises(LandscapeError, match="the data's inputs hold NaN or inf"):
        HessianOperator(fm.loss, fm.params(), (x, torch.randint(0, 2, (8,))))
