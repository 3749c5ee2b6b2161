"""The one JVM of this process, with Clojure loaded. Holds the project's only
``jpype.startJVM`` call.

A JVM cannot be restarted inside a process (a JNI limit), so :func:`start` is idempotent
and refuses a different classpath once started. At exit it runs ``(shutdown-agents)``;
without it the process would wait a minute for Clojure's agent threads after any
``future``.
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass

from bridge.errors import ClojureError
from bridge.jvm.classpath import ClojureNotFound, clojure_classpath, project_sources

__all__ = ["RuntimeInfo", "start", "is_started", "eval_clojure", "require", "var",
           "clojure_error"]


@dataclass(frozen=True)
class RuntimeInfo:
    """What :func:`start` started: the classpath, Java's and Clojure's versions."""

    classpath: tuple[str, ...]
    java_version: str
    clojure_version: str


_lock = threading.RLock()
_info: RuntimeInfo | None = None


def is_started() -> bool:
    return _info is not None


def start(classpath: list[str] | None = None, *, jvm_args: tuple[str, ...] = ()
          ) -> RuntimeInfo:
    """Start the JVM with Clojure (once); later calls return the same info.

    Args:
        classpath: extra entries (a user's project) placed after ``jvm/src`` and before
            Clojure's own jars.
        jvm_args: extra JVM options, e.g. ``("-Xmx4g",)``.

    Raises:
        ClojureNotFound: Java or Clojure is missing (the message says what to install).
        ClojureError: asked for a different classpath after the JVM started.
    """
    global _info
    with _lock:
        wanted = [str(project_sources()), *(classpath or []), *clojure_classpath()]
        if _info is not None:
            extra = [entry for entry in wanted if entry not in _info.classpath]
            if extra:
                raise ClojureError(
                    "the JVM cannot be restarted in this process; it was started earlier "
                    f"with the classpath {os.pathsep.join(_info.classpath)} and now "
                    f"{os.pathsep.join(extra)} is asked for too. Start a new process")
            return _info
        import numpy.linalg  # noqa: F401  (touch OpenBLAS before the JVM: JPype issue #808)

        try:
            import jpype
        except ImportError:  # pragma: no cover - JPype1 is a dependency
            raise ClojureNotFound("JPype is missing: pip install JPype1") from None
        if not jpype.isJVMStarted():
            try:
                jpype.startJVM(*jvm_args, "-Xss4m", classpath=wanted, convertStrings=False)
            except OSError as error:
                raise ClojureNotFound(f"the JVM did not start ({error}); "
                                      "is a Java runtime installed?") from None
        clojure = jpype.JClass("clojure.java.api.Clojure")
        version = str(clojure.var("clojure.core", "clojure-version").invoke())
        try:
            clojure.var("clojure.core", "require").invoke(clojure.read("cortex.bridge.python"))
        except jpype.JException as error:
            raise clojure_error(error) from None
        java = str(jpype.JClass("java.lang.System").getProperty("java.version"))
        _info = RuntimeInfo(tuple(wanted), java, version)
        atexit.register(_shutdown_agents)
        return _info


def _shutdown_agents() -> None:
    try:
        import jpype

        if jpype.isJVMStarted():
            jpype.JClass("clojure.java.api.Clojure").var("clojure.core",
                                                         "shutdown-agents").invoke()
    except Exception:  # noqa: BLE001 - exit must go on whatever the JVM says
        pass


def var(namespace: str, name: str):
    """The Clojure var ``namespace/name`` (started JVM required)."""
    import jpype

    return jpype.JClass("clojure.java.api.Clojure").var(namespace, name)


def clojure_error(error) -> ClojureError:
    """A Java exception as a :class:`ClojureError`: its class and message, the message of
    its root cause (a CompilerException only says where), and the Java trace text."""
    try:
        kind = str(error.getClass().getName())
        message = _message(error)
        root = error
        while root.getCause() is not None and root.getCause() is not root:
            root = root.getCause()
        if root is not error:
            message += f"; caused by {root.getClass().getName()}: {_message(root)}"
        trace = str(error.stacktrace())
    except Exception:  # noqa: BLE001 - the error itself must still be reported
        kind, message, trace = None, str(error), ""
    return ClojureError(f"{kind}: {message}" if kind else message, clojure_type=kind,
                        clojure_trace=trace)


def _message(error) -> str:
    text = error.getMessage()
    return "" if text is None else str(text)


def _to_python(value):
    """nil, booleans, numbers and strings as Python values; anything else as it is."""
    import jpype

    if value is None:
        return None
    boxed = {"java.lang.Boolean": bool, "java.lang.Long": int, "java.lang.Integer": int,
             "java.lang.Short": int, "java.lang.Byte": int, "java.lang.Double": float,
             "java.lang.Float": float, "java.lang.String": str}
    if isinstance(value, jpype.JObject) or isinstance(value, jpype.JString):
        convert = boxed.get(str(value.getClass().getName()))
        if convert is not None:
            return convert(value)
        return value
    return value


def eval_clojure(code: str):
    """Read and evaluate Clojure ``code`` (all its forms, in ``user``); returns the last
    value, converted to Python when it is nil, a boolean, a number or a string.

    Raises:
        ClojureError: the code threw, with the Clojure message and trace.
    """
    start()
    import jpype

    try:
        result = var("cortex.bridge.python", "eval-string").invoke(jpype.JString(code))
    except jpype.JException as error:
        raise clojure_error(error) from None
    return _to_python(result)


def require(namespace: str) -> None:
    """``(require 'namespace)``."""
    eval_clojure(f"(require '{namespace})")
