"""Training curves of an ensemble."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

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
    epochs = np.arange(np.asarray(history["train_loss"]).shape[0])
    ax = axes[0]
    for key, color in (("train_loss", "tab:blue"), ("test_loss", "tab:orange")):
        if key not in history:
            continue
        values = np.asarray(history[key])
        ax.plot(epochs, values, color=color, alpha=0.35, lw=1)
        ax.plot(
            epochs, values.mean(1), color=color, lw=2.2, label=f"{key.replace('_', ' ')} (mean)"
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (cross-entropy, nats)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    if has_acc:
        acc = 100 * np.asarray(history["test_accuracy"])
        axes[1].plot(epochs, acc, color="tab:green", alpha=0.35, lw=1)
        axes[1].plot(epochs, acc.mean(1), color="tab:green", lw=2.2, label="test accuracy (mean)")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("test accuracy (%)")
        axes[1].grid(alpha=0.3)
        axes[1].legend(loc="lower right")
    if title:
        fig.suptitle(title)
    return fig
