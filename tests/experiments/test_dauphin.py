from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape import checkpoint, models
from landscape.cli import main
from landscape.curvature import dense_hessian
from landscape.experiments import build_config, replay
from landscape.experiments.papers.dauphin import StartTask, find_from_snapshot, problem
from landscape.plots._checks import check_figure
from landscape.runtime import Store


def test_quick_dauphin_end_to_end(tmp_path, capsys):
    store = tmp_path / "l.db"
    code = main(["reproduce", "dauphin", "--store", str(store), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "critical points (sorted by index)" in out
    cfg = build_config("dauphin", "quick")
    with Store(store) as st:
        run = st.runs("dauphin")[0]
        tasks = st.task_results(run.id)
        metrics = {k: v for k, s, v in st.metrics(run.id) if s == 0}
    assert len(tasks) == cfg.runs * len(cfg.snapshots) * len(cfg.target_indices)
    crit = [r for r in tasks.values() if r["converged"]]
    # only points that reached the threshold are called critical, and the index is the
    # count of eigenvalues below −τ of the Hessian stored with them
    for key, r in tasks.items():
        target = int(dict(f.split("=") for f in key.split(","))["k"])
        # critical = below the threshold, at the index eigenvector following aimed at
        assert r["converged"] == (r["grad_norm"] <= cfg.grad_tol and r["index"] == target)
        eig = np.asarray(r["eigenvalues"])
        tau = cfg.zero_tol * np.abs(eig).max()
        assert r["index"] == int((eig < -tau).sum())
        assert r["alpha"] == pytest.approx(r["index"] / eig.size)
    assert len(crit) >= 3 and metrics["critical_points"] == len(crit)
    # Dauphin et al.: loss grows with the index (a rank correlation over the critical points)
    assert metrics["spearman_alpha_loss"] > 0.8
    assert (run.folder / "loss_vs_index.png").is_file() and (
        run.folder / "eigenvalues.png"
    ).is_file()
    with Store(store) as st:
        _, figs = replay("dauphin", st, run.id)
    check_figure(figs["loss_vs_index"][0], xlabel="α")
    check_figure(figs["eigenvalues"][0])


def test_reported_index_matches_dense_hessian_at_the_point():
    cfg = build_config("dauphin", "quick", overrides={"n_train": 100, "max_iter": 30})
    r = find_from_snapshot(StartTask(cfg.model_dump(mode="json"), 0, 0, "damped_newton"))
    assert r["iterations"] <= 30
    spec, _, batch, _ = problem(cfg)
    assert spec.in_features == 16 and batch[0].dtype == torch.float64
    assert len(r["eigenvalues"]) == sum(p.numel() for p in models.init_params(spec, 0).values())
    assert np.all(np.diff(r["eigenvalues"]) >= 0)


def test_hessian_cli(tmp_path, capsys):
    spec = models.MLPSpec(in_features=64, widths=(6,), out_features=10)
    p = models.init_params(spec, 0, dtype=torch.float64)
    path = checkpoint.save(
        tmp_path / "m.ckpt",
        p,
        spec,
        meta={"loss": "cross_entropy", "data": {"name": "digits", "seed": 0}},
    )
    store = tmp_path / "s.db"
    code = main(
        [
            "hessian",
            str(path),
            "--data",
            "digits",
            "--top",
            "2",
            "--trace",
            "--density",
            "--index",
            "--set",
            "n_samples=200",
            "--set",
            "dtype=float64",
            "--store",
            str(store),
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    with Store(store) as st:
        run = st.runs("hessian")[0]
        m = {k: v for k, _, v in st.metrics(run.id)}
    # against the dense float64 Hessian of the same loss on the same 200 samples
    from landscape import data
    from landscape.functional import FunctionalModel

    ds = data.digits(seed=0, dtype=torch.float64)
    fm = FunctionalModel(models.build(spec, dtype=torch.float64))
    H = dense_hessian(fm.loss, p, (ds.x_train[:200], ds.y_train[:200]))
    eig = torch.linalg.eigvalsh(H)
    assert m["lambda_top_1"] == pytest.approx(float(eig[-1]), rel=1e-3)
    assert m["lambda_top_2"] == pytest.approx(float(eig[-2]), rel=1e-3)
    assert abs(m["trace"] - float(eig.sum())) <= 4 * m["trace_stderr"] + 1e-9
    tau = 1e-3 * float(eig.abs().max())
    assert m["index"] == int((eig < -tau).sum())
    assert (run.folder / "density.png").is_file()


def test_hessian_cli_says_what_it_lowered_and_shows_progress(tmp_path, capsys, monkeypatch):
    from landscape.runtime import progress

    spec = models.MLPSpec(in_features=1, widths=(4,), out_features=1)  # P = 13
    p = models.init_params(spec, 0, dtype=torch.float64)
    path = checkpoint.save(tmp_path / "m.ckpt", p, spec, meta={"data": {"name": "cubic"}})
    monkeypatch.setattr(progress, "PLAIN_FIRST", 0.0)  # report at once (stderr is no terminal)
    argv = ["hessian", str(path), "--data", "cubic", "--top", "100000", "--store"]
    argv += [str(tmp_path / "s.db"), "--set", "n_samples=200", "--set", "dtype=float64"]
    code = main(argv)
    cap = capsys.readouterr()
    assert code == 0, cap.err
    note = "note: --top 100000 is more than the model's P = 13 parameters: lowered to 13"
    assert note in cap.out
    # progress while it runs: the stage, what was lowered, and the products done so far
    lines = [ln for ln in cap.err.splitlines() if ln.startswith("top 13 eigenvalues")]
    assert lines and all("(--top 100000 lowered to P)" in ln and "(HVPs): " in ln for ln in lines)
    assert lines[-1].split()[-3:-1] == ["ended", "after"]
    with Store(tmp_path / "s.db") as st:
        run = st.runs("hessian")[0]
        m = {k: v for k, _, v in st.metrics(run.id)}
        (r,) = st.task_results(run.id).values()
    assert "lambda_top_13" in m and "lambda_top_14" not in m
    # the bar counted every product the eigensolver made
    assert lines[-1].rsplit(": ", 1)[1].split()[0].split("/")[0] == str(r["top_hvps"])
