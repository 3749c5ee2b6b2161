"""Ctrl-C and cancellation during training: a request the loop honours between steps.

The first Ctrl-C (or a ``cancel`` token set from another thread) asks the loop to stop
after the current step; it then writes a checkpoint and raises
:class:`bridge.Interrupted`. A second Ctrl-C while a checkpoint is asked for does not
cut the step or the write in half — a half-updated network saved as "after batch n"
would resume to different weights — it says that the run is finishing and waits. A
third one abandons the run at once; the previous checkpoint stays whole (writes are
atomic). Without a checkpoint there is nothing to protect, so the second one stops at
once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Literal

from bridge.errors import AbandonedRun

__all__ = ["InterruptGuard"]


class InterruptGuard:
    """Context manager turning SIGINT and ``cancel`` into :attr:`requested`.

    The signal handler goes in only in the main thread, and only over Python's default
    handler (a host that installed its own keeps it)."""

    def __init__(self, cancel=None, *, protects_checkpoint: bool = False,
                 say: Callable[[str], None] | None = None):
        self._signals = 0
        self._cancel = cancel
        self._protects = protects_checkpoint
        self._say = say or (lambda text: None)
        # What signal.signal returns: a handler, SIG_DFL/SIG_IGN, or None (not from Python).
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None

    @property
    def requested(self) -> bool:
        return self._signals > 0 or (self._cancel is not None and self._cancel.is_set())

    def __enter__(self) -> InterruptGuard:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self._signals += 1
        if self._signals == 1:
            return
        if not self._protects:
            raise KeyboardInterrupt
        if self._signals == 2:
            self._say("finishing the current step and writing the checkpoint; "
                      "press Ctrl-C once more to stop without it")
            return
        raise AbandonedRun

    def __exit__(self, *exc) -> Literal[False]:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False
