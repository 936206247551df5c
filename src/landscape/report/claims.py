"""Published claims and the checks that compare a stored run with them.

The reference values live in ``references.yaml`` (one entry per claim, with its source);
each entry names a check here. A check reads the stored table rows of a run (``{title:
rows}``, as :meth:`~landscape.runtime.store.Store.outputs` gives them) and returns a
:class:`Verdict`: *reproduced*, *differs* (measured against published, with the stated
reason) or *not run*. Missing tables or columns never raise: a missing table is *not run*,
a missing column *differs: column missing*.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["CHECKS", "Claim", "Verdict", "evaluate", "load_claims"]

Tables = Mapping[str, list[dict[str, Any]]]

REPRODUCED, DIFFERS, NOT_RUN = "reproduced", "differs", "not run"


@dataclass(frozen=True)
class Claim:
    """One published claim (an entry of ``references.yaml``)."""

    id: str
    experiment: str
    check: str
    paper: str
    source: str
    claim: str
    published: Any
    differs: str
    tolerance: float | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim's check."""

    status: str  # reproduced, differs or not run
    measured: str = ""
    published: str = ""
    reason: str = ""


@cache
def load_claims() -> tuple[Claim, ...]:
    """The claims of ``references.yaml``, in file order."""
    text = resources.files(__package__).joinpath("references.yaml").read_text("utf-8")
    return tuple(Claim(**c) for c in yaml.safe_load(text)["claims"])


# ---------------------------------------------------------------- helpers
class _Missing(Exception):
    """A table or column the check needs is not in the run."""

    def __init__(self, verdict: str, what: str) -> None:
        super().__init__(what)
        self.verdict, self.what = verdict, what


def _table(tables: Tables, *words: str) -> list[dict[str, Any]]:
    """The first table whose title contains every word, with at least one row."""
    for title, rows in tables.items():
        if all(w in title for w in words) and rows:
            return rows
    raise _Missing(NOT_RUN, f"no table '{' '.join(words)}'")


def _table_with(tables: Tables, *columns: str) -> list[dict[str, Any]]:
    """The first table whose rows have every one of ``columns``."""
    for rows in tables.values():
        if rows and all(any(c in r for r in rows) for c in columns):
            return rows
    raise _Missing(NOT_RUN, f"no table with columns {', '.join(map(repr, columns))}")


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def _col(rows: list[dict[str, Any]], name: str) -> list[float]:
    if not any(name in r for r in rows):
        raise _Missing(DIFFERS, f"column missing: {name!r}")
    return [_num(r.get(name)) for r in rows]


def _g(x: float) -> str:
    return f"{x:.4g}"


def _verdict(ok: bool, measured: str, published: str, claim: Claim) -> Verdict:
    return Verdict(REPRODUCED if ok else DIFFERS, measured, published, "" if ok else claim.differs)


def _trend(rows: list[dict[str, Any]], x: str, y: str) -> tuple[list[float], list[float]]:
    xs, ys = _col(rows, x), _col(rows, y)
    pairs = sorted((a, b) for a, b in zip(xs, ys, strict=True) if math.isfinite(a + b))
    if len(pairs) < 2:
        raise _Missing(DIFFERS, f"fewer than two finite values of {y!r}")
    return [a for a, _ in pairs], [b for _, b in pairs]


# ---------------------------------------------------------------- checks
def spinglass_band(tables: Tables, claim: Claim) -> Verdict:
    """Mean L/Λ of the minima at the largest Λ lies in [−E0, −E∞] (± tolerance)."""
    p, tol = claim.published, claim.tolerance or 0.0
    lam, mean = _trend(_table(tables, "minima of the spherical"), "Λ", "mean L/Λ")
    m = mean[-1]
    ok = p["minus_E0"] - tol <= m <= p["minus_Einf"] + tol
    return _verdict(
        ok,
        f"mean L/Λ = {_g(m)} at Λ = {lam[-1]:g}",
        f"[−E0, −E∞] = [{p['minus_E0']:.4f}, {p['minus_Einf']:.4f}] (H = {p['H']}), ± {tol:g}",
        claim,
    )


def _falls(tables: Tables, claim: Claim, col: str) -> Verdict:
    n, y = _trend(_table(tables, "test loss by hidden size"), "n1", col)
    return _verdict(
        y[-1] < y[0],
        f"{col}: {_g(y[0])} at n1 = {n[0]:g} → {_g(y[-1])} at n1 = {n[-1]:g}",
        str(claim.published),
        claim,
    )


def choromanska_spread(tables: Tables, claim: Claim) -> Verdict:
    """The std of the test loss at the largest size is below the one at the smallest."""
    return _falls(tables, claim, "std")


def choromanska_correlation(tables: Tables, claim: Claim) -> Verdict:
    """corr(train, test) at the largest size is below the one at the smallest."""
    return _falls(tables, claim, "corr(train, test)")


def dauphin_spearman(tables: Tables, claim: Claim) -> Verdict:
    """Spearman ρ between α and the loss over the critical points is positive."""
    from scipy.stats import spearmanr

    rows = _table(tables, "critical points")
    alpha, loss = _col(rows, "α"), _col(rows, "loss")
    crit = [str(r.get("critical", "yes")) == "yes" for r in rows]
    pts = [(a, b) for a, b, c in zip(alpha, loss, crit, strict=True) if c and math.isfinite(a + b)]
    if len(pts) < 3:
        return Verdict(DIFFERS, f"{len(pts)} critical point(s)", str(claim.published),
                       "fewer than three critical points: no rank correlation")  # fmt: skip
    rho = float(spearmanr([a for a, _ in pts], [b for _, b in pts]).statistic)
    ok = math.isfinite(rho) and rho > 0
    return _verdict(ok, f"ρ = {_g(rho)} over {len(pts)} critical points", str(claim.published),
                    claim)  # fmt: skip


def freeman_bruna_length(tables: Tables, claim: Claim) -> Verdict:
    """Mean normalized length on the quadratic problem at the paper's L0 within tolerance."""
    p, tol = claim.published, claim.tolerance or 0.0
    rows = _table_with(tables, "problem", "L0")
    _col(rows, "length (weights) mean")
    mine = [r for r in rows if r.get("problem") == p["problem"]]
    if not mine:
        raise _Missing(NOT_RUN, f"no {p['problem']} rows")
    at = [r for r in mine if any(math.isclose(_num(r.get("L0")), x) for x in p["L0"])]
    note = "" if at else " (no row at the paper's L0: all rows of the problem)"
    at = at or mine
    got = [(_num(r.get("L0")), _num(r.get("length (weights) mean"))) for r in at]
    got = [(a, b) for a, b in got if math.isfinite(b)]
    if not got:
        return Verdict(DIFFERS, "no connected pair", f"{p['low']}–{p['high']}", claim.differs)
    ok = all(p["low"] - tol <= b <= p["high"] + tol for _, b in got)
    return _verdict(
        ok,
        ", ".join(f"{_g(b)} at L0 = {a:g}" for a, b in got) + note,
        f"{p['low']}–{p['high']} at L0 = {', '.join(map(str, p['L0']))} (± {tol:g})",
        claim,
    )


def _rates(tables: Tables) -> dict[tuple[str, int], float]:
    """(student choice, k) → spurious % from the Safran–Shamir table."""
    rows = _table(tables, "spurious minima")
    _col(rows, "spurious %")
    _col(rows, "k")
    out = {}
    for r in rows:
        n = str(r.get("n", ""))
        choice = n[n.find("(") + 1 : n.rfind(")")] if "(" in n else n
        out[(choice, int(_num(r["k"])))] = _num(r.get("spurious %"))
    return out


def safran_shamir_k10(tables: Tables, claim: Claim) -> Verdict:
    """The rate at k = n = 10 is about a third."""
    p, tol = claim.published, claim.tolerance or 0.0
    rate = _rates(tables).get(("k", p["k"]))
    if rate is None:
        return Verdict(NOT_RUN, f"no row at k = n = {p['k']}", f"≈ {p['percent']:g} %")
    return _verdict(abs(rate - p["percent"]) <= tol, f"{_g(rate)} %",
                    f"≈ {p['percent']:g} % (± {tol:g})", claim)  # fmt: skip


def safran_shamir_rising(tables: Tables, claim: Claim) -> Verdict:
    """At n = k the rate at the largest k exceeds the one at the smallest k."""
    ks = sorted((k, v) for (c, k), v in _rates(tables).items() if c == "k" and math.isfinite(v))
    if len(ks) < 2:
        return Verdict(NOT_RUN, f"{len(ks)} value(s) of k at n = k", str(claim.published))
    return _verdict(ks[-1][1] > ks[0][1],
                    f"{_g(ks[0][1])} % at k = {ks[0][0]} → {_g(ks[-1][1])} % at k = {ks[-1][0]}",
                    str(claim.published), claim)  # fmt: skip


def safran_shamir_overparam(tables: Tables, claim: Claim) -> Verdict:
    """Summed over the k run with both, the rate at n = k + 1 is below the rate at n = k."""
    r = _rates(tables)
    both = sorted(k for c, k in r if c == "k" and ("k+1", k) in r)
    if not both:
        return Verdict(NOT_RUN, "no k run with both n = k and n = k + 1", str(claim.published))
    a = sum(r[("k", k)] for k in both) / len(both)
    b = sum(r[("k+1", k)] for k in both) / len(both)
    return _verdict(b < a, f"mean over k ∈ {both}: {_g(a)} % (n = k), {_g(b)} % (n = k + 1)",
                    str(claim.published), claim)  # fmt: skip


def li_skip(tables: Tables, claim: Claim) -> Verdict:
    """|λ_min|/λ_max is larger without skip connections than with them."""
    rows = _table(tables, "skip connections")
    ratio = _col(rows, "|λ_min|/λ_max")
    by = {str(r.get("network")): v for r, v in zip(rows, ratio, strict=True)}
    no, yes = by.get("without skips", math.nan), by.get("with skips", math.nan)
    if not math.isfinite(no + yes):
        return Verdict(DIFFERS, f"without {_g(no)}, with {_g(yes)}", str(claim.published),
                       "a ratio is missing or not finite")  # fmt: skip
    return _verdict(no > yes, f"without skips {_g(no)}, with skips {_g(yes)}",
                    str(claim.published), claim)  # fmt: skip


def lazy_kernel_slope(tables: Tables, claim: Claim) -> Verdict:
    """The log–log slope of λ_min(K̄) against the width n is ≈ 1 on every data set."""
    rows = [
        r for r in _table(tables, "slopes against the width") if r.get("quantity") == "λ_min(K̄)"
    ]
    if not rows:
        raise _Missing(DIFFERS, "no λ_min(K̄) slope row")
    slopes = {str(r.get("data")): _num(r.get("slope vs n")) for r in rows}
    target, tol = float(claim.published["slope"]), claim.tolerance or 0.0
    ok = all(abs(v - target) <= tol for v in slopes.values())
    measured = ", ".join(f"{d}: {_g(v)}" for d, v in slopes.items())
    return _verdict(ok, measured, f"slope {target:g} (± {tol:g})", claim)


def auer_minima(tables: Tables, claim: Claim) -> Verdict:
    """Every dimension d run has exactly 2^d verified local minima."""
    rows = _table(tables, "local minima of one logistic neuron")
    d, found = _col(rows, "d"), _col(rows, "verified")
    ok = all(f == 2**dd for dd, f in zip(d, found, strict=True))
    measured = ", ".join(f"d = {dd:g}: {f:g}" for dd, f in zip(d, found, strict=True))
    return _verdict(ok, measured, "2^d for every d", claim)


def kawaguchi_eliminated(tables: Tables, claim: Claim) -> Verdict:
    """At the spurious minimum of L the gradient of L̃ in a is non-zero in every draw."""
    rows = _table(tables, "descent on L̃ from the spurious minimum")
    flags = [str(r.get("eliminated")) for r in rows]
    ok = bool(flags) and all(f == "yes" for f in flags)
    glob = sum(str(r.get("θ_T global")) == "yes" for r in rows)
    return _verdict(
        ok,
        f"eliminated in {flags.count('yes')} of {len(flags)} draws (θ_T global in {glob})",
        str(claim.published),
        claim,
    )


CHECKS: dict[str, Callable[[Tables, Claim], Verdict]] = {
    f.__name__: f
    for f in (
        spinglass_band,
        choromanska_spread,
        choromanska_correlation,
        dauphin_spearman,
        freeman_bruna_length,
        safran_shamir_k10,
        safran_shamir_rising,
        safran_shamir_overparam,
        li_skip,
        lazy_kernel_slope,
        auer_minima,
        kawaguchi_eliminated,
    )
}


def evaluate(claim: Claim, tables: Tables | None) -> Verdict:
    """The verdict of ``claim`` on a run's stored tables (``None``: no run → not run)."""
    if tables is None:
        return Verdict(NOT_RUN, "no run of " + claim.experiment, _pub(claim))
    try:
        return CHECKS[claim.check](tables, claim)
    except _Missing as m:
        reason = m.what if m.verdict == DIFFERS else ""
        return Verdict(m.verdict, m.what, _pub(claim), reason)


def _pub(claim: Claim) -> str:
    p = claim.published
    return ", ".join(f"{k} = {v}" for k, v in p.items()) if isinstance(p, dict) else str(p)
