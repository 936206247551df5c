"""Training curves of an ensemble."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from ._util import finish_axes, log_scale, to_numpy

__all__ = ["training_curves"]


def training_curves(history: Mapping[str, np.ndarray], title: str = "") -> Figure:
    """Per-member train/test loss and test accuracy against epoch.

    Args:
        history: ``(epochs + 1, E)`` arrays keyed ``train_loss``, ``test_loss`` and
            optionally ``test_accuracy`` (row 0 is before training).
        title: figure title.
    """
    has_acc = "test_accuracy" in history
    fig = Figure(figsize=(10 if has_acc else 5.5, 4), layout="constrained")
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    epochs = np.arange(to_numpy(history["train_loss"]).shape[0])
    ax = axes[0]
    for key, color in (("train_loss", "tab:blue"), ("test_loss", "tab:orange")):
        if key in history:
            _members_and_mean(ax, epochs, to_numpy(history[key]), color, key.replace("_", " "))
    log_scale(ax, "y")
    finish_axes(ax, "epoch", "loss (cross-entropy, nats)", legend_size=None)
    if has_acc:
        acc = 100 * to_numpy(history["test_accuracy"])
        _members_and_mean(axes[1], epochs, acc, "tab:green", "test accuracy")
        finish_axes(axes[1], "epoch", "test accuracy (%)", legend="lower right", legend_size=None)
    if title:
        fig.suptitle(title)
    return fig


def _members_and_mean(ax, epochs: np.ndarray, values: np.ndarray, color: str, name: str) -> None:
    """One thin line per member and a thick one for the mean over members."""
    ax.plot(epochs, values, color=color, alpha=0.35, lw=1)
    ax.plot(epochs, values.mean(1), color=color, lw=2.2, label=f"{name} (mean)")
