"""The HTML report: runs from a hand-made store, escaping, and the claim checks."""

from __future__ import annotations

import base64
import math
import re

import pytest

from landscape.cli import main
from landscape.report import build_report, evaluate, load_claims
from landscape.report.claims import CHECKS
from landscape.runtime.store import Store
from landscape.spinglass.theory import e_inf, threshold

CLAIMS = {c.id: c for c in load_claims()}


def _png(path) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(path)
    plt.close(fig)
    return path.read_bytes()


CHORO_ROWS = [
    {"n1": 10, "runs": 5, "std": 0.125, "corr(train, test)": 0.9, "test loss mean": 0.731},
    {"n1": 40, "runs": 5, "std": 0.0625, "corr(train, test)": 0.4, "test loss mean": 0.512},
]


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "runs" / "s.db") as st:
        run, _ = st.start_run("choromanska", {"sizes": [10, 40], "label": "x"}, seed=7)
        png = _png(run.folder / "losses.png")
        st.save_outputs(
            run.id,
            {"test loss by hidden size (digits 8×8)": CHORO_ROWS},
            ["a note about spreads"],
            {"losses.png": "test-loss histograms per size"},
        )
        st.finish_run(run.id, "done")
        bad, _ = st.start_run("dauphin", {"evil": "<script>alert(1)</script>"}, seed=1)
        st.finish_run(bad.id, "failed", error="ran out of <b>luck</b>")
        yield st, run.id, bad.id, png


def test_done_run_renders_tables_figure_and_verdicts(store):
    st, done, _, png = store
    page = build_report(st, [done])
    assert f"run {done}" in page
    for v in ("0.125", "0.0625", "0.731", "0.512", "a note about spreads"):
        assert v in page
    b64 = base64.b64encode(png).decode()
    assert f'src="data:image/png;base64,{b64}"' in page
    assert "test-loss histograms per size" in page
    # both Choromanska claims hold on these rows; claims of experiments not selected: not run
    section = page.split(f'id="{done}"')[1].split("</section>")[0]
    assert section.count("<b>reproduced</b>") == 2
    tail = page.split("<h2>not run</h2>")[1]
    assert tail.count("<b>not run</b>") == sum(
        c.experiment != "choromanska" for c in CLAIMS.values()
    )


def test_failed_run_renders_and_says_so_and_escapes(store):
    st, _, bad, _ = store
    page = build_report(st, [bad])
    section = page.split(f'id="{bad}"')[1].split("</section>")[0]
    assert 'class="status-failed">failed<' in section
    assert "did not finish" in section
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>luck</b>" not in page and "&lt;b&gt;luck&lt;/b&gt;" in page
    # a failed run without tables: its claims are not run, not a crash
    assert section.count("<b>not run</b>") == sum(
        c.experiment == "dauphin" for c in CLAIMS.values()
    )


def test_latest_skips_failed_runs_and_cli_writes_the_file(store, tmp_path):
    st, done, bad, _ = store
    page = build_report(st, latest=True)
    assert f'id="{done}"' in page and f'id="{bad}"' not in page
    out = tmp_path / "r" / "report.html"
    assert main(["-q", "report", "--store", str(st.path), "-o", str(out), bad[:20]]) == 0
    assert out.is_file() and f'id="{bad}"' in out.read_text()
    assert main(["-q", "report", "--store", str(tmp_path / "none.db"), "-o", str(out)]) == 1


def test_reference_thresholds_match_the_theory():
    p = CLAIMS["abc-thresholds"].published
    assert p["minus_E0"] == pytest.approx(-threshold(p["H"], 0), abs=1e-4)
    assert p["minus_Einf"] == pytest.approx(-e_inf(p["H"]), abs=1e-4)
    assert {c.check for c in CLAIMS.values()} <= set(CHECKS)
    assert all(c.source and c.paper and c.differs for c in CLAIMS.values())


def _spin(mean):
    title = "minima of the spherical 3-spin glass from 8 random starts per Λ"
    return {title: [{"Λ": 20, "mean L/Λ": -1.5}, {"Λ": 100, "mean L/Λ": mean}]}


@pytest.mark.parametrize(
    ("claim", "tables", "status"),
    [
        ("abc-thresholds", _spin(-1.645), "reproduced"),
        ("abc-thresholds", _spin(-1.55), "differs"),
        ("abc-thresholds", {"something else": [{"a": 1}]}, "not run"),
        ("abc-thresholds", {"minima of the spherical": [{"Λ": 20}]}, "differs"),
        ("choromanska-spread", {"test loss by hidden size": CHORO_ROWS}, "reproduced"),
        ("choromanska-correlation", {"test loss by hidden size": CHORO_ROWS[::-1]}, "reproduced"),
        (
            "choromanska-spread",
            {"test loss by hidden size": [{"n1": 10, "std": 0.1}, {"n1": 40, "std": 0.2}]},
            "differs",
        ),
    ],
)
def test_verdicts_on_hand_made_rows(claim, tables, status):
    v = evaluate(CLAIMS[claim], tables)
    assert v.status == status
    if status == "differs":
        assert v.reason and v.measured


def _crit(pairs, crit="yes"):
    rows = [{"α": a, "loss": b, "critical": crit} for a, b in pairs]
    return {"critical points (sorted by index)": rows}


def test_dauphin_spearman_sign():
    c = CLAIMS["dauphin-index"]
    up = [(0.0, 0.1), (0.1, 0.3), (0.2, 0.2), (0.3, 0.9)]
    assert evaluate(c, _crit(up)).status == "reproduced"
    assert evaluate(c, _crit([(a, -b) for a, b in up])).status == "differs"
    # points that are not critical do not count
    assert evaluate(c, _crit(up, crit="no: max iterations")).status == "differs"
    v = evaluate(c, _crit(up))
    rho = float(re.search(r"ρ = ([-\d.]+)", v.measured).group(1))
    assert rho == pytest.approx(0.8)  # ranks (1,2,3,4) vs (1,3,2,4)


def _ss(rates):
    rows = [
        {"k": k, "n": f"{k + (c == 'k+1')} ({c})", "spurious %": v} for (c, k), v in rates.items()
    ]
    return {"spurious minima of the ReLU teacher–student": rows}


def test_safran_shamir_checks():
    t = _ss({("k", 6): 0.5, ("k", 10): 30.0, ("k+1", 6): 0.0, ("k+1", 10): 8.0})
    assert evaluate(CLAIMS["safran-shamir-k10"], t).status == "reproduced"
    assert evaluate(CLAIMS["safran-shamir-rising"], t).status == "reproduced"
    assert evaluate(CLAIMS["safran-shamir-overparam"], t).status == "reproduced"
    t2 = _ss({("k", 6): 40.0, ("k", 10): 2.0})
    assert evaluate(CLAIMS["safran-shamir-k10"], t2).status == "differs"
    assert evaluate(CLAIMS["safran-shamir-rising"], t2).status == "differs"
    assert evaluate(CLAIMS["safran-shamir-overparam"], t2).status == "not run"
    assert evaluate(CLAIMS["safran-shamir-k10"], _ss({("k", 6): 1.0})).status == "not run"


def test_freeman_bruna_and_li_checks():
    fb = CLAIMS["freeman-bruna-length"]
    rows = [
        {"problem": "quadratic", "L0": 0.1, "length (weights) mean": 1.36},
        {"problem": "quadratic", "L0": 0.05, "length (weights) mean": 1.41},
        {"problem": "cubic", "L0": 0.1, "length (weights) mean": 3.0},
    ]
    assert evaluate(fb, {"strings by L0": rows}).status == "reproduced"
    rows[1]["length (weights) mean"] = 1.9
    assert evaluate(fb, {"strings by L0": rows}).status == "differs"
    assert evaluate(fb, {"strings by L0": rows[2:]}).status == "not run"
    other = [{"problem": "quadratic", "L0": 0.12, "length (weights) mean": 1.3}]
    v = evaluate(fb, {"DSS connectivity": other})
    assert v.status == "reproduced" and "no row at the paper's L0" in v.measured
    li = CLAIMS["li-skip"]
    skip = [{"network": "without skips", "|λ_min|/λ_max": 0.4},
            {"network": "with skips", "|λ_min|/λ_max": 0.05}]  # fmt: skip
    assert evaluate(li, {"skip connections: residual CNN": skip}).status == "reproduced"
    skip[1]["|λ_min|/λ_max"] = math.nan
    assert evaluate(li, {"skip connections: residual CNN": skip}).status == "differs"
    assert evaluate(li, None).status == "not run"


def test_lazy_auer_and_kawaguchi_checks():
    def slopes(ts, dg):
        rows = [
            {"data": "teacher-student", "quantity": "λ_min(K̄)", "slope vs n": ts},
            {"data": "teacher-student", "quantity": "r_T / r_0", "slope vs n": -0.5},
            {"data": "digits", "quantity": "λ_min(K̄)", "slope vs n": dg},
        ]
        return {"log–log slopes against the width n": rows}

    lazy = CLAIMS["lazy-kernel"]
    assert evaluate(lazy, slopes(1.1, 0.95)).status == "reproduced"
    v = evaluate(lazy, slopes(1.1, 0.5))  # one data set off the band
    assert v.status == "differs" and "digits: 0.5" in v.measured
    assert evaluate(lazy, {"other": [{"x": 1}]}).status == "not run"

    def auer(found):
        rows = [{"d": d, "verified": f} for d, f in zip((1, 2, 3), found, strict=True)]
        return {"local minima of one logistic neuron (square loss)": rows}

    assert evaluate(CLAIMS["auer-exponential"], auer((2, 4, 8))).status == "reproduced"
    assert evaluate(CLAIMS["auer-exponential"], auer((2, 4, 7))).status == "differs"

    def kw(flags):
        rows = [{"eliminated": f, "θ_T global": "no"} for f in flags]
        return {"phase 2: descent on L̃ from the spurious minimum (a = 0)": rows}

    v = evaluate(CLAIMS["kawaguchi-elimination"], kw(["yes"] * 4))
    assert v.status == "reproduced" and "4 of 4" in v.measured and "θ_T global in 0" in v.measured
    assert evaluate(CLAIMS["kawaguchi-elimination"], kw(["yes", "no"])).status == "differs"
    assert evaluate(CLAIMS["kawaguchi-elimination"], {}).status == "not run"


def test_runs_appear_once_each_in_order(store):
    st, done, bad, _ = store
    page = build_report(st, [done, bad])
    assert page.count("<section") == page.count("</section>") == 2
    assert page.index(f'id="{done}"') < page.index(f'id="{bad}"')  # in the order asked


def test_reproduce_all_runs_every_paper_reports_failures_and_prints_path_last(
    tmp_path, monkeypatch, capsys
):
    import landscape.experiments as ex
    from landscape.experiments.lifecycle import Result
    from landscape.experiments.registry import papers

    names = [e.name for e in papers()]

    def fake_execute(name, cfg, st, executor, resume=True, on_start=None):
        run, _ = st.start_run(name, {"quick": True}, seed=0)
        on_start(run.id, False)
        if name == "dauphin":
            st.finish_run(run.id, "failed", error="boom")
            raise RuntimeError("boom")
        st.save_outputs(run.id, {"t": [{"value": len(name) + 0.5}]}, [], {})
        st.finish_run(run.id, "done")
        return Result(run_id=run.id, folder=run.folder)

    monkeypatch.setattr(ex, "build_config", lambda name, preset, *a: {"preset": preset})
    monkeypatch.setattr(ex, "execute", fake_execute)
    db, out = tmp_path / "s.db", tmp_path / "demo.html"
    assert main(["reproduce-all", "--store", str(db), "-o", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].replace("\n", "") == str(out)
    assert all(any(f"] {n}:" in ln for ln in lines) for n in names)
    assert any("failed" in ln and "boom" in ln for ln in lines)
    page = out.read_text()
    with Store(db) as st:
        runs = st.runs()
    assert len(runs) == len(names)
    for r in runs:
        assert f'id="{r.id}"' in page
    failed = next(r for r in runs if r.experiment == "dauphin")
    assert 'class="status-failed">failed<' in page.split(f'id="{failed.id}"')[1]


def test_plotly_view_is_inline_with_png_fallback(tmp_path):
    with Store(tmp_path / "s.db") as st:
        run, _ = st.start_run("surfaces", {}, seed=0)
        (run.folder / "surface.html").write_text("<div id='p'></div><script>draw('p')</script>")
        png = _png(run.folder / "surface.png")
        st.save_outputs(run.id, {}, [], {"surface.html": "rotate me"})
        st.finish_run(run.id, "done")
        page = build_report(st, [run.id])
    frame = page.split("<iframe")[1].split("</iframe>")[0]
    assert 'srcdoc="&lt;div id=&#39;p&#39;&gt;&lt;/div&gt;&lt;script&gt;draw' in frame
    assert base64.b64encode(png).decode() in page.split("</iframe>")[1]
    assert "rotate me" in page and "No tables were recorded" in page
