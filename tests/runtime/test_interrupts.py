"""Ctrl-C, kill -9 and two identical commands at once, through the command line."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from landscape.cli import INTERRUPTED, main
from landscape.runtime import Store

# `landscape demo` whose training chunks wait for a gate file (so a test decides when a
# run ends) and log which process started which chunk
GATED_CLI = textwrap.dedent(
    """
    import os, signal, sys, time
    import landscape.experiments.lifecycle as lifecycle
    from landscape.cli import main

    # a terminal's Ctrl-C: Python only installs its handler when SIGINT is not ignored, and a
    # suite started in the background (`make test &`) passes SIGINT ignored to its children
    signal.signal(signal.SIGINT, signal.default_int_handler)

    LOG, GATE = sys.argv[1], sys.argv[2]
    real = lifecycle.run_task

    def gated(task):
        with open(LOG, "a") as fh:
            fh.write(f"{os.getpid()} {task.key}\\n")
        deadline = time.monotonic() + 120
        while not os.path.exists(GATE) and time.monotonic() < deadline:
            time.sleep(0.02)
        return real(task)

    lifecycle.run_task = gated
    sys.exit(main(sys.argv[3:]))
    """
)
DEMO = ["demo", "--quiet", "--set", "epochs=1", "--set", "members=2", "--set", "members_per_task=1"]


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_two_identical_commands_then_ctrl_c_then_resume(tmp_path):
    script, log, gate = tmp_path / "gated.py", tmp_path / "log", tmp_path / "gate"
    script.write_text(GATED_CLI)
    db = tmp_path / "runs" / "s.db"
    argv = [sys.executable, str(script), str(log), str(gate), *DEMO, "--store", str(db)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        # started at once: one takes the run, the other is refused, naming the holder
        refused = _wait_for(
            lambda: next((p for p in procs if p.poll() is not None), None), 120, "a refusal"
        )
        holder = procs[1 - procs.index(refused)]
        _, err = refused.communicate()
        assert refused.returncode == 1, err
        assert len(_lines(err)) == 1, err
        assert err.startswith("error: run demo-") and f"live process (pid {holder.pid})" in err
        # the holder is computing; Ctrl-C (SIGINT) makes it exit 130 with the one line
        _wait_for(lambda: log.is_file() and log.read_text(), 120, "the first chunk to start")
        assert holder.poll() is None
        holder.send_signal(signal.SIGINT)
        _, err = holder.communicate(timeout=120)
        assert holder.returncode == 130, err
        assert _lines(err) == [INTERRUPTED]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    # the refused command computed nothing: every chunk started was the holder's
    started = [ln.split() for ln in _lines(log.read_text())]
    assert {int(pid) for pid, _ in started} == {holder.pid}
    assert len(started) == 1
    with Store(db) as st:
        (run,) = st.runs()
        assert run.status == run.shown_status == "interrupted" and not st.done_keys(run.id)
        # the same command again resumes it (its holder is gone)
        again, resumed = st.start_run("demo", run.config, seed=run.seed)
        assert resumed and again.id == run.id and again.attempts == 2


def test_runs_list_and_export_show_the_same_status_and_error(tmp_path, capsys):
    db = tmp_path / "s.db"
    holder = Store(db)
    try:
        with Store(db) as st:
            done, _ = st.start_run("done_exp", {})
            st.finish_run(done.id, "done")
            failed, _ = st.start_run("failed_exp", {})
            st.finish_run(failed.id, "failed", error="boom: it broke")
            killed, _ = st.start_run("killed_exp", {})
        # the store closed with `killed` unfinished: recorded running, its holder gone
        live, _ = holder.start_run("live_exp", {})
        capsys.readouterr()
        assert main(["runs", "list", "--store", str(db)]) == 0
        listed = {}
        for line in capsys.readouterr().out.splitlines():
            for r in (done, failed, killed, live):
                if r.id in line:
                    listed[r.id] = next(
                        s for s in ("done", "failed", "interrupted", "running") if s in line
                    )
        assert main(["runs", "export", "--table", "runs", "--store", str(db)]) == 0
        exported = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    finally:
        holder.close()
    assert (
        {r["id"]: r["status"] for r in exported}
        == listed
        == {
            done.id: "done",
            failed.id: "failed",
            killed.id: "interrupted",
            live.id: "running",
        }
    )
    assert {r["id"]: r["error"] for r in exported}[failed.id] == "boom: it broke"


def test_runs_commands_on_a_new_path_and_ids_with_wildcards(tmp_path, capsys):
    db = tmp_path / "nothing" / "here.db"
    assert main(["runs", "list", "--store", str(db)]) == 0
    cap = capsys.readouterr()
    assert "(no rows)" in cap.out and cap.err == ""
    assert not db.exists() and not db.parent.exists()  # listing created nothing
    with Store(db) as st:
        a, _ = st.start_run("my_exp", {})
        b, _ = st.start_run("myxexp", {})
        st.finish_run(a.id, "done")
        st.finish_run(b.id, "done")
    capsys.readouterr()
    assert main(["runs", "show", "my_exp", "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert a.id in out and b.id not in out
    assert main(["runs", "show", "%", "--store", str(db)]) == 1
    err = capsys.readouterr().err
    assert _lines(err) == [f"error: no run with id '%' in {db}; see `landscape runs list`"]
