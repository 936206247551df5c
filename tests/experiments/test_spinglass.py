from __future__ import annotations

import itertools

import numpy as np

from landscape.cli import main
from landscape.experiments import build_config
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
    for name in ("energy_histograms.png", "complexity.png", "saddles.png"):
        assert (run.folder / name).stat().st_size > 20_000
    assert "−E₀ = -1.6570" in out and f"{-einf:.4f}" in out


def test_theory_command(tmp_path, capsys):
    png = tmp_path / "theta.png"
    code = main(["theory", "--H", "3", "--k-max", "4", "--out", str(png)])
    out = capsys.readouterr().out
    assert code == 0 and png.stat().st_size > 20_000
    for k in range(5):
        assert f"{threshold(3, k):.5g}" in out
    assert f"{e_inf(3):.5g}" in out
    code = main(["theory", "--H", "1"])
    assert code != 0
    err = capsys.readouterr().err
    assert err.strip() == "error: --H must be at least 2, got 1"
