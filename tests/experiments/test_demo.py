from __future__ import annotations

import pytest

import landscape.experiments.lifecycle as lifecycle
from landscape.experiments import build_config, execute
from landscape.plots._checks import check_figure
from landscape.runtime import SerialExecutor, Store


def test_interrupted_demo_resumes_and_trains_only_what_is_missing(tmp_path, monkeypatch):
    cfg = build_config(
        "demo", "quick", overrides={"epochs": 2, "members": 4, "members_per_task": 1}
    )
    real = lifecycle.run_task
    calls = []

    def flaky(task):
        calls.append(task.first)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(lifecycle, "run_task", flaky)
    with Store(tmp_path / "s.db") as st:
        with pytest.raises(KeyboardInterrupt):
            execute("demo", cfg, st, SerialExecutor())
        run = st.runs("demo")[0]
        assert run.status == "interrupted"
        assert len(st.done_keys(run.id)) == 2
        calls.clear()
        result = execute("demo", cfg, st, SerialExecutor())
        assert result.resumed and result.run_id == run.id
        assert calls == [2, 3]
        assert st.get_run(run.id).status == "done"
        rows = next(iter(result.tables.values()))
        assert [r["member"] for r in rows] == [0, 1, 2, 3]
        assert all(0.0 <= r["test acc"] <= 1.0 for r in rows)
        assert (result.folder / "best.ckpt").is_file()
        assert (result.folder / "training_curves.png").is_file()
        check_figure(result.figure_objects["training_curves"])
        # every metric at its own step: step 0 is the untrained ensemble, the summary of the
        # final accuracies sits at the final step (it used to overwrite step 0)
        metrics = {(k, step): v for k, step, v in st.metrics(run.id)}
        acc = result.data["history"]["test_accuracy"]
        last = acc.shape[0] - 1
        assert last == cfg.epochs
        assert metrics[("mean_test_accuracy", 0)] == pytest.approx(float(acc[0].mean()))
        assert metrics[("mean_test_accuracy", last)] == pytest.approx(float(acc[-1].mean()))
        assert metrics[("best_test_accuracy", last)] == pytest.approx(float(acc[-1].max()))
        assert {s for k, s in metrics if k == "best_test_accuracy"} == {last}


def test_demo_members_match_a_single_batched_chunk(tmp_path):
    """Chunking is bookkeeping only: the same members train identically in one chunk."""
    with Store(tmp_path / "s.db") as st:
        a = execute(
            "demo",
            build_config("demo", overrides={"epochs": 2, "members_per_task": 1}),
            st,
            SerialExecutor(),
        )
        b = execute(
            "demo",
            build_config("demo", overrides={"epochs": 2, "members_per_task": 4}),
            st,
            SerialExecutor(),
        )
    ra, rb = next(iter(a.tables.values())), next(iter(b.tables.values()))
    for x, y in zip(ra, rb, strict=True):
        assert x["seed"] == y["seed"]
        assert x["test loss"] == pytest.approx(y["test loss"], rel=1e-4)
