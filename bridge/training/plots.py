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
    """Loss (train and test) and test accuracy per epoch, written atomically to ``path``.

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
    if any("test-loss" in e for e in history):
        losses.plot(epochs, [e.get("test-loss") for e in history], marker="o", label="test")
    losses.set_xlabel("epoch")
    losses.set_ylabel("loss")
    losses.set_title("loss")
    losses.legend()
    if any("test-accuracy" in e for e in history):
        accuracy.plot(epochs, [e.get("test-accuracy") for e in history], marker="o",
                      color="tab:green")
        accuracy.set_ylim(0, 1)
    else:
        accuracy.text(0.5, 0.5, "no test data", ha="center", va="center",
                      transform=accuracy.transAxes)
    for axes in (losses, accuracy):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    accuracy.set_xlabel("epoch")
    accuracy.set_ylabel("accuracy")
    accuracy.set_title("test accuracy")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_atomically(path, buffer.getvalue())
