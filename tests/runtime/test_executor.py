from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from landscape import LandscapeError
from landscape.runtime.executor import ProcessExecutor, SerialExecutor, make_executor


def test_serial_and_process_pool_agree():
    tasks = list(range(6))
    # worker functions must be importable by spawned processes: use a library one
    serial = dict(SerialExecutor().map(math.factorial, tasks))
    pooled = dict(ProcessExecutor(workers=2).map(math.factorial, tasks))
    assert serial == pooled == {x: math.factorial(x) for x in tasks}


def test_make_executor_rejects_unknown():
    assert make_executor("serial").name == "serial"
    with pytest.raises(LandscapeError, match="executor"):
        make_executor("mpi")


def test_ray_executor_agrees_with_serial():
    pytest.importorskip("ray")
    import ray

    from landscape.runtime.executor import RayExecutor

    tasks = list(range(5))
    started = not ray.is_initialized()
    try:
        got = dict(RayExecutor().map(math.factorial, tasks))
    finally:
        if started:
            ray.shutdown()
    assert got == {x: math.factorial(x) for x in tasks}


def test_ray_missing_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(LandscapeError, match=r"pip install"):
        make_executor("ray")


# a process-pool sweep whose tasks block (for at most two minutes) after logging their pid
POOL_CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from landscape.runtime.executor import ProcessExecutor

    # as a terminal gives it (a suite run in the background passes SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def block(n):
        with open(sys.argv[1], "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(120)
        return n

    if __name__ == "__main__":
        try:
            for _ in ProcessExecutor(workers=2).map(block, [0, 1]):
                pass
        except KeyboardInterrupt:
            sys.exit(130)
    """
)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its new parent to reap it counts)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:  # pragma: no cover - no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize(
    "sig",
    [signal.SIGKILL, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],
    ids=["kill-9", "sigint"],
)
def test_pool_workers_end_with_their_parent(tmp_path, sig):
    """kill -9 of the parent: the workers die with it (they were re-parented to PID 1 and
    kept the pipes open for minutes). SIGINT to the parent alone: it stops the pool at once
    (it used to wait at exit for the tasks in flight) and exits 130."""
    script, log = tmp_path / "pool.py", tmp_path / "pids"
    script.write_text(POOL_CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a shell gives a command
    )
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            workers = [int(x) for x in log.read_text().split()] if log.is_file() else []
        assert len(workers) == 2, proc.stderr.read().decode() if proc.poll() is not None else ""
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while not all(_gone(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [w for w in workers if not _gone(w)] == [], "workers outlived their parent"
        if sig == signal.SIGINT:
            assert proc.returncode == 130, proc.stderr.read().decode()
        else:  # the resource tracker cleans up after the killed parent, without a word
            _, err = proc.communicate(timeout=60)
            assert b"leaked" not in err, err.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers if "workers" in locals() else []:
            if not _gone(w):
                os.kill(w, signal.SIGKILL)
