from __future__ import annotations

import numpy as np
import pytest

from landscape import ConfigError
from landscape.cli import main
from landscape.experiments import build_config, replay
from landscape.plots._checks import check_figure, series_labels
from landscape.runtime import Store


def test_quick_safran_shamir_end_to_end(tmp_path, capsys):
    """The quick preset: every start accounted for, rates rise with k, k + 1 lower than k."""
    store = tmp_path / "runs" / "l.db"
    code = main(["reproduce", "safran-shamir", "--quick", "--store", str(store), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    for col in ("converged", "not conv.", "spurious %", "95% CI", "families", "its λ_min"):
        assert col in out
    cfg = build_config("safran-shamir", "quick")
    with Store(store) as st:
        run = st.runs("safran-shamir")[0]
        assert run.status == "done"
        summary, figs = replay("safran-shamir", st, run.id)
    rows = summary.data["rows"]
    by = {(r["k"], r["n"].split(" ")[1]): r for r in rows}
    for r in rows:
        assert r["runs"] == cfg.runs == r["converged"] + r["not conv."]
        assert r["spurious"] + r["saddles"] <= r["converged"]
        if r["spurious"]:  # verified minima above the threshold
            assert r["min spurious F"] >= cfg.threshold and r["its λ_min"] > 0
    k0, k1 = min(cfg.ks), max(cfg.ks)
    # the claims: the rate at n = k rises with k, and one extra neuron lowers it
    assert by[(k1, "(k)")]["spurious %"] > by[(k0, "(k)")]["spurious %"]
    assert by[(k1, "(k)")]["spurious %"] >= 15.0  # published: about a third at k = 10
    assert by[(k1, "(k+1)")]["spurious %"] < by[(k1, "(k)")]["spurious %"]
    # every spurious run's family and λ_min is in the saved arrays
    per = summary.data["per"][("k", k1)]
    assert np.all(per["lambda_min"][per["spurious"]] > 0)
    assert np.all(per["family"][per["spurious"]] >= 0)
    fig = figs["spurious_rate"][0]
    check_figure(fig, xlabel="teacher neurons k")
    assert series_labels(fig.axes[0]) == ["n = k", "n = k+1"]
    check_figure(figs["spurious_families"][0], ylabel="population loss F")
    assert (run.folder / "spurious_rate.png").is_file()


def test_config_refuses_duplicates_and_unknown_student_sizes():
    with pytest.raises(ConfigError, match="more than once"):
        build_config("safran-shamir", "quick", overrides={"ks": [6, 6]})
    with pytest.raises(ConfigError, match="students"):
        build_config("safran-shamir", "quick", overrides={"students": ["k+3"]})
