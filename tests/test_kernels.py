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


def test_auto_is_onednn_exactly_on_avx512_cpus_that_are_not_intels(monkeypatch):
    """The choice depends on the machine only (never on a timing): oneDNN where MKL would run
    its AVX2 kernels on an AVX-512 CPU, the BLAS elsewhere."""
    monkeypatch.setattr(kernels, "onednn_available", lambda: True)
    cases = [
        ("AuthenticAMD", "AVX512", "onednn"),
        ("AuthenticAMD", "AVX2", "blas"),
        ("GenuineIntel", "AVX512", "blas"),
        ("", "AVX512", "blas"),
    ]
    for vendor, capability, expected in cases:
        kernels._cpu_float32_choice.cache_clear()
        monkeypatch.setattr(kernels, "cpu_vendor", lambda v=vendor: v)
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert kernels._cpu_float32_choice() == expected, (vendor, capability)
    kernels._cpu_float32_choice.cache_clear()
    monkeypatch.setattr(kernels, "onednn_available", lambda: False)
    assert kernels._cpu_float32_choice() == "blas"
    kernels._cpu_float32_choice.cache_clear()


def test_measure_reports_a_rate_for_every_backend_here():
    rates = kernels.measure(m=64, k=64, n=64, repeats=1)
    assert set(rates) == ({"blas", "onednn"} if kernels.onednn_available() else {"blas"})
    assert all(r > 0 for r in rates.values())
