from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import landscape.runtime.store as store_mod
from landscape import LandscapeError
from landscape.runtime import SerialExecutor, Store, run_sweep, task_key
from landscape.runtime.store import RunHeldError, config_hash


def test_run_lifecycle_metrics_and_export(tmp_path):
    with Store(tmp_path / "s.db") as st:
        run, resumed = st.start_run("exp", {"b": 2, "a": [1, 2]}, seed=3)
        assert not resumed and run.status == "running" and run.seed == 3
        assert run.folder.is_dir()
        st.log_metrics(run.id, {"loss": 0.5, "acc": 0.9}, step=1)
        st.log_metric(run.id, "loss", 0.25, step=2)
        st.finish_run(run.id, "done")
        r = st.get_run(run.id[:10])
        assert r.status == "done" and r.duration is not None and r.duration >= 0
        assert st.metrics(run.id) == [("acc", 1, 0.9), ("loss", 1, 0.5), ("loss", 2, 0.25)]
        csv_text = st.export_csv("metrics")
        assert csv_text.splitlines()[0] == "run_id,experiment,key,step,value"
        assert f"{run.id},exp,loss,2,0.25" in csv_text
        df = st.to_pandas("runs")
        assert df.loc[0, "id"] == run.id
        with pytest.raises(LandscapeError, match="table"):
            st.export_csv("nope")
        with pytest.raises(LandscapeError, match="no run"):
            st.get_run("missing")


def test_config_hash_ignores_key_order():
    assert config_hash("e", {"a": 1, "b": {"x": 1, "y": 2}}) == config_hash(
        "e", {"b": {"y": 2, "x": 1}, "a": 1}
    )
    assert config_hash("e", {"a": 1}) != config_hash("e", {"a": 2})


def test_resume_finds_unfinished_run_and_done_runs_start_fresh(tmp_path):
    with Store(tmp_path / "s.db") as st:
        r1, _ = st.start_run("exp", {"a": 1})
        st.finish_run(r1.id, "interrupted")
        r2, resumed = st.start_run("exp", {"a": 1})
        assert resumed and r2.id == r1.id and r2.status == "running"
        st.finish_run(r2.id, "done")
        r3, resumed = st.start_run("exp", {"a": 1})
        assert not resumed and r3.id != r1.id
        r4, resumed = st.start_run("exp", {"a": 1}, resume=False)
        assert not resumed and r4.id not in (r1.id, r3.id)


def test_task_results_round_trip_arrays_and_json(tmp_path):
    with Store(tmp_path / "s.db") as st:
        run, _ = st.start_run("exp", {})
        st.record_task(run.id, "k=1", {"x": np.arange(3.0), "score": np.float64(0.5), "name": "a"})
        res = st.task_results(run.id)["k=1"]
        assert (
            np.array_equal(res["x"], [0.0, 1.0, 2.0]) and res["score"] == 0.5 and res["name"] == "a"
        )
        assert st.done_keys(run.id) == {"k=1"}


def _double(task):
    return {"value": task.n * 2, "arr": np.full(2, task.n)}


class _T:
    def __init__(self, n):
        self.n = n

    @property
    def key(self):
        return task_key(n=self.n)


def test_run_sweep_skips_done_tasks(tmp_path):
    calls = []

    def fn(t):
        calls.append(t.n)
        return _double(t)

    with Store(tmp_path / "s.db") as st:
        run, _ = st.start_run("exp", {})
        st.record_task(run.id, task_key(n=1), _double(_T(1)))
        out = run_sweep(st, run.id, SerialExecutor(), fn, [_T(n) for n in range(4)])
        assert calls == [0, 2, 3]
        assert [out[task_key(n=n)]["value"] for n in range(4)] == [0, 2, 4, 6]


CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from landscape.runtime import SerialExecutor, Store, run_sweep, task_key

    LOG = sys.argv[2]

    class T:
        def __init__(self, n):
            self.n = n
        @property
        def key(self):
            return task_key(n=self.n)

    def work(t):
        time.sleep(0.15)
        with open(LOG, "a") as fh:
            fh.write(f"{os.getpid()} {t.n}\\n")
            fh.flush()
            os.fsync(fh.fileno())
        return {"square": t.n * t.n, "vec": np.arange(t.n + 1)}

    if __name__ == "__main__":
        with Store(sys.argv[1]) as st:
            run, resumed = st.start_run("sweep", {"n": 20})
            run_sweep(st, run.id, SerialExecutor(), work, [T(n) for n in range(20)])
            st.finish_run(run.id, "done")
            print(run.id, resumed, os.getpid())
    """
)


def test_sweep_resumes_after_kill_9_nothing_lost_nothing_done_twice(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db, log = tmp_path / "s.db", tmp_path / "exec.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), str(log)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    done_before: set[str] = set()
    while time.time() < deadline:
        time.sleep(0.1)
        if db.exists():
            with Store(db) as st:
                runs = st.runs("sweep")
                if runs:
                    done_before = st.done_keys(runs[0].id)
        if len(done_before) >= 5:
            break
    assert proc.poll() is None, "the child finished before it could be killed"
    with Store(db) as st:  # the same run, started again while its holder lives: refused
        with pytest.raises(RunHeldError, match=rf"held by a live process \(pid {proc.pid}\)"):
            st.start_run("sweep", {"n": 20})
        assert st.runs("sweep")[0].shown_status == "running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(db) as st:
        run = st.runs("sweep")[0]
        assert run.shown_status == "interrupted"  # its process is gone
        done_at_kill = st.done_keys(run.id)
        kept = st.task_results(run.id)
    assert len(done_at_kill) >= 5
    for key, res in kept.items():  # every recorded result is whole
        n = int(key.split("=")[1])
        assert res["square"] == n * n and np.array_equal(res["vec"], np.arange(n + 1))
    first_pid = proc.pid

    out = subprocess.run(
        [sys.executable, str(script), str(db), str(log)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    run_id, resumed, _ = out.stdout.split()
    assert run_id == run.id and resumed == "True"
    with Store(db) as st:
        assert st.get_run(run_id).status == "done"
        results = st.task_results(run_id)
        assert len(st.runs("sweep")) == 1
        attempts = st.attempts(run_id)
    # two attempts, the killed one ended (at its last sign of life), each timed on its own
    assert [a["status"] for a in attempts] == ["interrupted", "done"]
    assert [a["pid"] for a in attempts] == [first_pid, int(out.stdout.split()[2])]
    assert sorted(int(k.split("=")[1]) for k in results) == list(range(20))
    assert all(results[task_key(n=n)]["square"] == n * n for n in range(20))
    second = [
        int(line.split()[1])
        for line in log.read_text().splitlines()
        if int(line.split()[0]) != first_pid
    ]
    # nothing recorded before the kill ran again; every task not recorded ran exactly once
    assert not {task_key(n=n) for n in second} & done_at_kill
    assert sorted(second) == sorted(n for n in range(20) if task_key(n=n) not in done_at_kill)


def test_not_a_store(tmp_path):
    (tmp_path / "x.db").write_text("this is not sqlite " * 100)
    with pytest.raises(LandscapeError, match="not a landscape run store"):
        Store(tmp_path / "x.db")


def test_run_prefix_is_literal_not_a_like_pattern(tmp_path):
    with Store(tmp_path / "s.db") as st:
        a, _ = st.start_run("a_b", {})
        b, _ = st.start_run("axb", {})
        c, _ = st.start_run("50%", {})
        d, _ = st.start_run("500", {})
        # unescaped, "a_b" matched both a_b-… and axb-…, "50%" both 50%-… and 500-…
        assert st.get_run("a_b").id == a.id
        assert st.get_run("axb").id == b.id
        assert st.get_run("50%").id == c.id
        assert st.get_run("500").id == d.id
        for pattern in ("%", "_", "a%", "__b"):  # wildcards alone match nothing
            with pytest.raises(LandscapeError, match="no run with id"):
                st.get_run(pattern)


def test_a_held_run_is_refused_in_either_order_and_free_once_let_go(tmp_path):
    db = tmp_path / "s.db"
    for first_opens in (0, 1):  # which of two stores (two "commands") comes first
        stores = [Store(db), Store(db)]
        first, second = stores[first_opens], stores[1 - first_opens]
        cfg = {"order": first_opens}
        run, resumed = first.start_run("exp", cfg)
        assert not resumed
        with pytest.raises(RunHeldError, match=rf"run {run.id} is held .*pid {os.getpid()}"):
            second.start_run("exp", cfg)
        assert len(second.runs("exp")) == first_opens + 1  # the refusal created nothing
        assert second.get_run(run.id).shown_status == "running"
        # its holder goes away without finishing it (as after kill -9): shown interrupted
        first.close()
        assert second.get_run(run.id).shown_status == "interrupted"
        again, resumed = second.start_run("exp", cfg)
        assert resumed and again.id == run.id and again.attempts == 2
        with Store(db) as third, pytest.raises(RunHeldError):
            third.start_run("exp", cfg)
        second.finish_run(run.id, "done")
        assert second.get_run(run.id).shown_status == "done"
        second.close()


def test_duration_is_active_time_over_attempts_not_idle_time(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(store_mod, "_now", lambda: clock[0])
    db = tmp_path / "s.db"
    with Store(db) as st:
        run, _ = st.start_run("exp", {})
        clock[0] = 1010.0
        st.finish_run(run.id, "interrupted")  # 10 s, then an hour idle
        clock[0] = 4610.0
        st.start_run("exp", {})
        clock[0] = 4615.0
        st.record_task(run.id, "k", {"x": 1})  # last sign of life: 5 s in
    # closed without finishing, as after kill -9: that attempt ends at its last sign of life
    clock[0] = 9000.0
    with Store(db) as st:
        assert st.get_run(run.id).duration == pytest.approx(15.0)
        st.start_run("exp", {})
        clock[0] = 9020.0
        st.finish_run(run.id, "done")
        r = st.get_run(run.id)
        assert r.duration == pytest.approx(10 + 5 + 20) and r.attempts == 3
        assert [a["seconds"] for a in st.attempts(run.id)] == pytest.approx([10, 5, 20])
        assert [a["status"] for a in st.attempts(run.id)] == ["interrupted", "interrupted", "done"]
        row = next(csv.DictReader(io.StringIO(st.export_csv("runs"))))
        assert float(row["duration"]) == pytest.approx(35.0) and row["attempts"] == "3"


def test_outputs_round_trip_with_columns_in_their_order(tmp_path):
    """Tables come back as typed rows with their columns in display order (Λ first, not
    sorted by name), notes in order, captions by file."""
    with Store(tmp_path / "s.db") as st:
        run, _ = st.start_run("exp", {})
        rows = [{"Λ": 25, "runs": 200, "mean L/Λ": -1.5, "note": "<b>x</b>"}]
        rows.append({"Λ": 50, "runs": 200, "mean L/Λ": None, "note": ""})
        st.save_outputs(
            run.id,
            {"minima": rows, "a second": [{"z": 1, "a": 2.5}]},
            ["n1", "n0"],
            {"f.png": "a figure"},
        )
        out = st.outputs(run.id)
    assert list(out.tables) == ["minima", "a second"]
    assert out.tables["minima"] == rows and list(out.tables["minima"][0]) == list(rows[0])
    assert list(out.tables["a second"][0]) == ["z", "a"]
    assert out.notes == ["n1", "n0"] and out.figures == {"f.png": "a figure"}
