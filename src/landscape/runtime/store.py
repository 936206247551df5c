"""The run store: embedded SQLite (WAL) plus one folder per run for arrays and figures.

Records runs (id, experiment, config, seed, status, timings, git commit), metrics
(key, step, value) and tasks. A sweep is a set of tasks with deterministic keys; a task's
result is written in one transaction (its arrays first, atomically, to ``.npz``), so after
an interruption — Ctrl-C or ``kill -9`` — the same command resumes the run, skips the
tasks already done, and nothing recorded is lost or half-written.

Layout::

    runs/landscape.db            the database (WAL mode)
    runs/<run_id>/               one folder per run
    runs/<run_id>/tasks/<key>.npz  arrays of each task's result
    runs/<run_id>/*.png, *.npz   figures and arrays of the run

Only the process that owns the store writes to it; worker processes return results to it.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import os
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import LandscapeError

__all__ = ["DEFAULT_STORE", "Run", "Store", "config_hash", "task_key"]

DEFAULT_STORE = Path("runs") / "landscape.db"
STATUSES = ("running", "done", "failed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    config TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    seed INTEGER,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    finished REAL,
    duration REAL,
    git_commit TEXT,
    host TEXT,
    pid INTEGER,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_lookup ON runs(experiment, config_hash);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    value REAL,
    PRIMARY KEY (run_id, key, step)
);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    spec TEXT,
    result TEXT,
    arrays TEXT,
    started REAL,
    finished REAL,
    duration REAL,
    PRIMARY KEY (run_id, key)
);
"""


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


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _to_numpy(value: Any) -> np.ndarray | None:
    if isinstance(value, np.ndarray):
        return value
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _atomic_write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _safe_name(key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in key)
    return f"{safe[:80]}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


@dataclass
class Run:
    """A row of the runs table."""

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

    @property
    def shown_status(self) -> str:
        """Status, with a 'running' run whose process is gone on this host shown as interrupted."""
        if (
            self.status == "running"
            and self.host == socket.gethostname()
            and not _pid_alive(self.pid)
        ):
            return "interrupted"
        return self.status


class Store:
    """The SQLite run store. Open it with ``Store(path)`` (default ``runs/landscape.db``).

    Args:
        path: database file; its folder also holds one sub-folder per run.
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_STORE) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise LandscapeError(f"store path {self.path} is a directory; give a .db file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.root = self.path.parent
        self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise LandscapeError(f"{self.path} is not a landscape run store ({err})") from None

    # ------------------------------------------------------------------ housekeeping
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> sqlite3.Connection:
        return self._conn

    def folder(self, run_id: str) -> Path:
        """The run's folder for arrays and figures (created on demand)."""
        f = self.root / run_id
        f.mkdir(parents=True, exist_ok=True)
        return f

    # ------------------------------------------------------------------ runs
    def start_run(
        self,
        experiment: str,
        config: Mapping[str, Any],
        seed: int | None = None,
        resume: bool = True,
    ) -> tuple[Run, bool]:
        """Open a run for ``experiment`` with ``config``.

        With ``resume`` (default), the most recent unfinished run (running, interrupted or
        failed) with the same experiment and config is continued: its done tasks are kept
        and will be skipped. Otherwise a new run is created.

        Returns:
            ``(run, resumed)``.
        """
        config = json.loads(_canonical(config))
        h = config_hash(experiment, config)
        if resume:
            row = self._conn.execute(
                "SELECT id FROM runs WHERE experiment=? AND config_hash=? AND status!='done' "
                "ORDER BY created DESC LIMIT 1",
                (experiment, h),
            ).fetchone()
            if row is not None:
                self._conn.execute(
                    "UPDATE runs SET status='running', pid=?, host=?, error=NULL, finished=NULL "
                    "WHERE id=?",
                    (os.getpid(), socket.gethostname(), row["id"]),
                )
                return self.get_run(row["id"]), True
        now = time.time()
        stamp = _dt.datetime.fromtimestamp(now).strftime("%Y%m%d-%H%M%S")
        base = f"{experiment}-{stamp}-{h[:6]}"
        run_id, n = base, 1
        while self._conn.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone():
            n += 1
            run_id = f"{base}-{n}"
        self._conn.execute(
            "INSERT INTO runs (id, experiment, config, config_hash, seed, status, created, "
            "git_commit, host, pid) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                experiment,
                _canonical(config),
                h,
                seed,
                "running",
                now,
                _git_commit(),
                socket.gethostname(),
                os.getpid(),
            ),
        )
        self.folder(run_id)
        return self.get_run(run_id), False

    def finish_run(self, run_id: str, status: str = "done", error: str | None = None) -> None:
        """Mark a run done, failed or interrupted and record its wall time."""
        if status not in STATUSES:
            raise LandscapeError(f"status={status!r} is not one of {STATUSES}")
        now = time.time()
        created = self._conn.execute("SELECT created FROM runs WHERE id=?", (run_id,)).fetchone()
        if created is None:
            raise LandscapeError(f"no run with id {run_id!r}")
        self._conn.execute(
            "UPDATE runs SET status=?, finished=?, duration=?, error=? WHERE id=?",
            (status, now, now - created["created"], error, run_id),
        )

    def get_run(self, run_id: str) -> Run:
        """The run with id ``run_id`` (a unique prefix is enough).

        Raises:
            LandscapeError: no run, or an ambiguous prefix.
        """
        rows = self._conn.execute(
            "SELECT * FROM runs WHERE id=? OR id LIKE ? ORDER BY id", (run_id, f"{run_id}%")
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
        return Run(
            id=r["id"],
            experiment=r["experiment"],
            config=json.loads(r["config"]),
            config_hash=r["config_hash"],
            seed=r["seed"],
            status=r["status"],
            created=r["created"],
            finished=r["finished"],
            duration=r["duration"],
            git_commit=r["git_commit"],
            host=r["host"],
            pid=r["pid"],
            error=r["error"],
            folder=self.root / r["id"],
        )

    def runs(self, experiment: str | None = None, limit: int | None = None) -> list[Run]:
        """Runs, newest first."""
        q, args = "SELECT * FROM runs", []
        if experiment:
            q += " WHERE experiment=?"
            args.append(experiment)
        q += " ORDER BY created DESC"
        if limit:
            q += f" LIMIT {int(limit)}"
        return [self._run(r) for r in self._conn.execute(q, args).fetchall()]

    # ------------------------------------------------------------------ metrics
    def log_metric(self, run_id: str, key: str, value: float, step: int = 0) -> None:
        """Record (or overwrite) metric ``key`` at ``step``."""
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
        arrays = {k: a for k, v in result.items() if (a := _to_numpy(v)) is not None}
        scalars = {k: _jsonable(v) for k, v in result.items() if k not in arrays}
        try:
            payload = _canonical(scalars)
        except TypeError as err:  # pragma: no cover - default=str catches most
            raise LandscapeError(f"task {key!r} result is not JSON-serialisable: {err}") from None
        array_file = None
        if arrays:
            rel = Path(run_id) / "tasks" / f"{_safe_name(key)}.npz"
            _atomic_write_npz(self.root / rel, arrays)
            array_file = str(rel)
        now = time.time()
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
                with np.load(self.root / r["arrays"]) as z:
                    res.update({k: z[k] for k in z.files})
            out[r["key"]] = res
        return out

    def save_arrays(self, run_id: str, name: str, **arrays: Any) -> Path:
        """Save arrays of the whole run to ``<run folder>/<name>.npz`` (atomic)."""
        path = self.folder(run_id) / f"{name}.npz"
        _atomic_write_npz(
            path,
            {
                k: _to_numpy(v) if _to_numpy(v) is not None else np.asarray(v)
                for k, v in arrays.items()
            },
        )
        return path

    # ------------------------------------------------------------------ export
    def export_csv(self, table: str = "metrics", run_id: str | None = None) -> str:
        """The runs, metrics or tasks table as CSV text (optionally one run only)."""
        header, rows = self._table(table, run_id)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows(rows)
        return buf.getvalue()

    def to_pandas(self, table: str = "metrics", run_id: str | None = None):
        """The runs, metrics or tasks table as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise LandscapeError("to_pandas needs pandas: pip install pandas") from None
        header, rows = self._table(table, run_id)
        return pd.DataFrame(rows, columns=header)

    def _table(self, table: str, run_id: str | None) -> tuple[list[str], list[list[Any]]]:
        if table == "metrics":
            q = (
                "SELECT m.run_id, r.experiment, m.key, m.step, m.value FROM metrics m "
                "JOIN runs r ON r.id = m.run_id"
            )
            cols = ["run_id", "experiment", "key", "step", "value"]
            order = " ORDER BY m.run_id, m.key, m.step"
            where = " WHERE m.run_id=?"
        elif table == "runs":
            q = (
                "SELECT id, experiment, status, seed, created, finished, duration, git_commit, "
                "config FROM runs"
            )
            cols = [
                "id",
                "experiment",
                "status",
                "seed",
                "created",
                "finished",
                "duration",
                "git_commit",
                "config",
            ]
            order = " ORDER BY created"
            where = " WHERE id=?"
        elif table == "tasks":
            q = "SELECT run_id, key, status, duration, result FROM tasks"
            cols = ["run_id", "key", "status", "duration", "result"]
            order = " ORDER BY run_id, key"
            where = " WHERE run_id=?"
        else:
            raise LandscapeError(f"table={table!r} is not one of 'runs', 'metrics', 'tasks'")
        args: Iterable[Any] = ()
        if run_id is not None:
            run_id = self.get_run(run_id).id
            q += where
            args = (run_id,)
        rows = self._conn.execute(q + order, tuple(args)).fetchall()
        return cols, [list(r) for r in rows]
