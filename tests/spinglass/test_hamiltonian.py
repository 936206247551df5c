"""The spin-glass Hamiltonian against slow, obvious references in float64.

References: a Python sum over all index tuples (energy), torch autograd and central finite
differences (gradient, Hessian), and the autograd Hessian of ``L ∘ R_w`` for the
second-order retraction ``R_w(v) = √Λ (w + v)/‖w + v‖`` (Riemannian Hessian, Absil et al.
2008, Prop. 5.5.5).
"""

from __future__ import annotations

import itertools
import math
import pickle

import pytest
import torch

from landscape import LandscapeError, kernels
from landscape import spinglass as sg

F64 = torch.float64

# (n_spins, H) cases: the quadratic (H = 2), the paper's H = 3, a quartic
CASES = [(5, 2), (4, 3), (6, 3), (3, 4)]
IDS = [f"L{n}-H{h}" for n, h in CASES]


def brute_force_loss(J: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``Λ^{-(H-1)/2} Σ_{i_1..i_H} J_{i_1..i_H} w_{i_1}⋯w_{i_H}`` as a loop over all tuples."""
    n, h = J.shape[0], J.dim()
    total = torch.zeros((), dtype=J.dtype)
    for idx in itertools.product(range(n), repeat=h):
        term = J[idx]
        for i in idx:
            term = term * w[i]
        total = total + term
    return total * n ** (-(h - 1) / 2)


def einsum_loss(J: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The raw (unsymmetrised) energy with einsum, differentiable for autograd."""
    n, h = J.shape[0], J.dim()
    letters = "abcdefgh"[:h]
    spec = letters + "," + ",".join(letters) + "->"
    return torch.einsum(spec, J, *([w] * h)) * n ** (-(h - 1) / 2)


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    n, h = request.param
    J = sg.couplings(n, h, seed=7, dtype=F64)
    glass = sg.SpinGlass(J)
    # 9 replicas take the batched matrix–matrix path; single points (w[1] in the energy
    # test, test_batch_equals_loop_...) take the one-index-at-a-time path
    w = sg.random_sphere(9, n, seed=11, dtype=F64)
    return J, glass, w


def test_energy_matches_brute_force_sum(case):
    J, glass, w = case
    ref = torch.stack([brute_force_loss(J, x) for x in w])
    torch.testing.assert_close(glass.loss(w), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(glass.energy(w), ref / glass.n_spins, rtol=1e-12, atol=1e-12)
    # one point equals the batch row
    torch.testing.assert_close(glass.loss(w[1]), ref[1], rtol=1e-12, atol=1e-12)


def test_gradient_matches_autograd_and_finite_differences(case):
    J, glass, w = case
    grad = glass.gradient(w)
    for r, x in enumerate(w):
        auto = torch.func.grad(lambda y: einsum_loss(J, y))(x)
        torch.testing.assert_close(grad[r], auto, rtol=1e-10, atol=1e-10)
        eps = 1e-6
        eye = torch.eye(glass.n_spins, dtype=F64)
        fd = torch.stack(
            [(einsum_loss(J, x + eps * e) - einsum_loss(J, x - eps * e)) / (2 * eps) for e in eye]
        )
        torch.testing.assert_close(grad[r], fd, rtol=1e-6, atol=1e-6)


def test_hessian_matches_autograd_and_finite_differences(case):
    J, glass, w = case
    hess = glass.hessian(w)
    assert hess.shape == (9, glass.n_spins, glass.n_spins)
    for r, x in enumerate(w):
        auto = torch.func.hessian(lambda y: einsum_loss(J, y))(x)
        torch.testing.assert_close(hess[r], auto, rtol=1e-10, atol=1e-10)
        eps = 1e-5
        eye = torch.eye(glass.n_spins, dtype=F64)
        fd = torch.stack(
            [(glass.gradient(x + eps * e) - glass.gradient(x - eps * e)) / (2 * eps) for e in eye]
        )
        torch.testing.assert_close(hess[r], fd, rtol=1e-6, atol=1e-6)


def test_riemannian_gradient_is_tangent_and_matches_retraction(case):
    J, glass, w = case
    rg = glass.riemannian_gradient(w)
    assert (rg * w).sum(-1).abs().max() < 1e-12 * glass.n_spins
    basis = sg.tangent_basis(w)
    for r, x in enumerate(w):
        # grad of L ∘ R_x at 0 in tangent coordinates is Bᵀ grad L
        def pulled(y, x=x, b=basis[r]):
            z = x + b @ y
            return einsum_loss(J, z * (math.sqrt(glass.n_spins) / z.norm()))

        auto = torch.func.grad(pulled)(torch.zeros(glass.n_spins - 1, dtype=F64))
        torch.testing.assert_close(basis[r].T @ rg[r], auto, rtol=1e-10, atol=1e-10)


def test_riemannian_hessian_matches_second_order_retraction(case):
    J, glass, w = case
    rh = glass.riemannian_hessian(w)
    n = glass.n_spins
    assert rh.shape == (9, n - 1, n - 1)
    torch.testing.assert_close(rh, rh.transpose(-1, -2), rtol=0, atol=1e-12)
    basis = sg.tangent_basis(w)
    for r, x in enumerate(w):

        def pulled(y, x=x, b=basis[r]):
            z = x + b @ y
            return einsum_loss(J, z * (math.sqrt(n) / z.norm()))

        auto = torch.func.hessian(pulled)(torch.zeros(n - 1, dtype=F64))
        torch.testing.assert_close(rh[r], auto, rtol=1e-9, atol=1e-9)


def test_riemannian_hessian_equals_dense_projected_formula(case):
    _, glass, w = case
    n = glass.n_spins
    basis = sg.tangent_basis(w)
    grad, hess = glass.gradient(w), glass.hessian(w)
    curv = (grad * w).sum(-1) / n
    dense = hess - curv[:, None, None] * torch.eye(n, dtype=F64)
    ref = basis.transpose(-1, -2) @ dense @ basis
    torch.testing.assert_close(glass.riemannian_hessian(w), ref, rtol=1e-11, atol=1e-11)
    # on the sphere the curvature term is H·L/Λ (Euler's identity)
    torch.testing.assert_close(curv, glass.H * glass.loss(w) / n, rtol=1e-12, atol=1e-12)


def test_tangent_basis_is_orthonormal_and_orthogonal_to_w():
    w = sg.random_sphere(4, 7, seed=3, dtype=F64)
    w[0] = -w[0]  # both signs of the first coordinate
    w[1, 0] = 0.0
    b = sg.tangent_basis(w)
    eye = torch.eye(6, dtype=F64).expand(4, 6, 6)
    torch.testing.assert_close(b.transpose(-1, -2) @ b, eye, rtol=0, atol=1e-13)
    assert (b.transpose(-1, -2) @ w[..., None]).abs().max() < 1e-12


def test_index_counts_negative_eigenvalues_like_a_dense_reference():
    glass = sg.SpinGlass.random(12, 3, seed=5, dtype=F64)
    w = sg.random_sphere(6, 12, seed=6, dtype=F64)
    rh = glass.riemannian_hessian(w)
    ref = torch.tensor([int((torch.linalg.eigvalsh(m) < -1e-4).sum()) for m in rh])
    assert torch.equal(glass.index(w, tol=1e-4), ref)
    # eigenvalues of the tangent Hessian are those of P(∇²L − c I)P without the one along w
    grad, hess = glass.gradient(w[0]), glass.hessian(w[0])
    c = (grad @ w[0]) / 12
    p = torch.eye(12, dtype=F64) - torch.outer(w[0], w[0]) / 12
    full, vecs = torch.linalg.eigh(p @ (hess - c * torch.eye(12, dtype=F64)) @ p)
    along_w = (vecs.T @ w[0]).abs().argmax()
    keep = torch.ones(12, dtype=torch.bool)
    keep[along_w] = False
    torch.testing.assert_close(glass.hessian_eigenvalues(w[0]), full[keep], rtol=0, atol=1e-10)
    with pytest.raises(LandscapeError, match="tol"):
        glass.index(w, tol=-1.0)
    assert glass.index(w[:0]).shape == (0,)


@pytest.mark.parametrize("H", [2, 3, 4])
def test_batch_equals_loop_and_chunking_does_not_change_results(H):
    glass = sg.SpinGlass.random(9, H, seed=1, dtype=F64)
    w = sg.random_sphere(10, 9, seed=2, dtype=F64)
    loss, grad = glass.loss_and_gradient(w)
    loss_c, grad_c = glass.loss_and_gradient(w, chunk=3)
    torch.testing.assert_close(loss_c, loss, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(grad_c, grad, rtol=1e-13, atol=1e-13)
    looped = torch.stack([glass.gradient(x) for x in w])
    torch.testing.assert_close(looped, grad, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(glass.gradient(w[:3]), grad[:3], rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(
        glass.hessian(w, chunk=3),
        torch.stack([glass.hessian(x) for x in w]),
        rtol=1e-13,
        atol=1e-13,
    )
    torch.testing.assert_close(
        glass.riemannian_hessian(w, chunk=4),
        torch.stack([glass.riemannian_hessian(x) for x in w]),
        rtol=1e-12,
        atol=1e-12,
    )


def _brute_gradient(glass, w):
    """``H s Σ J^s_{i…k} w_i ⋯ w_j``: one einsum over every index."""
    H = glass.H
    letters = "abcdefgh"[:H]
    rows = ",".join(f"r{c}" for c in letters[:-1])
    brute = torch.einsum(f"{letters},{rows}->r{letters[-1]}", glass.couplings, *[w] * (H - 1))
    return brute * (glass.scale * H)


@pytest.mark.parametrize("H", [3, 4])
@pytest.mark.parametrize("block_elements", [1, 200, 10**9])
@pytest.mark.parametrize("half_rows", [False, True])
def test_blocked_contraction_equals_the_brute_force_sum(H, block_elements, half_rows):
    """The gradient formed a few leading indices at a time (cache-sized blocks) equals the
    brute-force sum ``H s Σ J^s_{i…k} w_i ⋯ w_j`` for every block size, in float64, from
    every row and from the rows ``j ≤ k`` only."""
    n = 7
    glass = sg.SpinGlass.random(n, H, seed=3, dtype=F64)
    glass.block_elements = block_elements
    glass.half_rows = half_rows
    w = sg.random_sphere(12, n, seed=4, dtype=F64)
    expected = _brute_gradient(glass, w)
    torch.testing.assert_close(glass.gradient(w), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(glass.gradient(w, chunk=5), expected, rtol=1e-12, atol=1e-12)
    block = glass.contraction_block(12)
    assert 1 <= block <= n
    assert block == (n if block_elements == 10**9 else block)


@pytest.mark.parametrize("H, n", [(3, 23), (4, 9), (5, 6)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_half_rows_contraction_equals_the_brute_force_sum(H, n, seed):
    """Only the rows ``w_j w_k ⋯`` with ``j ≤ k``, weighted 2 off the diagonal: the same
    gradient as the brute-force einsum over every index (float64), for one chunk, for
    several chunks, and as the full-rows product."""
    glass = sg.SpinGlass.random(n, H, seed=seed, dtype=F64)
    glass.half_rows = True  # "auto" keeps the full rows at this small Λ
    w = sg.random_sphere(19, n, seed=seed + 10, dtype=F64)
    expected = _brute_gradient(glass, w)
    torch.testing.assert_close(glass.gradient(w), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(glass.gradient(w, chunk=8), expected, rtol=1e-12, atol=1e-12)
    blocks, _ = glass._half_blocks(H - 1, "blas")
    assert blocks[0][0] == 0 and blocks[-1][1] == n  # the blocks tile [0, Λ)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(blocks))
    pairs = sum((j1 - j0) * (n - j0) for j0, j1 in blocks)
    assert n * (n + 1) / 2 <= pairs <= 1.25 * n * (n + 1) / 2  # about half of the Λ² rows
    glass.half_rows = False
    torch.testing.assert_close(glass.gradient(w), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("matmul", ["blas", "onednn"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float32_half_rows_on_every_backend_match_float64(matmul, seed):
    """The float32 half-rows gradient on the BLAS and on oneDNN (prepacked couplings),
    for batch sizes on both sides of the prepacking hint, is float64's to float32 rounding;
    the glass pickles without its packed cache."""
    if matmul == "onednn" and not kernels.onednn_available():
        pytest.skip("this PyTorch build has no oneDNN float32 product")
    n = 60
    glass = sg.SpinGlass.random(n, 3, seed=seed)
    glass.matmul = matmul
    glass.half_rows = True
    g64 = sg.SpinGlass(glass.couplings.double(), symmetric=True)
    for r in (9, 37, 1100):
        w = sg.random_sphere(r, n, seed=seed + r)
        expected = g64.gradient(w.double())
        err = (glass.gradient(w).double() - expected).abs().max() / expected.abs().max()
        assert err < 5e-6, (r, float(err))
    assert ("_half_cache" in glass.__dict__) and "_half_cache" not in pickle.loads(
        pickle.dumps(glass)
    ).__dict__


def _half_rows_used(n, H, replicas, half_rows="auto"):
    """Whether a fresh glass's gradient of ``replicas`` points went through the half rows."""
    glass = sg.SpinGlass.random(n, H, seed=0)
    glass.half_rows = half_rows
    glass.gradient(sg.random_sphere(replicas, n, seed=1))
    return "_half_cache" in glass.__dict__


def test_half_rows_auto_where_the_full_rows_are_large():
    """``"auto"``: the half rows for batches with ``R · Λ^{H−1} ≥ 2^22``, on a CPU; a single
    replica keeps its matrix–vector path; ``False`` never."""
    assert not _half_rows_used(64, 3, 1023)
    assert _half_rows_used(64, 3, 1024)
    assert _half_rows_used(16, 4, 1024)  # Λ^{H−1} = 4096
    assert not _half_rows_used(64, 3, 1, half_rows=True)
    assert _half_rows_used(64, 3, 8, half_rows=True)
    assert not _half_rows_used(64, 3, 2048, half_rows=False)


def test_contraction_block_keeps_the_row_block_in_cache_and_the_inner_dimension_long():
    glass = sg.SpinGlass.random(250, 3, seed=0)
    b = glass.contraction_block(1000)
    assert 1000 * b * 250 <= 2**19 or b * 250 >= 512  # in the budget, or the shortest kernel
    assert b * 250 >= 512
    glass.block_elements = 10**12
    assert glass.contraction_block(1000) == 250  # a huge budget: one block


def test_float32_gradient_resolves_critical_points_for_one_replica_and_for_a_batch():
    # a float64 minimum evaluated in float32: the residual is rounding only; a single
    # replica must be as accurate as a batch (a matrix–vector product over the Λ² inner
    # dimension gave 1.3e-5 here, ten times the batch's rounding). The bound leaves room
    # for the BLAS's summation order: ~1e-6 with MKL's default kernels, ~4e-6 with
    # MKL_CBWR=COMPATIBLE.
    n = 150
    g64 = sg.SpinGlass.random(n, 3, seed=0, dtype=F64)
    w = sg.sample_minima(g64, 8, seed=1, newton_gtol=1e-11).w
    assert (g64.riemannian_gradient(w).norm(dim=-1) / math.sqrt(n)).max() < 1e-11
    g32 = sg.SpinGlass(g64.couplings.float(), symmetric=True)
    w32 = w.float()
    batch = g32.riemannian_gradient(w32).norm(dim=-1) / math.sqrt(n)
    single = torch.stack([g32.riemannian_gradient(x).norm() for x in w32]) / math.sqrt(n)
    assert batch.max() < 6e-6 and single.max() < 6e-6


def test_symmetrize_gives_a_symmetric_tensor_with_the_same_energy():
    J = sg.couplings(4, 3, seed=0, dtype=F64)
    S = sg.symmetrize(J)
    for perm in itertools.permutations(range(3)):
        torch.testing.assert_close(S.permute(perm), S, rtol=0, atol=1e-15)
    w = sg.random_sphere(2, 4, seed=1, dtype=F64)
    torch.testing.assert_close(
        sg.SpinGlass(S, symmetric=True).loss(w), sg.SpinGlass(J).loss(w), rtol=1e-13, atol=1e-13
    )


@pytest.mark.parametrize("distribution", sg.DISTRIBUTIONS)
def test_coupling_distributions_have_unit_variance(distribution):
    J = sg.couplings(40, 3, seed=0, distribution=distribution, dtype=F64)
    assert J.shape == (40, 40, 40)
    # 64000 draws: the sample mean and variance are within ~5 standard errors
    assert abs(J.mean().item()) < 0.02
    assert abs(J.var().item() - 1.0) < 0.03
    if distribution == "rademacher":
        assert set(J.unique().tolist()) == {-1.0, 1.0}
    if distribution == "uniform":
        assert J.abs().max().item() <= math.sqrt(3.0)


def test_same_seed_same_couplings_across_dtypes_and_different_seeds_differ():
    a = sg.couplings(6, 3, seed=4, dtype=F64)
    b = sg.couplings(6, 3, seed=4, dtype=torch.float32)
    torch.testing.assert_close(b.double(), a, rtol=1e-6, atol=1e-6)
    assert not torch.equal(a, sg.couplings(6, 3, seed=5, dtype=F64))
    w = sg.random_sphere(3, 6, seed=1, dtype=torch.float32)
    assert w.dtype == torch.float32
    torch.testing.assert_close((w * w).sum(-1), torch.full((3,), 6.0), rtol=1e-6, atol=1e-5)


def test_dtype_and_device_follow_the_couplings():
    glass = sg.SpinGlass.random(5, 3, seed=0)
    assert glass.dtype == torch.float32 and glass.device.type == "cpu"
    w = sg.random_sphere(2, 5, seed=0)
    assert glass.loss(w).dtype == torch.float32
    assert glass.riemannian_hessian(w).dtype == torch.float32
    with pytest.raises(LandscapeError, match=r"w\.to\(glass\.couplings\)"):
        glass.loss(w.double())


def test_split_sums_to_the_full_couplings_with_the_right_variance():
    glass = sg.SpinGlass.random(12, 3, seed=0, dtype=F64)
    parts = glass.split(4, seed=1)
    assert len(parts) == 4
    total = sum(p.couplings for p in parts)
    torch.testing.assert_close(total, glass.couplings, rtol=1e-12, atol=1e-12)
    w = sg.random_sphere(3, 12, seed=2, dtype=F64)
    torch.testing.assert_close(sum(p.loss(w) for p in parts), glass.loss(w), rtol=1e-12, atol=1e-12)
    # each part is the symmetrisation of N(0, 1/P) couplings: the off-diagonal entries of
    # J^s (all indices distinct) have variance 1/(3!·P)
    i, j, k = torch.meshgrid(*(torch.arange(12),) * 3, indexing="ij")
    distinct = (i != j) & (j != k) & (i != k)
    var = torch.stack([p.couplings[distinct].var() for p in parts]).mean().item()
    assert abs(var * 6 * 4 - 1.0) < 0.15
    assert glass.split(1, seed=0)[0] is glass


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sg.couplings(1, 3, seed=0), "n_spins"),
        (lambda: sg.couplings(5, 1, seed=0), "H"),
        (lambda: sg.couplings(5, 3, seed=0, distribution="cauchy"), "distribution"),
        (lambda: sg.couplings(5, 3, seed=0, dtype=torch.int64), "dtype"),
        (lambda: sg.couplings(5000, 3, seed=0), "GiB"),
        (lambda: sg.SpinGlass(torch.zeros(3, 4)), "cubical"),
        (lambda: sg.random_sphere(0, 5, seed=0), "replicas"),
        (lambda: sg.SpinGlass.random(5, 3, seed=0).loss(torch.zeros(2, 4)), "shape"),
        (lambda: sg.SpinGlass.random(5, 3, seed=0).split(0, seed=0), "parts"),
    ],
    ids=["L<2", "H<2", "distribution", "dtype", "too-big", "not-cubical", "R<1", "shape", "P<1"],
)
def test_bad_arguments_raise_one_line_errors(call, match):
    with pytest.raises(LandscapeError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
