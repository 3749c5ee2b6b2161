"""The per-network lock of the Clojure door (no JVM needed)."""

from __future__ import annotations

import threading
import time

import pytest

from bridge.errors import Interrupted, NetworkBusy
from bridge.jvm.guard import exclusive, forget, held


def _hold(handle, cancel=None, seconds=0.5):
    entered = threading.Event()

    def run():
        with exclusive(handle, cancel=cancel):
            entered.set()
            time.sleep(seconds)

    thread = threading.Thread(target=run)
    thread.start()
    entered.wait(5)
    return thread


def test_a_second_call_fails_at_once_or_waits():
    holder = _hold(101)
    assert held(101)
    began = time.monotonic()
    with pytest.raises(NetworkBusy, match=":wait true"):
        with exclusive(101, what="train!"):
            pass
    assert time.monotonic() - began < 0.1
    with exclusive(101, wait=True):
        assert not holder.is_alive(), "waited for the holder to finish"
    assert not held(101)
    forget(101)


def test_other_networks_are_not_blocked():
    holder = _hold(102)
    with exclusive(103):
        assert holder.is_alive()
    holder.join()
    forget(102), forget(103)


def test_a_cancelled_holder_is_waited_for_not_reported_busy():
    flag = threading.Event()
    holder = _hold(104, cancel=flag, seconds=0.3)
    flag.set()  # it is finishing its step
    with exclusive(104):
        assert not holder.is_alive()
    forget(104)


def test_a_waiter_can_be_cancelled():
    holder = _hold(105, seconds=1.0)
    mine = threading.Event()
    threading.Timer(0.2, mine.set).start()
    began = time.monotonic()
    with pytest.raises(Interrupted):
        with exclusive(105, cancel=mine, wait=True):
            pass
    assert time.monotonic() - began < 0.6
    holder.join()
    forget(105)
