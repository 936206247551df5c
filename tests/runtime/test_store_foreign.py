"""Nothing a user gave is changed (issue 21, items 3, 5, 9, 15): a file landscape did not make
is only read, a read-only store can be read, a full disk says so, files are read only from
inside their run folder."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from landscape import LandscapeError
from landscape.cli import main
from landscape.runtime.store import APPLICATION_ID, Store


def _state(path: Path) -> tuple:
    """Bytes, modification time and the files beside it: what must not change."""
    siblings = sorted(p.name for p in path.parent.iterdir())
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, siblings


def _foreign(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.parametrize("readonly", [False, True])
def test_a_foreign_database_is_refused_and_left_unchanged(tmp_path, readonly):
    db = _foreign(tmp_path / "mine.db")
    before = _state(db)
    with pytest.raises(LandscapeError, match=r"not a landscape run store.*users.*unchanged"):
        Store(db, readonly=readonly)
    assert _state(db) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["runs", "list"],
        ["runs", "show", "x"],
        ["runs", "export"],
        ["report"],
        ["theory", "--H", "3"],
        ["demo", "--set", "epochs=1"],
    ],
)
def test_every_command_refuses_a_foreign_store_without_touching_it(capsys, tmp_path, argv):
    db = _foreign(tmp_path / "mine.db")
    before = _state(db)
    code, _, err = run(capsys, *argv, "--store", db, "--quiet")
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "not a landscape run store" in lines[0], err
    assert _state(db) == before


def test_a_file_that_is_not_a_database_is_refused_unchanged(capsys, tmp_path):
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"my notes, not a database\n" * 100)
    before = _state(junk)
    code, _, err = run(capsys, "theory", "--H", "3", "--store", junk)
    assert code == 1 and "not a landscape run store" in err
    assert _state(junk) == before


def test_a_store_is_tagged_and_an_untagged_old_one_is_recognised(tmp_path):
    db = tmp_path / "s.db"
    with Store(db) as st:
        run, _ = st.start_run("x", {"a": 1})
        st.finish_run(run.id)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.execute("PRAGMA application_id=0")  # what a store made before the tag holds
    conn.commit()
    conn.close()
    with Store(db, readonly=True) as st:
        assert [r.experiment for r in st.runs()] == ["x"]
    with Store(db) as st:  # opened for writing, it gets its tag
        assert st.get_run(run.id).status == "done"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


def test_an_empty_file_becomes_a_store(tmp_path):
    db = tmp_path / "new.db"
    db.touch()
    with Store(db) as st:
        assert st.runs() == []


def test_a_read_only_store_never_writes(tmp_path):
    db = tmp_path / "s.db"
    with Store(db) as st:
        run, _ = st.start_run("x", {"a": 1})
        st.finish_run(run.id)
    with Store(db, readonly=True) as st:
        assert st.get_run(run.id).status == "done"
        for write in (
            lambda: st.start_run("x", {"a": 2}),
            lambda: st.log_metric(run.id, "k", 1.0),
            lambda: st.save_outputs(run.id, {}, [], {}),
            lambda: st.finish_run(run.id),
        ):
            with pytest.raises(LandscapeError, match="opened read-only"):
                write()
    with pytest.raises(LandscapeError, match="no run store"):
        Store(tmp_path / "absent.db", readonly=True)
    assert not (tmp_path / "absent.db").exists()


def _can_mount_read_only() -> bool:
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind /tmp /tmp && mount -o remount,ro,bind /tmp /tmp",
        ],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="cannot make a read-only bind mount here")
def test_a_store_on_a_read_only_mount_can_be_listed_shown_exported_and_reported(tmp_path):
    store = tmp_path / "runs" / "landscape.db"
    code = main(["theory", "--H", "3", "--store", str(store), "--quiet"])
    assert code == 0
    out = tmp_path / "out"
    out.mkdir()
    ro = store.parent
    exe = [sys.executable, "-m", "landscape.cli"]
    script = " && ".join(
        [
            f"mount --bind {ro} {ro}",
            f"mount -o remount,ro,bind {ro} {ro}",
            f"touch {ro}/probe 2>/dev/null && exit 9 || true",  # the mount is read-only
            " ".join([*exe, "runs", "list", "--store", str(store)]) + f" > {out}/list",
            " ".join([*exe, "runs", "show", "theory", "--store", str(store)]) + f" > {out}/show",
            " ".join([*exe, "runs", "export", "--store", str(store)]) + f" > {out}/csv",
            " ".join([*exe, "report", "--store", str(store), "--out", f"{out}/r.html"]),
        ]
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "theory" in (out / "list").read_text() and "done" in (out / "list").read_text()
    assert "status=done" in (out / "show").read_text()
    assert (out / "csv").read_text().count("\n") > 1
    assert "theory" in (out / "r.html").read_text()


def test_a_full_disk_is_named_and_leaves_no_empty_run_folder(tmp_path):
    db = tmp_path / "s.db"
    with Store(db) as st:
        pages = st._conn.execute("PRAGMA page_count").fetchone()[0]
        st._conn.execute(f"PRAGMA max_page_count={pages}")  # the file cannot grow: "full"
        big = {"blob": "x" * 200_000}
        with pytest.raises(LandscapeError, match="full") as info:
            st.start_run("x", big)
        assert "rollback" not in str(info.value)
        assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []
        st._conn.execute("PRAGMA max_page_count=1073741823")  # space again: it works
        run, _ = st.start_run("x", big)
        st.finish_run(run.id)
        assert st.get_run(run.id).status == "done"


def test_an_empty_run_id_is_named(capsys, tmp_path):
    db = tmp_path / "s.db"
    with Store(db) as st:
        for cfg in ({"a": 1}, {"a": 2}):
            st.finish_run(st.start_run("x", cfg)[0].id)
    code, _, err = run(capsys, "runs", "show", "", "--store", db)
    assert code == 1 and "is empty" in err and "ambiguous" not in err


def test_files_named_in_the_store_are_read_only_inside_their_run_folder(tmp_path):
    from landscape.report import build_report

    db = tmp_path / "runs" / "s.db"
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n" + b"SECRET" * 10)
    with Store(db) as st:
        run, _ = st.start_run("x", {"a": 1})
        st.record_task(run.id, "k", {"v": [1.0, 2.0], "arr": __import__("numpy").ones(3)})
        st.save_outputs(run.id, {}, [], {"../../secret.png": "a caption", "/etc/passwd": ""})
        st.finish_run(run.id)
        html = build_report(st, [run.id])
        assert "SECRET" not in html and "U0VDUkVU" not in html  # neither raw nor base64
        assert "figure not shown" in html
        st._conn.execute("UPDATE tasks SET arrays=? WHERE run_id=?", ("../secret.npz", run.id))
        with pytest.raises(LandscapeError, match="outside"):
            st.task_results(run.id)


def test_an_inspect_run_exports_its_numbers(capsys, tmp_path):
    from landscape import checkpoint, models

    spec = models.MLPSpec(in_features=4, widths=(3,), out_features=2)
    ck = checkpoint.save(tmp_path / "m.ckpt", models.init_params(spec, seed=0), spec)
    db = tmp_path / "s.db"
    assert run(capsys, "inspect", ck, "--store", db)[0] == 0
    code, out, err = run(capsys, "runs", "export", "inspect", "--store", db)
    assert code == 0, err
    rows = out.strip().splitlines()
    assert len(rows) > 1 and any("num_params" in r and ",23.0" in r for r in rows), out
    code, out, _ = run(capsys, "runs", "export", "inspect", "--table", "tables", "--store", db)
    assert code == 0 and "layers.0.weight" in out and "run_id,table,row,column,value" in out


def test_a_foreign_wal_mode_database_gets_no_side_files(capsys, tmp_path):
    db = tmp_path / "wal.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    before = _state(db)
    for argv in (["runs", "list"], ["runs", "export"], ["report"], ["theory", "--H", "3"]):
        code, _, err = run(capsys, *argv, "--store", db)
        assert code == 1 and "not a landscape run store" in err
        assert _state(db) == before  # no -wal, no -shm beside it


def test_an_empty_file_reads_as_an_empty_store_and_a_tagged_empty_database_is_refused(
    capsys, tmp_path
):
    empty = tmp_path / "empty.db"
    empty.touch()
    for argv in (["runs", "list"], ["runs", "export"]):
        code, _, err = run(capsys, *argv, "--store", empty)
        assert code == 0, err
    assert empty.stat().st_size == 0  # reading it wrote nothing
    tagged = tmp_path / "tagged.db"
    conn = sqlite3.connect(tagged)
    conn.execute("PRAGMA user_version=5")  # another program's empty database
    conn.close()
    before = _state(tagged)
    code, _, err = run(capsys, "theory", "--H", "3", "--store", tagged)
    assert code == 1 and "user version 5" in err
    assert _state(tagged) == before


@pytest.mark.parametrize("name", ["", ".", "a\x00b", "..", "sub/../../x.png"])
def test_a_figure_name_that_is_no_file_of_the_run_folder_is_skipped(tmp_path, name):
    from landscape.report import build_report

    with Store(tmp_path / "s.db") as st:
        run_, _ = st.start_run("x", {"a": 1})
        st.save_outputs(run_.id, {}, [], {name: "caption"})
        st.finish_run(run_.id)
        html = build_report(st, [run_.id])
    assert "figure not shown" in html


def test_a_run_id_of_any_length_is_an_ordinary_error(tmp_path):
    with Store(tmp_path / "s.db") as st:
        with pytest.raises(LandscapeError, match="no run with id 'aaaa"):
            st.get_run("a" * 100_000)
