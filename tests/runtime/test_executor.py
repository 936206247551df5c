from __future__ import annotations

import math

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
    from landscape.runtime.executor import RayExecutor

    tasks = list(range(5))
    got = dict(RayExecutor().map(math.factorial, tasks))
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
