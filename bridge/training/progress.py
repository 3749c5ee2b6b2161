"""What a run shows while it trains: a rich progress bar per epoch and one line per epoch."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Mapping
from typing import Any

from bridge.training import distributed
from bridge.training.running import BatchLosses, RunningAccuracy

__all__ = ["epoch_bar", "bar_status", "describe_epoch", "stderr_printer"]


def stderr_printer():
    """The default ``log``: a line on stderr, on rank 0 only."""
    def say(text: str) -> None:
        if distributed.is_rank_zero():
            print(text, file=sys.stderr, flush=True)
    return say


def epoch_bar(enabled: bool | None, epoch: int, epochs: int):
    """A rich ``Progress`` for one epoch, or a null context (``enabled`` ``None``: only
    on a terminal; never off rank 0)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or not distributed.is_rank_zero():
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    # On a terminal the bar goes away when the epoch's summary line is printed; asked for
    # elsewhere (a log file), it is drawn once, when the epoch ends.
    return Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=console.is_terminal)


def bar_status(losses: BatchLosses, accuracy: RunningAccuracy, sizes, started: float) -> str:
    seen = int(sizes.sum())
    text = f"loss {losses.weighted_sum(sizes) / max(seen, 1):.4f}"
    value = accuracy.value()
    if value is not None:
        text += f"  acc {value:.3f}"
    return text + f"  {seen / max(time.perf_counter() - started, 1e-9):,.0f} samples/s"


def describe_epoch(entry: Mapping[str, Any], epochs: int) -> str:
    text = f"epoch {entry['epoch']:>3}/{epochs}  train loss {entry['train-loss']:.4f}"
    for split in ("validation", "test"):
        if f"{split}-loss" in entry:
            text += f"  {split} loss {entry[f'{split}-loss']:.4f}"
        if f"{split}-accuracy" in entry:
            text += f"  {split} accuracy {entry[f'{split}-accuracy']:.4f}"
    return text + f"  {entry['samples-per-second']:,.0f} samples/s  {entry['seconds']:.2f} s"
