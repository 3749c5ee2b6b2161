"""Where Java, Clojure and the project's Clojure sources come from.

Clojure is looked for in this order:

1. ``CORTEX_BRIDGE_CLASSPATH``, when set (entries separated by ``os.pathsep``). DESIGN
   lists it last; it comes first here because a variable the user set is a decision,
   and as a last resort it could never choose another Clojure on a machine that has
   Debian's jars.
2. The Clojure CLI: ``clojure -Spath``, run in ``jvm/`` so that ``jvm/deps.edn``
   applies. Debian's ``clojure`` command is a plain wrapper around ``clojure.main``
   that knows no ``-Spath``; it is recognised and passed over.
3. The jars Debian's ``clojure`` and ``libnrepl-clojure`` packages put in
   ``/usr/share/java`` (Clojure, spec.alpha and core.specs.alpha are required; nREPL
   is used when present).

When Java or Clojure is missing, :class:`ClojureNotFound` says what to run.

Debian's ``libnippy-clojure`` (nippy and the jars it needs, :data:`NIPPY_JARS`) joins a
classpath holding Debian's Clojure when it is installed; it is needed only to import
trained Cortex networks (:mod:`bridge.importers.cortex`). Elsewhere put nippy on
``CORTEX_BRIDGE_CLASSPATH`` (or the CLI's classpath).

The project's Clojure sources (``jvm/src``) are found next to the package in a checkout,
or as ``bridge/jvm_src`` where a wheel ships them; ``CORTEX_BRIDGE_JVM_SRC`` overrides
both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bridge.errors import ClojureNotFound
from bridge.jvm.sources import compiled_classes, project_sources

__all__ = [
    "ClojureNotFound",
    "INSTALL_COMMAND",
    "INSTALL_HINT",
    "DEBIAN_DIR",
    "DEBIAN_JARS",
    "find_java",
    "clojure_cli",
    "clojure_classpath",
    "project_sources",
    "full_classpath",
    "NIPPY_JARS",
    "NIPPY_INSTALL_COMMAND",
    "nippy_classpath",
]

INSTALL_COMMAND = ("apt-get update && apt-get install -y default-jdk-headless clojure "
                   "libnrepl-clojure")
INSTALL_HINT = (f"run `{INSTALL_COMMAND}`, or set CORTEX_BRIDGE_CLASSPATH to a classpath "
                "holding Clojure 1.10+ (with spec.alpha and core.specs.alpha) and nREPL")

DEBIAN_DIR = Path("/usr/share/java")
#: Debian's unversioned jar names; the first three are required.
DEBIAN_JARS = ("clojure.jar", "spec.alpha.jar", "core.specs.alpha.jar", "nrepl.jar")
_REQUIRED_DEBIAN_JARS = 3
#: Debian's libnippy-clojure and the jars it depends on (encore, truss, tools.reader and
#: the compressors); used only when nippy.jar is there.
NIPPY_JARS = ("nippy.jar", "encore.jar", "truss.jar", "tools.reader.jar", "lz4-java.jar",
              "snappy-java.jar", "xz.jar")
NIPPY_INSTALL_COMMAND = "apt-get update && apt-get install -y libnippy-clojure"
_CLI_TIMEOUT_S = 300  # the first -Spath may download dependencies


def _split(text: str) -> list[str]:
    return [entry for entry in text.strip().split(os.pathsep) if entry]


def find_java() -> str | None:
    """The ``java`` executable: ``$JAVA_HOME/bin/java``, else the one on ``PATH``."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def clojure_cli() -> str | None:
    """The Clojure CLI (tools.deps) on ``PATH``, or ``None``.

    Debian's ``clojure`` is a shell wrapper around ``clojure.main``; given ``-Spath`` it
    would start a REPL. It is told apart by reading the script: the real CLI handles
    ``-Spath`` by name.
    """
    found = shutil.which("clojure")
    if not found:
        return None
    try:
        with open(Path(found).resolve(), "rb") as script:
            head = script.read(256 * 1024)
    except OSError:
        return None
    return found if b"Spath" in head else None


def _cli_classpath(cli: str) -> list[str]:
    """``clojure -Spath`` in ``jvm/``, relative entries made absolute; ``[]`` on failure."""
    where = project_sources().parent
    if not (where / "deps.edn").is_file():
        where = Path.cwd()
    try:
        result = subprocess.run([cli, "-Spath"], capture_output=True, text=True,
                                timeout=_CLI_TIMEOUT_S, check=False, cwd=where,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    return [entry if os.path.isabs(entry) else str((where / entry).resolve())
            for entry in _split(result.stdout)]


def _has_clojure(entries: list[str]) -> bool:
    return any(Path(entry).name.startswith("clojure") and entry.endswith(".jar")
               for entry in entries)


def clojure_classpath() -> list[str]:
    """The classpath entries that provide Clojure (and nREPL where available).

    Returns:
        Entries in the order of the module docstring's search.

    Raises:
        ClojureNotFound: no Java, or none of the three sources has Clojure. The message
            holds :data:`INSTALL_COMMAND`.
    """
    if find_java() is None:
        raise ClojureNotFound(f"no Java found (neither JAVA_HOME nor `java` on PATH); "
                              f"{INSTALL_HINT}")
    configured = os.environ.get("CORTEX_BRIDGE_CLASSPATH")
    if configured and _split(configured):
        return _split(configured)
    cli = clojure_cli()
    if cli:
        entries = _cli_classpath(cli)
        if _has_clojure(entries):
            return entries
    jars = [DEBIAN_DIR / name for name in DEBIAN_JARS]
    if all(jar.is_file() for jar in jars[:_REQUIRED_DEBIAN_JARS]):
        return [str(jar) for jar in jars if jar.is_file()]
    raise ClojureNotFound(f"Clojure not found (no CORTEX_BRIDGE_CLASSPATH, no Clojure CLI, "
                          f"no {DEBIAN_JARS[0]} in {DEBIAN_DIR}); {INSTALL_HINT}")


def nippy_classpath(entries: list[str]) -> list[str]:
    """Debian's nippy jars to add to ``entries``: only beside Debian's own Clojure (the
    jars' manifests name Debian's clojure.jar, which must not join another Clojure),
    none when ``entries`` already hold a nippy jar or libnippy-clojure is not installed;
    jars ``entries`` already hold by name are left out."""
    names = {Path(entry).name for entry in entries}
    debian_clojure = any(Path(entry).parent == DEBIAN_DIR and Path(entry).name.startswith(
        "clojure") for entry in entries)
    if not debian_clojure or any(name.startswith("nippy") for name in names):
        return []
    if not (DEBIAN_DIR / NIPPY_JARS[0]).is_file():
        return []
    return [str(DEBIAN_DIR / name) for name in NIPPY_JARS
            if name not in names and (DEBIAN_DIR / name).is_file()]


def full_classpath(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The JVM's whole classpath: the project's compiled namespaces where they match
    the sources (:mod:`bridge.jvm.aot`), the sources, ``extra``, then Clojure, then
    nippy where installed (:func:`nippy_classpath`).

    Duplicates are dropped (the Clojure CLI lists ``jvm/src`` too). The same list serves
    the hosted JVM and a plain ``java -cp … clojure.main`` process.

    Raises:
        ClojureNotFound: as :func:`clojure_classpath`.
    """
    sources = project_sources()
    compiled = compiled_classes(sources) if sources.is_dir() else None
    entries: list[str] = []
    clojure = clojure_classpath()
    for entry in [*([str(compiled)] if compiled else []), str(sources), *map(str, extra),
                  *clojure, *nippy_classpath([*map(str, extra), *clojure])]:
        if entry not in entries:
            entries.append(entry)
    return entries
