"""The run store: embedded SQLite (WAL) plus one folder per run for arrays and figures.

Records runs (id, experiment, config, seed, status, timings, git commit), their attempts
(each start or resume: when it ran, which process), metrics (key, step, value) and tasks.
A sweep is a set of tasks with deterministic keys; a task's result is written in one
transaction (its arrays first, atomically, to ``.npz``), so after an interruption — Ctrl-C
or ``kill -9`` — the same command resumes the run, skips the tasks already done, and
nothing recorded is lost or half-written.

A run is *held* by the one process that started or resumed it, until it finishes: the
holder keeps an exclusive OS lock on ``<run folder>/.lock`` (released by the kernel when
the process dies, ``kill -9`` included). Starting the same run again while its holder
lives is refused with a one-line error naming the holder's pid; once the holder is gone
the run can be resumed. Run creation and takeover happen in one database transaction, so
two identical commands started at the same instant never both run it.

Layout::

    runs/landscape.db            the database (WAL mode)
    runs/<run_id>/               one folder per run
    runs/<run_id>/.lock          held by the process running the run
    runs/<run_id>/tasks/<key>.npz  arrays of each task's result
    runs/<run_id>/*.png, *.npz   figures and arrays of the run

Only the process that holds a run writes its tasks; worker processes return results to it.

**A file landscape did not create is only read.** Before anything is written, an existing
file is opened read-only and recognised as a store by its tag (SQLite's
``application_id``, set when landscape creates a store) or, for stores made before the
tag, by its five tables and their columns; any other database (or a file that is not one)
is refused in one line, unchanged. ``Store(path, readonly=True)`` — what ``runs list``,
``runs show``, ``runs export`` and ``report`` use — never writes: it opens the database
read-only, so a store on a read-only mount can be read. Files named in the store (task
arrays, figures) are read only from inside their run's folder.
"""

from __future__ import annotations

import csv
import datetime as _dt
import errno
import hashlib
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from .._errors import LandscapeError, short
from ._locks import RunHeldError, _Hold, _lock_held, _pid_alive, _try_lock
from ._schema import _RUN_SELECT, _SCHEMA
from ._values import _atomic_write_npz, _jsonable, _safe_name, _to_numpy

__all__ = [
    "DEFAULT_STORE",
    "Run",
    "RunHeldError",
    "RunOutputs",
    "Store",
    "config_hash",
    "task_key",
]

DEFAULT_STORE = Path("runs") / "landscape.db"
STATUSES = ("running", "done", "failed", "interrupted")
LOCK_NAME = ".lock"
#: SQLite ``application_id`` of a landscape store ("LNDS"): how a store is told from others
APPLICATION_ID = 0x4C4E4453
#: the tables (and columns) of a store, to recognise one made before the tag
_COLUMNS = {
    "runs": {
        "id",
        "experiment",
        "config",
        "config_hash",
        "seed",
        "status",
        "created",
        "finished",
        "duration",
        "git_commit",
        "host",
        "pid",
        "error",
    },
    "attempts": {"run_id", "n", "started", "last_seen", "finished", "status", "host", "pid"},
    "metrics": {"run_id", "key", "step", "value"},
    "outputs": {"run_id", "kind", "position", "name", "content"},
    "tasks": {
        "run_id",
        "key",
        "status",
        "spec",
        "result",
        "arrays",
        "started",
        "finished",
        "duration",
    },
}


def _now() -> float:
    return time.time()


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(experiment: str, config: Mapping[str, Any]) -> str:
    """Deterministic hash of an experiment name and its config (key order does not matter)."""
    return hashlib.sha256(f"{experiment}\n{_canonical(config)}".encode()).hexdigest()[:16]


def task_key(**fields: Any) -> str:
    """A readable deterministic key: ``task_key(size=50, chunk=3)`` → ``chunk=3,size=50``."""
    return ",".join(f"{k}={fields[k]}" for k in sorted(fields))


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _escape_like(text: str) -> str:
    r"""``text`` for a SQL ``LIKE … ESCAPE '\'`` pattern, with ``%`` and ``_`` literal."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class RunOutputs:
    """What a run produced for people: its tables, notes and figure captions."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    """A row of the runs table.

    ``status`` is what was recorded; ``shown_status`` is what it means now — a ``running``
    run whose holder is gone (Ctrl-C before the status was written, ``kill -9``, a crash)
    is shown as ``interrupted``. ``duration`` is the active time: the sum of the attempts'
    times, without the idle time between an interruption and the resume.
    """

    id: str
    experiment: str
    config: dict
    config_hash: str
    seed: int | None
    status: str
    created: float
    finished: float | None
    duration: float | None
    git_commit: str | None
    host: str | None
    pid: int | None
    error: str | None
    folder: Path
    shown_status: str = ""
    attempts: int = 0

    def __post_init__(self) -> None:
        if not self.shown_status:
            self.shown_status = self.status


def _cannot_open(path: Path, err: BaseException) -> LandscapeError:
    """One line for a store path the file system refuses (read-only, /proc, no folder)."""
    reason = getattr(err, "strerror", None) or str(err)
    if getattr(err, "filename", None) and str(err.filename) != str(path):
        reason = f"{reason}: {err.filename}"
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        reason = f"{blocking} is a file, not a folder"
    if _disk_full(err):
        return LandscapeError(
            f"the disk holding the run store {path} is full ({reason}); free some space or "
            "give --store a path on another disk"
        )
    hint = (
        "another process is writing to it; wait for it and try again"
        if "locked" in reason
        else "give --store a .db path in a folder you can write to"
    )
    return LandscapeError(f"cannot open the run store {path}: {reason}; {hint}")


def _disk_full(err: BaseException) -> bool:
    return getattr(err, "errno", None) == errno.ENOSPC or "disk is full" in str(err)


def _writing_failed(path: Path, err: BaseException) -> LandscapeError:
    """One line for a write the file system refused, naming the real cause."""
    if _disk_full(err):
        return LandscapeError(
            f"the disk holding the run store {path} is full ({err}); nothing half-written "
            "was kept — free some space and run the same command again to resume"
        )
    reason = getattr(err, "strerror", None) or str(err)
    return LandscapeError(f"cannot write to the run store {path}: {reason}")


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot write to ``path`` (``mode=ro``; ``immutable`` where the
    folder is read-only and no unsaved changes wait in a ``-wal`` file).

    Raises:
        LandscapeError: the file cannot be opened for reading.
    """
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.DatabaseError as err:
        first = err
        if not isinstance(err, sqlite3.OperationalError):
            raise LandscapeError(
                f"{path} is not a landscape run store (not an SQLite database: {err}); give "
                "--store a new .db path"
            ) from None
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise LandscapeError(
            f"cannot read the run store {path} ({first}): its last changes wait in {wal.name} "
            "and its folder cannot be written; open it once where it is writable"
        )
    try:  # a read-only folder: no -shm can be made, and nothing is pending
        conn = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.Error as err:
        raise _cannot_open(path, err) from None


def _probe(path: Path) -> bool:
    """Whether ``path`` holds a landscape store (``False``: an empty database), read without
    leaving anything behind: ``immutable`` (no ``-shm``/``-wal`` made, even for a WAL-mode
    file) unless changes wait in a ``-wal`` file, which only a normal reader sees.

    Raises:
        LandscapeError: anything else (see :func:`_recognise`).
    """
    if path.stat().st_size == 0:
        return False
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        conn = _connect_readonly(path)
    else:
        uri = f"file:{quote(str(path.absolute()))}?mode=ro&immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as err:
            raise LandscapeError(
                f"{path} is not a landscape run store (not an SQLite database: {err}); it was "
                "left unchanged — give --store a new .db path"
            ) from None
    try:
        return _recognise(conn, path)
    finally:
        conn.close()


def _recognise(conn: sqlite3.Connection, path: Path) -> bool:
    """Whether the database holds a landscape store (``False``: it is empty — no schema
    object, no tag, no user version).

    Raises:
        LandscapeError: it holds anything else (another program's tables or tag).
    """
    try:
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        objects = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        columns = {
            t: {r[1] for r in conn.execute(f"PRAGMA table_info('{t}')")}
            for t in names
            if t in _COLUMNS
        }
    except sqlite3.DatabaseError as err:
        raise LandscapeError(f"{path} is not a landscape run store ({err})") from None
    if app == APPLICATION_ID:
        return True
    if app == 0 and version == 0 and objects == 0:
        return False
    if app == 0 and set(names) == set(_COLUMNS) and all(columns[t] == _COLUMNS[t] for t in names):
        return True  # a store made before the tag
    shown = ", ".join(sorted(names)[:6]) or "no tables"
    tags = "".join(
        [
            f", application id {app:#x}" if app else "",
            f", user version {version}" if version else "",
        ]
    )
    raise LandscapeError(
        f"{path} is not a landscape run store (an SQLite database with {shown}{tags}); it "
        "was left unchanged — give --store a new .db path"
    )


def _inside(root: Path, rel: str | os.PathLike, what: str) -> Path:
    """``root / rel``, refused unless it resolves inside ``root`` (no ``..``, no link out).

    Raises:
        LandscapeError: the path leaves ``root``.
    """
    text = str(rel)
    try:
        path = root / rel
        inside = (
            text not in ("", ".")
            and "\0" not in text
            and path.resolve().is_relative_to(root.resolve())
            and path.resolve() != root.resolve()
        )
    except (OSError, RuntimeError, ValueError):
        inside = False
    if not inside or Path(rel).is_absolute():
        raise LandscapeError(
            f"the run store names {what} {str(rel)!r} outside its folder {root}; it was not read"
        )
    return path


def _safe_run_id(run_id: str) -> bool:
    return bool(run_id) and run_id not in (".", "..") and not any(c in run_id for c in "/\\\0")


class Store:
    """The SQLite run store. Open it with ``Store(path)`` (default ``runs/landscape.db``).

    Args:
        path: database file; its folder also holds one sub-folder per run.
        readonly: open it for reading only (it must exist; nothing is written, so a store
            on a read-only mount works).

    Raises:
        LandscapeError: the path is a folder or not a regular file, the file is not a
            landscape store (it is left unchanged), or the file system refuses it.
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_STORE, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = bool(readonly)
        self.root = self.path.parent
        self._holds: dict[str, _Hold] = {}
        exists = self.path.exists()
        if exists:
            from .._validate import check_file

            check_file(self.path, "run store")
        if self.readonly:
            if not exists:
                raise LandscapeError(f"no run store at {self.path}")
            ours = _probe(self.path)  # before a reader of a WAL file makes its -shm
            self._conn = _connect_readonly(self.path)
            self._conn.row_factory = sqlite3.Row
            if not ours:  # an empty database reads as an empty store (temp tables, unwritten)
                self._conn.executescript(_SCHEMA.replace("CREATE TABLE", "CREATE TEMP TABLE"))
            return
        ours = exists and _probe(self.path)  # look before writing anything
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise _cannot_open(self.path, err) from None
        self._conn.row_factory = sqlite3.Row
        try:
            if not ours:
                self._conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            if ours and self._conn.execute("PRAGMA application_id").fetchone()[0] == 0:
                self._conn.execute(f"PRAGMA application_id={APPLICATION_ID}")  # tag an old one
        except sqlite3.OperationalError as err:  # read-only file system, /proc, locked, full
            self._conn.close()
            raise _cannot_open(self.path, err) from None
        except sqlite3.DatabaseError as err:
            self._conn.close()
            raise LandscapeError(f"{self.path} is not a landscape run store ({err})") from None

    def _writable(self) -> None:
        if self.readonly:
            raise LandscapeError(
                f"the run store {self.path} was opened read-only; open it with Store(path) "
                "to record runs"
            )

    # ------------------------------------------------------------------ housekeeping
    def close(self) -> None:
        """Close the database; runs still held are let go (shown as interrupted after)."""
        for hold in self._holds.values():
            hold.release()
        self._holds.clear()
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> sqlite3.Connection:
        return self._conn

    def folder(self, run_id: str) -> Path:
        """The run's folder for arrays and figures (created on demand)."""
        self._writable()
        f = self.root / run_id
        try:
            f.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _writing_failed(self.path, err) from None
        return f

    def _lock_path(self, run_id: str) -> Path:
        return self.root / run_id / LOCK_NAME

    # ------------------------------------------------------------------ holding runs
    def _holder_alive(self, run_id: str, host: str | None, pid: int | None) -> bool:
        """Whether the process that holds (or last held) ``run_id`` is still running it."""
        if run_id in self._holds:
            return True
        held = _lock_held(self._lock_path(run_id))
        if held is not None:
            return held
        if host != socket.gethostname():  # no lock to ask and another machine: assume so
            return True
        return _pid_alive(pid) and pid != os.getpid()

    def _shown_status(self, status: str, run_id: str, host: str | None, pid: int | None) -> str:
        """The one place the displayed status is derived (list, show and export agree)."""
        if status == "running" and not self._holder_alive(run_id, host, pid):
            return "interrupted"
        return status

    def _take(self, run_id: str, host: str | None, pid: int | None) -> int | None:
        """Lock ``run_id`` for this process or raise :class:`RunHeldError`."""
        fd, ok = _try_lock(self._lock_path(run_id))
        if ok and fd is None and self._holder_alive(run_id, host, pid):  # no lock: pid check
            ok = False
        if not ok:
            where = f" on {host}" if host and host != socket.gethostname() else ""
            raise RunHeldError(
                f"run {run_id} is held by a live process (pid {pid}{where}); wait for it to "
                "finish, or pass --new to start a separate run"
            )
        return fd

    def _open_attempt(self, run_id: str, now: float) -> int:
        n = self._conn.execute(
            "SELECT COALESCE(MAX(n), 0) + 1 FROM attempts WHERE run_id=?", (run_id,)
        ).fetchone()[0]
        self._conn.execute(
            "INSERT INTO attempts (run_id, n, started, last_seen, status, host, pid) "
            "VALUES (?,?,?,?,?,?,?)",
            (run_id, n, now, now, "running", socket.gethostname(), os.getpid()),
        )
        return int(n)

    # ------------------------------------------------------------------ runs
    def start_run(
        self,
        experiment: str,
        config: Mapping[str, Any],
        seed: int | None = None,
        resume: bool = True,
    ) -> tuple[Run, bool]:
        """Open a run for ``experiment`` with ``config`` and hold it until :meth:`finish_run`.

        With ``resume`` (default), the most recent unfinished run (running, interrupted or
        failed) with the same experiment and config is continued: its done tasks are kept
        and will be skipped. Otherwise a new run is created. Each start or resume is one
        attempt, timed on its own.

        Returns:
            ``(run, resumed)``.

        Raises:
            RunHeldError: the unfinished run is held by another live process (the same
                command running elsewhere); nothing is changed.
        """
        self._writable()
        config = json.loads(_canonical(config))
        h = config_hash(experiment, config)
        now = _now()
        commit = _git_commit()  # before the write lock: it runs git
        fd: int | None = None
        resumed = False
        made: Path | None = None  # the folder of a new run, removed if it is not recorded
        self._conn.execute("BEGIN IMMEDIATE")  # one writer decides: no two take one run
        try:
            row = None
            if resume:
                row = self._conn.execute(
                    "SELECT id, host, pid FROM runs WHERE experiment=? AND config_hash=? "
                    "AND status!='done' ORDER BY created DESC LIMIT 1",
                    (experiment, h),
                ).fetchone()
            if row is not None:
                run_id, resumed = row["id"], True
                previous = self._holds.pop(run_id, None)
                if previous is not None:  # this process held it already: take it over
                    previous.release()
                fd = self._take(run_id, row["host"], row["pid"])
                # an attempt that never finished (its process died) ends at its last sign of life
                self._conn.execute(
                    "UPDATE attempts SET finished=last_seen, status='interrupted' "
                    "WHERE run_id=? AND finished IS NULL",
                    (run_id,),
                )
                self._conn.execute(
                    "UPDATE runs SET status='running', pid=?, host=?, error=NULL, finished=NULL "
                    "WHERE id=?",
                    (os.getpid(), socket.gethostname(), run_id),
                )
            else:
                stamp = _dt.datetime.fromtimestamp(now).strftime("%Y%m%d-%H%M%S")
                base = f"{experiment}-{stamp}-{h[:6]}"
                run_id, n = base, 1
                while self._conn.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone():
                    n += 1
                    run_id = f"{base}-{n}"
                self._conn.execute(
                    "INSERT INTO runs (id, experiment, config, config_hash, seed, status, "
                    "created, git_commit, host, pid) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        run_id,
                        experiment,
                        _canonical(config),
                        h,
                        seed,
                        "running",
                        now,
                        commit,
                        socket.gethostname(),
                        os.getpid(),
                    ),
                )
                made = None if (self.root / run_id).exists() else self.root / run_id
                self.folder(run_id)
                fd = self._take(run_id, socket.gethostname(), os.getpid())
            attempt = self._open_attempt(run_id, now)
            self._conn.execute("COMMIT")
        except BaseException as err:
            if self._conn.in_transaction:  # SQLite may have rolled back already (disk full)
                self._conn.execute("ROLLBACK")
            if fd is not None:
                os.close(fd)
            if made is not None:  # nothing recorded: no empty run folder is left behind
                shutil.rmtree(made, ignore_errors=True)
            if isinstance(err, sqlite3.OperationalError | OSError) and not isinstance(
                err, LandscapeError
            ):
                raise _writing_failed(self.path, err) from None
            raise
        self._holds[run_id] = _Hold(self.path.absolute(), run_id, attempt, fd)
        return self.get_run(run_id), resumed

    def finish_run(self, run_id: str, status: str = "done", error: str | None = None) -> None:
        """Mark a run done, failed or interrupted, close its attempt, record its active time,
        and let go of it."""
        self._writable()
        if status not in STATUSES:
            raise LandscapeError(f"status={status!r} is not one of {STATUSES}")
        now = _now()
        hold = self._holds.get(run_id)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            created = self._conn.execute(
                "SELECT created, host, pid FROM runs WHERE id=?", (run_id,)
            ).fetchone()
            if created is None:
                raise LandscapeError(f"no run with id {run_id!r}")
            if hold is not None:
                self._conn.execute(
                    "UPDATE attempts SET finished=?, last_seen=?, status=? WHERE run_id=? AND n=?",
                    (now, now, status, run_id, hold.attempt),
                )
            if hold is not None or not self._holder_alive(run_id, created["host"], created["pid"]):
                # attempts whose process died end at their last sign of life
                self._conn.execute(
                    "UPDATE attempts SET finished=last_seen, status='interrupted' "
                    "WHERE run_id=? AND finished IS NULL",
                    (run_id,),
                )
            active = self._conn.execute(
                "SELECT SUM(finished - started) FROM attempts WHERE run_id=?", (run_id,)
            ).fetchone()[0]
            self._conn.execute(
                "UPDATE runs SET status=?, finished=?, duration=?, error=? WHERE id=?",
                (
                    status,
                    now,
                    now - created["created"] if active is None else active,
                    error,
                    run_id,
                ),
            )
        if hold is not None:
            self._holds.pop(run_id).release()

    def get_run(self, run_id: str) -> Run:
        """The run with id ``run_id`` (a unique prefix is enough; ``%`` and ``_`` are literal).

        Raises:
            LandscapeError: an empty id, no run, or an ambiguous prefix.
        """
        if not isinstance(run_id, str) or not run_id.strip():
            raise LandscapeError(
                f"run id {run_id!r} is empty; give a run id or its first characters "
                "(see `landscape runs list`)"
            )
        if len(run_id) > 200:  # no run id is this long (and LIKE would refuse the pattern)
            raise LandscapeError(
                f"no run with id {short(run_id, 40)} in {self.path}; see `landscape runs list`"
            )
        rows = self._conn.execute(
            _RUN_SELECT + " WHERE r.id=? OR r.id LIKE ? ESCAPE '\\' ORDER BY r.id",
            (run_id, _escape_like(run_id) + "%"),
        ).fetchall()
        exact = [r for r in rows if r["id"] == run_id]
        rows = exact or rows
        if not rows:
            raise LandscapeError(
                f"no run with id {run_id!r} in {self.path}; see `landscape runs list`"
            )
        if len(rows) > 1:
            ids = ", ".join(r["id"] for r in rows[:5])
            raise LandscapeError(f"run id prefix {run_id!r} is ambiguous: {ids}")
        return self._run(rows[0])

    def _run(self, r: sqlite3.Row) -> Run:
        if not _safe_run_id(r["id"]):
            raise LandscapeError(
                f"the run store {self.path} holds a run id {r['id']!r} that is not a folder "
                "name; it was not written by landscape"
            )
        return Run(
            id=r["id"],
            experiment=r["experiment"],
            config=json.loads(r["config"]),
            config_hash=r["config_hash"],
            seed=r["seed"],
            status=r["status"],
            created=r["created"],
            finished=r["finished"],
            duration=r["active"] if r["n_attempts"] else r["duration"],
            git_commit=r["git_commit"],
            host=r["host"],
            pid=r["pid"],
            error=r["error"],
            folder=self.root / r["id"],
            shown_status=self._shown_status(r["status"], r["id"], r["host"], r["pid"]),
            attempts=int(r["n_attempts"]),
        )

    def runs(self, experiment: str | None = None, limit: int | None = None) -> list[Run]:
        """Runs, newest first."""
        q, args = _RUN_SELECT, []
        if experiment:
            q += " WHERE r.experiment=?"
            args.append(experiment)
        q += " ORDER BY r.created DESC"
        if limit:
            q += f" LIMIT {int(limit)}"
        return [self._run(r) for r in self._conn.execute(q, args).fetchall()]

    def attempts(self, run_id: str) -> list[dict[str, Any]]:
        """The run's attempts, first to last: ``n, started, finished, seconds, status, host, pid``
        (an attempt whose process died ends at its last heartbeat)."""
        run_id = self.get_run(run_id).id
        rows = self._conn.execute(
            "SELECT n, started, last_seen, finished, status, host, pid FROM attempts "
            "WHERE run_id=? ORDER BY n",
            (run_id,),
        ).fetchall()
        return [
            {
                "n": r["n"],
                "started": r["started"],
                "finished": r["finished"],
                "seconds": (r["finished"] or r["last_seen"]) - r["started"],
                "status": r["status"],
                "host": r["host"],
                "pid": r["pid"],
            }
            for r in rows
        ]

    # ------------------------------------------------------------------ metrics
    def log_metric(self, run_id: str, key: str, value: float, step: int = 0) -> None:
        """Record (or overwrite) metric ``key`` at ``step``."""
        self._writable()
        self._conn.execute(
            "INSERT OR REPLACE INTO metrics (run_id, key, step, value) VALUES (?,?,?,?)",
            (run_id, key, int(step), None if value is None else float(value)),
        )

    def log_metrics(self, run_id: str, values: Mapping[str, float], step: int = 0) -> None:
        """Record several metrics at one step, in one transaction."""
        with self._conn:
            self._conn.execute("BEGIN")
            for k, v in values.items():
                self.log_metric(run_id, k, v, step)

    def metrics(self, run_id: str) -> list[tuple[str, int, float]]:
        """``(key, step, value)`` rows of a run, sorted."""
        rows = self._conn.execute(
            "SELECT key, step, value FROM metrics WHERE run_id=? ORDER BY key, step", (run_id,)
        ).fetchall()
        return [(r["key"], r["step"], r["value"]) for r in rows]

    # ------------------------------------------------------------------ tasks
    def done_keys(self, run_id: str) -> set[str]:
        """Keys of the run's tasks already recorded as done."""
        rows = self._conn.execute(
            "SELECT key FROM tasks WHERE run_id=? AND status='done'", (run_id,)
        ).fetchall()
        return {r["key"] for r in rows}

    def record_task(
        self,
        run_id: str,
        key: str,
        result: Mapping[str, Any],
        spec: Any = None,
        duration: float | None = None,
    ) -> None:
        """Record a finished task: arrays to ``tasks/<key>.npz`` (atomic), the rest as JSON,
        and the done flag — all visible together or not at all.

        Values that are numpy arrays or tensors go to the ``.npz``; everything else must be
        JSON-serialisable.
        """
        self._writable()
        arrays = {k: a for k, v in result.items() if (a := _to_numpy(v)) is not None}
        scalars = {k: _jsonable(v) for k, v in result.items() if k not in arrays}
        try:
            payload = json.dumps(scalars, separators=(",", ":"), default=str)  # column order kept
        except TypeError as err:  # pragma: no cover - default=str catches most
            raise LandscapeError(f"task {key!r} result is not JSON-serialisable: {err}") from None
        array_file = None
        if arrays:
            rel = Path(run_id) / "tasks" / f"{_safe_name(key)}.npz"
            _atomic_write_npz(self.root / rel, arrays)
            array_file = str(rel)
        now = _now()
        hold = self._holds.get(run_id)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT OR REPLACE INTO tasks (run_id, key, status, spec, result, arrays, started, "
                "finished, duration) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    key,
                    "done",
                    _canonical(spec) if spec is not None else None,
                    payload,
                    array_file,
                    None if duration is None else now - duration,
                    now,
                    duration,
                ),
            )
            if hold is not None:
                self._conn.execute(
                    "UPDATE attempts SET last_seen=? WHERE run_id=? AND n=?",
                    (now, run_id, hold.attempt),
                )

    def task_results(self, run_id: str) -> dict[str, dict[str, Any]]:
        """All done tasks of a run: key → result dict (arrays loaded back as numpy)."""
        rows = self._conn.execute(
            "SELECT key, result, arrays FROM tasks WHERE run_id=? AND status='done' ORDER BY key",
            (run_id,),
        ).fetchall()
        out = {}
        for r in rows:
            res = json.loads(r["result"]) if r["result"] else {}
            if r["arrays"]:
                rel = Path(r["arrays"])
                if rel.parts[:1] != (run_id,) or len(rel.parts) < 2:
                    raise LandscapeError(
                        f"the run store names a task's arrays {r['arrays']!r} outside the "
                        f"folder of run {run_id}; it was not read"
                    )
                where = _inside(self.root / run_id, Path(*rel.parts[1:]), "a task's arrays")
                with np.load(where, allow_pickle=False) as z:
                    res.update({k: z[k] for k in z.files})
            out[r["key"]] = res
        return out

    def save_arrays(self, run_id: str, name: str, **arrays: Any) -> Path:
        """Save arrays of the whole run to ``<run folder>/<name>.npz`` (atomic)."""
        self._writable()
        path = self.folder(run_id) / f"{name}.npz"
        _atomic_write_npz(
            path,
            {
                k: _to_numpy(v) if _to_numpy(v) is not None else np.asarray(v)
                for k, v in arrays.items()
            },
        )
        return path

    # ------------------------------------------------------------------ outputs
    def save_outputs(
        self,
        run_id: str,
        tables: Mapping[str, list[Mapping[str, Any]]],
        notes: Iterable[str],
        figures: Mapping[str, str],
    ) -> None:
        """Persist a run's tables (typed rows), notes and figure captions, replacing any.

        Args:
            tables: title → rows (dicts of JSON values), in display order.
            notes: one line each.
            figures: file name in the run folder → caption.
        """
        self._writable()
        rows = [  # columns keep their order (not _canonical, which sorts keys)
            ("table", i, t, json.dumps(list(map(dict, r)), default=str, ensure_ascii=False))
            for i, (t, r) in enumerate(tables.items())
        ]
        rows += [("note", i, "", str(n)) for i, n in enumerate(notes)]
        rows += [("figure", i, f, str(c)) for i, (f, c) in enumerate(figures.items())]
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM outputs WHERE run_id=?", (run_id,))
            self._conn.executemany(
                "INSERT INTO outputs (run_id, kind, position, name, content) VALUES (?,?,?,?,?)",
                [(run_id, *r) for r in rows],
            )

    def outputs(self, run_id: str) -> RunOutputs:
        """The tables, notes and figure captions persisted for a run (empty if none)."""
        got = self._conn.execute(
            "SELECT kind, name, content FROM outputs WHERE run_id=? ORDER BY kind, position",
            (run_id,),
        ).fetchall()
        out = RunOutputs()
        for r in got:
            if r["kind"] == "table":
                out.tables[r["name"]] = json.loads(r["content"])
            elif r["kind"] == "note":
                out.notes.append(r["content"])
            else:
                out.figures[r["name"]] = r["content"]
        return out

    # ------------------------------------------------------------------ export
    def export_csv(self, table: str = "metrics", run_id: str | None = None) -> str:
        """The runs, metrics or tasks table as CSV text (optionally one run only); ``tables``:
        the tables the runs printed, in long form (run, table title, row, column, value)."""
        header, rows = self._table(table, run_id)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows(rows)
        return buf.getvalue()

    def to_pandas(self, table: str = "metrics", run_id: str | None = None):
        """The runs, metrics, tasks or tables table as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise LandscapeError("to_pandas needs pandas: pip install pandas") from None
        header, rows = self._table(table, run_id)
        return pd.DataFrame(rows, columns=header)

    RUN_COLUMNS = (
        "id",
        "experiment",
        "status",
        "seed",
        "created",
        "finished",
        "duration",
        "attempts",
        "git_commit",
        "host",
        "pid",
        "error",
        "config",
    )

    #: what :meth:`export_csv` and :meth:`to_pandas` export
    TABLES = ("runs", "metrics", "tasks", "tables")

    def _table(self, table: str, run_id: str | None) -> tuple[list[str], list[list[Any]]]:
        if table not in self.TABLES:
            raise LandscapeError(
                f"table={table!r} is not one of {', '.join(map(repr, self.TABLES))}"
            )
        if run_id is not None:
            run_id = self.get_run(run_id).id
        if table == "tables":  # the tables a run printed, one value per row (long form)
            runs = [run_id] if run_id is not None else [r.id for r in self.runs()[::-1]]
            rows = [
                [rid, title, i, col, value]
                for rid in runs
                for title, table_rows in self.outputs(rid).tables.items()
                for i, row in enumerate(table_rows)
                for col, value in row.items()
            ]
            return ["run_id", "table", "row", "column", "value"], rows
        if table == "runs":
            # the same Run objects `runs list` shows: status and active time derived once
            runs = [self.get_run(run_id)] if run_id is not None else self.runs()[::-1]
            rows = [
                [
                    r.id,
                    r.experiment,
                    r.shown_status,
                    r.seed,
                    r.created,
                    r.finished,
                    r.duration,
                    r.attempts,
                    r.git_commit,
                    r.host,
                    r.pid,
                    r.error,
                    _canonical(r.config),
                ]
                for r in runs
            ]
            return list(self.RUN_COLUMNS), rows
        if table == "metrics":
            q = (
                "SELECT m.run_id, r.experiment, m.key, m.step, m.value FROM metrics m "
                "JOIN runs r ON r.id = m.run_id"
            )
            cols = ["run_id", "experiment", "key", "step", "value"]
            order = " ORDER BY m.run_id, m.key, m.step"
            where = " WHERE m.run_id=?"
        else:
            q = "SELECT run_id, key, status, duration, result FROM tasks"
            cols = ["run_id", "key", "status", "duration", "result"]
            order = " ORDER BY run_id, key"
            where = " WHERE run_id=?"
        args: Iterable[Any] = ()
        if run_id is not None:
            q += where
            args = (run_id,)
        rows = self._conn.execute(q + order, tuple(args)).fetchall()
        return cols, [list(r) for r in rows]
