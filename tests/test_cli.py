"""The CLI: one-line errors with non-zero exits, and the demo → inspect → runs round trip."""

from __future__ import annotations

import csv
import io

import pytest

from landscape import checkpoint
from landscape.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def assert_one_line_error(code, err, *needles):
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "demo" in out and "inspect" in out and "runs" in out
    for cmd in (
        ["demo"],
        ["inspect"],
        ["runs"],
        ["runs", "list"],
        ["runs", "show"],
        ["runs", "export"],
    ):
        code, out, _ = run(capsys, *cmd, "--help")
        assert code == 0 and "Usage" in out, cmd
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("landscape ")


def test_user_errors_are_one_line(capsys, tmp_path):
    store = str(tmp_path / "s.db")
    assert_one_line_error(*run(capsys, "inspect", str(tmp_path / "nope.ckpt"))[::2], "not found")
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    assert_one_line_error(
        *run(capsys, "inspect", str(tmp_path / "junk.ckpt"))[::2], "not a landscape checkpoint"
    )
    assert_one_line_error(
        *run(capsys, "demo", "--set", "epochs=0", "--store", store)[::2], "epochs"
    )
    assert_one_line_error(
        *run(capsys, "demo", "--set", "epoch=3", "--store", store)[::2], "unknown key 'epoch'"
    )
    assert_one_line_error(
        *run(capsys, "demo", "--config", str(tmp_path / "c.yaml"), "--store", store)[::2],
        "not found",
    )
    assert_one_line_error(*run(capsys, "demo", "--workers", "0")[::2], "--workers")
    assert_one_line_error(
        *run(capsys, "demo", "--executor", "mpi", "--store", store)[::2], "executor"
    )
    assert_one_line_error(*run(capsys, "demo", "--bogus")[::2], "--bogus")
    assert_one_line_error(*run(capsys, "demo", "--device", "tpu", "--store", store)[::2], "device")
    assert_one_line_error(
        *run(capsys, "runs", "show", "x", "--store", str(tmp_path / "none.db"))[::2],
        "no run store",
    )
    assert_one_line_error(
        *run(capsys, "runs", "export", "--format", "json", "--store", store)[::2], "csv"
    )


def test_debug_shows_traceback(tmp_path):
    with pytest.raises(Exception, match="not found"):
        main(["inspect", str(tmp_path / "nope.ckpt"), "--debug"])


def test_demo_inspect_runs_round_trip(capsys, tmp_path):
    store = str(tmp_path / "runs" / "landscape.db")
    code, out, err = run(capsys, "demo", "--quiet", "--store", store, "--set", "epochs=3")
    assert code == 0, err
    assert "test acc" in out
    ckpts = list((tmp_path / "runs").glob("demo-*/best.ckpt"))
    assert len(ckpts) == 1
    ck = checkpoint.load(ckpts[0])
    code, out, err = run(capsys, "inspect", str(ckpts[0]), "--data", "digits")
    assert code == 0, err
    assert "2,410 parameters" in out and "accuracy" in out
    # the accuracy printed is the one the checkpoint recorded at the end of training
    assert f"{ck.meta['test_accuracy']:.5g}" in out
    code, out, _ = run(capsys, "runs", "list", "--store", store)
    assert code == 0 and "demo" in out and "done" in out
    run_id = ckpts[0].parent.name
    code, out, _ = run(capsys, "runs", "show", run_id[:12], "--store", store)
    assert code == 0 and run_id in out and "best_test_accuracy" in out
    code, out, _ = run(capsys, "runs", "export", "--format", "csv", "--store", store)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["key"] for r in rows} >= {"mean_train_loss", "best_test_accuracy"}
    assert sum(r["key"] == "mean_train_loss" for r in rows) == 4  # epochs 0..3


def test_inspect_rejects_mismatched_data(capsys, tmp_path):
    from landscape import models

    spec = models.MLPSpec(in_features=1, widths=(4,), out_features=1)
    path = checkpoint.save(tmp_path / "r.ckpt", models.init_params(spec, 0), spec)
    assert_one_line_error(
        *run(capsys, "inspect", str(path), "--data", "digits")[::2], "input features"
    )
    code, out, err = run(capsys, "inspect", str(path), "--data", "cubic")
    assert code == 0, err
    assert "loss (mse)" in out
