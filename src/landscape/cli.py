"""The ``landscape`` command line: thin, parses and calls the library.

User errors (missing file, bad config, bad flag value) print one line and exit non-zero;
``--debug`` shows the traceback instead. ``--quiet`` hides progress bars and notes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from ._errors import LandscapeError

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


out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
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
ExecOpt = Annotated[str, typer.Option("--executor", help="Where tasks run: serial or process.")]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", min=1, help="Processes for --executor process.")
]
MnistOpt = Annotated[
    Path | None, typer.Option("--mnist-dir", help="MNIST IDX folder (for --data mnist).")
]
NewOpt = Annotated[
    bool, typer.Option("--new", help="Start a new run instead of resuming an unfinished one.")
]


def _version(value: bool) -> None:
    if value:
        out.print(f"landscape {__version__}")
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
        out.print(msg)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """Render a list of row dicts as a rich table on stdout."""
    if not rows:
        out.print(f"{title}: (no rows)")
        return
    table = Table(title=title, title_justify="left")
    for col in rows[0]:
        numeric = isinstance(rows[0][col], int | float)
        table.add_column(str(col), justify="right" if numeric else "left", overflow="fold")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in rows[0]))
    out.print(table)


def _open_store(path: Path):
    from .runtime.store import Store

    return Store(path)


def _overrides(sets: list[str] | None, **flags: Any) -> dict[str, Any]:
    from .runtime.config import parse_overrides

    merged = parse_overrides(sets or [])
    merged.update({k: v for k, v in flags.items() if v is not None})
    return merged


def _run_experiment(
    name: str,
    size: str,
    config: Path | None,
    sets: list[str] | None,
    store_path: Path,
    executor: str,
    workers: int | None,
    new: bool,
    **flags: Any,
) -> Any:
    from .experiments import build_config, execute
    from .runtime.executor import make_executor

    cfg = build_config(name, size, config, _overrides(sets, **flags))
    ex = make_executor(executor, workers)
    with _open_store(store_path) as store:
        result = execute(name, cfg, store, ex, resume=not new)
    _show(result)
    return result


def _run_tool(name: str, store_path: Path, new: bool, sets: list[str] | None, **flags: Any) -> None:
    """A diagnostic on the user's checkpoints (no preset): flags → config → recorded run."""
    from .experiments import execute, get_experiment
    from .runtime.config import load_config
    from .runtime.executor import SerialExecutor

    cfg = load_config(get_experiment(name).Config, None, _overrides(sets, **flags))
    with _open_store(store_path) as store:
        result = execute(name, cfg, store, SerialExecutor(), resume=not new)
    _show(result)


def _show(result: Any) -> None:
    _note(f"run {result.run_id}{' (resumed)' if result.resumed else ''}  →  {result.folder}")
    for title, rows in result.tables.items():
        print_table(title, rows)
    for note in result.notes:
        _note(note)
    for fig in result.figures:
        _note(f"figure: {fig}")


# ---------------------------------------------------------------- demo
@app.command()
def demo(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    full: Annotated[bool, typer.Option("--full", help="The larger preset.")] = False,
    store: StoreOpt = DEFAULT_STORE_PATH,
    device: DeviceOpt = None,
    executor: ExecOpt = "serial",
    workers: WorkersOpt = None,
    new: NewOpt = False,
) -> None:
    """Train a small digits MLP ensemble in one batched pass, save the best, print a table."""
    _run_experiment(
        "demo",
        "full" if full else "quick",
        config,
        set_,
        store,
        executor,
        workers,
        new,
        device=device,
    )


# ---------------------------------------------------------------- reproduce
FullOpt = Annotated[
    bool, typer.Option("--full/--quick", help="Paper-sized preset (--full) or the quick one.")
]


REPRODUCIBLE = {
    "spinglass": "minima and saddles of the spherical 3-spin glass vs the complexity theory",
    "choromanska": "many ReLU nets per size: test losses concentrate as size grows",
    "dauphin": "critical points of a small MLP: loss grows with the index",
    "freeman-bruna": "level-set connectivity by Dynamic String Sampling",
}


@app.command()
def reproduce(
    experiment: Annotated[
        str, typer.Argument(help="spinglass, choromanska, dauphin or freeman-bruna.")
    ],
    full: FullOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    mnist_dir: Annotated[
        Path | None,
        typer.Option("--mnist-dir", help="choromanska: MNIST IDX folder (10×10); else digits."),
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="freeman-bruna: dss or dss-constrained.")
    ] = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
    device: DeviceOpt = None,
    executor: ExecOpt = "serial",
    workers: WorkersOpt = None,
    new: NewOpt = False,
) -> None:
    """Reproduce a published result: the quick form by default, --full for the paper's size.

    \b
    spinglass      Choromanska et al. 2015; Auffinger, Ben Arous & Černý 2013
    choromanska    Choromanska et al. 2015, section 6
    dauphin        Dauphin et al. 2014
    freeman-bruna  Freeman & Bruna 2017
    """
    from ._errors import check_choice

    check_choice("experiment", experiment, REPRODUCIBLE)
    flags: dict[str, Any] = {"device": device}
    if mnist_dir is not None:
        if experiment != "choromanska":
            raise LandscapeError("--mnist-dir applies to `reproduce choromanska` only")
        flags["mnist_dir"] = str(mnist_dir)
    if method is not None:
        if experiment != "freeman-bruna":
            raise LandscapeError("--method applies to `reproduce freeman-bruna` only")
        flags["method"] = method
    _run_experiment(
        experiment,
        "full" if full else "quick",
        config,
        set_,
        store,
        executor,
        workers,
        new,
        **flags,
    )


@app.command()
def theory(
    H: Annotated[int, typer.Option("--H", help="Interaction order H ≥ 2.")] = 3,
    k_max: Annotated[int, typer.Option("--k-max", help="Largest index k in the table.")] = 10,
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the Θ_{k,H}(u) figure (PNG).")
    ] = Path("theory.png"),
) -> None:
    """Thresholds E_0(H) > E_1(H) > … > E_∞(H) and the complexity curves Θ_{k,H}(u)."""
    import numpy as np

    from .plots.spinglass import complexity_curves
    from .spinglass import complexity, e_inf, thresholds

    if H < 2:
        raise LandscapeError(f"--H must be at least 2, got {H}")
    if k_max < 0:
        raise LandscapeError(f"--k-max must be >= 0, got {k_max}")
    ek = thresholds(H, k_max)
    einf = e_inf(H)
    rows = [
        {"k": k, "E_k(H)": float(v), "−E_k(H)": -float(v), "E_k − E_∞": float(v) - einf}
        for k, v in enumerate(ek)
    ]
    rows.append({"k": "∞", "E_k(H)": einf, "−E_k(H)": -einf, "E_k − E_∞": 0.0})
    print_table(f"thresholds of the spherical {H}-spin glass (Auffinger, Ben Arous & Černý)", rows)
    lo = -float(ek[0]) - max(0.08, 0.5 * (float(ek[0]) - einf))
    u = np.linspace(lo, -einf + 0.05, 600)
    ks = sorted({k for k in (0, 1, 2, 10, 100) if k <= max(k_max, 2)} | {k_max})
    curves = {f"Θ_{H} (all indices)": complexity(u, H)}  # under Θ_0, which coincides below −E∞
    curves.update({f"Θ_{{{k},{H}}}": complexity(u, H, k) for k in ks})
    ref = {"−E₀": -float(ek[0])}
    if k_max >= 1:
        ref["−E₁"] = -float(ek[1])
    ref["−E∞"] = -einf
    fig = complexity_curves(u, curves, reference=ref, H=H)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    _note(f"figure: {out}")


# ---------------------------------------------------------------- connect
@app.command()
def connect(
    a: Annotated[Path, typer.Argument(help="First checkpoint (θ_A).")],
    b: Annotated[Path, typer.Argument(help="Second checkpoint (θ_B), same architecture.")],
    data: Annotated[str, typer.Option("--data", help="digits, mnist, quadratic, cubic.")],
    threshold: Annotated[float, typer.Option("--threshold", help="Level L0 of Ω(L0), > 0.")],
    method: Annotated[
        str, typer.Option("--method", help="dss, dss-constrained, bezier or linear.")
    ] = "dss",
    measure: Annotated[
        str, typer.Option("--measure", help="Threshold the training loss or the test error.")
    ] = "loss",
    align: Annotated[
        bool, typer.Option("--align", help="Weight-match B to A first (MLPs).")
    ] = False,
    mnist_dir: MnistOpt = None,
    set_: SetOpt = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
    device: DeviceOpt = None,
    new: NewOpt = False,
) -> None:
    """Connect two checkpoints below a threshold: profile plot, table, string of beads."""
    _run_tool(
        "connect",
        store,
        new,
        set_,
        a=str(a),
        b=str(b),
        data=data,
        threshold=threshold,
        method=method,
        measure=measure,
        align=align,
        device=device,
        mnist_dir=None if mnist_dir is None else str(mnist_dir),
    )


# ---------------------------------------------------------------- hessian
@app.command()
def hessian(
    checkpoint: Annotated[Path, typer.Argument(help="A landscape checkpoint (.ckpt).")],
    data: Annotated[str, typer.Option("--data", help="digits, mnist, quadratic, cubic.")],
    top: Annotated[int, typer.Option("--top", help="Largest eigenvalues to compute.")] = 5,
    trace: Annotated[bool, typer.Option("--trace", help="Hutchinson trace ± stderr.")] = False,
    density: Annotated[
        bool, typer.Option("--density", help="SLQ spectral density (figure).")
    ] = False,
    index: Annotated[bool, typer.Option("--index", help="Number of negative eigenvalues.")] = False,
    split: Annotated[str, typer.Option("--split", help="train or test.")] = "train",
    mnist_dir: MnistOpt = None,
    set_: SetOpt = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
    device: DeviceOpt = None,
    new: NewOpt = False,
) -> None:
    """Top eigenvalues, trace, spectral density and index of a checkpoint's Hessian."""
    _run_tool(
        "hessian",
        store,
        new,
        set_,
        checkpoint=str(checkpoint),
        data=data,
        top=top,
        trace=trace,
        density=density,
        index=index,
        split=split,
        device=device,
        mnist_dir=None if mnist_dir is None else str(mnist_dir),
    )


# ---------------------------------------------------------------- inspect
def _norm(v: Any) -> float | str:
    """The L2 norm of a tensor of any dtype (integers in float64; bools have none)."""
    import torch

    if v.dtype == torch.bool:
        return "-"
    if v.is_complex():
        return float(torch.linalg.vector_norm(v.detach()))
    if v.is_floating_point():
        return float(v.detach().float().norm())
    return float(v.detach().to(torch.float64).norm())


@app.command()
def inspect(
    checkpoint: Annotated[Path, typer.Argument(help="A landscape checkpoint (.ckpt).")],
    data: Annotated[
        str | None,
        typer.Option("--data", help="Dataset to evaluate on: digits, mnist, quadratic, cubic."),
    ] = None,
    mnist_dir: Annotated[
        Path | None,
        typer.Option("--mnist-dir", help="Folder with the MNIST IDX files (for --data mnist)."),
    ] = None,
    device: DeviceOpt = None,
) -> None:
    """Architecture and parameter count of a checkpoint; with --data, its loss and accuracy."""
    from . import checkpoint as ckpt_mod
    from .params import num_params

    ck = ckpt_mod.load(checkpoint)
    arch = ck.spec.describe() if ck.spec is not None else "(user architecture: no spec)"
    out.print(f"[bold]{checkpoint}[/bold]: {arch}, {num_params(ck.params):,} parameters")
    rows = [
        {
            "tensor": k,
            "shape": "×".join(map(str, v.shape)) or "scalar",
            "numel": v.numel(),
            "dtype": str(v.dtype).removeprefix("torch."),
            "norm": _norm(v),
        }
        for k, v in ck.params.items()
    ]
    print_table("parameters", rows)
    if ck.meta:
        out.print("meta: " + json.dumps(ck.meta, default=str))
    if data is None:
        return
    from .experiments._base import load_checkpoint_with_data
    from .functional import dataset_mean

    la = load_checkpoint_with_data(checkpoint, data, mnist_dir, 0, device or "cpu")
    loss_name = la.model.loss_name
    rows = []
    for split, batch in (("train", la.dataset.train), ("test", la.dataset.test)):
        m = dataset_mean(la.model.metrics, la.params, batch, chunk_size=4096)
        row: dict[str, Any] = {
            "split": split,
            "samples": int(batch[0].shape[0]),
            f"loss ({loss_name})": float(m["loss"]),
        }
        if "accuracy" in m:
            row["accuracy"] = float(m["accuracy"])
            row["error"] = 1.0 - float(m["accuracy"])
        rows.append(row)
    print_table(f"{arch} on {data}", rows)


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
    with _open_store(store) as st:
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
    """One run: config, status, timings, tasks, final metrics, files."""
    if not store.exists():
        raise LandscapeError(f"no run store at {store}")
    with _open_store(store) as st:
        r = st.get_run(run_id)
        out.print(
            f"[bold]{r.id}[/bold]  {r.experiment}  status={r.shown_status}  seed={r.seed}  "
            f"commit={r.git_commit or '-'}  duration={r.duration or 0:.1f}s "
            f"(active, {r.attempts} attempt{'' if r.attempts == 1 else 's'})"
        )
        if r.error:
            out.print(f"error: {r.error}")
        out.print("config: " + json.dumps(r.config, sort_keys=True))
        out.print(f"tasks done: {len(st.done_keys(r.id))}")
        last: dict[str, tuple[int, float]] = {}
        for key, step, value in st.metrics(r.id):
            last[key] = (step, value)
        if last:
            print_table(
                "metrics (last step)",
                [{"key": k, "step": s, "value": v} for k, (s, v) in last.items()],
            )
        if r.folder.is_dir():
            files = sorted(
                p.name for p in r.folder.iterdir() if p.is_file() and not p.name.startswith(".")
            )
            out.print(f"folder: {r.folder}  files: {', '.join(files) if files else '-'}")


@runs_app.command("export")
def runs_export(
    run_id: Annotated[str | None, typer.Argument(help="Only this run (default: all).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format: csv.")] = "csv",
    table: Annotated[
        str, typer.Option("--table", "-t", help="runs, metrics or tasks.")
    ] = "metrics",
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default stdout).")
    ] = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
) -> None:
    """Export runs, metrics or tasks as CSV."""
    if fmt != "csv":
        raise LandscapeError(f"--format {fmt!r} is not supported; allowed: csv")
    if not store.exists():
        raise LandscapeError(f"no run store at {store}")
    with _open_store(store) as st:
        text = st.export_csv(table, run_id)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        _note(f"wrote {output}")


# ---------------------------------------------------------------- entry point
_GLOBAL_FLAGS = ("--quiet", "-q", "--debug")


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """Let --quiet/--debug appear anywhere: move them before the command."""
    flags = [a for a in argv if a in _GLOBAL_FLAGS]
    rest = [a for a in argv if a not in _GLOBAL_FLAGS]
    return flags + rest


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _err(line: str) -> None:
    print(line, file=sys.stderr)


#: the one line a Ctrl-C prints (exit code 130); the run is recorded as interrupted
INTERRUPTED = "interrupted; run the same command again to resume"


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
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
