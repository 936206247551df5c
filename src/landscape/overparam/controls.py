"""Controls for the spurious-minimum picture: nets whose landscapes theory settles.

* **Deep linear networks** ``L = (1/N) Σ ‖W_K ⋯ W_1 x − y‖² (+ λ Σ ‖W_k‖²)``: every local
  minimum is global (Kawaguchi 2016), and the level sets are connected (Freeman & Bruna
  2017, Proposition 2.1). Without regularisation the global minimum is the reduced-rank
  regression of ``Y`` on ``X`` with rank ``r = min`` of the widths, in closed form
  (:func:`reduced_rank_optimum`). :func:`deep_linear_path` is the constructive path of
  Freeman & Bruna's proof for K layers: the product moves on the straight line
  ``P(t) = (1 − t) P¹ + t P²`` (convex loss along it) while, from the top layer down,
  ``W_k(t) = t W_k² + (1 − t) W_k¹ + t(1 − t) V_k`` (``V_k`` random keeps it full rank) and
  the layers below take the target ``W_k(t)^† Q_k(t)``; with widths non-increasing towards
  the output (``n_1 ≥ ⋯ ≥ m``), ``W_k(t) W_k(t)^† = I`` and the loss stays below
  ``max(L(θ_1), L(θ_2))``.
* **Two-layer quadratic networks** ``Φ(x) = Σ_m u_m (w_m·x)²`` (Venturi, Bandeira & Bruna
  2019): no spurious valleys once the width ``M ≥ 2N`` (``N`` the input dimension).
  :func:`poor_minima` trains many starts to a small gradient and counts the runs that end
  above the best loss with a positive semi-definite Hessian. For scalar outputs
  ``Φ(x) = xᵀ A x`` with ``A = Σ u_m w_m w_mᵀ``, so for ``M ≥ N`` the global minimum is a
  least-squares fit over symmetric ``A`` (:func:`quadratic_optimum`).
* **ReLU** nets of the same sizes (``activation="relu"``) as a contrast, and
  :func:`disconnected_relu_example`: a two-unit ReLU net on two points whose two zero-loss
  solutions are separated by a barrier of at least ½ on every path.

Every start is a float64 problem of a few dozen parameters, minimised with scipy's
L-BFGS-B (gradients by autograd) to a gradient norm of 1e-9; the Hessian is dense.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

from .._errors import LandscapeError

__all__ = [
    "PoorMinima",
    "deep_linear_loss",
    "deep_linear_path",
    "disconnected_relu_example",
    "poor_minima",
    "quadratic_optimum",
    "reduced_rank_optimum",
    "train_deep_linear",
    "two_layer_loss",
]

Params = dict[str, Tensor]


def reduced_rank_optimum(X: Tensor, Y: Tensor, rank: int) -> tuple[Tensor, float]:
    """The best product ``W`` of rank ``≤ rank`` for ``min (1/N) Σ ‖W x − y‖²``.

    Reduced-rank regression: with the least-squares fit ``B = Yᵀ X (XᵀX)⁻¹`` and ``U_r``
    the top ``r`` left singular vectors of the fitted values ``B Xᵀ``, ``W* = U_r U_rᵀ B``.

    Args:
        X: ``N×n`` inputs (rows are samples), ``XᵀX`` invertible.
        Y: ``N×m`` targets.
        rank: the smallest width of the network.

    Returns:
        ``(W*, L*)``: ``m×n`` and the loss.
    """
    B = torch.linalg.lstsq(X, Y).solution.T  # m×n
    U, _, _ = torch.linalg.svd(B @ X.T, full_matrices=False)
    Ur = U[:, :rank]
    W = Ur @ Ur.T @ B
    return W, float(((X @ W.T - Y) ** 2).sum(1).mean())


def deep_linear_loss(params: Params, batch: tuple[Tensor, Tensor], l2: float = 0.0) -> Tensor:
    """``(1/N) Σ ‖W_K ⋯ W_1 x − y‖² + l2 Σ ‖W_k‖²`` with ``params = {"W1": …, "WK": …}``."""
    x, y = batch
    h = x
    for k in range(1, len(params) + 1):
        h = h @ params[f"W{k}"].T
    out = ((h - y) ** 2).sum(-1).mean()
    if l2:
        out = out + l2 * sum((w**2).sum() for w in params.values())
    return out


def two_layer_loss(activation: str) -> Callable[[Params, tuple[Tensor, Tensor]], Tensor]:
    """``(1/N) Σ ‖U σ(W x) − y‖²`` with ``σ(z) = z²`` (``"quadratic"``) or ``relu``."""
    if activation not in ("quadratic", "relu"):
        raise LandscapeError(f"activation={activation!r}; allowed: 'quadratic', 'relu'")
    act = (lambda z: z**2) if activation == "quadratic" else torch.relu

    def loss(params: Params, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        return ((act(x @ params["W"].T) @ params["U"].T - y) ** 2).sum(-1).mean()

    return loss


def quadratic_optimum(X: Tensor, y: Tensor) -> float:
    """The global minimum of the quadratic net (scalar output) for width ``M ≥ N``.

    ``Φ(x) = xᵀ A x`` for any symmetric ``A`` once ``M ≥ N``: a least-squares fit over the
    ``N(N + 1)/2`` features ``x_a x_b``.
    """
    n = X.shape[1]
    ia, ib = torch.triu_indices(n, n)
    feats = X[:, ia] * X[:, ib]
    coef = torch.linalg.lstsq(feats, y.reshape(-1, 1)).solution
    return float(((feats @ coef - y.reshape(-1, 1)) ** 2).mean())


class _Flat:
    """A pure loss of named params as a function of one float64 vector (for scipy)."""

    def __init__(self, loss: Callable, shapes: dict[str, tuple[int, ...]], batch: tuple) -> None:
        self.loss, self.shapes, self.batch = loss, shapes, batch
        self.sizes = [math.prod(s) for s in shapes.values()]

    def unflat(self, v: Tensor) -> Params:
        parts = torch.split(v, self.sizes)
        return {k: p.reshape(s) for (k, s), p in zip(self.shapes.items(), parts, strict=True)}

    def value(self, v: Tensor) -> Tensor:
        return self.loss(self.unflat(v), self.batch)

    def fg(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        v = torch.from_numpy(x).requires_grad_(True)
        f = self.value(v)
        (g,) = torch.autograd.grad(f, v)
        return float(f.detach()), g.numpy().copy()

    def minimize(self, x0: np.ndarray, gtol: float, maxiter: int) -> np.ndarray:
        res = minimize(
            self.fg, x0, jac=True, method="L-BFGS-B",
            options={
                "gtol": gtol, "ftol": 0.0, "maxiter": maxiter, "maxfun": 2 * maxiter,
                "maxcor": 30,
            },
        )  # fmt: skip
        return res.x

    def grad_norm(self, x: np.ndarray) -> float:
        return float(np.linalg.norm(self.fg(x)[1]))

    def lambda_min(self, x: np.ndarray) -> float:
        H = torch.func.hessian(self.value)(torch.from_numpy(x))
        return float(torch.linalg.eigvalsh(0.5 * (H + H.T))[0])


def _init(shapes: dict[str, tuple[int, ...]], rng: np.random.Generator, scale: float) -> np.ndarray:
    parts = [rng.normal(0, scale / math.sqrt(s[-1]), size=math.prod(s)) for s in shapes.values()]
    return np.concatenate(parts)


def _seed(seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *tags]))


def train_deep_linear(
    X: Tensor,
    Y: Tensor,
    widths: Sequence[int],
    runs: int,
    seed: int = 0,
    l2: float = 0.0,
    gtol: float = 1e-10,
    maxiter: int = 20_000,
) -> tuple[list[Params], np.ndarray, np.ndarray]:
    """Train ``runs`` deep linear nets ``n → widths… → m`` from random starts (L-BFGS).

    Returns:
        ``(params per run, final losses, final gradient norms)``.
    """
    dims = [X.shape[1], *widths, Y.shape[1]]
    shapes = {f"W{k + 1}": (dims[k + 1], dims[k]) for k in range(len(dims) - 1)}
    flat = _Flat(lambda p, b: deep_linear_loss(p, b, l2), shapes, (X, Y))
    out, losses, gnorms = [], [], []
    for r in range(runs):
        x = flat.minimize(_init(shapes, _seed(seed, 1, r), 1.0), gtol, maxiter)
        v = torch.from_numpy(x)
        out.append({k: t.clone() for k, t in flat.unflat(v).items()})
        losses.append(float(flat.value(v)))
        gnorms.append(flat.grad_norm(x))
    return out, np.array(losses), np.array(gnorms)


def _layer_names(p: Params) -> list[str]:
    """``["W1", …, "WK"]`` when ``p`` holds exactly those keys, else ``[]``."""
    k = len(p)
    names = [f"W{i + 1}" for i in range(k)]
    return names if k >= 2 and set(p) == set(names) else []


def deep_linear_path(
    a: Params, b: Params, X: Tensor, Y: Tensor, ts: Tensor, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Loss along Freeman & Bruna's constructive path between two K-layer linear nets.

    The product moves on the straight line ``P(t) = (1 − t) P^a + t P^b`` (``P = W_K ⋯ W_1``;
    the loss is convex along it). From the top layer down, each layer follows
    ``W_k(t) = t W_k^b + (1 − t) W_k^a + t(1 − t) V_k`` (``V_k`` Gaussian keeps it of full
    rank) and passes the target ``Q_{k−1}(t) = W_k(t)^† Q_k(t)`` (``Q_K = P``) to the
    layers below; the first layer is ``W_1(t) = Q_1(t)``. When every ``W_k(t)`` has full row
    rank — widths non-increasing from the input to the output, ``n_1 ≥ ⋯ ≥ n_{K−1} ≥ m`` —
    ``W_k W_k^† = I`` and the product equals ``P(t)``, so the loss stays below
    ``max(L(θ_a), L(θ_b))``; where the widths do not allow it, the bound can fail (the path
    is still computed and its loss returned).

    Returns:
        ``(loss along the constructive path, loss along the straight line)`` at ``ts``.

    Raises:
        LandscapeError: the nets are not linear nets ``W1 … WK`` (K ≥ 2) of the same shapes.
    """
    names = _layer_names(a)
    if not names or set(b) != set(names) or any(a[k].shape != b[k].shape for k in names):
        raise LandscapeError(
            "deep_linear_path needs two linear nets with params {'W1', …, 'WK'} (K ≥ 2) "
            f"of the same shapes, got {sorted(a)} and {sorted(b)}"
        )
    g = torch.Generator().manual_seed(seed)
    V = {k: torch.randn(a[k].shape, generator=g, dtype=a[k].dtype) for k in names[:0:-1]}

    def product(p: Params) -> Tensor:
        out = p["W1"]
        for k in names[1:]:
            out = p[k] @ out
        return out

    pa, pb = product(a), product(b)
    path, line = [], []
    for t in ts.tolist():
        target, point = (1 - t) * pa + t * pb, {}
        for k in names[:0:-1]:  # WK … W2
            point[k] = t * b[k] + (1 - t) * a[k] + t * (1 - t) * V[k]
            target = torch.linalg.pinv(point[k]) @ target
        point["W1"] = target
        path.append(float(deep_linear_loss(point, (X, Y))))
        mid = {k: (1 - t) * a[k] + t * b[k] for k in names}
        line.append(float(deep_linear_loss(mid, (X, Y))))
    return np.array(path), np.array(line)


@dataclass(frozen=True)
class PoorMinima:
    """Outcome of :func:`poor_minima` for one width.

    Attributes:
        loss, grad_norm, lambda_min: per run at the end.
        best: the reference loss (the closed form when given, else the best run).
        converged: gradient norm ≤ ``gtol_check``.
        poor: converged, ``λ_min ≥ −psd_tol`` and ``loss > best + tol``.
        saddle: converged, above ``best + tol`` but with a negative eigenvalue.
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    lambda_min: np.ndarray
    best: float
    converged: np.ndarray
    poor: np.ndarray
    saddle: np.ndarray


def poor_minima(
    X: Tensor,
    y: Tensor,
    width: int,
    runs: int,
    activation: str = "quadratic",
    seed: int = 0,
    best: float | None = None,
    tol: float = 1e-4,
    gtol: float = 1e-9,
    gtol_check: float = 1e-5,
    psd_tol: float = 1e-6,
    maxiter: int = 5000,
) -> PoorMinima:
    """Train ``runs`` two-layer nets ``Φ(x) = U σ(W x)`` of ``width`` and classify the ends.

    Args:
        X: ``N×n`` inputs; y: ``N×m`` targets.
        width: hidden width ``M``.
        runs: random starts (start ``r`` from ``SeedSequence([seed, width, r])``).
        activation: ``"quadratic"`` or ``"relu"``.
        best: the global minimum if known (e.g. :func:`quadratic_optimum` for ``M ≥ N``),
            else the lowest loss of these runs.
        tol: relative margin: ``poor`` means ``loss > best + tol·(1 + best)``.
        gtol, maxiter: L-BFGS stopping rule; gtol_check: the gradient norm that counts as
            converged; psd_tol: ``λ_min ≥ −psd_tol`` counts as positive semi-definite.
    """
    if width < 1 or runs < 1:
        raise LandscapeError(f"width and runs must be ≥ 1, got width={width}, runs={runs}")
    shapes = {"W": (width, X.shape[1]), "U": (y.shape[1], width)}
    flat = _Flat(two_layer_loss(activation), shapes, (X, y))
    xs = [
        flat.minimize(_init(shapes, _seed(seed, width, r), 1.0), gtol, maxiter) for r in range(runs)
    ]
    loss = np.array([float(flat.value(torch.from_numpy(x))) for x in xs])
    gn = np.array([flat.grad_norm(x) for x in xs])
    lam = np.array([flat.lambda_min(x) for x in xs])
    ref = float(loss.min()) if best is None else float(min(best, loss.min()))
    conv = gn <= gtol_check
    above = loss > ref + tol * (1 + abs(ref))
    return PoorMinima(
        loss=loss,
        grad_norm=gn,
        lambda_min=lam,
        best=ref,
        converged=conv,
        poor=conv & above & (lam >= -psd_tol),
        saddle=conv & above & (lam < -psd_tol),
    )


def disconnected_relu_example() -> tuple[Callable, tuple[Tensor, Tensor], Params, Params]:
    """Two zero-loss solutions of a two-unit ReLU net with no low path between them.

    ``Φ(x) = u_1 relu(w_1 x) + u_2 relu(w_2 x)`` on the points ``x = ±1`` with targets
    ``y = 1``. Each point needs a unit of its sign: ``θ_A = (w = (1, −1), u = (1, 1))`` and
    ``θ_B = (w = (−1, 1), u = (1, 1))`` both fit exactly. On any path from one to the other
    some ``w_h`` first reaches 0; then the other unit serves one point only, so the mean
    squared error is at least ½: the level sets ``Ω(λ)``, ``λ < ½``, are disconnected.

    Returns:
        ``(loss, (x, y), θ_A, θ_B)`` in float64, params ``{"W": 2×1, "U": 1×2}``.
    """
    x = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    y = torch.ones(2, 1, dtype=torch.float64)
    a = {"W": torch.tensor([[1.0], [-1.0]], dtype=torch.float64), "U": torch.ones(1, 2).double()}
    b = {"W": -a["W"].clone(), "U": a["U"].clone()}
    return two_layer_loss("relu"), (x, y), a, b
