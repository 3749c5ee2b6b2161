"""The Clojure door: a JVM hosted by this Python process (through JPype), with
``cortex.bridge`` and the tutorial's namespaces on its classpath.

    >>> from bridge import jvm
    >>> jvm.start()                       # doctest: +SKIP
    >>> jvm.eval("(+ 1 2)")               # doctest: +SKIP
    3

Importing this package does not import JPype or start Java; :func:`start` does.
"""

from __future__ import annotations

__all__ = ["start", "eval", "is_started", "require"]


def start(classpath=None, *, jvm_args=()):
    """Start the JVM with Clojure and the Python entry points (idempotent)."""
    from bridge.jvm import calls, runtime

    info = runtime.start(classpath, jvm_args=jvm_args)
    calls.install()
    return info


def eval(code: str):  # noqa: A001 - the DESIGN contract names it eval
    """Evaluate Clojure code; see :func:`bridge.jvm.runtime.eval_clojure`."""
    from bridge.jvm import runtime

    start()
    return runtime.eval_clojure(code)


def is_started() -> bool:
    from bridge.jvm import runtime

    return runtime.is_started()


def require(namespace: str) -> None:
    from bridge.jvm import runtime

    start()
    runtime.require(namespace)
