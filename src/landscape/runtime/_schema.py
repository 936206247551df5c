"""The run store's SQLite schema and its one run query."""

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
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL REFERENCES runs(id),
    n INTEGER NOT NULL,
    started REAL NOT NULL,
    last_seen REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    host TEXT,
    pid INTEGER,
    PRIMARY KEY (run_id, n)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    value REAL,
    PRIMARY KEY (run_id, key, step)
);
CREATE TABLE IF NOT EXISTS outputs (
    run_id TEXT NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (run_id, kind, position)
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

# a run row with its active time (the sum over attempts: an attempt that ended without
# finishing — killed — counts until its last heartbeat) and its number of attempts
_RUN_SELECT = """
SELECT r.*,
    (SELECT COUNT(*) FROM attempts a WHERE a.run_id = r.id) AS n_attempts,
    (SELECT SUM(COALESCE(a.finished, a.last_seen) - a.started) FROM attempts a
        WHERE a.run_id = r.id) AS active
FROM runs r
"""
