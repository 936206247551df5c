from __future__ import annotations

import numpy as np
import pytest

from landscape import ConfigError
from landscape.cli import main
from landscape.experiments import build_config, replay
from landscape.plots._checks import check_figure, data_lines, reference_lines
from landscape.runtime import Store


def test_quick_lazy_end_to_end(tmp_path, capsys):
    """The quick preset through the CLI: the seminar's claims hold on its tables."""
    store = tmp_path / "l.db"
    code = main(["reproduce", "lazy", "--quick", "--store", str(store), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "λ_min(K̄)" in out and "log–log slopes" in out
    cfg = build_config("lazy", "quick")
    with Store(store) as st:
        run = st.runs("lazy")[0]
        assert run.status == "done"
        summary, figs = replay("lazy", st, run.id)
    kernel = summary.tables["kernel K̄ at initialisation"]
    train = summary.tables["full-batch gradient descent (lazy training)"]
    fits = {
        (r["data"], r["quantity"]): r["slope vs n"]
        for r in summary.tables["log–log slopes against the width n"]
    }
    assert len(kernel) == len(train) == 2 * len(cfg.widths)
    for name in cfg.datasets:
        # λ_min(K̄) ∝ n over two decades (the (1 − √(m/n))² factor adds a little)
        assert 0.85 <= fits[(name, "λ_min(K̄)")] <= 1.35
        assert abs(fits[(name, "λ_min(K̄), θ1~N(0,1/n)")]) <= 0.35
        assert fits[(name, "‖θ_T−θ_0‖/‖θ_0‖")] < 0 and fits[(name, "‖K_T−K_0‖/‖K_0‖")] < 0
        assert fits[(name, "r_T / r_0")] < 0  # one lr: wider nets get further
        assert -1.4 <= fits[(name, "E[(∂²Φ)²] t1t1_same (softplus)")] <= -0.4
        assert abs(fits[(name, "E[(∂²Φ)²] t2t1_same (softplus)")]) <= 0.4
    for row in train:
        assert row["min ratio (K̄_t)"] >= 1 and row["diverged"] == 0
        # the inequality guarantees r_{t+1} ≤ (1 − 4·lr·λ_min/m) r_t: the late rate is faster
        assert row["rate (fit)"] >= 0.9 * row["rate ≥ 4·lr·λ_min/m"]
    for name in (
        "lambda_min_vs_width",
        "training_curves",
        "movement_vs_width",
        "second_derivatives",
    ):
        assert (run.folder / f"{name}.png").is_file()
        check_figure(figs[name][0], xlabel="n" if name != "training_curves" else "step")
    curves = figs["training_curves"][0]
    assert len(data_lines(curves.axes[0])) == len(cfg.widths)
    assert reference_lines(curves.axes[2])[1] == [1.0]  # the ratio panel's line at 1


def test_rows_match_the_task_results(tmp_path):
    from landscape.experiments import execute
    from landscape.runtime import SerialExecutor

    cfg = build_config(
        "lazy",
        "quick",
        overrides={
            "datasets": ["teacher-student"],
            "widths": [40, 400],
            "steps": 20,
            "hessian_activations": ["tanh"],
        },
    )
    with Store(tmp_path / "s.db") as st:
        res = execute("lazy", cfg, st, SerialExecutor())
    per = res.data["per"]["teacher-student"]
    for row in res.tables["kernel K̄ at initialisation"]:
        r = per[row["n"]]
        assert row["λ_min(K̄)"] == pytest.approx(np.mean(r["lambda_min"]))
        assert row["λ_min/n"] == pytest.approx(row["λ_min(K̄)"] / row["n"])
    for row in res.tables["full-batch gradient descent (lazy training)"]:
        r = per[row["n"]]
        assert row["‖θ_T−θ_0‖/‖θ_0‖"] == pytest.approx(np.mean(r["distance"][-1]))
        assert row["min ratio (K̄_0)"] == pytest.approx(np.min(r["ratio_init"]))


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="widths"):
        build_config("lazy", "quick", overrides={"widths": [40, 40]})
    with pytest.raises(ConfigError, match="digit_classes"):
        build_config("lazy", "quick", overrides={"digit_classes": [3, 3]})
