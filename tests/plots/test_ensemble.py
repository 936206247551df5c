"""Figures of many trained networks (Choromanska et al.): histograms by size, spread vs size."""

from __future__ import annotations

import numpy as np
import pytest

from landscape import LandscapeError
from landscape.plots._checks import check_figure, data_lines, drawn_tick_labels, series_labels
from landscape.plots.ensemble import loss_histograms, spread_vs_size
from landscape.plots.training import training_curves


def _rows(std, corr=(0.8, 0.6, 0.3, 0.1), sizes=(25, 50, 100, 250)):
    return [
        {"n1": n, "std": s, "corr(train, test)": c}
        for n, s, c in zip(sizes, std, corr, strict=True)
    ]


def test_spread_vs_size_reads_when_the_spreads_span_less_than_a_decade():
    # 0.045 → 0.028: less than a decade; the log axis used to show no tick label at all
    fig = spread_vs_size(_rows([0.045, 0.038, 0.031, 0.028]))
    check_figure(
        fig,
        xlabel="hidden units n1",
        ylabel={0: "std of final test loss", 1: "corr(train loss, test loss)"},
        vlines=[],
        hlines={0: [], 1: [0.0]},
    )
    spread, corr = fig.axes
    assert spread.get_yscale() == "log" and spread.get_xscale() == "log"
    values = [float(t.get_text()) for t in drawn_tick_labels(spread.yaxis)]
    assert len(values) >= 3 and min(values) <= 0.031 and max(values) >= 0.038
    for ax in (spread, corr):  # one labelled tick per size, nothing else on x
        assert [t.get_text() for t in drawn_tick_labels(ax.xaxis)] == ["25", "50", "100", "250"]
    (line,) = data_lines(spread)
    np.testing.assert_allclose(line.get_ydata(), [0.045, 0.038, 0.031, 0.028])


@pytest.mark.parametrize(
    "std",
    [[0.2, 0.02, 0.002, 0.0002], [0.0401, 0.0400, 0.0399, 0.0398], [0.03, 0.03, 0.03, 0.03]],
    ids=["four decades", "a quarter percent", "all equal"],
)
def test_spread_axis_is_labelled_whatever_the_span(std):
    check_figure(spread_vs_size(_rows(std)))


def test_spread_vs_size_leaves_out_and_names_sizes_without_a_spread():
    rows = _rows([0.04, float("nan"), 0.03, 0.0], corr=(0.5, float("nan"), 0.2, 0.1))
    fig = spread_vs_size(rows)
    check_figure(fig)  # no NaN plotted, and a zero spread is not put on the log axis
    spread, corr = fig.axes
    np.testing.assert_allclose(data_lines(spread)[0].get_xdata(), [25, 100])
    np.testing.assert_allclose(data_lines(corr)[0].get_xdata(), [25, 100, 250])
    legend = [t.get_text() for t in spread.get_legend().get_texts()]
    assert legend == ["not shown: n1 = 50, 250 (std not finite or zero)"]
    assert corr.get_legend().get_texts()[0].get_text().startswith("not shown: n1 = 50")


def test_loss_histograms_one_series_per_size():
    rng = np.random.default_rng(0)
    losses = {25: rng.normal(0.5, 0.05, 50), 100: np.append(rng.normal(0.45, 0.02, 49), np.nan)}
    fig = loss_histograms(losses, title="digits")
    check_figure(fig, xlabel="final test loss", ylabel="density", series=2, vlines=[])
    (ax,) = fig.axes
    labels = series_labels(ax)
    assert labels[0].startswith("n1 = 25 (std 0.0") and labels[1].startswith("n1 = 100 (std")
    assert ax.get_title() == "digits"
    with pytest.raises(LandscapeError, match="no finite value"):
        loss_histograms({25: [np.nan]})


def test_training_curves_members_and_means_on_a_readable_log_axis():
    epochs, members = 11, 3
    decay = np.exp(-np.linspace(0, 1, epochs))[:, None] * np.linspace(1, 1.1, members)
    history = {
        "train_loss": 0.5 * decay,  # 0.5 → 0.17: a log axis spanning less than a decade
        "test_loss": 0.6 * decay,
        "test_accuracy": np.linspace(0.5, 0.9, epochs)[:, None] * np.ones(members),
    }
    fig = training_curves(history, title="digits MLP")
    check_figure(
        fig,
        xlabel="epoch",
        ylabel={0: "loss (cross-entropy, nats)", 1: "test accuracy (%)"},
        series={0: 2, 1: 1},
    )
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_yscale() == "log"
    assert len(data_lines(loss_ax)) == 2 * (members + 1)  # each member and the mean
    mean = next(ln for ln in data_lines(loss_ax) if ln.get_label() == "train loss (mean)")
    np.testing.assert_allclose(mean.get_ydata(), history["train_loss"].mean(1))
    np.testing.assert_allclose(data_lines(acc_ax)[-1].get_ydata(), 100 * np.linspace(0.5, 0.9, 11))
    single = training_curves({k: history[k] for k in ("train_loss", "test_loss")})
    check_figure(single, series=2)
    assert len(single.axes) == 1
