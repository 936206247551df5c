"""Executors: ``map(fn, tasks)`` over picklable task specs, with a progress bar.

``fn`` must be a module-level function and every task picklable, so the same sweep runs
serially, in a local process pool, or on a Ray cluster without touching the experiment.
Results come back as ``(task, result)`` pairs *as tasks finish*, so the caller can record
each one in the store at once; an interruption then loses only the tasks in flight.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import torch

from .._errors import LandscapeError, check_choice
from .progress import progress_bar

__all__ = [
    "EXECUTORS",
    "Executor",
    "ProcessExecutor",
    "RayExecutor",
    "SerialExecutor",
    "make_executor",
]

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """What experiments need from an executor."""

    name: str

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], description: str = "tasks"
    ) -> Iterator[tuple[T, R]]:
        """Run ``fn`` on every task; yield ``(task, result)`` in completion order."""
        ...


class SerialExecutor:
    """Runs tasks one after another in this process (the default; easiest to debug)."""

    name = "serial"

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], description: str = "tasks"
    ) -> Iterator[tuple[T, R]]:
        with progress_bar(len(tasks), description) as bar:
            for task in tasks:
                result = fn(task)
                bar.advance()
                yield task, result


#: seconds between a worker's checks that its parent is still there (the portable fallback)
PARENT_POLL_SECONDS = 0.5


def _die_with_parent(parent: int) -> None:
    """Make this worker process end when ``parent`` does, however it ends (``kill -9``).

    On Linux the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``);
    everywhere a daemon thread also checks every :data:`PARENT_POLL_SECONDS` that the
    parent is still this process's parent, and exits the process when it is not.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the thread remains
            pass
    if os.name != "posix":  # pragma: no cover - getppid does not change there
        return
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="landscape-parent-watch", daemon=True).start()


def _init_worker(threads: int, parent: int | None = None) -> None:
    """Pool worker start-up: die with the parent, leave Ctrl-C to it, set torch threads."""
    if parent is not None:
        _die_with_parent(parent)
    # Ctrl-C reaches the whole process group: the parent stops the pool (and the workers)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)


def _quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with its stderr on ``/dev/null``.

    The tracker outlives a parent killed with ``kill -9`` and then cleans up the pool's
    semaphores itself — correctly — but prints "There appear to be 2 leaked semaphore
    objects" on the user's terminal. It prints nothing else, so it is started quiet (once;
    a tracker already running is left as it is).
    """
    from multiprocessing import resource_tracker

    tracker = resource_tracker._resource_tracker
    if getattr(tracker, "_fd", None) is not None or os.name != "posix":
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (tasks in flight are lost)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.kill()
    for p in processes:
        p.join(timeout=5)


class ProcessExecutor:
    """A local process pool (``spawn`` start method, so it is safe with PyTorch threads).

    Workers never outlive the process that started them: they end with it even when it is
    killed with ``kill -9``, and when the iteration stops early (Ctrl-C, an error, a
    generator closed) the tasks not yet done are cancelled and the workers ended at once.

    Args:
        workers: processes (default: CPU count).
        threads_per_worker: torch threads in each worker (default: CPUs / workers, ≥ 1).
    """

    name = "process"

    def __init__(self, workers: int | None = None, threads_per_worker: int | None = None) -> None:
        cpus = os.cpu_count() or 1
        self.workers = int(workers or cpus)
        if self.workers < 1:
            raise LandscapeError(f"workers must be >= 1, got {workers}")
        self.threads = int(threads_per_worker or max(1, cpus // self.workers))

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], description: str = "tasks"
    ) -> Iterator[tuple[T, R]]:
        if not tasks:
            return
        ctx = mp.get_context("spawn")
        _quiet_resource_tracker()
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)),
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.threads, os.getpid()),
        )
        finished = False
        try:
            with progress_bar(len(tasks), description) as bar:
                pending: dict[Future, Any] = {pool.submit(fn, t): t for t in tasks}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        task = pending.pop(fut)
                        result = fut.result()
                        bar.advance()
                        yield task, result
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:
                _stop_workers(pool)


def _apply(fn: Callable[[T], R], task: T) -> R:
    """Call ``fn(task)``: Ray remotes must be plain functions, ``fn`` may be any callable."""
    return fn(task)


class RayExecutor:
    """Tasks as Ray remote functions, on a local Ray instance or a cluster (``pip install ray``).

    Args:
        address: a Ray cluster address (``"auto"`` to join the one this machine belongs
            to); ``None`` starts or reuses a local instance.
        cpus_per_task: CPUs Ray reserves for each task.
        gpus_per_task: GPUs Ray reserves for each task (for ``device="cuda"`` configs).

    Raises:
        LandscapeError: Ray is not installed.
    """

    name = "ray"

    def __init__(
        self, address: str | None = None, cpus_per_task: float = 1, gpus_per_task: float = 0
    ) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise LandscapeError(
                "executor 'ray' needs Ray: pip install 'landscape[ray]' (or pip install ray)"
            ) from None
        self.address = address
        self.cpus = cpus_per_task
        self.gpus = gpus_per_task

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], description: str = "tasks"
    ) -> Iterator[tuple[T, R]]:
        import ray

        if not tasks:
            return
        if not ray.is_initialized():
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus)(_apply)
        fn_ref = ray.put(fn)
        pending = {remote.remote(fn_ref, t): t for t in tasks}
        try:
            with progress_bar(len(tasks), description) as bar:
                while pending:
                    done, _ = ray.wait(list(pending), num_returns=1)
                    for ref in done:
                        task = pending.pop(ref)
                        result = ray.get(ref)
                        bar.advance()
                        yield task, result
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


EXECUTORS = ("serial", "process", "ray")


def make_executor(
    name: str = "serial", workers: int | None = None, address: str | None = None
) -> Executor:
    """An executor by name: ``serial``, ``process`` (``workers`` processes) or ``ray``
    (a local instance, or the cluster at ``address``).

    Raises:
        LandscapeError: an unknown name, or ``address`` given for an executor other than ray.
    """
    check_choice("executor", name, EXECUTORS)
    if address is not None and name != "ray":
        raise LandscapeError(f"--address is for --executor ray, not --executor {name}")
    if name == "serial":
        return SerialExecutor()
    if name == "ray":
        return RayExecutor(address=address)
    return ProcessExecutor(workers)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op torch threads (``None``: leave torch's setting), restored
    afterwards — small problems (a few dozen parameters) run fastest on one thread.

    Example:
        >>> before = torch.get_num_threads()
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
