"""Executors: ``map(fn, tasks)`` over picklable task specs, with a progress bar.

``fn`` must be a module-level function and every task picklable, so the same sweep runs
serially, in a local process pool, or on a Ray cluster without touching the experiment.
Results come back as ``(task, result)`` pairs *as tasks finish*, so the caller can record
each one in the store at once; an interruption then loses only the tasks in flight.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

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


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class ProcessExecutor:
    """A local process pool (``spawn`` start method, so it is safe with PyTorch threads).

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
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)),
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.threads,),
        )
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
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


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


def make_executor(name: str = "serial", workers: int | None = None) -> Executor:
    """An executor by name: ``serial``, ``process`` (``workers`` processes) or ``ray``."""
    check_choice("executor", name, EXECUTORS)
    if name == "serial":
        return SerialExecutor()
    if name == "ray":
        return RayExecutor()
    return ProcessExecutor(workers)
