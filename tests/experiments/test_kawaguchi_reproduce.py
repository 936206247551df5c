from __future__ import annotations

import numpy as np

from landscape.cli import main
from landscape.experiments import build_config, replay
from landscape.plots._checks import check_figure
from landscape.runtime import Store


def test_quick_kawaguchi_end_to_end(tmp_path):
    store = tmp_path / "k.db"
    assert main(["reproduce", "kawaguchi", "--quick", "--store", str(store), "--quiet"]) == 0
    cfg = build_config("kawaguchi", "quick")
    with Store(store) as st:
        run = st.runs("kawaguchi")[0]
        summary, figs = replay("kawaguchi", st, run.id)
    search = summary.tables["phase 1: student seeds (dense float64 Hessian)"]
    assert len(search) == cfg.seeds
    best = min(r["loss L"] for r in search)
    spurious = [r for r in search if r["verdict"] == "spurious minimum"]
    assert spurious, "the quick preset must find a spurious minimum"
    for r in spurious:  # verified: critical, PSD Hessian, clearly above the best
        assert r["‖∇L‖"] <= cfg.grad_tol
        assert r["λ_min(H)"] >= -cfg.eig_tol * abs(r["λ_max(H)"])
        assert r["loss L"] >= best + cfg.margin
    rows = summary.tables["phase 2: L̃ from the spurious minimum (a = 0, W and b random)"]
    assert len(rows) == cfg.unit_seeds
    start = spurious[0]["loss L"]
    for r in rows:
        assert r["L at start (spurious)"] == start
        assert r["L̃ at end"] < start  # the unit gives L̃ a way down
        assert r["|a_T|"] > 0  # a moved off 0
    traj = summary.data["trajectory"]
    # step 0: a = 0, so L̃ equals the original loss at the spurious minimum
    np.testing.assert_allclose(traj["modified"][0], start, rtol=1e-10)
    np.testing.assert_allclose(traj["original"][0], start, rtol=1e-10)
    assert np.all(traj["a"][0] == 0)
    fig = figs["kawaguchi_losses"][0]
    check_figure(fig, xlabel="gradient step t")
    first = fig.axes[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(first, traj["modified"][:, 0])
    check_figure(figs["kawaguchi_unit"][0], xlabel="gradient step t")
    assert (run.folder / "kawaguchi_unit.png").is_file()
