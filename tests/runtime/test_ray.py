"""Sweeps through ``--executor ray`` on a local Ray instance (``ray`` is in the test extras).

The same small sweep is run serially and under Ray: the stored task results agree. A sweep
started serially and killed (SIGKILL, mid-sweep) resumes under Ray: the tasks recorded before
the kill are neither lost nor redone, and the finished run equals the serial one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from landscape.cli import main
from landscape.runtime.store import Store

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[dev]')")

SWEEP = ["--set", "members=4", "--set", "members_per_task=1", "--set", "epochs=2"]


@pytest.fixture(scope="module", autouse=True)
def _local_ray():
    """One local Ray instance for the module (two CPUs, no dashboard), shut down after."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        ignore_reinit_error=True,
    )
    yield
    ray.shutdown()


def _tasks(store, experiment="demo") -> tuple[str, dict[str, dict]]:
    with Store(store) as st:
        run = st.runs(experiment)[0]
        rows = st._conn.execute(
            "SELECT key, status, result, finished FROM tasks WHERE run_id=?", (run.id,)
        ).fetchall()
        status = st.get_run(run.id).status
    return status, {r["key"]: dict(r) for r in rows}


def _results(tasks: dict[str, dict]) -> dict[str, dict]:
    return {k: json.loads(t["result"]) for k, t in tasks.items()}


def _assert_same_results(a: dict[str, dict], b: dict[str, dict]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        ra, rb = a[key], b[key]
        assert ra.keys() == rb.keys()
        for name, va in ra.items():
            if isinstance(va, float):
                # another process may use another thread count: equal to float32 rounding
                assert rb[name] == pytest.approx(va, rel=1e-4, abs=1e-6), (key, name)
            else:
                assert rb[name] == va, (key, name)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    store = tmp_path_factory.mktemp("serial") / "s.db"
    assert main(["demo", *SWEEP, "--store", str(store), "--quiet"]) == 0
    status, tasks = _tasks(store)
    assert status == "done" and len(tasks) == 4
    return _results(tasks)


def test_ray_sweep_equals_the_serial_one(tmp_path, serial):
    store = tmp_path / "r.db"
    assert main(["demo", *SWEEP, "--executor", "ray", "--store", str(store), "--quiet"]) == 0
    status, tasks = _tasks(store)
    assert status == "done"
    assert all(t["status"] == "done" for t in tasks.values())
    _assert_same_results(serial, _results(tasks))


# a serial sweep that kills itself (SIGKILL: no handler runs) when its third task starts
KILLED = textwrap.dedent(
    """
    import os, signal, sys
    import landscape.experiments.lifecycle as lifecycle
    from landscape.cli import main

    real, calls = lifecycle.run_task, []

    def dying(task):
        calls.append(task)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(task)

    lifecycle.run_task = dying
    sys.exit(main(sys.argv[1:]))
    """
)


def test_a_killed_serial_sweep_resumes_under_ray(tmp_path, serial):
    store = tmp_path / "k.db"
    args = ["demo", *SWEEP, "--store", str(store), "--quiet"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-c", KILLED, *args], env=env, timeout=300)
    assert proc.returncode == -9  # killed mid-sweep
    status, before = _tasks(store)
    assert status == "running"  # nobody marked it: the process died
    done_before = {k: t for k, t in before.items() if t["status"] == "done"}
    assert len(done_before) == 2
    assert main([*args, "--executor", "ray"]) == 0
    status, after = _tasks(store)
    assert status == "done" and len(after) == 4
    assert all(t["status"] == "done" for t in after.values())
    for key, t in done_before.items():  # not redone: the same row, finished at the same time
        assert after[key]["finished"] == t["finished"]
        assert after[key]["result"] == t["result"]
    with Store(store) as st:
        assert len(st.runs("demo")) == 1  # resumed, not started afresh
    _assert_same_results(serial, _results(after))


def test_address_is_only_for_ray(tmp_path, capsys):
    code = main(["demo", *SWEEP, "--address", "auto", "--store", str(tmp_path / "a.db")])
    assert code != 0
    assert "--address is for --executor ray" in capsys.readouterr().err


def test_a_loss_plane_split_by_rows_under_ray_equals_serial(tmp_path):
    """``landscape plane`` records its grid as row tasks: under Ray they come back from the
    workers in any order and the stored surface equals the serial one."""
    import numpy as np

    from landscape import checkpoint, models

    spec = models.MLPSpec(in_features=64, widths=(6,), out_features=10)
    ck = checkpoint.save(
        tmp_path / "a.ckpt", models.init_params(spec, 0), spec, meta={"data": {"name": "digits"}}
    )
    grids = []
    for executor in ("serial", "ray"):
        store = tmp_path / f"{executor}.db"
        args = ["plane", str(ck), "--data", "digits", "--steps", "6", "--store", str(store)]
        args += ["--set", "n_samples=200", "--set", "rows_per_task=2", "--quiet"]
        assert main([*args, "--executor", executor]) == 0
        with Store(store) as st:
            run = st.runs("plane")[0]
            rows = {k for k in st.done_keys(run.id) if "rows=" in k}
            assert len(rows) == 3  # six rows, two per task (and the directions job)
        grids.append(np.load(run.folder / "surface.npz"))
    serial, under_ray = grids
    np.testing.assert_allclose(under_ray["loss"], serial["loss"], rtol=1e-5)
    np.testing.assert_array_equal(under_ray["alpha"], serial["alpha"])
