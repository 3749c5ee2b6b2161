"""One call per network at a time, for the Clojure door.

Clojure callers are many threads (nREPL sessions, futures); a torch module stepped by
two optimizers at once corrupts memory. Every entry point that touches a network's
tensors holds that network's lock for the whole call. A second caller fails at once
with :class:`bridge.errors.NetworkBusy`, or waits when asked to; it also waits for a
holder that is being cancelled (that one finishes its current step and leaves), so an
interrupted eval run again does not see a spurious ``:busy``.

A cancel flag is anything with ``is_set()``; :class:`JavaFlag` adapts the
``java.util.concurrent.atomic.AtomicBoolean`` Clojure passes.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from bridge.errors import Interrupted, NetworkBusy

__all__ = ["JavaFlag", "exclusive", "forget", "held"]


class JavaFlag:
    """A Java ``AtomicBoolean`` seen as a ``threading.Event``-like cancel token."""

    def __init__(self, flag):
        self._flag = flag

    def is_set(self) -> bool:
        return self._flag is not None and bool(self._flag.get())


class _Guard:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holder: Any = None  # the cancel flag of the call holding the lock


_guards: dict[int, _Guard] = {}
_table_lock = threading.Lock()

# How long one wait for a lock lasts before the waiter checks its own cancel flag.
_POLL_SECONDS = 0.05


def _guard(handle: int) -> _Guard:
    with _table_lock:
        return _guards.setdefault(int(handle), _Guard())


def _acquire(guard: _Guard, handle: int, cancel, wait: bool, what: str) -> None:
    if guard.lock.acquire(blocking=False):
        return
    holder = guard.holder
    if not wait and not (holder is not None and holder.is_set()):
        raise NetworkBusy(f"network {handle} is busy: another thread is running a call on "
                          f"it; {what} runs one call per network at a time (pass "
                          ":wait true to wait for it)")
    while not guard.lock.acquire(timeout=_POLL_SECONDS):
        if cancel is not None and cancel.is_set():
            raise Interrupted("interrupted while waiting for the network")


@contextlib.contextmanager
def exclusive(handle, *, cancel=None, wait: bool = False, what: str = "the bridge"):
    """Hold network ``handle``'s lock for the ``with`` block.

    Raises:
        NetworkBusy: another call holds it and ``wait`` is false.
        Interrupted: ``cancel`` was set while waiting.
    """
    guard = _guard(handle)
    _acquire(guard, int(handle), cancel, wait, what)
    guard.holder = cancel
    try:
        yield
    finally:
        guard.holder = None
        guard.lock.release()


def held(handle) -> bool:
    """Whether a call holds network ``handle`` now."""
    with _table_lock:
        guard = _guards.get(int(handle))
    return guard is not None and guard.lock.locked()


def forget(handle) -> None:
    """Drop the lock of a released handle (a call still holding it keeps its own)."""
    with _table_lock:
        _guards.pop(int(handle), None)
