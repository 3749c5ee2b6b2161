"""Ahead-of-time compiled Clojure namespaces: the REPL starts about 0.4 s sooner.

Loading ``cortex.*`` from source compiles every form at each start (about 0.9 s of a
2.6 s REPL start); loading the class files that ``clojure.core/compile`` writes takes
about half that. ``make demo``/``make test`` (``scripts/setup.sh``) run
``python -m bridge.jvm.aot``, which compiles the namespaces under ``jvm/src`` into
``jvm/classes`` next to them, with a digest of the sources beside the classes.

The classes go on the classpath only while that digest matches the sources. Clojure on
its own would load a ``.clj`` that is newer than its class file, but only that one
namespace: the rest would keep the old compiled code, and a record such as
``cortex.bridge.Network`` would then exist twice (an ``instance?`` check across the two
fails). So any edit sends every namespace back to source until the next compile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bridge.jvm.classpath import clojure_classpath, find_java
from bridge.jvm.sources import (
    DIGEST_FILE,
    classes_for,
    compiled_classes,
    namespaces,
    project_sources,
    sources_digest,
)

__all__ = ["DIGEST_FILE", "sources_digest", "compiled_classes", "compile_namespaces",
           "namespaces", "project_sources"]


def compile_namespaces(sources: Path | None = None, *, java: str | None = None) -> Path:
    """Compile every namespace under ``sources`` into the class directory beside it.

    The classes are written to a temporary directory and moved into place with the
    digest last, so an interrupted compile leaves no half set that would be used.

    Returns:
        The class directory.

    Raises:
        RuntimeError: Java failed; its output is in the message.
        ClojureNotFound: no Java or no Clojure (see :mod:`bridge.jvm.classpath`).
    """
    sources = project_sources() if sources is None else sources
    java = java or find_java() or "java"
    target = classes_for(sources)
    digest = sources_digest(sources)
    work = Path(tempfile.mkdtemp(prefix=".classes-", dir=sources.parent))
    try:
        names = " ".join(namespaces(sources))
        code = (f'(binding [*compile-path* "{work.as_posix()}"] '
                f"(doseq [n '[{names}]] (compile n)))")
        classpath = os.pathsep.join([str(work), str(sources), *clojure_classpath()])
        result = subprocess.run([java, "-Xss4m", "-cp", classpath, "clojure.main", "-e", code],
                                capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"compiling the Clojure namespaces failed:\n"
                               f"{(result.stdout + result.stderr)[-3000:]}")
        # Only our namespaces: a library compiled along the way would shadow its own jar.
        for entry in work.iterdir():
            if entry.name != "cortex":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
        (target / DIGEST_FILE).write_text(digest + "\n")
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


def main() -> int:
    try:
        target = compile_namespaces()
    except Exception as error:  # noqa: BLE001 - setup goes on; Clojure loads the sources
        print(f"cortex-bridge: Clojure namespaces not precompiled ({error}); they will "
              "load from source", file=sys.stderr)
        return 1
    print(f"compiled the Clojure namespaces into {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
