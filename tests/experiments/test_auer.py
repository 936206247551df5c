from __future__ import annotations

import pytest

from landscape import ConfigError
from landscape.cli import main
from landscape.experiments import build_config, replay
from landscape.plots._checks import check_figure
from landscape.runtime import Store


def test_quick_auer_end_to_end(tmp_path, capsys):
    store = tmp_path / "a.db"
    assert main(["reproduce", "auer", "--quick", "--store", str(store), "--quiet"]) == 0
    assert "2^d" in capsys.readouterr().out
    cfg = build_config("auer", "quick")
    with Store(store) as st:
        run = st.runs("auer")[0]
        summary, figs = replay("auer", st, run.id)
    rows = summary.tables["local minima of one logistic neuron (square loss)"]
    assert [r["d"] for r in rows] == cfg.dims
    for r in rows:
        assert r["verified"] == r["minima found"] == r["2^d"]
        assert r["max ‖∇L‖"] < 1e-6 and r["min λ(H)"] > 0
    fig = figs["minima_vs_dimension"][0]
    check_figure(fig, xlabel="dimension d")
    found = sorted(float(v) for v in fig.axes[0].get_lines()[0].get_ydata())
    assert found == [2.0**d for d in cfg.dims]
    assert (run.folder / "minima_vs_dimension.png").is_file()


def test_bad_dims():
    with pytest.raises(ConfigError, match="dims"):
        build_config("auer", "quick", overrides={"dims": [2, 2]})
