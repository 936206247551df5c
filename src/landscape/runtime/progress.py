"""Progress bars (rich) that stay quiet when asked to.

The science modules never draw bars themselves; they accept a ``callback`` and the runtime
or the CLI passes one that advances a bar from here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["console", "progress_bar", "set_quiet"]

_QUIET = False
console = Console(stderr=True)


def set_quiet(quiet: bool) -> None:
    """Globally switch progress bars (and informational console output) off or on."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    return _QUIET


class _Bar:
    def __init__(self, progress: Progress | None, task_id: int | None) -> None:
        self._p, self._t = progress, task_id

    def advance(self, n: float = 1) -> None:
        if self._p is not None:
            self._p.advance(self._t, n)

    def update(self, **fields: object) -> None:
        if self._p is not None:
            self._p.update(self._t, **fields)


@contextmanager
def progress_bar(
    total: float | None, description: str, quiet: bool | None = None
) -> Iterator[_Bar]:
    """A rich progress bar on stderr; a no-op when quiet (``--quiet``) or ``total`` is 0."""
    quiet = _QUIET if quiet is None else quiet
    if quiet or total == 0:
        yield _Bar(None, None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=not sys.stderr.isatty(),
    )
    with progress:
        task_id = progress.add_task(description, total=total)
        yield _Bar(progress, task_id)
