"""One JVM for the whole test session (a JVM cannot restart inside a process); tests
that need a fresh one run in a subprocess. Without Java or Clojure these tests fail with
the install instructions: they never skip."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def clojure():
    from bridge import jvm

    info = jvm.start()
    return info
