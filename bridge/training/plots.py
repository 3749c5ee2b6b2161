"""Training curves as a PNG (matplotlib, imported only when a plot is asked for).

The figure is drawn on a bare ``matplotlib.figure.Figure``, rendered by Agg; pyplot and
the global backend are never touched, so a notebook's own plotting is left alone.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence

from bridge.atomic import write_atomically

__all__ = ["plot_history"]


def plot_history(history: Sequence[Mapping], path: str | os.PathLike) -> None:
    """Loss (train, validation, test) and accuracy per epoch, written atomically to ``path``.

    **Arguments:**

    - history: entries as :func:`bridge.train` returns them.
    - path: the PNG file.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [entry["epoch"] for entry in history]
    figure = Figure(figsize=(9, 3.6), layout="tight")
    losses, accuracy = figure.subplots(1, 2)
    losses.plot(epochs, [e["train-loss"] for e in history], marker="o", label="train")
    for split in ("validation", "test"):
        if any(f"{split}-loss" in e for e in history):
            losses.plot(epochs, [e.get(f"{split}-loss") for e in history], marker="o",
                        label=split)
    losses.set_xlabel("epoch")
    losses.set_ylabel("loss")
    losses.set_title("loss")
    losses.legend()
    drawn = False
    for split, color in (("validation", "tab:orange"), ("test", "tab:green")):
        if any(f"{split}-accuracy" in e for e in history):
            accuracy.plot(epochs, [e.get(f"{split}-accuracy") for e in history], marker="o",
                          color=color, label=split)
            drawn = True
    if drawn:
        accuracy.set_ylim(0, 1)
        accuracy.legend()
    else:
        accuracy.text(0.5, 0.5, "no validation or test data", ha="center", va="center",
                      transform=accuracy.transAxes)
    for axes in (losses, accuracy):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    accuracy.set_xlabel("epoch")
    accuracy.set_ylabel("accuracy")
    accuracy.set_title("accuracy")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_atomically(path, buffer.getvalue())
