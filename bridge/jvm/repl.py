"""Clojure front ends hosted by the Python process: a terminal REPL, an nREPL server for
editors, and a script runner.

All three start the one JVM of the process (:func:`bridge.jvm.start`), load
``cortex.bridge`` and the tutorial's namespaces, and then hand control to Clojure.
JPype releases the GIL while Java runs, so Clojure code calling back into the Python
trainer works from any of them, nREPL's worker threads included.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PRELOADED", "start_nrepl", "serve_nrepl", "run_repl", "run_script",
           "clojure_string"]

# Namespaces every front end loads first, so the tutorial's code runs as written.
PRELOADED = ("cortex.bridge", "cortex.nn", "cortex.optimizers", "cortex.dataset",
             "cortex.nn.layers", "cortex.nn.network", "cortex.nn.execute",
             "cortex.experiment.train")


def clojure_string(text: str) -> str:
    """``text`` as a Clojure string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _start(classpath: Sequence[str] | None) -> None:
    from bridge import jvm

    jvm.start(classpath=list(classpath) if classpath else None)
    requires = " ".join(f"'{ns}" for ns in PRELOADED)
    jvm.eval(f"(require {requires})")


def start_nrepl(*, port: int = 0, bind: str = "127.0.0.1",
                classpath: Sequence[str] | None = None,
                port_file: str | os.PathLike | None = ".nrepl-port") -> int:
    """Start an nREPL server in the JVM and return its port (0 picks a free one).

    The server listens on ``bind``, loopback unless told otherwise. ``port_file`` (by
    default ``.nrepl-port`` in the working directory, which CIDER, Calva and
    ``lein repl :connect`` look for) receives the port; ``None`` writes none.
    """
    from bridge import jvm

    _start(classpath)
    jvm.eval("(require 'nrepl.server)")
    actual = jvm.eval(
        "(let [server (nrepl.server/start-server :bind " + clojure_string(bind)
        + f" :port {int(port)})]"
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
                announce=print) -> None:
    """Run an nREPL server until Ctrl-C (or until ``stop`` is set)."""
    actual = start_nrepl(port=port, bind=bind, classpath=classpath)
    announce(f"nREPL server started on port {actual} on host {bind} - "
             f"nrepl://{bind}:{actual}")
    stop = stop or threading.Event()
    try:
        while not stop.is_set():
            # Python's main thread waits here; JVM threads call into Python meanwhile.
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop_nrepl()


def run_repl(*, classpath: Sequence[str] | None = None) -> None:
    """A Clojure REPL on the terminal, in namespace ``user`` with everything loaded."""
    from bridge import jvm

    _start(classpath)
    jvm.eval(
        "(binding [*ns* (create-ns 'user)]"
        " (refer-clojure)"
        " (clojure.main/repl"
        "  :init (fn [] (in-ns 'user) (use 'clojure.repl)"
        "            (require '[cortex.bridge :as bridge] '[cortex.nn :as nn]"
        "                     '[cortex.optimizers :as optim] '[cortex.dataset :as ds]"
        "                     '[cortex.nn.layers :as layers]))"
        "  :prompt (fn [] (printf \"%s=> \" (ns-name *ns*)) (flush))))"
    )


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
