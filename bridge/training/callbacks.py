"""Callbacks: what happens around the training steps, each in its own small class.

``train`` builds the built-in ones from its arguments (``log``, ``checkpoint``,
``metrics_log``, ``checkpoint_dir``'s best file, ``plot``, ``tensorboard``,
``patience``, ``on_epoch``/``on_batch``) and runs the user's ``callbacks=[…]`` through
the same door, after them. A callback overrides only the hooks it needs; the loop calls
``on_batch_end`` only on callbacks that override it, so a run without per-batch hooks
pays nothing per step::

    class PrintLoss(bridge.Callback):
        def on_epoch_end(self, run, entry):
            print(entry["epoch"], entry["train-loss"])

Hooks see the :class:`~bridge.training.run.TrainingRun` (``run.net``, ``run.history``,
``run.improved`` …); setting ``run.stop`` to a reason ends the run after the epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.errors import TrainingError
from bridge.training import distributed
from bridge.training.progress import describe_epoch

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["Callback", "EpochLog", "Checkpoint", "BestNetworkFile", "MetricsLog", "Plot",
           "TensorBoard", "EarlyStopping", "EpochFunction", "BatchFunction", "batch_hooks"]


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, run) -> None:
        """Before the first epoch (after a resume has been restored)."""

    def on_batch_end(self, run, epoch: int, step: int) -> None:
        """After each optimizer step (``step`` is 1-based within the epoch)."""

    def on_epoch_end(self, run, entry: Mapping[str, Any]) -> None:
        """After each epoch, with its history entry (already scored)."""

    def on_train_end(self, run) -> None:
        """When the run ends, also by an error or an interrupt."""


def batch_hooks(callbacks: Iterable[Callback]) -> list[Callable[[Any, int, int], None]]:
    """The ``on_batch_end`` of the callbacks that override it."""
    return [c.on_batch_end for c in callbacks
            if type(c).on_batch_end is not Callback.on_batch_end]


class EpochLog(Callback):
    """One line per epoch through ``run.say``."""

    def on_epoch_end(self, run, entry):
        run.say(describe_epoch(entry, run.epochs))


class Checkpoint(Callback):
    """Rewrite the checkpoint atomically after every epoch (every rank takes part: the
    random states are gathered; rank 0 writes)."""

    def on_epoch_end(self, run, entry):
        run.save(epoch=entry["epoch"])


class _RankZero(Callback):
    """Writes files: only on rank 0 under ``torchrun``."""

    def on_epoch_end(self, run, entry):
        if distributed.is_rank_zero():
            self.write(run, entry)

    def write(self, run, entry) -> None:
        raise NotImplementedError


class BestNetworkFile(_RankZero):
    """Save the network as ``path`` whenever an epoch is the best so far (Cortex's
    ``train-n`` keeps its best network on disk)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def write(self, run, entry):
        if run.improved:
            from bridge.saving.save import save_network

            save_network(run.net, self.path, history=[dict(e) for e in run.history])


class MetricsLog(_RankZero):
    """Append one EDN map per epoch to ``path``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def write(self, run, entry):
        from bridge.edn import dumps
        from bridge.edn.types import Keyword

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(dumps({Keyword(k): v for k, v in entry.items()}) + "\n")
            stream.flush()


class Plot(_RankZero):
    """Redraw the loss and accuracy curves as a PNG after every epoch."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def write(self, run, entry):
        from bridge.training.plots import plot_history

        plot_history(run.history, self.path)


class TensorBoard(Callback):
    """Scalars (every number of each epoch's entry: losses, accuracies, learning rate)
    and the network's graph, for ``tensorboard --logdir DIR``; Cortex had a TensorBoard
    listener too. Needs the ``tensorboard`` package (``pip install
    'cortex-bridge[tensorboard]'``)."""

    def __init__(self, log_dir: str | os.PathLike, *, graph: bool = True):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrainingError(
                "tensorboard= needs the tensorboard package: pip install "
                "'cortex-bridge[tensorboard]' (or pip install tensorboard)") from None
        self.log_dir = Path(log_dir)
        self._writer_class = SummaryWriter
        self._writer: SummaryWriter | None = None
        self._graph = graph

    def on_train_begin(self, run):
        if not distributed.is_rank_zero():
            return
        self._writer = writer = self._writer_class(log_dir=str(self.log_dir))
        if self._graph and not run.history:
            self._add_graph(writer, run.net)

    @staticmethod
    def _add_graph(writer: SummaryWriter, net) -> None:
        import warnings

        from bridge.network.positional import Positional, example_inputs

        was_training = net.training
        net.eval()
        try:
            with warnings.catch_warnings():  # the tracer's notes on Python-side checks
                warnings.simplefilter("ignore")
                writer.add_graph(Positional(net), example_inputs(net))
        finally:
            net.train(was_training)

    def on_epoch_end(self, run, entry):
        if self._writer is None:
            return
        for key, value in entry.items():
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool):
                self._writer.add_scalar(key, value, entry["epoch"])
        self._writer.flush()

    def on_train_end(self, run):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class EarlyStopping(Callback):
    """Stop after ``patience`` epochs without a better score (validation data, else the
    train loss)."""

    def __init__(self, patience: int):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"`patience` must be a whole number >= 1. Received: "
                             f"patience={patience!r}")
        self.patience = patience

    def on_epoch_end(self, run, entry):
        if run.stale >= self.patience:
            run.history.stopped_early = True
            run.stop = (f"stopping early: no better "
                        f"{'validation score' if run.monitor == 'validation' else 'train loss'}"
                        f" for {self.patience} epochs")


class EpochFunction(Callback):
    """``train(on_epoch=fn)``: ``fn(entry)`` after each epoch."""

    def __init__(self, function: Callable[[Mapping[str, Any]], None]):
        self.function = function

    def on_epoch_end(self, run, entry):
        self.function(entry)


class BatchFunction(Callback):
    """``train(on_batch=fn)``: ``fn(epoch, step)`` after each step."""

    def __init__(self, function: Callable[[int, int], None]):
        self.function = function

    def on_batch_end(self, run, epoch, step):
        self.function(epoch, step)
