"""landscape.kernels: the float32 product on the BLAS and on oneDNN, and the choice between them."""

from __future__ import annotations

import pytest
import torch

from landscape import LandscapeError, kernels

needs_onednn = pytest.mark.skipif(
    not kernels.onednn_available(), reason="this PyTorch build has no oneDNN float32 product"
)


@pytest.mark.parametrize("which", ["blas", pytest.param("onednn", marks=needs_onednn)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_is_x_times_w_transposed_to_float32_rounding(which, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(37, 300, generator=gen)
    w = torch.randn(53, 300, generator=gen)
    expected = x.double() @ w.double().t()
    scale = expected.abs().max()
    torch.testing.assert_close(
        kernels.linear(x, w, which).double(), expected, rtol=0, atol=1e-5 * float(scale)
    )
    torch.testing.assert_close(
        kernels.linear(x, kernels.prepack(w, which, rows=1024), which).double(),
        expected,
        rtol=0,
        atol=1e-5 * float(scale),
    )
    strided = x.double()[:, ::2] @ w.double()[:, ::2].t()
    torch.testing.assert_close(
        kernels.linear(x[:, ::2], w[:, ::2].contiguous(), which).double(),
        strided,
        rtol=0,
        atol=1e-5 * float(strided.abs().max()),
    )


def test_backend_choice_env_override_and_errors(monkeypatch):
    monkeypatch.setenv("LANDSCAPE_MATMUL", "blas")
    assert kernels.backend("cpu", torch.float32) == "blas"
    monkeypatch.setenv("LANDSCAPE_MATMUL", "auto")
    assert kernels.backend("cpu", torch.float32) in ("blas", "onednn")
    # float64, or any device but the CPU: the BLAS, whatever was asked
    assert kernels.backend("cpu", torch.float64, "auto") == "blas"
    assert kernels.backend("meta", torch.float32, "auto") == "blas"
    monkeypatch.setenv("LANDSCAPE_MATMUL", "fast")
    with pytest.raises(LandscapeError, match="LANDSCAPE_MATMUL must be one of auto, blas, onednn"):
        kernels.backend("cpu", torch.float32)
    with pytest.raises(LandscapeError, match="matmul backend must be one of"):
        kernels.backend("cpu", torch.float32, "mkl")
    if kernels.onednn_available():
        assert kernels.backend("cpu", torch.float32, "onednn") == "onednn"
    else:
        with pytest.raises(LandscapeError, match="no oneDNN"):
            kernels.backend("cpu", torch.float32, "onednn")


def test_auto_keeps_the_faster_backend_of_its_trial(monkeypatch):
    """``auto`` times both products once and keeps oneDNN only when it is clearly faster."""
    kernels._cpu_float32_choice.cache_clear()
    times = {"blas": 1.0, "onednn": 0.5}
    calls = iter([times["blas"], times["onednn"]])
    monkeypatch.setattr(kernels, "_best_time", lambda fn, repeats=5: next(calls))
    monkeypatch.setattr(kernels, "onednn_available", lambda: True)
    assert kernels._cpu_float32_choice(99) == "onednn"
    calls = iter([1.0, 0.95])  # within the margin: the BLAS stays
    assert kernels._cpu_float32_choice(98) == "blas"
    kernels._cpu_float32_choice.cache_clear()
