"""The API reference: every public module has a page, and ``mkdocs build --strict`` passes."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_pages = _load("gen_pages")


def test_every_public_module_has_its_page():
    assert gen_pages.check() == []
    pages = {p.stem for p in (ROOT / "docs" / "api").glob("*.md")}
    top = {
        p.stem if p.suffix == ".py" else p.name
        for p in (ROOT / "src" / "landscape").iterdir()
        if not p.name.startswith("_") and (p.suffix == ".py" or (p / "__init__.py").exists())
    }
    assert top | {"landscape"} == pages
    text = (ROOT / "docs" / "api" / "curvature.md").read_text(encoding="utf-8")
    assert "::: landscape.curvature.spectrum\n" in text  # a package page lists its submodules


def test_a_new_module_without_a_page_fails_the_check(tmp_path, monkeypatch):
    src = tmp_path / "landscape"
    shutil.copytree(ROOT / "src" / "landscape", src, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "newthing.py").write_text('"""New."""\n')
    (src / "curvature" / "extra.py").write_text('"""New too."""\n')
    (src / "_private.py").write_text('"""Private: needs no page."""\n')
    monkeypatch.setattr(gen_pages, "SRC", src)
    problems = gen_pages.check()
    assert any(p.startswith("api/newthing.md: missing") for p in problems), problems
    assert any(p.startswith("api/newthing.md: not in the nav") for p in problems), problems
    assert any(p.startswith("api/curvature.md: stale") for p in problems), problems
    assert not any("_private" in p for p in problems), problems
    assert len(problems) == 3, problems


def test_grouped_arguments_and_roles_are_rewritten():
    pytest.importorskip("griffe", reason="docs extra not installed: pip install -e '.[docs]'")
    roles = _load("griffe_roles")
    text = "Do it.\n\nArgs:\n    a, b,\n        c: the points.\n        More.\n    d: one.\n"
    assert roles.split_grouped_args(text) == (
        "Do it.\n\nArgs:\n    a: the points.\n        More.\n    b: the points.\n        More.\n"
        "    c: the points.\n        More.\n    d: one.\n"
    )
    prose = "Returns:\n    x, y: a pair.\n"  # only argument sections are split
    assert roles.split_grouped_args(prose) == prose


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="docs extra not installed: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="docs extra not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_strict_build_renders_the_docstrings(site):
    page = (site / "api" / "curvature" / "index.html").read_text(encoding="utf-8")
    assert 'id="landscape.curvature.spectrum.eigenpairs"' in page
    assert 'id="landscape.curvature.CriticalPointResult"' in page  # from a private module
    assert 'id="landscape.curvature.trace.hutchinson_trace"' in page
    # ``:class:`HessianOperator``` in the package docstring became a link to its entry
    assert 'href="#landscape.curvature.operator.HessianOperator"' in page
    for html in (site / "api").rglob("index.html"):
        text = html.read_text(encoding="utf-8")
        assert ":func:`" not in text and ":class:`" not in text, html
        assert "&lt;autoref" not in text, html
    readme = (site / "readme" / "index.html").read_text(encoding="utf-8")
    assert 'id="reproduce-the-papers"' in readme
