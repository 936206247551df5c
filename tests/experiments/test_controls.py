from __future__ import annotations

import numpy as np

from landscape.cli import main
from landscape.experiments import build_config, replay
from landscape.plots._checks import check_figure, reference_lines
from landscape.runtime import Store


def test_quick_controls_end_to_end(tmp_path, capsys):
    """The quick preset: each control's claim holds in its table."""
    store = tmp_path / "l.db"
    code = main(["reproduce", "controls", "--quick", "--store", str(store), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "reached L*" in out and "poor minima" in out
    cfg = build_config("controls", "quick")
    with Store(store) as st:
        run = st.runs("controls")[0]
        assert run.status == "done"
        summary, figs = replay("controls", st, run.id)
    # deep linear: every run at the closed-form optimum; every pair connected by DSS
    for r in summary.data["linear"]:
        if r["l2"] == 0:
            assert r["reached L*"] == r["runs"] == cfg.linear_runs
        assert r["DSS"] == "connected"
        assert r["string max − max(L₁,L₂)"] <= cfg.dss_margin * 4  # below the threshold
    assert any(r["l2"] > 0 for r in summary.data["linear"])
    # the constructive path stays below the endpoints where the proof's condition holds
    tables = summary.tables
    path_rows = next(v for k, v in tables.items() if k.startswith("constructive"))
    ok = [r for r in path_rows if r["n₁ ≥ … ≥ m (proof's condition)"] == "yes"]
    assert ok and all(r["constructive: max − bound"] <= 1e-9 for r in ok)
    assert any(r["widths"].count("→") == 3 for r in ok)  # a net of two hidden layers too
    assert all(r["straight line: max − bound"] > 1e-3 for r in ok)
    # quadratic nets: no poor minimum at M ≥ 2N
    quad = [r for r in summary.data["width"] if r["activation"] == "quadratic"]
    assert all(r["poor minima"] == 0 for r in quad if r["M ≥ 2N"])
    assert {r["M"] for r in summary.data["width"]} == set(cfg.widths)
    # the ReLU example is not connected below the ½ barrier
    dis = summary.data["disconnected"]
    assert dis["status"] == "not connected within limits" and dis["straight-line barrier"] >= 0.5
    fig = figs["poor_minima_vs_width"][0]
    check_figure(fig, xlabel="hidden width M")
    assert reference_lines(fig.axes[0])[0] == [2.0 * cfg.N]
    path_figs = [k for k in figs if k.startswith("constructive_path")]
    assert path_figs
    for k in path_figs:
        check_figure(figs[k][0], xlabel="path parameter t")
        ys = [ln.get_ydata() for ln in figs[k][0].axes[0].get_lines()]
        assert all(np.all(np.isfinite(y)) for y in ys)
