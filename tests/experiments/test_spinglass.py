from __future__ import annotations

import itertools

import numpy as np
import pytest

from landscape.cli import main
from landscape.experiments import build_config, replay
from landscape.plots._checks import check_figure
from landscape.runtime import Store
from landscape.spinglass import e_inf, threshold


def test_quick_spinglass_end_to_end(tmp_path, capsys):
    store = tmp_path / "l.db"
    code = main(["reproduce", "spinglass", "--store", str(store), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    cfg = build_config("spinglass", "quick")
    with Store(store) as st:
        run = st.runs("spinglass")[0]
        m = {(k, s): v for k, s, v in st.metrics(run.id)}
    e0, einf = threshold(3, 0), e_inf(3)
    stds = [m[("std_energy", n)] for n in cfg.sizes]
    means = [m[("mean_energy", n)] for n in cfg.sizes]
    # minima concentrate and move down toward −E∞ as Λ grows; none below the ground state
    assert stds[-1] < 0.5 * stds[0]
    assert means[-1] < means[0] and means[-1] > -e0
    assert all(m[("fraction_index0", n)] == 1.0 for n in cfg.sizes)
    with np.load(run.folder / "energies.npz") as z:
        for n in cfg.sizes:
            assert z[f"L={n}"].min() > -e0 - 4.0 / n
    # saddles: energy rises with the index, and every one sits above the minima's mean
    saddle = [m[("saddle_mean_energy", k)] for k in sorted(cfg.saddles.indices)]
    assert all(a < b for a, b in itertools.pairwise(saddle))
    assert saddle[0] > m[("mean_energy", cfg.saddles.sizes[0])]
    with Store(store) as st:
        _, figs = replay("spinglass", st, run.id)
    for name in ("energy_histograms", "complexity", "saddles"):
        assert (run.folder / f"{name}.png").is_file()
    # the reference lines at their values: −E₀(3) and −E∞(3) on every histogram panel
    check_figure(figs["energy_histograms"][0], vlines=[-e0, -einf], xlabel="L/Λ")
    check_figure(figs["complexity"][0], vlines=[-e0, -threshold(3, 1), -einf])
    check_figure(figs["saddles"][0], hlines=[-e0, -einf])
    assert "−E₀ = -1.6570" in out and f"{-einf:.4f}" in out


def test_theory_command(tmp_path, capsys):
    store = tmp_path / "t.db"
    code = main(["theory", "--H", "3", "--k-max", "4", "--store", str(store), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    for k in range(5):
        assert f"{threshold(3, k):.5g}" in out
    assert f"{e_inf(3):.5g}" in out
    # a recorded run: its table and figure caption are persisted, the figure is readable
    with Store(store) as st:
        run = st.runs("theory")[0]
        saved = st.outputs(run.id)
    (rows,) = saved.tables.values()
    assert [r["k"] for r in rows] == [0, 1, 2, 3, 4, "∞"]
    assert rows[0]["E_k(H)"] == pytest.approx(threshold(3, 0), rel=1e-12)
    assert "complexity.png" in saved.figures and (run.folder / "complexity.png").is_file()
    code = main(["theory", "--H", "1", "--store", str(store)])
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "H" in err and "greater than or equal to 2" in err
