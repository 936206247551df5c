from __future__ import annotations

import numpy as np
import pytest

from landscape.cli import main
from landscape.experiments import build_config, replay
from landscape.experiments.papers import kawaguchi as K
from landscape.plots._checks import check_figure, data_lines, reference_lines
from landscape.runtime import Store


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick run through the CLI, replayed from the store."""
    store = tmp_path_factory.mktemp("kw") / "k.db"
    assert main(["reproduce", "kawaguchi", "--quick", "--store", str(store), "--quiet"]) == 0
    cfg = build_config("kawaguchi", "quick")
    with Store(store) as st:
        run = st.runs("kawaguchi")[0]
        summary, figs = replay("kawaguchi", st, run.id)
    return cfg, run, summary, figs


def test_phase1_finds_a_verified_spurious_minimum(quick):
    cfg, _, summary, _ = quick
    search = summary.tables[K.SEARCH_TABLE]
    assert len(search) == cfg.seeds
    spurious = [r for r in search if r["verdict"] == "spurious minimum"]
    assert spurious, "the quick preset must find a spurious minimum"
    for r in spurious:  # critical, PSD Hessian, clearly above the global value 0
        assert r["‖∇L‖"] <= cfg.grad_tol
        assert r["λ_min(H)"] >= -cfg.eig_tol * abs(r["λ_max(H)"])
        assert r["loss L"] >= K.GLOBAL_VALUE + cfg.margin
    assert summary.data["start"] == spurious[0]["loss L"]


def test_the_spurious_minimum_is_eliminated_but_the_unit_runs_off(quick):
    cfg, _, summary, _ = quick
    start = summary.data["start"]
    rows = summary.tables[K.RUNS_TABLE]
    assert len(rows) == cfg.unit_seeds
    for r in rows:
        # eliminated: ∂L̃/∂a ≠ 0 at (θ_spurious, a = 0) while ∇_θ L̃ = ∇L ≈ 0
        assert r[K.GA] >= 1e3 * cfg.grad_tol
        assert r[K.GT] <= cfg.grad_tol
        assert r["eliminated"] == "yes"
        # the unit gives L̃ a way down below the spurious value ...
        assert r[K.LT] < start - cfg.margin
        # ... but θ alone ends no better than where it started (global value 0)
        assert r[K.LO] > start
        assert r["θ_T global"] == "no"
        # the catch: b grows like log t while the amplitude stays O(1)
        assert r["db/dlog t"] > 0.1
        assert r["b_T"] > 0.5
        assert r[K.AMP] > 0.1
        assert r["runs off"] == "yes"
    traj = summary.data["trajectory"]
    steps = traj["steps"]
    np.testing.assert_array_equal(steps, np.arange(0, cfg.kw_epochs + 1, cfg.record_every))
    spur = [u for u, k in enumerate(summary.data["kinds"]) if k == "spurious"]
    # step 0: a = 0, so L̃ equals the original loss at the spurious minimum
    np.testing.assert_allclose(traj["modified"][0, spur], start, rtol=1e-10)
    np.testing.assert_allclose(traj["original"][0, spur], start, rtol=1e-10)
    assert np.all(traj["a"][0, spur] == 0)
    # the table's slope is the least-squares slope of b against log t over the second half
    half = steps >= steps[-1] / 2
    for i, u in enumerate(spur):
        c = np.polyfit(np.log(steps[half]), traj["b"][half, u], 1)[0]
        assert rows[i]["db/dlog t"] == pytest.approx(c, rel=1e-9)
        # b at the end is above b at the middle: increasing, not oscillating around a value
        assert traj["b"][-1, u] > traj["b"][np.argmax(half), u] + 0.1


def test_the_teacher_is_a_finite_local_minimum_of_the_modified_loss(quick):
    cfg, _, summary, _ = quick
    (h,) = summary.tables[K.HESSIAN_TABLE]
    assert h["L̃"] <= 1e-20 and h["‖∇L̃‖"] <= 1e-12
    assert h["λ_min"] >= -cfg.eig_tol * h["λ_max"]
    assert h["λ_max"] > 1.0
    # W and b of the unit (a = 0) are flat directions: at least d + 1 zero eigenvalues
    assert h["flat directions (|λ| ≤ eig_tol·λ_max)"] >= cfg.d + 1
    assert h["verdict"] == "local minimum"
    controls = {r["start"]: r for r in summary.tables[K.CONTROL_TABLE]}
    teacher = controls["teacher"]
    assert teacher[K.GA] == 0 and teacher[K.GT] == 0
    assert teacher["|a_T|"] <= 1e-12 and teacher[K.LO] <= 1e-20
    assert teacher["θ_T global"] == "yes" and teacher["eliminated"] == "no"
    # perturbed, the descent comes back to a global minimum with the unit switched off
    noisy = controls["teacher + noise"]
    assert noisy[K.GA] > cfg.grad_tol  # it did start away from the minimum
    assert noisy[K.LO] <= 1e-2 * cfg.margin and noisy["|a_T|"] <= 1e-3
    assert noisy["θ_T global"] == "yes" and noisy["runs off"] == "no"
    randoms = [r for k, r in controls.items() if k.startswith("random θ")]
    assert len(randoms) == cfg.random_starts


def test_figures_are_readable_and_show_the_recorded_runs(quick):
    cfg, run, summary, figs = quick
    traj, kinds = summary.data["trajectory"], summary.data["kinds"]
    fig = figs["kawaguchi_losses"][0]
    check_figure(fig, xlabel="gradient step t")
    left = fig.axes[0]
    first = data_lines(left)[0]
    keep = traj["steps"] > 0
    np.testing.assert_allclose(first.get_xdata(), traj["steps"][keep])
    np.testing.assert_allclose(first.get_ydata(), traj["modified"][keep, 0])
    _, hlines = reference_lines(left)
    assert summary.data["start"] in hlines
    assert K.GLOBAL_VALUE + cfg.margin in hlines
    assert left.get_xscale() == "log" and left.get_yscale() == "log"
    unit = figs["kawaguchi_unit"][0]
    check_figure(unit, xlabel="gradient step t")
    b_lines = data_lines(unit.axes[1])
    spur = [u for u, k in enumerate(kinds) if k == "spurious"]
    np.testing.assert_allclose(b_lines[0].get_ydata(), traj["b"][keep, spur[0]])
    for name in ("kawaguchi_losses", "kawaguchi_unit"):
        assert (run.folder / f"{name}.png").is_file()
