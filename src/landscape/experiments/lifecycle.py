"""The run lifecycle, written once: record, resume, reduce, draw, save, persist.

An experiment is a module with

* ``Config`` — a pydantic :class:`~landscape.experiments.ExperimentConfig`;
* ``tasks(config) -> list[Task]`` — picklable tasks with deterministic ``key``s, each with a
  ``run() -> dict`` method (arrays and JSON values) that an executor calls in a worker;
* ``reduce(config, results) -> Summary`` — tables (typed rows), notes, metrics, arrays and
  checkpoints to keep, from ``results``: ``(task, result)`` pairs in task order;
* ``figures(config, results, summary) -> dict[str, Figure | (Figure, caption)]`` — named
  figures (``"energy_histograms"`` → ``energy_histograms.png`` in the run folder);
* optionally ``check(config)`` — looks at the inputs (data files) before a run is recorded;
* optionally ``more_tasks(config, results) -> list[Task]`` — a next phase built from the
  results so far (e.g. connect the endpoints phase one trained); called until it returns
  no task.

:func:`execute` starts (or resumes) the run in the store, runs the tasks not yet recorded
through the executor (each recorded as it finishes: a killed run resumes), reduces, draws,
saves every figure with :func:`~landscape.plots.save_figure`, writes arrays and checkpoints
to the run folder, and persists tables, notes and figure captions in the store, so any past
run can be shown again (``landscape runs show ID``) without rerunning it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import LandscapeError
from ..runtime.executor import Executor
from ..runtime.store import Store
from ..runtime.sweep import run_sweep

__all__ = [
    "CheckpointArtifact",
    "Result",
    "Results",
    "Summary",
    "execute",
    "replay",
    "run_task",
]

#: ``(task, result)`` pairs in task order
Results = Sequence[tuple[Any, dict[str, Any]]]

#: the most tasks one phase of a run may hold (checked before the run is recorded)
MAX_TASKS = 100_000


@dataclass(frozen=True)
class CheckpointArtifact:
    """A model to save as a checkpoint in the run folder (see :mod:`landscape.checkpoint`)."""

    params: dict
    spec: Any
    meta: dict = field(default_factory=dict)


@dataclass
class Summary:
    """What ``reduce`` hands to the lifecycle.

    Attributes:
        tables: title → rows (dicts of plain numbers and strings), in display order.
        notes: one line each, shown under the tables.
        metrics: ``(step, {name: value})`` to log in the store.
        arrays: file name (without ``.npz``) → arrays to save in the run folder.
        checkpoints: path relative to the run folder → model to save.
        data: anything else the figures or a library caller need (not persisted).
    """

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    metrics: list[tuple[int, dict[str, float | None]]] = field(default_factory=list)
    arrays: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkpoints: dict[str, CheckpointArtifact] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """What :func:`execute` hands back to the CLI or a library caller."""

    run_id: str
    folder: Path
    resumed: bool = False
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    figure_objects: dict[str, Any] = field(default_factory=dict)


def run_task(task: Any) -> dict[str, Any]:
    """Run one task in a worker (module-level, so executors can pickle it)."""
    return task.run()


def _sweep(
    module: Any, config: Any, store: Store, run_id: str, executor: Executor, tasks: list
) -> list[tuple[Any, dict[str, Any]]]:
    """Run the tasks not yet recorded, then each further phase ``more_tasks`` asks for."""
    results: list[tuple[Any, dict[str, Any]]] = []
    label = getattr(module, "TASKS_LABEL", "tasks")
    more = getattr(module, "more_tasks", None)
    while tasks:
        done = run_sweep(store, run_id, executor, run_task, tasks, label)
        results += [(t, done[t.key]) for t in tasks]
        tasks = more(config, results) if more is not None else []
        label = getattr(module, "MORE_LABEL", label)
    return results


def _figure_and_caption(value: Any) -> tuple[Any, str]:
    if isinstance(value, tuple):
        fig, caption = value
        return fig, str(caption)
    return value, ""


def _persist(
    store: Store, run_id: str, summary: Summary, drawn: dict[str, Any]
) -> tuple[list[Path], dict[str, Any]]:
    from .. import checkpoint
    from ..plots import save_figure

    folder = store.folder(run_id)
    for step, values in summary.metrics:
        store.log_metrics(run_id, values, step=step)
    for name, arrays in summary.arrays.items():
        store.save_arrays(run_id, name, **arrays)
    for rel, art in summary.checkpoints.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.save(path, art.params, art.spec, meta={**art.meta, "run_id": run_id})
    paths, objects, captions = [], {}, {}
    for name, value in drawn.items():
        fig, caption = _figure_and_caption(value)
        objects[name] = fig
        suffix = ".html" if hasattr(fig, "write_html") else ".png"  # plotly: interactive page
        paths.append(save_figure(fig, folder / f"{name}{suffix}"))
        captions[paths[-1].name] = caption
    store.save_outputs(run_id, summary.tables, summary.notes, captions)
    return paths, objects


def execute(
    module: Any,
    config: Any,
    store: Store,
    executor: Executor,
    resume: bool = True,
    on_start: Callable[[str, bool], None] | None = None,
) -> Result:
    """Run (or resume) the experiment ``module`` with ``config``, recorded in ``store``.

    A Ctrl-C marks the run ``interrupted``; an error marks it ``failed``; either way the
    tasks recorded so far stay, and the same command picks up where it stopped. The config
    is checked (``module.check``) before any run is recorded, so a bad config or data file
    leaves nothing in the store.

    Args:
        module: the experiment module (``Config``, ``tasks``, ``reduce``, ``figures``).
        config: an instance of ``module.Config``.
        store: the run store.
        executor: where the tasks run.
        resume: pick up the latest unfinished run with the same config (else a new run).
        on_start: called with ``(run_id, resumed)`` once the run is recorded.

    Raises:
        LandscapeError: a config of another experiment, or what ``check`` finds.
    """
    from ._base import resolve_device

    if not isinstance(config, module.Config):
        raise LandscapeError(f"experiment {module.NAME!r} needs a {module.Config.__name__}")
    resolve_device(getattr(config, "device", "cpu"))
    check = getattr(module, "check", None)
    if check is not None:
        check(config)
    tasks = module.tasks(config)
    if len(tasks) > MAX_TASKS:
        raise LandscapeError(
            f"{module.NAME}: this config makes {len(tasks):,} tasks, more than the "
            f"{MAX_TASKS:,} a run may hold; ask for fewer (or more per task)"
        )
    run, resumed = store.start_run(
        module.NAME, config.model_dump(mode="json"), getattr(config, "seed", None), resume
    )
    if on_start is not None:
        on_start(run.id, resumed)
    try:
        results = _sweep(module, config, store, run.id, executor, tasks)
        summary = module.reduce(config, results)
        drawn = module.figures(config, results, summary)
        paths, objects = _persist(store, run.id, summary, drawn)
    except KeyboardInterrupt:
        store.finish_run(run.id, "interrupted")
        raise
    except BaseException as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        store.finish_run(run.id, "failed", error=msg[:500])
        raise
    store.finish_run(run.id, "done")
    return Result(
        run_id=run.id,
        folder=store.folder(run.id),
        resumed=resumed,
        tables=summary.tables,
        figures=paths,
        notes=summary.notes,
        data=summary.data,
        figure_objects=objects,
    )


def replay(module: Any, store: Store, run_id: str) -> tuple[Summary, dict[str, Any]]:
    """Reduce and draw a recorded run again from its stored task results (nothing reruns).

    Returns:
        ``(summary, figures)`` as ``reduce`` and ``figures`` give them.

    Raises:
        LandscapeError: the run belongs to another experiment, or lacks a task's result
            (an unfinished run: resume it first).
    """
    run = store.get_run(run_id)
    if run.experiment != module.NAME:
        raise LandscapeError(f"run {run.id} is a {run.experiment!r} run, not {module.NAME!r}")
    config = module.Config.model_validate(run.config)
    stored = store.task_results(run.id)
    more = getattr(module, "more_tasks", None)
    tasks, results = module.tasks(config), []
    while tasks:
        missing = [t.key for t in tasks if t.key not in stored]
        if missing:
            raise LandscapeError(
                f"run {run.id} has no result for {len(missing)} task(s) (e.g. {missing[0]}); "
                "run the same command again to finish it"
            )
        results += [(t, stored[t.key]) for t in tasks]
        tasks = more(config, results) if more is not None else []
    summary = module.reduce(config, results)
    return summary, module.figures(config, results, summary)
