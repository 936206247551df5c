"""``landscape reproduce surfaces`` (quick form), and the ``plane`` / ``line`` tools:
surface.npz + directions.pt recompute the grid, a killed grid resumes, three models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from landscape import checkpoint, models
from landscape.cli import main
from landscape.experiments import build_config, execute, replay
from landscape.experiments.tools import plane as plane_tool
from landscape.functional import FunctionalModel
from landscape.plots._checks import check_figure
from landscape.runtime import SerialExecutor, Store
from landscape.surface import load_directions


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # the shared 2-core machine: two threads thrash under load
    yield


def test_quick_surfaces_end_to_end(tmp_path, capsys):
    store = tmp_path / "l.db"
    assert main(["reproduce", "surfaces", "--quick", "--store", str(store), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "|λ_min|/λ_max" in out and "fraction curving down" in out
    with Store(store) as st:
        run = st.runs("surfaces")[0]
        assert run.status == "done"
        summary, figs = replay("surfaces", st, run.id)
    zoom_rows = summary.tables["zoom: four-layer ReLU MLP at its minimum"]
    assert [r["range"] for r in zoom_rows] == [1.0, 0.1, 0.01, 0.001]
    # trained to (near) zero loss: the centre is the lowest point at the finest zoom scale
    # and the spread of the loss shrinks with every zoom level
    assert zoom_rows[0]["loss at centre"] < 0.05
    spreads = [r["max loss"] - r["min loss"] for r in zoom_rows]
    assert all(a > b for a, b in itertools.pairwise(spreads))
    assert zoom_rows[0]["max loss"] > 10 * zoom_rows[0]["loss at centre"]
    skip = summary.tables["skip connections: residual CNN"]
    assert [r["network"] for r in skip] == ["without skips", "with skips"]
    for r in skip:
        assert r["λ_max"] > 0 and r["λ_max"] >= r["λ_min"] and 0 <= r["fraction curving down"] <= 1
        assert r["|λ_min|/λ_max"] == pytest.approx(abs(r["λ_min"]) / r["λ_max"])
    assert skip[0]["params"] == skip[1]["params"]
    check_figure(figs["mlp_zoom"][0])
    assert "α" in figs["mlp_zoom"][0].axes[0].get_xlabel()
    assert len([ax for ax in figs["mlp_zoom"][0].axes if ax.get_title()]) == 4
    check_figure(figs["skip_connections"][0])
    check_figure(figs["mlp_surface_3d"][0])
    for name in ("mlp_zoom", "skip_connections", "mlp_surface_3d"):
        assert (run.folder / f"{name}.png").is_file()


def _ckpt(tmp_path, name, seed):
    spec = models.MLPSpec(in_features=64, widths=(6,), out_features=10)
    return checkpoint.save(
        tmp_path / name,
        models.init_params(spec, seed),
        spec,
        meta={"data": {"name": "digits", "seed": 0}},
    )


def _plane_args(a, store, *extra):
    return [
        "plane",
        str(a),
        "--data",
        "digits",
        "--steps",
        "5",
        "--store",
        str(store),
        "--quiet",
        "--set",
        "n_samples=200",
        "--set",
        "rows_per_task=2",
        *extra,
    ]


def test_plane_files_recompute_the_grid(tmp_path):
    a = _ckpt(tmp_path, "a.ckpt", 0)
    store = tmp_path / "s.db"
    assert main(_plane_args(a, store, "--zoom", "1,0.1")) == 0
    with Store(store) as st:
        run = st.runs("plane")[0]
    folder = run.folder
    z = np.load(folder / "surface.npz")
    assert z["loss"].shape == (5, 5) and z["error"].shape == (5, 5)
    assert np.load(folder / "surface_z1.npz")["alpha"].max() == pytest.approx(0.1)
    d1, d2 = load_directions(folder / "directions.pt")
    raw = torch.load(folder / "directions.pt", weights_only=True)
    assert set(raw["params"]) == {f"{ab}.{k}" for ab in ("alpha", "beta") for k in d1}
    ck = checkpoint.load(a)
    fm = FunctionalModel(ck.build())
    from landscape import data

    x, y = data.digits(seed=0).train
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 5, size=(4, 2)):
        al, be = float(z["alpha"][i]), float(z["beta"][j])
        q = {k: ck.params[k] + al * d1[k] + be * d2[k] for k in ck.params}
        assert float(fm.loss(q, (x[:200], y[:200]))) == pytest.approx(z["loss"][i, j], rel=1e-5)
    for png in ("contour", "contour_lines", "surface_3d", "zoom"):
        assert (folder / f"{png}.png").is_file()
    page = (folder / "surface.html").read_text()  # the interactive view, offline
    assert "Plotly.newPlot" in page and "hovertemplate" in page and len(page) > 100_000


def test_a_killed_grid_resumes_without_recomputing(tmp_path, monkeypatch):
    a = _ckpt(tmp_path, "a.ckpt", 1)
    cfg = build_config(
        "plane",
        "quick",
        overrides={
            "checkpoint": str(a),
            "data": "digits",
            "steps": 6,
            "rows_per_task": 2,
            "n_samples": 100,
        },
    )
    calls = []
    real = plane_tool.rows_job

    def dying(task):
        calls.append(task.first)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(plane_tool, "rows_job", dying)
    with Store(tmp_path / "s.db") as st:
        with pytest.raises(KeyboardInterrupt):
            execute("plane", cfg, st, SerialExecutor())
        assert st.runs("plane")[0].status == "interrupted"
        calls.clear()
        monkeypatch.setattr(plane_tool, "rows_job", lambda t: (calls.append(t.first), real(t))[1])
        res = execute("plane", cfg, st, SerialExecutor())
        assert res.resumed and sorted(calls) == [2, 4]  # rows 0-1 were recorded; 2-3 died
        fresh = execute("plane", cfg, st, SerialExecutor(), resume=False)
    np.testing.assert_array_equal(res.data["surfaces"][0].loss, fresh.data["surfaces"][0].loss)


def test_three_model_plane_and_the_line_tool(tmp_path, capsys):
    a, b, c = (_ckpt(tmp_path, f"{n}.ckpt", i) for i, n in enumerate("abc"))
    store = tmp_path / "s.db"
    assert (
        main(
            _plane_args(
                a,
                store,
                "--directions",
                "three",
                "--second",
                str(b),
                "--third",
                str(c),
                "--range",
                "2",
            )
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "model b at (α, β)" in out and "model c at (α, β)" in out
    assert (
        main(
            [
                "line",
                str(a),
                "--data",
                "digits",
                "--steps",
                "7",
                "--store",
                str(store),
                "--quiet",
                "--set",
                "n_samples=100",
            ]
        )
        == 0
    )
    with Store(store) as st:
        run = st.runs("line")[0]
    z = np.load(run.folder / "surface.npz")
    assert z["loss"].shape == (7,) and z["beta"].size == 0
    assert (run.folder / "line.png").is_file()
    assert (
        main(
            [
                "plane",
                str(a),
                "--data",
                "digits",
                "--directions",
                "pca",
                "--store",
                str(store),
                "--quiet",
            ]
        )
        != 0
    )
