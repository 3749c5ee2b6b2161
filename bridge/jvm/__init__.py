"""The Clojure door: a JVM hosted by this Python process (through JPype), with the
project's Clojure namespaces (``jvm/src``) on its classpath.

    >>> from bridge import jvm
    >>> jvm.start()                                   # doctest: +SKIP
    RuntimeInfo(classpath=(...), java_version='17.0.15', clojure_version='1.11.1', ...)
    >>> jvm.eval("(+ 1 2)")                           # doctest: +SKIP
    3
    >>> jvm.eval("(cortex.nn.layers/linear 10 :id :fc)")   # doctest: +SKIP
    <java object 'clojure.lang.PersistentVector'>

Importing this package imports neither JPype nor Java; :func:`start` (or the first
:func:`eval`) does. One JVM per process: see :mod:`bridge.jvm.runtime`.
"""

from __future__ import annotations

__all__ = ["start", "eval", "is_started", "require"]

_ready = False  # the JVM runs and Clojure has the Python entry points


def start(classpath=None, *, jvm_args=()):
    """Start the JVM (once) and hand Clojure the Python entry points.

    Args:
        classpath: extra classpath entries, after ``jvm/src`` and before Clojure.
        jvm_args: extra JVM options, e.g. ``("-Xmx4g",)``.

    Returns:
        :class:`bridge.jvm.runtime.RuntimeInfo`: classpath, Java and Clojure versions.

    Raises:
        bridge.jvm.classpath.ClojureNotFound: Java or Clojure is missing; the message
            says what to install.
        bridge.errors.ClojureError: the JVM already runs with a different classpath.
    """
    global _ready
    from bridge.jvm import runtime

    if _ready and not classpath and not jvm_args:
        return runtime.info()
    info = runtime.start(classpath, jvm_args=jvm_args)
    if not _ready:
        from bridge.jvm import calls

        runtime.require("cortex.bridge.python")
        calls.install()
        _ready = True
    return info


def eval(code: str):  # noqa: A001 - the DESIGN contract names it eval
    """Evaluate Clojure ``code`` (every form, in ``user``), starting the JVM if needed.

    Returns:
        The last value; nil, booleans, integers, doubles and strings as Python values,
        anything else as the Java object.

    Raises:
        bridge.errors.ClojureError: with the Clojure message, ``clojure_type`` and
            ``clojure_trace``.
    """
    from bridge.jvm import runtime

    start()
    return runtime.eval_clojure(code)


def is_started() -> bool:
    """Whether this process's JVM has been started."""
    from bridge.jvm import runtime

    return runtime.is_started()


def require(namespace: str) -> None:
    """``(require 'namespace)``, starting the JVM if needed."""
    from bridge.jvm import runtime

    start()
    runtime.require(namespace)
