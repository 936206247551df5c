"""Run a sweep of tasks through an executor, recording each result in the store.

Tasks are picklable objects with a deterministic ``key``. Tasks already recorded as done
in the run are skipped, so rerunning the same command after an interruption resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .executor import Executor
from .store import Store

__all__ = ["Task", "run_sweep"]


class Task(Protocol):
    """Anything picklable with a deterministic string ``key``."""

    @property
    def key(self) -> str: ...


class _Timed:
    """Picklable wrapper that returns ``(result, seconds)``."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __call__(self, task: Any) -> tuple[Any, float]:
        t0 = time.perf_counter()
        result = self.fn(task)
        return result, time.perf_counter() - t0


def _spec(task: Any) -> Any:
    if hasattr(task, "record"):  # a task may choose what of it is recorded
        return task.record()
    if hasattr(task, "model_dump"):
        return task.model_dump(mode="json")
    if hasattr(task, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(task)
    return repr(task)


def run_sweep(
    store: Store,
    run_id: str,
    executor: Executor,
    fn: Callable[[Any], dict[str, Any]],
    tasks: Sequence[Task],
    description: str = "tasks",
) -> dict[str, dict[str, Any]]:
    """Run the tasks not yet done, record each as it finishes, return all results by key.

    Args:
        store: the run store (only this process writes to it).
        run_id: the run the tasks belong to.
        executor: where ``fn`` runs (serial, process pool, …).
        fn: module-level function ``fn(task) -> dict`` (arrays + JSON values).
        tasks: the whole sweep; keys must be unique.
        description: progress-bar label.

    Returns:
        ``{key: result}`` for every task of the sweep (recorded earlier or now).
    """
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"task keys must be unique, duplicated: {dup}")
    done = store.done_keys(run_id)
    todo = [t for t in tasks if t.key not in done]
    results_in_order = executor.map(_Timed(fn), todo, description)
    try:
        for task, (result, seconds) in results_in_order:
            store.record_task(run_id, task.key, result, spec=_spec(task), duration=seconds)
    finally:  # on Ctrl-C or an error, stop the executor's workers now, not at garbage collection
        close = getattr(results_in_order, "close", None)
        if close is not None:
            close()
    results = store.task_results(run_id)
    return {k: results[k] for k in keys}
