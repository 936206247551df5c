"""All user text is text (issue 21, item 4): no path, config value, note or error is read as
rich markup or reaches the terminal as a control sequence, for every command that prints."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landscape import checkpoint, models
from landscape._errors import printable
from landscape.cli import main, print_table, say

#: brackets, slashes of closing tags, emoji codes, escapes and other control characters
ALPHABET = st.sampled_from(
    [
        *list("ab[]/=:#x "),
        "[/",
        "[b]",
        "[red]",
        ":smile:",
        "\x1b[31m",
        "\x07",
        "\r",
        "\n",
        "\t",
        "\x7f",
        "é",
    ]
)
TEXT = st.lists(ALPHABET, min_size=1, max_size=8).map("".join)
NAME = TEXT.map(lambda s: s.replace("/", "_").strip() or "x")  # a file name: no slash
SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    spec = models.MLPSpec(in_features=4, widths=(3,), out_features=2)
    path = tmp_path_factory.mktemp("ck") / "m.ckpt"
    return checkpoint.save(path, models.init_params(spec, seed=0), spec, meta={"loss": "mse"})


def _no_control(text: str) -> None:
    for line in text.splitlines():
        assert not any((ord(c) < 32 and c != "\t") or 127 <= ord(c) < 160 for c in line), line


@SETTINGS
@given(text=TEXT)
def test_say_and_tables_print_text_as_written(capsys, text):
    say(text)
    print_table(text, [{"column " + text: text, "n": 1.5}])
    out = capsys.readouterr().out
    shown = printable(text)
    assert out.splitlines()[0] == shown  # the line, exactly: no markup eaten, no emoji
    assert out.count(shown) >= 3 or len(shown) > 20  # the title and the cell (and the header)
    _no_control(out)


@SETTINGS
@given(name=NAME)
def test_inspect_runs_show_runs_list_and_report_with_odd_paths(capsys, tmp_path, ckpt, name):
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.ckpt"
    shutil.copy(ckpt, path)
    store = folder / f"{name}.db"
    code, out, err = run(capsys, "inspect", path, "--store", store)
    assert code == 0, err
    assert printable(path) in out
    _no_control(out + err)
    code, out, err = run(capsys, "runs", "list", "--store", store)
    assert code == 0 and printable(store) in out, err
    run_id = out.split("inspect-")[1].split()[0]
    code, out, err = run(capsys, "runs", "show", f"inspect-{run_id}", "--store", store)
    assert code == 0, err
    assert printable(path) in out.replace("\\\\", "\\")  # the config line is JSON
    _no_control(out + err)
    report = folder / f"{name}.html"
    code, out, err = run(capsys, "report", "--store", store, "--out", report)
    assert code == 0 and printable(report) in out, err
    _no_control(out + err)


@SETTINGS
@given(name=NAME.map(lambda s: s.replace("\n", "_")))
def test_errors_print_the_users_text_as_text(capsys, tmp_path, name):
    missing = tmp_path / f"{name}.ckpt"
    code, _out, err = run(capsys, "inspect", missing, "--store", tmp_path / "s.db")
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert printable(missing) in lines[0]
    _no_control(err)
    code, _, err = run(capsys, "demo", "--set", f"note={name}", "--store", tmp_path / "s.db")
    assert code != 0 and len([ln for ln in err.splitlines() if ln.strip()]) == 1
    _no_control(err)


def test_a_config_string_with_a_closing_tag_is_recorded_and_shown(capsys, tmp_path, ckpt):
    """The case of the issue: `[/x]` in a value crashed the print after the run was
    recorded, and `runs show` of that run failed for ever."""
    odd = tmp_path / "a[/x]" / "m[red].ckpt"
    odd.parent.mkdir(parents=True)
    shutil.copy(ckpt, odd)
    store = tmp_path / "s.db"
    code, out, err = run(capsys, "inspect", odd, "--store", store)
    assert code == 0 and str(odd) in out, err
    code, out, err = run(capsys, "runs", "show", "inspect", "--store", store)
    assert code == 0 and str(odd) in out, err


@SETTINGS
@given(name=NAME)
def test_a_run_command_prints_its_odd_store_folder_as_text(capsys, tmp_path, name):
    """The run line every recorded command prints (`run ID → folder`), here from `theory`."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    code, out, err = run(capsys, "theory", "--H", "3", "--k-max", "2", "--store", folder / "s.db")
    assert code == 0, err
    assert printable(folder) in out
    _no_control(out + err)
