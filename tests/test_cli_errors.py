"""Every bad input the CLI can get is one line on stderr and a non-zero exit (issue 9 §2).

A bad config is refused before a run is recorded, so the store holds no ``failed`` run;
bad data files are refused on read with the file's name; diverged nets are reported as
diverged instead of crashing the summary; anything unforeseen is still one line.
"""

from __future__ import annotations

import itertools
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import CheckpointError, DataError, checkpoint, data, models
from landscape.cli import main
from landscape.runtime import Store

# the base command: one tiny size, two nets, one epoch
BASE = {"epochs": "1", "runs": "2", "runs_per_task": "2", "sizes": "[5]"}


def quick(*items: str) -> list[str]:
    """The small choromanska command, with ``items`` (KEY=VALUE) replacing its settings
    (a key may be given once: a second --set of it is an error)."""
    given = dict(item.split("=", 1) for item in items)
    sets = {**{k: v for k, v in BASE.items() if k not in given}, **given}
    return ["reproduce", "choromanska", "--quiet"] + [
        a for k, v in sets.items() for a in ("--set", f"{k}={v}")
    ]


B = quick()


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def one_line(code, err, *needles):
    """The error contract: non-zero exit, one line on stderr, naming what was wrong."""
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def runs_in(store: Path) -> list:
    if not store.exists():
        return []
    with Store(store) as st:
        return st.runs()


# ---------------------------------------------------------------- configs: refused before a run

BAD_SETS = {
    "sizes=[0]": ("sizes[0]", "got 0", "greater than or equal to 1"),
    "sizes=[-5]": ("sizes[0]", "got -5"),
    "sizes=[5,5]": ("sizes=[5, 5]", "more than once"),
    "seed=-1": ("seed", "got -1", "greater than or equal to 0"),
    "seed=99999999999999999999": ("seed", "99999999999999999999", "4294967295"),
    "sizes=[100000000000]": ("sizes[0]", "100000000000", "100000"),
    "runs=1000000000000": ("runs", "1000000000000", "1000000"),
    "runs=1000000": ("runs=1000000", "500,000 tasks", "limit 100,000"),
    "lr=.inf": ("lr", "finite", "got inf"),
    "lr=nan": ("lr", "finite"),
    "lr=": ("'lr='", "no value"),
    "momentum=": ("'momentum='", "no value"),
}


@pytest.mark.parametrize("item", list(BAD_SETS))
def test_bad_config_values_are_one_line_and_leave_no_run(capsys, tmp_path, item):
    store = tmp_path / "x.db"
    one_line(*run(capsys, *quick(item), "--store", store)[::2], *BAD_SETS[item])
    assert runs_in(store) == []


def test_a_task_too_large_to_allocate_is_refused_by_its_size(capsys, tmp_path):
    store = tmp_path / "x.db"
    line = one_line(
        *run(
            capsys,
            *quick("sizes=[100000]", "runs=20000", "runs_per_task=20000"),
            "--store",
            store,
        )[::2],
        "runs_per_task",
        "limit",
    )
    assert "1,073,741,824" in line
    assert runs_in(store) == []


def test_binary_config_file(capsys, tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(bytes(range(256)))
    store = tmp_path / "x.db"
    one_line(*run(capsys, *B, "--config", f, "--store", store)[::2], str(f), "not a YAML")
    assert runs_in(store) == []


# ---------------------------------------------------------------- diverged nets are reported


def test_every_net_diverging_is_reported_not_a_crash(capsys, tmp_path, write_mnist):
    write_mnist(tmp_path, n_train=20, n_test=10)
    store = tmp_path / "x.db"
    loud = [a for a in B if a != "--quiet"]  # the notes say what diverged
    argv = [*loud, "--set", "init_scale=1e30", "--mnist-dir", tmp_path, "--store", store]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "diverged (non-finite loss" in out and "n1=5: 2 of 2" in out, out
    assert [r.status for r in runs_in(store)] == ["done"]


def test_size_table_is_nan_safe():
    from landscape.experiments.papers.choromanska import Config, size_table, summary_notes

    nan = np.nan
    per_size = {
        5: {  # all diverged
            "train_loss": np.array([nan, nan]),
            "test_loss": np.array([nan, nan]),
            "test_error": np.array([nan, nan]),
            "diverged": np.array([True, True]),
        },
        10: {  # one finished
            "train_loss": np.array([0.5, nan, nan]),
            "test_loss": np.array([0.6, nan, np.inf]),
            "test_error": np.array([0.1, nan, nan]),
            "diverged": np.array([False, True, False]),
        },
        20: {  # all finished
            "train_loss": np.array([0.5, 0.4, 0.3]),
            "test_loss": np.array([0.6, 0.5, 0.45]),
            "test_error": np.array([0.1, 0.1, 0.2]),
            "diverged": np.array([False, False, False]),
        },
    }
    cfg = Config(sizes=[5, 10, 20], runs=3, runs_per_task=3)
    with np.errstate(all="raise"):  # no warnings either
        rows = size_table(cfg, per_size, 64, 10)
    a, b, c = rows
    assert (a["runs"], a["diverged"]) == (0, 2) and np.isnan(a["test loss mean"])
    assert (b["runs"], b["diverged"]) == (1, 2) and b["test loss mean"] == 0.6
    assert np.isnan(b["std"]) and b["min"] == b["max"] == 0.6
    assert (c["runs"], c["diverged"]) == (3, 0) and c["std"] == pytest.approx(
        np.std([0.6, 0.5, 0.45], ddof=1)
    )
    notes = summary_notes(cfg, rows)
    assert "n1=5: 2 of 2" in notes[0] and "n1=10: 2 of 3" in notes[0]


# ---------------------------------------------------------------- data files: checked on read


def _bad_mnist(folder, write_mnist, kind):
    """A small MNIST folder with one file broken as ``kind`` says; returns that file."""
    write_mnist(folder)
    images, labels = folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    if kind == "not gzip":
        labels.write_bytes(b"\x1f\x8b" + b"not really gzip" * 4)
        return labels
    if kind == "truncated gzip":
        raw = images.read_bytes()
        images.write_bytes(raw[: len(raw) // 2])
        return images
    if kind == "labels outside 0-9":
        data.write_idx(labels, np.full(12, 42, np.uint8))
        return labels
    if kind == "zero samples":
        data.write_idx(images, np.zeros((0, 28, 28), np.uint8))
        data.write_idx(labels, np.zeros(0, np.uint8))
        return images
    assert kind == "NaN images"
    data.write_idx(images, np.full((12, 28, 28), np.nan, np.float32))
    return images


BAD_FILES = {
    "not gzip": "not a valid gzip file",
    "truncated gzip": "truncated",
    "labels outside 0-9": "outside 0-9",
    "zero samples": "0 samples",
    "NaN images": "NaN or infinite",
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_mnist_files_are_one_line_and_leave_no_run(capsys, tmp_path, write_mnist, kind):
    folder = tmp_path / "mnist"
    folder.mkdir()
    bad = _bad_mnist(folder, write_mnist, kind)
    store = tmp_path / "x.db"
    one_line(
        *run(capsys, *B, "--mnist-dir", folder, "--store", store)[::2],
        str(bad),
        BAD_FILES[kind],
    )
    assert runs_in(store) == []


def test_truncated_gzip_is_not_mistaken_for_ctrl_c_even_with_debug(capsys, tmp_path, write_mnist):
    _bad_mnist(tmp_path, write_mnist, "truncated gzip")
    code, _, err = run(capsys, *B, "--mnist-dir", tmp_path, "--store", tmp_path / "x.db")
    assert code == 1 and "aborted" not in err
    with pytest.raises(DataError, match="truncated"):
        main([*B, "--mnist-dir", str(tmp_path), "--store", str(tmp_path / "x.db"), "--debug"])


# ---------------------------------------------------------------- store paths


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and /sys are Linux")
@pytest.mark.parametrize("where", ["/proc/landscape.db", "/sys/landscape.db"])
def test_store_under_proc_or_sys(capsys, where):
    one_line(*run(capsys, *B, "--store", where)[::2], "cannot open the run store", where)


def test_store_under_a_file(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    where = tmp_path / "afile" / "x.db"
    one_line(*run(capsys, *B, "--store", where)[::2], "is a file, not a folder")


def test_store_on_a_read_only_file_system(capsys, tmp_path, monkeypatch):
    import landscape.runtime.store as store_mod

    def refuse(*a, **k):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store_mod.sqlite3, "connect", refuse)
    one_line(
        *run(capsys, *B, "--store", tmp_path / "x.db")[::2],
        "cannot open the run store",
        "readonly",
        "folder you can write to",
    )


# ---------------------------------------------------------------- inspect


@pytest.fixture
def mlp_ckpt(tmp_path):
    spec = models.MLPSpec(in_features=64, widths=(4,), out_features=10)
    return spec, models.init_params(spec, 0)


def test_inspect_integer_tensors(capsys, tmp_path, mlp_ckpt):
    spec, params = mlp_ckpt
    path = checkpoint.save(
        tmp_path / "int.ckpt", {k: (v * 100).to(torch.int64) for k, v in params.items()}, spec
    )
    code, out, err = run(capsys, "inspect", path)
    assert code == 0, err
    assert "int64" in out
    one_line(*run(capsys, "inspect", path, "--data", "digits")[::2], "int64", "not floating point")


@pytest.mark.parametrize("seed", ["abc", 1.5, -3, 2**40])
def test_inspect_bad_seed_in_meta(capsys, tmp_path, mlp_ckpt, seed):
    spec, params = mlp_ckpt
    path = checkpoint.save(
        tmp_path / "s.ckpt", params, spec, meta={"data": {"name": "digits", "seed": seed}}
    )
    one_line(*run(capsys, "inspect", path, "--data", "digits")[::2], "data.seed", repr(seed))


def test_inspect_unreadable_pickle_has_no_torch_warning_on_stderr(capsys, tmp_path):
    import pickle

    path = tmp_path / "p4.ckpt"
    path.write_bytes(pickle.dumps({"format": checkpoint.FORMAT, "params": [1]}, protocol=4))
    one_line(*run(capsys, "inspect", path)[::2], "not a landscape checkpoint")


# ---------------------------------------------------------------- the last resort


def test_unexpected_exception_is_one_line_with_a_debug_hint(capsys, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(checkpoint, "load", boom)
    line = one_line(*run(capsys, "inspect", tmp_path / "x.ckpt")[::2], "RuntimeError", "boom")
    assert "--debug" in line and "second line" in line
    with pytest.raises(RuntimeError, match="boom"):
        main(["inspect", str(tmp_path / "x.ckpt"), "--debug"])


def test_eof_error_is_an_error_not_an_interrupt(capsys, tmp_path, monkeypatch):
    def eof(*a, **k):
        raise EOFError("stream ended")

    monkeypatch.setattr(checkpoint, "load", eof)
    code, _, err = run(capsys, "inspect", tmp_path / "x.ckpt")
    assert code == 1
    one_line(code, err, "EOFError", "stream ended")


def test_library_errors_are_landscape_errors():
    """What the CLI maps is what the library raises: the typed errors, not raw ones."""
    assert issubclass(CheckpointError, ValueError) and issubclass(DataError, ValueError)
    with pytest.raises(DataError):
        data.read_idx_header(Path("/nonexistent/idx"))


# ---------------------------------------------------------------- issue 21, items 6, 7, 15


@pytest.fixture
def digits_ckpt(tmp_path):
    spec = models.MLPSpec(in_features=64, widths=(12,), out_features=10)
    path = tmp_path / "m.ckpt"
    checkpoint.save(path, models.init_params(spec, 0), spec, meta={"loss": "cross_entropy"})
    return path


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["reproduce", "freeman-bruna", "--data-dir", "DIR"], ("data_dir does nothing", "--task")),
        (["hessian", "CKPT", "--data", "digits", "--set", "data_dir=DIR"], ("data_dir", "digits")),
        (["hessian", "CKPT", "--data", "digits", "--set", "trace_rtol=0.1"], ("--trace",)),
        (["inspect", "CKPT", "--set", "mnist_dir=DIR"], ("mnist_dir", "no --data")),
        (["plane", "CKPT", "--data", "digits", "--set", "second=CKPT"], ("directions three",)),
        (["plane", "CKPT", "--data", "digits", "--set", "bn_batches=3"], ("bn recompute",)),
        (["line", "CKPT", "--data", "digits", "--set", "orthogonalize=true"], ("one direction",)),
        (
            [
                "connect",
                "CKPT",
                "CKPT",
                "--data",
                "digits",
                "--threshold",
                "1",
                "--method",
                "linear",
                "--set",
                "lr=0.5",
            ],
            ("lr does nothing", "dss"),
        ),
    ],
)
def test_an_option_that_does_not_apply_is_refused(capsys, tmp_path, digits_ckpt, argv, needles):
    argv = [str(digits_ckpt) if a == "CKPT" else str(tmp_path) if a == "DIR" else a for a in argv]
    store = tmp_path / "x.db"
    one_line(*run(capsys, *argv, "--store", store)[::2], *needles)
    assert runs_in(store) == []


def test_a_line_beyond_float_range_is_refused_and_an_overflowing_one_says_so(
    capsys, tmp_path, digits_ckpt
):
    store = tmp_path / "x.db"
    one_line(
        *run(capsys, "line", digits_ckpt, "--data", "digits", "--range", "1e308", "--store", store)[
            ::2
        ],
        "range",
        "less than or equal to",
    )
    assert runs_in(store) == []
    code, out, err = run(
        capsys, "line", digits_ckpt, "--data", "digits", "--range", "1e20", "--store", store
    )
    assert code == 0, err
    assert "RuntimeWarning" not in err and "overflow" not in err
    assert "have a NaN or inf loss" in out


def test_hessian_top_beyond_p_uses_the_dense_spectrum(capsys, tmp_path, digits_ckpt):
    """--top 5000 on P = 910: every eigenvalue, from one dense eigh (not P Lanczos steps)."""
    store = tmp_path / "x.db"
    code, out, err = run(
        capsys,
        "hessian",
        digits_ckpt,
        "--data",
        "digits",
        "--top",
        "5000",
        "--set",
        "n_samples=200",
        "--quiet",
        "--store",
        store,
    )
    assert code == 0, err
    assert "dense eigh" in out
    with Store(store) as st:
        r = st.runs()[0]
        top = {int(k.rsplit("_", 1)[1]): v for k, _, v in st.metrics(r.id) if "lambda_top_" in k}
        vals = [top[i] for i in sorted(top)]
        assert any("lowered to 910" in n for n in st.outputs(r.id).notes)
    assert len(vals) == 910
    assert all(a >= b - 1e-6 * abs(vals[0]) for a, b in itertools.pairwise(vals))  # descending


def test_the_connect_data_warning_is_one_line_of_text(tmp_path):
    spec = models.MLPSpec(in_features=64, widths=(6,), out_features=10)
    a, b = tmp_path / "a.ckpt", tmp_path / "b.ckpt"
    checkpoint.save(
        a, models.init_params(spec, 0), spec, meta={"data": {"name": "digits", "seed": 1}}
    )
    checkpoint.save(
        b, models.init_params(spec, 1), spec, meta={"data": {"name": "digits", "seed": 2}}
    )
    import subprocess

    done = subprocess.run(  # a real process: pytest records warnings instead of printing them
        [
            sys.executable,
            "-m",
            "landscape.cli",
            "connect",
            str(a),
            str(b),
            "--data",
            "digits",
            "--threshold",
            "5",
            "--method",
            "linear",
            "--store",
            str(tmp_path / "x.db"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    code, out, err = done.returncode, done.stdout, done.stderr
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if "warning" in ln.lower()]
    assert len(lines) == 1, err
    assert lines[0].startswith("warning: the checkpoints record different")
    assert "UserWarning" not in err and ".py:" not in err
    assert "warning: the checkpoints record different data" in out  # and the run's note


@pytest.mark.parametrize("command", ["hessian", "plane", "line", "inspect", "connect"])
@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_checkpoint_that_is_not_a_regular_file_is_named_in_every_command(
    capsys, tmp_path, digits_ckpt, command, kind
):
    import os

    bad = {"fifo": tmp_path / "pipe", "directory": tmp_path, "device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(bad)
    argv = [command, bad]
    if command == "connect":
        argv = [command, digits_ckpt, bad, "--threshold", "1"]
    if command != "inspect":
        argv += ["--data", "digits"]
    store = tmp_path / "x.db"
    one_line(*run(capsys, *argv, "--store", store)[::2], "not a regular file")
    assert runs_in(store) == []


def test_recompute_batchnorm_on_a_model_without_it_is_refused(capsys, tmp_path, digits_ckpt):
    store = tmp_path / "x.db"
    one_line(
        *run(
            capsys, "plane", digits_ckpt, "--data", "digits", "--bn", "recompute", "--store", store
        )[::2],
        "--bn recompute does nothing",
        "no BatchNorm",
    )
    assert runs_in(store) == []


def test_mnist_dir_with_the_digits_dataset_is_refused(capsys, tmp_path):
    store = tmp_path / "x.db"
    one_line(
        *run(capsys, *quick("dataset=digits", f"mnist_dir={tmp_path}"), "--store", store)[::2],
        "mnist_dir does nothing with dataset 'digits'",
    )
