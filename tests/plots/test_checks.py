"""The figure checker itself: it passes a readable figure and names each defect it is shown."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator

from landscape.plots._checks import (
    check_figure,
    data_lines,
    drawn_tick_labels,
    figure_problems,
    reference_lines,
    series_labels,
)


def _good() -> tuple[Figure, object]:
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    x = np.linspace(0.0, 1.0, 11)
    ax.plot(x, x**2, label="x²")
    ax.plot(x, x**3, label="x³")
    ax.plot([], [], " ", label="a note, not a series")
    ax.axvline(0.25, label="a")
    ax.axhline(-0.5)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return fig, ax


def test_a_readable_figure_has_no_problems():
    fig, ax = _good()
    assert figure_problems(fig, vlines=[0.25], hlines=[-0.5], series=2, xlabel="x") == []
    check_figure(fig, vlines=[0.25], hlines=[-0.5], series=2)
    assert reference_lines(ax) == ([0.25], [-0.5])
    assert len(data_lines(ax)) == 2
    assert series_labels(ax) == ["x²", "x³"]
    assert len(drawn_tick_labels(ax.xaxis)) >= 2


def test_a_missing_axis_label_is_named():
    fig, ax = _good()
    ax.set_ylabel("")
    (problem,) = figure_problems(fig)
    assert "axes 0" in problem and "y axis has no label" in problem


def test_a_log_axis_spanning_less_than_a_decade_without_minor_labels_is_caught():
    # what choromanska's spread_vs_size drew: loglog, then minorticks_off on both axes
    fig = Figure()
    ax = fig.subplots()
    ax.loglog([25, 50, 100], [0.045, 0.038, 0.031], "o-")
    ax.set_xlabel("n1")
    ax.set_ylabel("std")
    ax.set_xticks([25, 50, 100], ["25", "50", "100"])
    ax.minorticks_off()
    (problem,) = figure_problems(fig)
    assert "y axis (log scale" in problem and "0 distinct tick label(s)" in problem
    # matplotlib's minor-tick labels count when they are drawn: with minor ticks on, the
    # default formatter labels some of them on a sub-decade axis, and the axis reads
    ax.yaxis.set_minor_locator(LogLocator(subs="auto"))
    assert figure_problems(fig) == []


def test_nan_in_plotted_data_is_caught_for_lines_collections_and_patches():
    fig = Figure()
    axes = fig.subplots(1, 3)
    axes[0].plot([0, 1, 2], [1.0, np.nan, 2.0], label="mean")
    axes[1].scatter([0, 1, 2], [1.0, np.inf, 2.0])
    axes[2].bar([0, 1, 2], [1.0, np.nan, 2.0])
    for ax in axes:
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    problems = figure_problems(fig)
    assert len(problems) == 3, problems
    assert "Line2D 'mean' holds NaN or inf" in problems[0]
    assert "axes 1" in problems[1] and "PathCollection" in problems[1]
    assert "axes 2" in problems[2] and "Rectangle" in problems[2]


@pytest.mark.parametrize(
    ("expect", "needle"),
    [
        ({"vlines": [0.2]}, "vertical reference lines at [0.25], expected [0.2]"),
        ({"vlines": [0.25, 1.0]}, "vertical reference lines"),
        ({"hlines": []}, "horizontal reference lines at [-0.5], expected []"),
        ({"series": 3}, "2 series ['x²', 'x³'], expected 3"),
        ({"xlabel": "energy"}, "x label 'x' does not contain 'energy'"),
        ({"ylabel": {0: "loss"}}, "y label 'y' does not contain 'loss'"),
    ],
)
def test_each_expectation_can_fail(expect, needle):
    fig, _ = _good()
    problems = figure_problems(fig, **expect)
    assert len(problems) == 1 and needle in problems[0], problems


def test_reference_line_positions_within_tolerance():
    fig, _ = _good()
    assert figure_problems(fig, vlines=[0.25 + 1e-7], atol=1e-6) == []
    assert figure_problems(fig, vlines=[0.25 + 1e-7]) != []


def test_overlapping_and_repeated_tick_labels_are_caught():
    fig = Figure(figsize=(3, 3))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_xticks(np.linspace(0, 1, 6), [f"label number {i}" for i in range(6)])
    assert any("overlap" in p for p in figure_problems(fig))
    ax.set_xticks(np.linspace(0, 1, 3), ["1", "1", "2"])
    assert any("repeats tick labels" in p for p in figure_problems(fig))
    ax.set_xticks([0.5], ["half"])
    assert any("1 distinct tick label(s) ['half']" in p for p in figure_problems(fig))


def test_check_figure_lists_every_problem():
    fig, ax = _good()
    ax.set_xlabel("")
    ax.set_yscale("log")  # y data reach 0: the log axis still has ticks, but x has no label
    ax.plot([0.5], [np.nan])
    with pytest.raises(AssertionError, match=r"2 problem\(s\)") as info:
        check_figure(fig, series=2)
    assert "x axis has no label" in str(info.value) and "NaN" in str(info.value)


def test_axes_without_data_a_colorbar_and_shared_axes():
    fig = Figure(layout="constrained")
    a, b, c = fig.subplots(1, 3, sharey=True)
    for ax in (a, b):
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    b.tick_params(labelleft=False)  # the shared axis is labelled on the left panel
    c.axis("off")
    c.text(0.5, 0.5, "notes")
    mesh = a.pcolormesh(np.arange(4.0).reshape(2, 2))
    bar = fig.colorbar(mesh, ax=c)
    problems = figure_problems(fig)
    assert problems == ["axes 3: y axis has no label"], problems
    bar.set_label("value")
    assert figure_problems(fig) == []
    assert figure_problems(Figure()) == ["the figure has no axes that shows data"]
