"""The ``landscape`` command line: thin, parses and calls the library.

User errors (missing file, bad config, bad flag value) print one line and exit non-zero;
``--debug`` shows the traceback instead. ``--quiet`` hides progress bars and notes.

Everything printed is text: the console has rich markup and emoji codes off, control
characters are shown as escapes (:func:`~landscape._errors.printable`), and tables are
built from :class:`rich.text.Text` cells, so a path or a config value such as ``[/x]`` or
``[red]`` prints as written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import __version__
from ._errors import LandscapeError, printable
from .runtime.executor import EXECUTORS

try:  # typer >= 0.20 vendors click; its usage errors derive from TyperException
    from typer import TyperException as _UsageError
except ImportError:  # pragma: no cover - older typer on top of click
    from click import ClickException as _UsageError

app = typer.Typer(
    name="landscape",
    help="See and measure the optimization landscape of neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs_app = typer.Typer(help="List, show and export recorded runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


out = Console(
    highlight=False, markup=False, emoji=False, width=None if sys.stdout.isatty() else 160
)


def _text(value: Any, style: str = "") -> Text:
    """User text as a rich Text: never parsed as markup, control characters escaped."""
    return Text(printable(value), style=style)


def say(*parts: Any) -> None:
    """Print one line of text (``str`` parts as written, ``(text, style)`` pairs styled)."""
    line = Text()
    for part in parts:
        if isinstance(part, tuple):
            line.append(printable(part[0]), style=part[1])
        else:
            line.append(printable(part))
    out.print(line)


_state = {"debug": False, "quiet": False}

# ---------------------------------------------------------------- shared options
StoreOpt = Annotated[
    Path, typer.Option("--store", help="Run store database (a folder per run sits beside it).")
]
DEFAULT_STORE_PATH = Path("runs/landscape.db")
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config; overrides the preset.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config value: KEY=VALUE (repeatable)."),
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="Torch device: cpu (default) or cuda.")
]
ExecOpt = Annotated[
    str, typer.Option("--executor", help=f"Where tasks run: {', '.join(EXECUTORS)}.")
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", min=1, help="Processes for --executor process.")
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="Ray cluster to join with --executor ray (host:port, or 'auto' for the one this "
        "machine belongs to); without it a local Ray instance is started.",
    ),
]
FullOpt = Annotated[
    bool, typer.Option("--full/--quick", help="Paper-sized preset (--full) or the quick one.")
]
NewOpt = Annotated[
    bool, typer.Option("--new", help="Start a new run instead of resuming an unfinished one.")
]


def _version(value: bool) -> None:
    if value:
        say(f"landscape {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars or notes.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """See and measure the optimization landscape of neural networks.

    Global flags (--quiet, --debug) may also be given after the command.
    """
    from .runtime.progress import set_quiet

    _state["quiet"] = quiet
    _state["debug"] = debug
    set_quiet(quiet)


def _note(msg: str) -> None:
    if not _state["quiet"]:
        say(msg)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """Render a list of row dicts as a rich table on stdout."""
    if not rows:
        say(f"{title}: (no rows)")
        return
    say(title)  # a line of its own: a long title (a path) never wraps into the table's width
    table = Table()
    for col in rows[0]:
        numeric = isinstance(rows[0][col], int | float)
        table.add_column(_text(col), justify="right" if numeric else "left", overflow="fold")
    for r in rows:
        table.add_row(*(_text(_fmt(r.get(c))) for c in rows[0]))
    out.print(table)


def _open_store(path: Path, readonly: bool = False):
    from .runtime.store import Store

    return Store(path, readonly=readonly)


def _overrides(sets: list[str] | None, **flags: Any) -> dict[str, Any]:
    from .runtime.config import merge_flags, parse_overrides

    return merge_flags(parse_overrides(sets or []), flags)


def _show(result: Any) -> None:
    _note(f"run {result.run_id}{' (resumed)' if result.resumed else ''}  →  {result.folder}")
    for title, rows in result.tables.items():
        print_table(title, rows)
    for note in result.notes:
        _note(note)
    for fig in result.figures:
        _note(f"figure: {fig}")


def run_entry(
    name: str,
    *,
    full: bool = False,
    config: Path | None = None,
    sets: list[str] | None = None,
    store: Path = DEFAULT_STORE_PATH,
    executor: str = "serial",
    workers: int | None = None,
    address: str | None = None,
    new: bool = False,
    **flags: Any,
) -> Any:
    """Parse → call → print for one registry entry: flags set config fields, the run is
    recorded in the store, its tables, notes and figures are printed."""
    from .experiments import build_config, execute
    from .runtime.executor import make_executor

    values = {k: str(v) if isinstance(v, Path) else v for k, v in flags.items()}
    cfg = build_config(name, "full" if full else "quick", config, _overrides(sets, **values))
    with _open_store(store) as st:
        result = execute(name, cfg, st, make_executor(executor, workers, address), resume=not new)
    _show(result)
    return result


# ---------------------------------------------------------------- commands from the registry
_COMMON: dict[str, tuple[Any, Any]] = {
    "config": (ConfigOpt, None),
    "sets": (SetOpt, None),
    "store": (StoreOpt, DEFAULT_STORE_PATH),
    "device": (DeviceOpt, None),
    "new": (NewOpt, False),
}
_PRESETS = {"full": (FullOpt, False)}
_PARALLEL = {
    "executor": (ExecOpt, "serial"),
    "workers": (WorkersOpt, None),
    "address": (AddressOpt, None),
}


def _choices(config_cls: Any, field: str) -> list[Any]:
    """The values a config field accepts when it is a ``Literal`` (else [])."""
    import typing

    info = config_cls.model_fields.get(field)
    if info is None:
        return []
    ann = info.annotation
    parts = [ann] if typing.get_origin(ann) is typing.Literal else typing.get_args(ann)
    lits = [a for a in parts if typing.get_origin(a) is typing.Literal]
    return [v for lit in lits for v in typing.get_args(lit)]


def _option_param(opt: Any, config_cls: Any) -> tuple[Any, Any]:
    choices = _choices(config_cls, opt.field)
    help_ = opt.help + (f" One of: {', '.join(map(str, choices))}." if choices else "")
    if opt.flag is None:
        return Annotated[opt.type, typer.Argument(help=help_, show_default=False)], ...
    if opt.type is bool:
        return Annotated[bool, typer.Option(opt.flag, help=help_)], None
    kind = opt.type if opt.required else opt.type | None
    return Annotated[kind, typer.Option(opt.flag, help=help_, show_default=False)], (
        ... if opt.required else None
    )


def _command(entries: list[Any], *, paper: bool) -> Any:
    """A typer command for one tool, or the `reproduce` command for all papers."""
    import inspect

    first = entries[0]
    params: dict[str, tuple[Any, Any]] = {}
    if paper:
        names = ", ".join(e.name for e in entries)
        params["experiment"] = (Annotated[str, typer.Argument(help=f"One of: {names}.")], ...)
    owners: dict[str, set[str]] = {}
    for e in entries:
        cls = e.load().Config
        for opt in e.options:
            params.setdefault(opt.field, _option_param(opt, cls))
            owners.setdefault(opt.field, set()).add(e.name)
    if first.presets:
        params.update(_PRESETS)
    params.update(_COMMON)
    if first.parallel:
        params.update(_PARALLEL)

    def command(**kwargs: Any) -> None:
        name = kwargs.pop("experiment") if paper else first.name
        from ._errors import check_choice

        check_choice("experiment", name, [e.name for e in entries])
        for field, who in owners.items():
            if kwargs.get(field) not in (None, False) and name not in who:
                raise LandscapeError(
                    f"--{field.replace('_', '-')} applies to {', '.join(sorted(who))} only"
                )
        common = {k: kwargs.pop(k) for k in [*_COMMON, *_PRESETS, *_PARALLEL] if k in kwargs}
        run_entry(name, **common, **kwargs)

    sig = [
        inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d)
        for k, (a, d) in params.items()
    ]
    # required parameters first (typer reads the signature in order)
    sig.sort(key=lambda p: p.default is not inspect.Parameter.empty and p.default is not ...)
    command.__signature__ = inspect.Signature(sig)  # type: ignore[attr-defined]
    command.__annotations__ = {k: a for k, (a, _) in params.items()}
    command.__doc__ = (
        "Reproduce a published result: the quick form by default, --full for the paper's "
        "size.\n\n\b\n" + "\n".join(f"{e.name:<14} {e.reference}: {e.summary}" for e in entries)
        if paper
        else first.summary[0].upper() + first.summary[1:] + "."
    )
    return command


def _register_commands() -> None:
    from .experiments import papers, tools

    app.command("reproduce")(_command(papers(), paper=True))
    for entry in tools():
        app.command(entry.name)(_command([entry], paper=False))


_register_commands()


# ---------------------------------------------------------------- runs
@runs_app.command("list")
def runs_list(
    store: StoreOpt = DEFAULT_STORE_PATH,
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Only this experiment.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N runs.")] = 20,
) -> None:
    """Recorded runs, newest first."""
    if not store.exists():  # nothing run yet: an empty list (and no store created for it)
        print_table(f"runs in {store}", [])
        return
    with _open_store(store, readonly=True) as st:
        runs = st.runs(experiment, limit)
        rows = []
        for r in runs:
            done = len(st.done_keys(r.id))
            rows.append(
                {
                    "id": r.id,
                    "experiment": r.experiment,
                    "status": r.shown_status,
                    "tasks done": done,
                    "seconds": round(r.duration, 1) if r.duration is not None else "",
                    "attempts": r.attempts,
                    "commit": r.git_commit or "",
                }
            )
    print_table(f"runs in {store}", rows)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    store: StoreOpt = DEFAULT_STORE_PATH,
) -> None:
    """One run: config, status, timings, tasks, final metrics, its tables, notes, figures."""
    if not store.exists():
        raise LandscapeError(f"no run store at {store}")
    with _open_store(store, readonly=True) as st:
        r = st.get_run(run_id)
        say(
            (r.id, "bold"),
            f"  {r.experiment}  status={r.shown_status}  seed={r.seed}  "
            f"commit={r.git_commit or '-'}  duration={r.duration or 0:.1f}s "
            f"(active, {r.attempts} attempt{'' if r.attempts == 1 else 's'})",
        )
        if r.error:
            say(f"error: {r.error}")
        say("config: " + json.dumps(r.config, sort_keys=True, ensure_ascii=False))
        say(f"tasks done: {len(st.done_keys(r.id))}")
        last: dict[str, tuple[int, float]] = {}
        for key, step, value in st.metrics(r.id):
            last[key] = (step, value)
        if last:
            print_table(
                "metrics (last step)",
                [{"key": k, "step": s, "value": v} for k, (s, v) in last.items()],
            )
        saved = st.outputs(r.id)
        for title, rows in saved.tables.items():
            print_table(title, rows)
        for note in saved.notes:
            say(note)
        for name, caption in saved.figures.items():
            say(f"figure: {r.folder / name}" + (f" — {caption}" if caption else ""))
        if r.folder.is_dir():
            files = sorted(
                p.name for p in r.folder.iterdir() if p.is_file() and not p.name.startswith(".")
            )
            say(f"folder: {r.folder}  files: {', '.join(files) if files else '-'}")


@runs_app.command("export")
def runs_export(
    run_id: Annotated[str | None, typer.Argument(help="Only this run (default: all).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format: csv.")] = "csv",
    table: Annotated[
        str,
        typer.Option(
            "--table",
            "-t",
            help="runs, metrics, tasks, or tables (what the run printed, one value a row).",
        ),
    ] = "metrics",
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default stdout).")
    ] = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
) -> None:
    """Export runs, metrics, tasks or the printed tables as CSV."""
    if fmt != "csv":
        raise LandscapeError(f"--format {fmt!r} is not supported; allowed: csv")
    if not store.exists():
        raise LandscapeError(f"no run store at {store}")
    with _open_store(store, readonly=True) as st:
        text = st.export_csv(table, run_id)
        if run_id is not None and text.count("\n") <= 1:  # the header alone
            rid = st.get_run(run_id).id
            others = [t for t in st.TABLES if t != table and t != "runs"]
            raise LandscapeError(
                f"run {rid} recorded no {table}; export --table "
                f"{' or --table '.join(others)} instead"
            )
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        _note(f"wrote {output}")


# ---------------------------------------------------------------- report
ReportOut = Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")]
DEFAULT_REPORT = Path("runs/report.html")


@app.command("report")
def report(
    run_ids: Annotated[
        list[str] | None, typer.Argument(help="Runs to report (unique prefixes are enough).")
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="The latest done run of every experiment.")
    ] = False,
    store: StoreOpt = DEFAULT_STORE_PATH,
    output: ReportOut = DEFAULT_REPORT,
) -> None:
    """One HTML page of runs beside the published numbers (default: --latest)."""
    from .report import write_report

    if not store.exists():
        raise LandscapeError(f"no run store at {store}")
    with _open_store(store, readonly=True) as st:
        path = write_report(output, st, run_ids or [], latest)
    say(str(path))


@app.command("reproduce-all")
def reproduce_all(
    store: StoreOpt = DEFAULT_STORE_PATH,
    output: ReportOut = DEFAULT_REPORT,
) -> None:
    """Run every `reproduce` experiment in its quick form, then write the report."""
    import time

    from .experiments import build_config, execute
    from .experiments.registry import papers  # (the package's `papers` is also a subpackage)
    from .report import write_report
    from .runtime.executor import make_executor

    entries = papers()
    ran: list[str] = []  # this demo's runs, done or failed: the report shows each
    t0 = time.perf_counter()
    with _open_store(store) as st:
        for i, entry in enumerate(entries, 1):
            _note(f"[{i}/{len(entries)}] {entry.name}: {entry.summary}")
            t = time.perf_counter()
            try:
                cfg = build_config(entry.name, "quick", None, {})
                result = execute(
                    entry.name,
                    cfg,
                    st,
                    make_executor("serial", None),
                    on_start=lambda run_id, _: ran.append(run_id),
                )
                _note(f"    done in {time.perf_counter() - t:.0f} s: run {result.run_id}")
            except KeyboardInterrupt:
                raise
            except Exception as e:  # one failure is reported; the others still run
                _note(f"    failed after {time.perf_counter() - t:.0f} s: {_one_line(e)[:200]}")
        _note(f"all {len(entries)} in {time.perf_counter() - t0:.0f} s; writing the report")
        path = write_report(output, st, ran, False)
    say(str(path))


# ---------------------------------------------------------------- entry point
_GLOBAL_FLAGS = ("--quiet", "-q", "--debug")


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """Let --quiet/--debug appear anywhere: move them before the command."""
    flags = [a for a in argv if a in _GLOBAL_FLAGS]
    rest = [a for a in argv if a not in _GLOBAL_FLAGS]
    return flags + rest


#: options that may be given more than once
REPEATABLE = ("--set", "-s")


def _repeated_option(argv: list[str]) -> str | None:
    """The first option (``--name``) given twice on the command line, or ``None``.

    Click keeps the last of ``--H 4 --H 5`` silently; like a key given twice in a config,
    that is refused. ``--set`` is repeatable (its keys are checked on their own).
    """
    seen: set[str] = set()
    skip = False
    for arg in argv:
        if arg == "--":
            break
        if skip:  # the value of a repeatable option (it may look like a flag)
            skip = False
            continue
        if arg in REPEATABLE:
            skip = True
            continue
        if not arg.startswith("--") or arg in _GLOBAL_FLAGS:
            continue
        name = arg.split("=", 1)[0]
        if name in seen:
            return name
        seen.add(name)
    return None


def _one_line(text: object) -> str:
    """A message on one line: line breaks (and the spaces around them) become one space;
    other control characters stay for :func:`_err` to show as escapes."""
    import re

    return re.sub(r"[ ]*[\r]?\n[ ]*", " ", str(text)).strip()


#: the longest error line printed (a message echoing a huge value is cut in the middle)
MAX_ERROR = 600


def _err(line: str) -> None:
    line = printable(line)
    if len(line) > MAX_ERROR:
        line = line[: MAX_ERROR - 120] + " … " + line[-117:]
    print(line, file=sys.stderr)


#: the one line a Ctrl-C prints (exit code 130); the run is recorded as interrupted
INTERRUPTED = "interrupted; run the same command again to resume"


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as one line of text (``warning: …``), without Python's file and line;
    nothing under ``--quiet``."""
    if _state["quiet"]:
        return ""
    text = printable(_one_line(message))
    return f"warning: {text[:MAX_ERROR]}\n"


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    import warnings

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    formatted = warnings.formatwarning
    if not debug:  # (a warnings recorder, e.g. pytest's, records them unformatted)
        warnings.formatwarning = _format_warning
    try:
        return _main(argv, debug)
    finally:
        warnings.formatwarning = formatted


def _main(argv: list[str], debug: bool) -> int:
    twice = _repeated_option(argv)
    if twice is not None:
        _err(f"error: {twice} is given twice; keep one")
        return 2
    try:
        code = app(args=_hoist_global_flags(argv), prog_name="landscape", standalone_mode=False)
        if code == 130:  # typer turns a Ctrl-C inside a command into exit code 130
            raise KeyboardInterrupt
        if isinstance(code, int) and code:  # a command's typer.Exit(code)
            return code
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort as e:
        cause = e.__cause__
        if isinstance(cause, EOFError):  # click turns an EOFError into Abort: not a Ctrl-C
            if debug:
                raise cause from None
            _err(_unexpected(cause))
            return 1
        _err(INTERRUPTED)  # older typer turns a Ctrl-C into Abort
        return 130
    except _UsageError as e:
        if debug:
            raise
        if type(e).__name__ == "NoArgsIsHelpError":  # help was shown: not an error
            return 0
        _err(f"error: {_one_line(e.format_message())}")
        return e.exit_code or 2
    except KeyboardInterrupt:
        _err(INTERRUPTED)
        return 130
    except LandscapeError as e:
        if debug:
            raise
        _err(f"error: {_one_line(e)}")
        return 1
    except (FileNotFoundError, PermissionError, IsADirectoryError) as e:
        if debug:
            raise
        _err(f"error: {_one_line(e)}")
        return 1
    except OSError as e:  # a file system refusing (read-only, full disk, …)
        if debug:
            raise
        _err(f"error: {_one_line(e)}")
        return 1
    except Exception as e:  # last resort: still one line, the traceback only with --debug
        if debug:
            raise
        _err(_unexpected(e))
        return 1
    return 0


def _unexpected(e: BaseException) -> str:
    """One line for an exception no boundary check turned into a user error."""
    msg = _one_line(e) or "(no message)"
    if len(msg) > 300:
        msg = msg[:297] + "..."
    return (
        f"error: unexpected {type(e).__name__}: {msg} "
        "(rerun with --debug for the traceback, and please report it)"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
