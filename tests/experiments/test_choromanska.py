from __future__ import annotations

import math

import numpy as np
import pytest

from landscape import ConfigError
from landscape.cli import main
from landscape.experiments import build_config, execute, replay
from landscape.plots._checks import check_figure
from landscape.runtime import SerialExecutor, Store


def test_quick_choromanska_end_to_end(tmp_path, capsys):
    """The quick preset through the CLI: table columns, finite values, figures, store."""
    store = tmp_path / "runs" / "l.db"
    code = main(["reproduce", "choromanska", "--quick", "--store", str(store), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    for col in (
        "n1",
        "params N",
        "paths Ψ",
        "test loss mean",
        "std",
        "min",
        "max",
        "corr(train, test)",
    ):
        assert col in out
    with Store(store) as st:
        run = st.runs("choromanska")[0]
        assert run.status == "done"
        m = {(k, s): v for k, s, v in st.metrics(run.id)}
        cfg = build_config("choromanska", "quick")
        for size in cfg.sizes:
            assert math.isfinite(m[("test_loss_mean", size)]) and m[("test_loss_std", size)] > 0
            assert -1 <= m[("corr_train_test", size)] <= 1
        assert len(st.done_keys(run.id)) == len(cfg.sizes) * math.ceil(cfg.runs / cfg.runs_per_task)
        _, figs = replay("choromanska", st, run.id)  # the figures again, from the store
        assert set(st.outputs(run.id).figures) == {"test_loss_histograms.png", "spread_vs_size.png"}
    for name in ("test_loss_histograms", "spread_vs_size"):
        assert (run.folder / f"{name}.png").is_file()
    # one histogram per size; the spread panel readable (its log axis had no tick labels
    # when the spreads spanned less than a decade) with one point per size
    check_figure(figs["test_loss_histograms"][0], xlabel="test loss")
    spread = figs["spread_vs_size"][0]
    check_figure(spread)
    xs = sorted({float(x) for line in spread.axes[0].get_lines() for x in line.get_xdata()})
    assert xs == [float(n) for n in cfg.sizes]
    with np.load(run.folder / "losses.npz") as z:
        assert z["test_loss_n1=25"].shape == (cfg.runs,)


def test_rows_match_a_direct_computation(tmp_path):
    cfg = build_config(
        "choromanska",
        "quick",
        overrides={"sizes": [10, 20], "runs": 6, "runs_per_task": 4, "epochs": 2},
    )
    with Store(tmp_path / "s.db") as st:
        res = execute("choromanska", cfg, st, SerialExecutor())
    for row in res.data["rows"]:
        r = res.data["per_size"][row["n1"]]
        assert r["test_loss"].shape == (6,)  # 4 + 2 members from two chunks
        assert row["std"] == pytest.approx(np.std(r["test_loss"], ddof=1))
        assert row["corr(train, test)"] == pytest.approx(
            np.corrcoef(r["train_loss"], r["test_loss"])[0, 1]
        )
        assert row["params N"] == 64 * row["n1"] + row["n1"] + row["n1"] * 10 + 10
    # members have distinct seeds: their losses differ
    assert len(set(res.data["per_size"][10]["test_loss"].round(8))) == 6


def test_mnist_requires_a_folder():
    with pytest.raises(ConfigError, match="mnist_dir"):
        build_config("choromanska", "quick", overrides={"dataset": "mnist"})


def test_mnist_dir_is_used_and_downsampled(tmp_path, write_mnist, capsys):
    write_mnist(tmp_path, n_train=40, n_test=20)
    store = tmp_path / "s.db"
    code = main(
        [
            "reproduce",
            "choromanska",
            "--mnist-dir",
            str(tmp_path),
            "--store",
            str(store),
            "--quiet",
            "--set",
            "sizes=[5]",
            "--set",
            "runs=3",
            "--set",
            "epochs=1",
            "--set",
            "batch_size=10",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "mnist 10×10" in out
    # 100 inputs (10×10) → 5 hidden → 10 classes
    assert "│    5 │      565 │" in out or " 565 " in out
