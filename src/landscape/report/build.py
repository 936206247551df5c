"""Build the one-page HTML report of recorded runs (``landscape report``).

Reads everything from the run store — each run's config, seed, commit, host, timings and
status, and the tables, notes and figure captions persisted with it — embeds the figures
(PNG as base64; plotly ``.html`` views inline in a sandboxed frame, with the PNG of the same
name as a static fallback when there is one), and puts the published reference values of
``references.yaml`` beside each experiment with a verdict per claim. Rendered with Jinja2
from ``template.html.j2`` with autoescaping on: nothing from a config or a file reaches the
page unescaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import LandscapeError
from ..runtime.store import Run, Store
from .claims import NOT_RUN, Claim, Verdict, evaluate, load_claims

__all__ = ["ReportRun", "build_report", "select_runs", "write_report"]


@dataclass
class ReportRun:
    """One run as the page shows it."""

    run: Run
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)
    claims: list[tuple[Claim, Verdict]] = field(default_factory=list)


def select_runs(store: Store, run_ids: Sequence[str] = (), latest: bool = False) -> list[Run]:
    """The runs to report: ``run_ids`` (unique prefixes allowed), and with ``latest`` (or
    when no id is given) the latest done run of every experiment in the store.

    Raises:
        LandscapeError: an unknown run id.
    """
    chosen = [store.get_run(r) for r in run_ids]
    if latest or not run_ids:
        seen = {r.experiment for r in chosen}
        for r in store.runs():  # newest first
            if r.experiment not in seen and r.shown_status == "done":
                seen.add(r.experiment)
                chosen.append(r)
    unique = {r.id: r for r in chosen}
    return list(unique.values())


def _figure(folder: Path, name: str, caption: str) -> dict[str, str] | None:
    """A figure of the run folder, embedded; a name leading outside the folder (``..``, an
    absolute path, a link out) is never read."""
    from ..runtime.store import _inside

    path = _inside(folder, name, "a figure")
    fig = {"name": name, "caption": caption, "png": "", "html": ""}
    png = path if path.suffix == ".png" else path.with_suffix(".png")
    png = _inside(folder, png.relative_to(folder), "a figure")  # (a link may lead out)
    if png.is_file():
        fig["png"] = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    if path.suffix == ".html" and path.is_file():
        fig["html"] = path.read_text("utf-8", errors="replace")
    return fig if fig["png"] or fig["html"] else None


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.5g}"
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False, default=str)
    return "" if v is None else str(v)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols and not str(c).startswith("_")]
    return cols


def _when(t: float | None) -> str:
    return _dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "–"


def build_report(store: Store, run_ids: Sequence[str] = (), latest: bool = False) -> str:
    """The report page of the selected runs (see :func:`select_runs`) as HTML text."""
    import jinja2

    runs = select_runs(store, run_ids, latest)
    claims = load_claims()
    shown: list[ReportRun] = []
    for run in runs:
        out = store.outputs(run.id)
        figs, refused = [], []
        for n, c in out.figures.items():
            try:
                figs.append(_figure(run.folder, n, c))
            except LandscapeError as err:
                refused.append(f"figure not shown: {err}")
        mine = [c for c in claims if c.experiment == run.experiment]
        shown.append(
            ReportRun(
                run=run,
                tables=out.tables,
                notes=out.notes + refused,
                figures=[f for f in figs if f is not None],
                claims=[(c, evaluate(c, out.tables if out.tables else None)) for c in mine],
            )
        )
    reported = {r.run.experiment for r in shown}
    missing = [(c, evaluate(c, None)) for c in claims if c.experiment not in reported]
    verdicts = [v for r in shown for _, v in r.claims] + [v for _, v in missing]
    counts = {s: sum(v.status == s for v in verdicts) for s in ("reproduced", "differs", NOT_RUN)}
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("landscape.report", "."),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = _cell
    env.filters["when"] = _when
    env.globals["columns"] = _columns
    env.globals["dumps"] = lambda obj: json.dumps(obj, indent=1, sort_keys=True, default=str)
    return env.get_template("template.html.j2").render(
        runs=shown,
        missing=missing,
        counts=counts,
        store=str(store.path),
        generated=_when(_dt.datetime.now().timestamp()),
    )


def write_report(
    path: str | Path, store: Store, run_ids: Sequence[str] = (), latest: bool = False
) -> Path:
    """Write the report page to ``path`` (its folder is created) and return the path."""
    path = Path(path)
    if path.is_dir():
        raise LandscapeError(f"report path {path} is a directory; give an .html file path")
    html = build_report(store, run_ids, latest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, "utf-8")
    return path
