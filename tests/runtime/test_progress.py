from __future__ import annotations

import io

from rich.console import Console

from landscape.runtime import progress
from landscape.runtime.progress import progress_bar


def test_nested_bars_share_one_display_on_a_terminal(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=buf, force_terminal=True, width=120))
    with progress_bar(2, "sweep") as outer:
        with progress_bar(None, "stage (HVPs)") as inner:  # a second live display would raise
            inner.advance(5)
        outer.advance()
    text = buf.getvalue()
    assert "sweep" in text and "stage (HVPs)" in text
    assert progress._live is None


def test_plain_lines_only_for_bars_that_run_long(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=buf, force_terminal=False))
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    with progress_bar(10, "quick") as bar:
        bar.advance(10)
    assert buf.getvalue() == ""  # done before PLAIN_FIRST: silent
    with progress_bar(10, "slow") as bar:
        clock[0] = progress.PLAIN_FIRST + 1
        bar.update(completed=0)  # nothing done yet: nothing to report
        assert buf.getvalue() == ""
        bar.advance(3)
        clock[0] += 1
        bar.advance(1)  # not yet PLAIN_EVERY later: no new line
        clock[0] += progress.PLAIN_EVERY
        bar.advance(2)
    assert buf.getvalue().splitlines() == [
        "slow: 3/10 0:00:06",
        "slow: 6/10 0:00:37",
        "slow: 6/10 ended after 0:00:37",
    ]
    with progress_bar(10, "quiet", quiet=True) as bar:
        clock[0] += 100
        bar.advance(1)
    assert "quiet" not in buf.getvalue()
