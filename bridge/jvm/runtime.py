"""The one JVM of this process, with Clojure loaded. Holds the project's only
``jpype.startJVM`` call.

A JVM cannot be restarted inside a process (a JNI limit), so :func:`start` is
idempotent and refuses a different classpath once the JVM runs. Clojure code is read by
Clojure's own reader (``read-string``/``load-string``), not by ``Clojure.read``, which
reads only EDN. At exit ``(shutdown-agents)`` runs; without it a process that used a
``future`` waits a minute for Clojure's agent threads.

Java exceptions become :class:`bridge.errors.ClojureError` with the message Clojure's
REPL would print, the exception's class and the Java stack trace text.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from bridge.errors import ClojureError
from bridge.jvm.classpath import (
    INSTALL_HINT,
    ClojureNotFound,
    full_classpath,
    project_sources,
)

__all__ = ["RuntimeInfo", "start", "is_started", "info", "eval_clojure", "require", "var",
           "clojure_error"]

# Evaluated once at start (read-string + eval): the evaluator and the error explainer.
_BOOTSTRAP = r"""
{:eval
 (fn [^String code]
   (binding [*ns* (the-ns 'user)]
     (load-string code)))
 :explain
 (fn [^Throwable t]
   (let [triage (requiring-resolve 'clojure.main/ex-triage)
         ex-str (requiring-resolve 'clojure.main/ex-str)
         data (triage (Throwable->map t))
         root (loop [^Throwable e t] (if-let [c (.getCause e)] (if (identical? c e) e (recur c)) e))
         info (first (filter #(and (instance? clojure.lang.ExceptionInfo %)
                                   (not (instance? clojure.lang.Compiler$CompilerException %)))
                             (take-while some? (iterate #(.getCause ^Throwable %) t))))
         shown (when (and info (= :execution (:clojure.error/phase data)))
                 (binding [*print-length* 40 *print-level* 4 *print-namespace-maps* false]
                   (pr-str (dissoc (ex-data info) :python/traceback))))
         text (.stripTrailing ^String (ex-str data))]
     [(if shown
        (str text "\ndata: " (if (> (count shown) 2000) (str (subs shown 0 2000) " …") shown))
        text)
      (.getName ^Class (or (:clojure.error/class data) (class root)))]))}
"""


@dataclass(frozen=True)
class RuntimeInfo:
    """What :func:`start` started.

    Attributes:
        classpath: the JVM's classpath, ``jvm/src`` first.
        java_version: ``java.version`` of the running JVM.
        clojure_version: ``(clojure-version)``.
        jvm_args: the options the JVM was started with (``-Xss4m`` included).
        start_seconds: time spent in ``startJVM``.
        clojure_seconds: time to the first Clojure var (loading ``clojure.core``).
    """

    classpath: tuple[str, ...]
    java_version: str
    clojure_version: str
    jvm_args: tuple[str, ...] = ()
    start_seconds: float = 0.0
    clojure_seconds: float = 0.0


_lock = threading.RLock()
_info: RuntimeInfo | None = None
_fns: dict[str, Any] = {}  # Clojure fns as JPype proxies (untyped)


def is_started() -> bool:
    """Whether :func:`start` has run in this process."""
    return _info is not None


def info() -> RuntimeInfo | None:
    """The :class:`RuntimeInfo` of the running JVM, or ``None`` before :func:`start`."""
    return _info


def _refuse(running: RuntimeInfo, wanted: list[str], jvm_args: tuple[str, ...]) -> None:
    """Raise when ``wanted``/``jvm_args`` ask for more than the ``running`` JVM has."""
    missing = [entry for entry in wanted if entry not in running.classpath]
    options = [arg for arg in jvm_args if arg not in running.jvm_args]
    if not missing and not options:
        return
    asked = []
    if missing:
        asked.append(f"the classpath entries {os.pathsep.join(missing)}")
    if options:
        asked.append(f"the JVM options {' '.join(options)}")
    raise ClojureError(
        "the JVM cannot be restarted in this process; it was started earlier with the "
        f"classpath {os.pathsep.join(running.classpath)} and the options "
        f"{' '.join(running.jvm_args)}, and now {' and '.join(asked)} are asked for. "
        "Start a new Python process for a different classpath")


def start(classpath: list[str] | tuple[str, ...] | None = None, *,
          jvm_args: tuple[str, ...] | list[str] = ()) -> RuntimeInfo:
    """Start the JVM with Clojure, once; later calls return the same :class:`RuntimeInfo`.

    Args:
        classpath: extra entries (a user's own Clojure project), placed after ``jvm/src``
            and before Clojure's jars.
        jvm_args: extra JVM options, e.g. ``("-Xmx4g",)``; they come after ``-Xss4m``,
            so an ``-Xss`` of the caller's wins.

    Returns:
        The classpath, the Java and Clojure versions, and the start-up timings.

    Raises:
        ClojureNotFound: Java, Clojure or the project's sources are missing (the message
            says what to install or set).
        ClojureError: the JVM already runs and a classpath entry or option it lacks is
            asked for ("the JVM cannot be restarted in this process; …").
    """
    global _info
    jvm_args = ("-Xss4m", *jvm_args)
    with _lock:
        if _info is not None:
            _refuse(_info, [str(entry) for entry in classpath or ()], jvm_args)
            return _info
        wanted = full_classpath(list(classpath or ()))
        sources = project_sources()
        if not (sources / "cortex").is_dir():
            raise ClojureNotFound(f"the project's Clojure sources are not at {sources}; "
                                  "set CORTEX_BRIDGE_JVM_SRC to the jvm/src directory")
        # OpenBLAS, loaded after the JVM, can crash in numpy.linalg (JPype issue #808),
        # so numpy.linalg comes first: the order is the point (no sorting here).
        # isort: off
        import numpy.linalg  # noqa: F401
        import jpype
        # isort: on

        began = time.perf_counter()
        if not jpype.isJVMStarted():
            try:
                jpype.startJVM(*jvm_args, classpath=wanted, convertStrings=False)
            except (OSError, jpype.JVMNotFoundException) as error:
                raise ClojureNotFound(f"the JVM did not start ({error}); {INSTALL_HINT}"
                                      ) from None
        else:  # started by someone else: what it has is what we get
            java_cp = str(jpype.JClass("java.lang.System").getProperty("java.class.path"))
            wanted, jvm_args = java_cp.split(os.pathsep), ()
        started = time.perf_counter()
        try:
            clojure = jpype.JClass("clojure.java.api.Clojure")
        except Exception as error:  # noqa: BLE001 - a class-not-found of any JPype flavour
            raise ClojureNotFound(f"the JVM runs but has no Clojure ({error}); classpath: "
                                  f"{os.pathsep.join(wanted)}; {INSTALL_HINT}") from None
        version = str(clojure.var("clojure.core", "clojure-version").invoke())
        loaded = time.perf_counter()
        read_string = clojure.var("clojure.core", "read-string")
        evaluate = clojure.var("clojure.core", "eval")
        keyword = clojure.var("clojure.core", "keyword")
        table = evaluate.invoke(read_string.invoke(jpype.JString(_BOOTSTRAP)))
        _fns.update({name: table.valAt(keyword.invoke(jpype.JString(name)))
                     for name in ("eval", "explain")})
        java = str(jpype.JClass("java.lang.System").getProperty("java.version"))
        _info = RuntimeInfo(tuple(wanted), java, version, tuple(jvm_args),
                            round(started - began, 4), round(loaded - started, 4))
        atexit.register(_shutdown_agents)
        return _info


def _shutdown_agents() -> None:
    """``(shutdown-agents)``, so that exit does not wait a minute for agent threads."""
    try:
        import jpype

        if jpype.isJVMStarted():
            jpype.JClass("clojure.java.api.Clojure").var("clojure.core",
                                                         "shutdown-agents").invoke()
    except Exception:  # noqa: BLE001 - exit goes on whatever the JVM says
        pass


def _require_started() -> None:
    if _info is None:
        start()


def var(namespace: str, name: str):
    """The Clojure var ``namespace/name`` (it does not load the namespace)."""
    _require_started()
    import jpype

    return jpype.JClass("clojure.java.api.Clojure").var(namespace, name)


def clojure_error(error) -> ClojureError:
    """A Java exception as a :class:`ClojureError`.

    The message is what Clojure's REPL prints (``Execution error (ExceptionInfo) at …``
    and the cause's message), followed by ``data: {…}`` for an ``ex-info`` thrown while
    running (shortened; a Python traceback carried in ``:python/traceback`` is left
    out); ``clojure_type`` is the class of the exception that explains the failure
    (the cause of a ``CompilerException``); ``clojure_trace`` the Java stack trace text.
    """
    trace = ""
    try:
        trace = str(error.stacktrace())
        message, kind = _fns["explain"].invoke(error)
        return ClojureError(str(message), clojure_type=str(kind), clojure_trace=trace)
    except Exception:  # noqa: BLE001 - the error itself must still be reported
        kind = str(error.getClass().getName()) if hasattr(error, "getClass") else None
        text = error.getMessage() if hasattr(error, "getMessage") else None
        message = f"{kind}: {text}" if kind else str(error)
        return ClojureError(message, clojure_type=kind, clojure_trace=trace)


_BOXED = {"java.lang.Boolean": bool, "java.lang.Long": int, "java.lang.Integer": int,
          "java.lang.Short": int, "java.lang.Byte": int, "java.lang.Double": float,
          "java.lang.Float": float, "java.lang.String": str}


def _to_python(value):
    """nil, booleans, integers, floats and strings as Python values; the rest as is."""
    if value is None:
        return None
    get_class = getattr(value, "getClass", None)
    if get_class is None:
        return value
    convert = _BOXED.get(str(get_class().getName()))
    return value if convert is None else convert(value)


def eval_clojure(code: str):
    """Read every form of ``code`` with Clojure's reader and evaluate it, in ``user``.

    Each call starts in namespace ``user`` (an ``in-ns`` lasts for the call only).

    Returns:
        The last form's value: ``None``, ``bool``, ``int``, ``float`` or ``str`` for nil,
        booleans, integers, floating-point numbers and strings; the Java object otherwise.

    Raises:
        ClojureError: reading or evaluating threw.
    """
    _require_started()
    import jpype

    try:
        result = _fns["eval"].invoke(jpype.JString(code))
    except jpype.JException as error:
        raise clojure_error(error) from None
    return _to_python(result)


def require(namespace: str) -> None:
    """``(require 'namespace)``.

    Raises:
        ClojureError: the namespace is not on the classpath or does not load.
    """
    _require_started()
    import jpype

    symbol = jpype.JClass("clojure.lang.Symbol").intern(jpype.JString(namespace))
    try:
        var("clojure.core", "require").invoke(symbol)
    except jpype.JException as error:
        raise clojure_error(error) from None
