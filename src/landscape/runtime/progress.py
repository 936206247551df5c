"""Progress bars (rich) that stay quiet when asked to.

The science modules never draw bars themselves; they accept a ``callback`` and the runtime
or the CLI passes one that advances a bar from here.

Bars nest: a bar opened while another is shown becomes a second line of the same display
(the sweep's bar above, the current stage's below). When stderr is not a terminal (a log
file, a pipe) there is no live display; instead a bar that runs longer than
:data:`PLAIN_FIRST` seconds prints a plain line — what it is doing, how far it is — at its
first progress after that, then one every :data:`PLAIN_EVERY` seconds, and one when it ends,
so a long run never looks hung (and a short one, or one failing at once, prints nothing).
"""

from __future__ import annotations

import sys
import time
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

from .._errors import printable

__all__ = ["console", "progress_bar", "set_quiet"]

_QUIET = False
console = Console(stderr=True, markup=False, emoji=False, highlight=False)
#: seconds a bar runs before its first plain line (when stderr is not a terminal)
PLAIN_FIRST = 5.0
#: seconds between plain lines after that
PLAIN_EVERY = 30.0

_live: Progress | None = None  # the display nested bars join


def set_quiet(quiet: bool) -> None:
    """Globally switch progress bars (and informational console output) off or on."""
    global _QUIET
    _QUIET = bool(quiet)


def _elapsed(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


class _Bar:
    """A handle on one bar: ``advance(n)`` and ``update(description=…, total=…)``."""

    def __init__(self, progress: Progress | None, task_id: int | None) -> None:
        self._p, self._t = progress, task_id

    def advance(self, n: float = 1) -> None:
        if self._p is not None:
            self._p.advance(self._t, n)

    def update(self, **fields: object) -> None:
        if self._p is not None:
            if "description" in fields:
                fields["description"] = printable(fields["description"])
            self._p.update(self._t, **fields)


class _PlainBar(_Bar):
    """A bar for a non-terminal stderr: an occasional plain line instead of a display."""

    def __init__(self, total: float | None, description: str) -> None:
        super().__init__(None, None)
        self.total, self.description, self.completed = total, description, 0.0
        self._start = time.monotonic()
        self._next = self._start + PLAIN_FIRST
        self._printed = False

    def _line(self, tail: str = "") -> None:
        done = f"{self.completed:g}" + (f"/{self.total:g}" if self.total else "")
        elapsed = _elapsed(time.monotonic() - self._start)
        console.print(  # one line in a log, however long (no wrapping at 80 columns)
            printable(f"{self.description}: {done} {tail}{elapsed}"),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        self._printed = True

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next and self.completed > 0:  # not before there is progress to report
            self._line()
            self._next = now + PLAIN_EVERY

    def advance(self, n: float = 1) -> None:
        self.completed += n
        self._tick()

    def update(self, **fields: object) -> None:
        if "description" in fields:
            self.description = str(fields["description"])
        if "total" in fields:
            self.total = fields["total"]  # type: ignore[assignment]
        if "completed" in fields:
            self.completed = float(fields["completed"])  # type: ignore[arg-type]
        if "advance" in fields:
            self.completed += float(fields["advance"])  # type: ignore[arg-type]
        self._tick()

    def close(self) -> None:
        if self._printed:
            self._line("ended after ")


@contextmanager
def progress_bar(
    total: float | None, description: str, quiet: bool | None = None
) -> Iterator[_Bar]:
    """A progress bar on stderr; a no-op when quiet (``--quiet``) or ``total`` is 0.

    ``total=None`` is an open-ended bar (a count without a known end).
    """
    global _live
    quiet = _QUIET if quiet is None else quiet
    if quiet or total == 0:
        yield _Bar(None, None)
        return
    if not console.is_terminal:
        plain = _PlainBar(total, description)
        try:
            yield plain
        finally:
            plain.close()
        return
    if _live is not None:  # nested: one more line in the display already shown
        outer = _live
        task_id = outer.add_task(printable(description), total=total)
        try:
            yield _Bar(outer, task_id)
        finally:
            outer.remove_task(task_id)
        return
    progress = Progress(
        TextColumn("{task.description}", style="bold", markup=False),  # text, not markup
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=not sys.stderr.isatty(),
    )
    with progress:
        _live = progress
        try:
            task_id = progress.add_task(printable(description), total=total)
            yield _Bar(progress, task_id)
        finally:
            _live = None
