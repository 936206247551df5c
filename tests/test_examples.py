"""The scripts in examples/ run in their quick form and print numbers that are right.

Each example's ``main(argv)`` is run in a temporary folder and its returned figures are
checked against independent references: the dense float64 Hessian, a direct evaluation of
the loss at grid points, the permutation invariance of the network function.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import FunctionalModel, checkpoint, data
from landscape import params as P
from landscape.curvature import dense_hessian
from landscape.surface import random_directions

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_has_the_common_interface():
    scripts = sorted(p.stem for p in EXAMPLES.glob("*.py"))
    assert set(scripts) >= {
        "connect_two_models",
        "hessian_of_your_model",
        "plane_of_a_checkpoint",
        "train_100_models",
    }
    for name in scripts:
        text = (EXAMPLES / f"{name}.py").read_text()
        tree = ast.parse(text)
        assert ast.get_docstring(tree) and "Run::" in ast.get_docstring(tree), name
        assert "--quick" in text and "--out" in text, name
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), name
        # only the public API: no private module and no private name imported
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                module = getattr(node, "module", None) or ""
                if module == "__future__":
                    continue
                parts = [*module.split("."), *(x for a in node.names for x in a.name.split("."))]
                assert not any(p.startswith("_") for p in parts if p), (name, ast.dump(node))


def test_hessian_example_matches_the_dense_hessian(tmp_path):
    ex = _load("hessian_of_your_model")
    r = ex.main(["--quick", "--out", str(tmp_path)])
    # the reference: the same trained model, its dense float64 Hessian on the same rows
    model = ex.MLP(8)
    ck = checkpoint.load(tmp_path / "model.ckpt", model=model)
    model.load_state_dict(ck.params)
    train, _ = ex.load_data()
    fm = FunctionalModel(model)
    h = dense_hessian(fm, fm.params(), train.tensors, dtype=torch.float64)
    eig = torch.linalg.eigvalsh(h)
    scale = float(eig.abs().max())
    assert r["num_params"] == h.shape[0] == 610
    assert r["lanczos_converged"]
    top = eig.flip(0)[:3].tolist()
    np.testing.assert_allclose(r["top_eigenvalues"], top, rtol=1e-3)
    # Hutchinson: within 5 standard errors of the exact trace, and the error is ~1 %
    exact_trace = float(eig.sum())
    assert abs(r["trace"] - exact_trace) <= 5 * r["trace_stderr"] + 1e-9 * scale
    assert r["trace_stderr"] <= 0.011 * abs(r["trace"])
    # index: eigenvalues below -τ, τ = 1e-6 max|λ| (a count only an eigenvalue within
    # rounding of ±τ could change)
    tau = 1e-6 * scale
    ref_index = int((eig < -tau).sum())
    borderline = int(((eig.abs() - tau).abs() < 1e-9 * scale).sum())
    assert r["index_method"] == "exact" and r["index_stderr"] == 0
    assert abs(r["index"] - ref_index) <= borderline
    assert r["index_fraction"] == pytest.approx(r["index"] / 610)
    assert r["smallest_eigenvalue"] == pytest.approx(float(eig[0]), abs=1e-9 * scale)
    assert r["test_accuracy"] > 0.5  # it did train (chance is 0.1)


def test_plane_example_centre_and_corner_are_the_loss_there(tmp_path):
    ex = _load("plane_of_a_checkpoint")
    r = ex.main(["--quick", "--out", str(tmp_path)])
    ck = checkpoint.load(r["checkpoint"])
    assert ck.meta["data"] == {"name": "digits", "seed": 0}
    fm = FunctionalModel(ck.build())
    train = data.digits(seed=0).train
    theta = ck.params
    assert r["centre_loss"] == pytest.approx(float(fm.loss(theta, train)), rel=1e-5)
    # a corner of the grid, evaluated directly: θ + α d₁ + β d₂ at α = -1, β = +1
    grid = np.load(tmp_path / "surface.npz")
    assert grid["loss"].shape == (11, 11) and grid["alpha"][0] == -1 and grid["beta"][-1] == 1
    d1, d2 = random_directions(theta, k=2, seed=0, norm="filter").vectors
    corner = P.add(P.add(theta, d1, alpha=-1.0), d2)
    assert float(grid["loss"][0, -1]) == pytest.approx(float(fm.loss(corner, train)), rel=1e-5)
    assert r["min_loss"] == pytest.approx(float(grid["loss"].min()))
    assert r["min_loss"] <= r["centre_loss"] < r["max_loss"]
    png = Path(r["figure"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_plane_example_refuses_an_even_grid(tmp_path, capsys):
    ex = _load("plane_of_a_checkpoint")
    with pytest.raises(SystemExit) as err:
        ex.main(["--steps", "10", "--out", str(tmp_path)])
    assert err.value.code == 2 and "odd" in capsys.readouterr().err
    assert not (tmp_path / "model.ckpt").exists()


def test_connect_example_alignment_and_string(tmp_path):
    ex = _load("connect_two_models")
    r = ex.main(["--quick", "--out", str(tmp_path)])
    # a permutation of hidden units is the same function
    assert r["loss_b_aligned"] == pytest.approx(r["loss_b"], rel=1e-5)
    assert r["barrier_before"] > 0
    assert r["barrier_after"] <= r["barrier_before"] + 1e-6
    assert r["threshold"] == pytest.approx(1.15 * max(r["loss_a"], r["loss_b"]))
    assert r["connected"] and r["status"] == "connected"
    assert r["max_loss_on_string"] <= r["threshold"]
    assert max(r["loss_a"], r["loss_b"]) <= r["max_loss_on_string"] + 1e-6
    assert r["length"] >= 1 - 1e-6 and r["beads"] >= 0
    if r["beads"] == 0:
        assert r["length"] == pytest.approx(1.0)
    assert json.loads((tmp_path / "connect_summary.json").read_text()) == r


def test_ensemble_example_batched_equals_loop(tmp_path):
    ex = _load("train_100_models")
    r = ex.main(["--quick", "--out", str(tmp_path)])
    assert r["models"] == 100 and r["diverged"] == 0 and r["checked"] == 2
    # the two members trained again in a plain loop end at the same parameters (float32)
    assert r["max_param_diff"] <= 1e-5
    assert r["max_test_loss_diff"] <= 1e-5
    assert r["test_accuracy_mean"] > 0.5 and r["test_accuracy_std"] > 0  # 100 distinct nets
    assert 0 < r["test_loss_std"] < r["test_loss_mean"]
