"""What ``train`` returns: one entry per epoch, and how the run ended."""

from __future__ import annotations

from typing import Any

__all__ = ["History"]


class History(list):
    """The per-epoch entries of a run, oldest first: dicts with ``"epoch"``,
    ``"train-loss"``, ``"seconds"``, ``"samples-per-second"``; with validation data
    ``"validation-loss"`` (and ``"validation-accuracy"`` for a classifier), with test
    data ``"test-loss"`` (and ``"test-accuracy"``), with a schedule ``"learning-rate"``.

    Attributes:
        best_epoch: the epoch with the best score on the validation data (accuracy, else
            loss), or on the train loss without validation data; ``None`` before any.
        kept_epoch: the epoch whose weights the network ended with when the best one was
            kept (``keep_best`` with validation data), else ``None``.
        interrupted: the run was stopped by Ctrl-C or ``cancel``.
        stopped_early: patience ran out.
        checkpoint: the last checkpoint file written, or ``None``.
        optimizer: the optimizer's options as EDN data (``None`` for one given ready-made).
    """

    best_epoch: int | None = None
    kept_epoch: int | None = None
    interrupted: bool = False
    stopped_early: bool = False
    checkpoint: str | None = None
    optimizer: Any = None

    def plain(self) -> list[dict[str, float]]:
        """The entries as maps of their numbers only, for a saved network's header."""
        return [{str(k): v for k, v in entry.items()
                 if isinstance(v, int | float) and not isinstance(v, bool)} for entry in self]
