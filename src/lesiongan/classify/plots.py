"""PNG plots of a classifier run: training curves and the test confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def save_training_curves(path: Path, history: list[dict[str, Any]], best_epoch: int) -> None:
    """Train and validation loss (left) and validation balanced accuracy (right) per epoch."""
    plt = _pyplot()
    epochs = [h["epoch"] + 1 for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100)
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train (augmented)")
    ax1.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax1.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax1.legend(frameon=False)
    ba = [
        np.nan if h["val_balanced_accuracy"] is None else h["val_balanced_accuracy"]
        for h in history
    ]
    ax2.plot(epochs, ba, marker="o", ms=3)
    ax2.axvline(best_epoch + 1, color="grey", ls="--", lw=1, label=f"best (epoch {best_epoch + 1})")
    ax2.set(xlabel="epoch", ylabel="balanced accuracy", title="validation", ylim=(0, 1))
    ax2.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_confusion_matrix(path: Path, confusion: list[list[int]], classes: list[str]) -> None:
    """Counts, with each row (true class) shaded by its share."""
    plt = _pyplot()
    m = np.asarray(confusion, dtype=np.float64)
    share = m / np.clip(m.sum(axis=1, keepdims=True), 1, None)
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.1 * len(classes) + 1.5), dpi=100)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if share[i, j] > 0.6 else "black"
            ax.text(
                j,
                i,
                f"{int(m[i, j])}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                color=colour,
                fontsize=9,
            )
    short = [c.replace("_", "\n") for c in classes]
    ax.set_xticks(range(len(classes)), short, fontsize=8)
    ax.set_yticks(range(len(classes)), short, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title="test confusion matrix")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
