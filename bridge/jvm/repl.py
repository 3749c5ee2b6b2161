"""Clojure front ends hosted by the Python process: a terminal REPL, an nREPL server for
editors, and a script runner.

All three start the one JVM of the process (:func:`bridge.jvm.start`), load
``cortex.bridge`` and the tutorial's namespaces, and then hand control to Clojure.
JPype releases the GIL while Java runs, so Clojure code calling back into the Python
trainer works from any of them, nREPL's worker threads included.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PRELOADED", "start_nrepl", "serve_nrepl", "run_repl", "run_script",
           "clojure_string", "jvm_options", "INTERACTIVE_JVM_OPTIONS"]

# Namespaces every front end loads first, so the tutorial's code runs as written.
PRELOADED = ("cortex.bridge", "cortex.nn", "cortex.optimizers", "cortex.dataset",
             "cortex.nn.layers", "cortex.nn.network", "cortex.nn.execute",
             "cortex.experiment.train", "cortex.bridge.repl")


def clojure_string(text: str) -> str:
    """``text`` as a Clojure string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# The interactive front ends start the JVM with C1 only, as Leiningen does for its
# development REPLs: about half a second sooner to the prompt, at some cost to the peak
# speed of long Clojure loops (the training itself runs in torch, unaffected).
INTERACTIVE_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)


def jvm_options(*, interactive: bool) -> tuple[str, ...]:
    """JVM options for a front end: ``CORTEX_BRIDGE_JVM_OPTS`` (split on whitespace)
    when set, else :data:`INTERACTIVE_JVM_OPTIONS` for the REPL and nREPL, else none."""
    configured = os.environ.get("CORTEX_BRIDGE_JVM_OPTS")
    if configured is not None:
        return tuple(configured.split())
    return INTERACTIVE_JVM_OPTIONS if interactive else ()


def _start(classpath: Sequence[str] | None, *, interactive: bool = False) -> None:
    from bridge import jvm

    # Options only shape a JVM not yet started (one already running is used as it is).
    options = () if jvm.is_started() else jvm_options(interactive=interactive)
    jvm.start(classpath=list(classpath) if classpath else None, jvm_args=options)
    requires = " ".join(f"'{ns}" for ns in PRELOADED)
    jvm.eval(f"(require {requires})")


def start_nrepl(*, port: int = 0, bind: str = "127.0.0.1",
                classpath: Sequence[str] | None = None,
                port_file: str | os.PathLike | None = ".nrepl-port",
                middleware: Sequence[str] = ()) -> int:
    """Start an nREPL server in the JVM and return its port (0 picks a free one).

    The server listens on ``bind``, loopback unless told otherwise. ``port_file`` (by
    default ``.nrepl-port`` in the working directory, which CIDER, Calva and
    ``lein repl :connect`` look for) receives the port; ``None`` writes none.
    ``middleware``: qualified symbols of extra middleware on the classpath (e.g.
    ``cider.nrepl/cider-middleware``, a var holding a vector of them). Sessions start
    in ``user`` with the terminal REPL's aliases (``bridge``, ``nn``, ``ds`` …).
    """
    from bridge import jvm

    _start(classpath, interactive=True)
    jvm.eval("(require 'nrepl.server) (cortex.bridge.repl/setup-user!)")
    symbols = " ".join(clojure_string(m) for m in middleware)
    actual = jvm.eval(
        "(let [server (nrepl.server/start-server :bind " + clojure_string(bind)
        + f" :port {int(port)}"
        " :handler (apply nrepl.server/default-handler"
        f"                 (cortex.bridge.repl/middleware [{symbols}])))]"
        " (alter-var-root #'cortex.bridge/*nrepl-server* (constantly server))"
        " (:port server))"
    )
    actual = int(actual)
    if port_file is not None:
        from bridge.atomic import write_atomically

        write_atomically(port_file, str(actual))
    return actual


def stop_nrepl(port_file: str | os.PathLike | None = ".nrepl-port") -> None:
    from bridge import jvm

    jvm.eval("(when-let [s cortex.bridge/*nrepl-server*] (nrepl.server/stop-server s)"
             " (alter-var-root #'cortex.bridge/*nrepl-server* (constantly nil)))")
    if port_file is not None:
        try:
            Path(port_file).unlink()
        except FileNotFoundError:
            pass


def serve_nrepl(*, port: int = 0, bind: str = "127.0.0.1",
                classpath: Sequence[str] | None = None, stop: threading.Event | None = None,
                announce=print, middleware: Sequence[str] = ()) -> None:
    """Run an nREPL server until Ctrl-C (or until ``stop`` is set)."""
    actual = start_nrepl(port=port, bind=bind, classpath=classpath, middleware=middleware)
    announce(f"nREPL server started on port {actual} on host {bind} - "
             f"nrepl://{bind}:{actual}")
    stop = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        # `kill` (SIGTERM) stops the server as Ctrl-C does, removing .nrepl-port.
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        while not stop.is_set():
            # Python's main thread waits here; JVM threads call into Python meanwhile.
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        stop_nrepl()


def run_repl(*, classpath: Sequence[str] | None = None) -> None:
    """A Clojure REPL on the terminal, in namespace ``user`` with everything loaded.

    Ctrl-C interrupts the running evaluation (a training stops after its current step)
    or, at an idle prompt, drops the line; Ctrl-D exits (``cortex.bridge.repl``).
    """
    from bridge import jvm

    _start(classpath, interactive=True)
    jvm.eval("(cortex.bridge.repl/terminal-repl)")


def run_script(path: str | os.PathLike, args: Sequence[str] = (), *,
               classpath: Sequence[str] | None = None) -> None:
    """Load a ``.clj`` file with ``*command-line-args*`` bound to ``args``."""
    from bridge import jvm

    script = Path(path)
    if not script.is_file():
        raise FileNotFoundError(f"no such Clojure script: {script}")
    _start(classpath)
    arg_list = " ".join(clojure_string(a) for a in args)
    jvm.eval(
        f"(binding [*command-line-args* (seq [{arg_list}]) *ns* (create-ns 'user)]"
        " (refer-clojure)"
        f" (load-file {clojure_string(str(script.resolve()))}))"
    )
