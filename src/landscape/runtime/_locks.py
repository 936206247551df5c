"""A run is held by one process: an exclusive OS lock on its folder's ``.lock`` file (released
by the kernel when the process dies) and a heartbeat that keeps its attempt's ``last_seen``
current."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from .._errors import LandscapeError

try:  # POSIX advisory locks; elsewhere the holder's pid is checked instead
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: seconds between the heartbeats that record a held run's attempt as alive
HEARTBEAT_SECONDS = 10.0


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would signal it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_lock(path: Path) -> tuple[int | None, bool]:
    """Try to take the exclusive lock on ``path``.

    Returns:
        ``(fd, True)`` locked; ``(None, False)`` held by another process;
        ``(None, True)`` this system cannot lock the file (the caller checks pids instead).
    """
    if fcntl is None:  # pragma: no cover
        return None, True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None, True
    deadline = time.monotonic() + 0.25  # a concurrent probe holds a shared lock for µs
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd, True
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None, False
            time.sleep(0.01)
        except OSError:  # e.g. ENOLCK on a file system without locks
            os.close(fd)
            return None, True


def _lock_held(path: Path) -> bool | None:
    """Whether some process holds ``path``'s lock (None: cannot tell from a lock)."""
    if fcntl is None or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class _Hold:
    """This process's hold on a run: the lock's file descriptor, the attempt number, and a
    heartbeat thread that keeps the attempt's ``last_seen`` current (its own connection)."""

    def __init__(self, db: Path, run_id: str, attempt: int, fd: int | None) -> None:
        self.run_id, self.attempt, self.fd = run_id, attempt, fd
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(db,), name=f"landscape-heartbeat-{run_id}", daemon=True
        )
        self._thread.start()

    def _beat(self, db: Path) -> None:
        conn = None
        try:
            while not self._stop.wait(HEARTBEAT_SECONDS):
                try:
                    if conn is None:
                        conn = sqlite3.connect(db, timeout=5.0, isolation_level=None)
                    conn.execute(
                        "UPDATE attempts SET last_seen=? WHERE run_id=? AND n=?",
                        (time.time(), self.run_id, self.attempt),
                    )
                except sqlite3.Error:  # busy or gone: the next beat tries again
                    pass
        finally:
            if conn is not None:
                conn.close()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None


class RunHeldError(LandscapeError):
    """The run asked for is being run by another live process."""
