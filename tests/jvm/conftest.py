"""The session's one JVM (a JVM cannot restart inside a process). Tests that need a
fresh JVM, or none, run in a subprocess. Without Java or Clojure the tests fail with the
install instructions; they never skip."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def clojure():
    """:class:`bridge.jvm.runtime.RuntimeInfo` of the started JVM."""
    from bridge import jvm
    from bridge.jvm.classpath import ClojureNotFound

    try:
        return jvm.start()
    except ClojureNotFound as error:
        pytest.fail(str(error), pytrace=False)
