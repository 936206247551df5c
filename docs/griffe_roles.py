"""Griffe extension: read ``landscape``'s Sphinx-flavoured Google docstrings as Markdown.

The docstrings use two conventions that griffe's Google parser does not know:

* Sphinx roles — ``:func:`dss```, ``:class:`~landscape.models.CNNSpec```, ``:mod:`.operator```.
  Each becomes a link (an optional autoref, so an object that is not rendered anywhere is
  plain code, never a broken link) when the target resolves from where the docstring is —
  the object itself, its parents, then the absolute name — and inline code otherwise. ``~``
  shows the last component only, as in Sphinx.
* Grouped arguments — ``a, b: the two end points`` in an ``Args:`` section, the names
  possibly wrapped over several lines. Each name becomes its own entry with the shared
  description (as griffe's NumPy parser does for ``a, b : type``), so the signature's types
  and defaults show for each.

Used by ``mkdocs.yml`` (``extensions: [docs/griffe_roles.py:SphinxRoles]``); it changes only
the docstring text griffe parses, never the source files.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|exc|obj|const):`(?P<target>[^`]+)`")
ARG_SECTIONS = re.compile(
    r"^(?P<indent>\s*)(?:Args|Arguments|Parameters|Keyword Args|Other Parameters):\s*$"
)
NAMES = re.compile(r"^\*{0,2}[A-Za-z_]\w*$")


def _lookup(root: griffe.Module, path: str) -> griffe.Object | griffe.Alias | None:
    if path != root.path and not path.startswith(root.path + "."):
        return None
    try:
        return root[path[len(root.path) + 1 :]] if path != root.path else root
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _resolve(root: griffe.Module, scope: griffe.Object, target: str) -> str | None:
    """The canonical path ``target`` names, seen from ``scope``; ``None`` if none."""
    name = target.lstrip(".")
    candidates = []
    here: griffe.Object | None = scope
    while here is not None:
        candidates.append(f"{here.path}.{name}")
        here = here.parent
    if not target.startswith("."):
        candidates += [name, f"{root.path}.{name}"]
    for path in candidates:
        found = _lookup(root, path)
        if found is None:
            continue
        try:
            return found.final_target.path if found.is_alias else found.path
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
    return None


def convert_roles(text: str, root: griffe.Module, scope: griffe.Object) -> str:
    """Replace every Sphinx role in ``text`` by an optional autoref, or by inline code."""

    def sub(match: re.Match[str]) -> str:
        target = match["target"].strip()
        short = target.startswith("~")
        target = target.lstrip("~")
        shown = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
        path = _resolve(root, scope, target)
        if path is None:
            return f"`{shown}`"
        return f'<autoref identifier="{path}" optional><code>{shown}</code></autoref>'

    return ROLE.sub(sub, text)


def split_grouped_args(text: str) -> str:
    """Give each name of an ``a, b: description`` argument entry its own entry."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        header = ARG_SECTIONS.match(lines[i])
        i += 1
        if not header:
            continue
        item_indent: int | None = None
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(header["indent"])
        ):
            line = lines[i]
            indent = len(line) - len(line.lstrip())
            if item_indent is None and line.strip():
                item_indent = indent
            if not line.strip() or indent != item_indent:
                out.append(line)
                i += 1
                continue
            # an item line; its names may wrap onto deeper lines until the first ": "
            names_text, j = line.strip(), i
            while ": " not in names_text and names_text.endswith(",") and j + 1 < len(lines):
                j += 1
                names_text += " " + lines[j].strip()
            head, sep, desc = names_text.partition(": ")
            names = [n.strip() for n in head.split(",")]
            if not sep or len(names) < 2 or not all(NAMES.match(n) for n in names):
                out.append(line)
                i += 1
                continue
            k = j + 1
            while (
                k < len(lines)
                and lines[k].strip()
                and len(lines[k]) - len(lines[k].lstrip()) > item_indent
            ):
                k += 1
            rest = lines[j + 1 : k]
            for name in names:
                out.append(f"{' ' * item_indent}{name}: {desc}")
                out.extend(rest)
            i = k
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    """Rewrite the docstrings of a loaded package (see the module docstring)."""

    def _rewrite(self, pkg: griffe.Module) -> None:
        def visit(obj: griffe.Object) -> None:
            if obj.docstring is not None:
                text = split_grouped_args(obj.docstring.value)
                obj.docstring.value = convert_roles(text, pkg, obj)
            for member in obj.members.values():
                if not member.is_alias:
                    visit(member)

        visit(pkg)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._rewrite(pkg)

    def on_package_loaded(self, *, pkg: griffe.Module, **kwargs: Any) -> None:  # griffe < 1.14
        self._rewrite(pkg)
