from __future__ import annotations

import numpy as np
import pytest

from landscape.cli import main
from landscape.experiments import build_config, replay
from landscape.experiments.papers.width_gap import fit_exponent
from landscape.plots._checks import check_figure
from landscape.runtime import Store


def test_quick_width_gap_end_to_end(tmp_path, capsys):
    """The quick preset: one row per (n, m); alignment lowers every barrier; DSS strings
    that count as connected stay below their threshold."""
    store = tmp_path / "l.db"
    code = main(["reproduce", "width-gap", "--quick", "--store", str(store), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "aligned barrier" in out
    cfg = build_config("width-gap", "quick")
    with Store(store) as st:
        run = st.runs("width-gap")[0]
        assert run.status == "done"
        summary, figs = replay("width-gap", st, run.id)
    rows = summary.data["rows"]
    assert {(r["n"], r["m"]) for r in rows} == {(n, m) for n in cfg.input_dims for m in cfg.widths}
    for (_n, _m), r in summary.data["per"].items():
        assert np.all(r["barrier_aligned"] <= r["barrier"])  # weight matching helps
        assert np.all(r["barrier"] > 0)  # independently trained pairs: a barrier on the line
        conn = r["connected"].astype(bool)
        assert np.all(r["dss_excess"][conn] <= cfg.dss_gap + 1e-12)
        assert np.all(r["length"] >= 1.0 - 1e-12)
    for n in cfg.input_dims:
        assert np.isfinite(summary.data["fits"][n]["aligned"])
        assert any(f"n = {n}: fitted exponent" in note for note in summary.notes)
    check_figure(figs["gap_vs_width"][0], xlabel="hidden width m")


@pytest.mark.parametrize("n", [1, 2, 4])
def test_fit_exponent_recovers_a_power_law(n):
    m = np.array([4.0, 8, 16, 32, 64])
    assert fit_exponent(m, 3.0 * m ** (-1.0 / n)) == pytest.approx(-1.0 / n, abs=1e-12)
    gaps = 3.0 * m ** (-1.0 / n)
    gaps[2] = 0.0  # a non-positive gap is left out, not logged
    assert fit_exponent(m, gaps) == pytest.approx(-1.0 / n, abs=1e-12)
    assert np.isnan(fit_exponent(m[:1], gaps[:1]))
