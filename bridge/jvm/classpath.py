"""Where Clojure comes from: the Clojure CLI, Debian's jars, or ``CORTEX_BRIDGE_CLASSPATH``.

Order: ``CORTEX_BRIDGE_CLASSPATH`` when set (the user decides); else the Clojure CLI's
``clojure -Spath`` when the real CLI is installed; else the jars Debian's ``clojure``
and ``libnrepl-clojure`` packages put in ``/usr/share/java``. The project's Clojure
sources (``jvm/src``) always come first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["ClojureNotFound", "clojure_classpath", "project_sources", "INSTALL_HINT",
           "DEBIAN_JARS"]

DEBIAN_DIR = Path("/usr/share/java")
DEBIAN_JARS = ("clojure.jar", "spec.alpha.jar", "core.specs.alpha.jar", "nrepl.jar")
INSTALL_HINT = ("install Java and Clojure: apt-get update && apt-get install -y "
                "default-jre-headless clojure libnrepl-clojure (or set CORTEX_BRIDGE_CLASSPATH "
                "to a classpath holding Clojure 1.10+ and nREPL)")


class ClojureNotFound(RuntimeError):
    """No Java or no Clojure; the message says what to install."""


def project_sources() -> Path:
    """``jvm/src`` of this checkout (``CORTEX_BRIDGE_JVM_SRC`` overrides)."""
    override = os.environ.get("CORTEX_BRIDGE_JVM_SRC")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "jvm" / "src"


def _real_cli() -> str | None:
    """The Clojure CLI (tools.deps), not Debian's plain ``clojure`` wrapper script."""
    found = shutil.which("clojure")
    if not found:
        return None
    try:
        text = Path(found).resolve().read_text(errors="replace")
    except OSError:
        return None
    return found if "Spath" in text or "tools.deps" in text else None


def _cli_classpath(cli: str) -> list[str]:
    result = subprocess.run([cli, "-Spath"], capture_output=True, text=True, timeout=300,
                            check=False, cwd=project_sources().parent)
    if result.returncode != 0:
        return []
    return [entry for entry in result.stdout.strip().split(os.pathsep) if entry]


def clojure_classpath() -> list[str]:
    """The classpath entries that provide Clojure and nREPL.

    Raises:
        ClojureNotFound: none of the three sources has Clojure.
    """
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise ClojureNotFound("no Java found; " + INSTALL_HINT)
    configured = os.environ.get("CORTEX_BRIDGE_CLASSPATH")
    if configured:
        return [entry for entry in configured.split(os.pathsep) if entry]
    cli = _real_cli()
    if cli:
        entries = _cli_classpath(cli)
        if any("clojure" in Path(entry).name for entry in entries):
            return entries
    jars = [DEBIAN_DIR / name for name in DEBIAN_JARS]
    if all(jar.is_file() for jar in jars[:3]):
        return [str(jar) for jar in jars if jar.is_file()]
    raise ClojureNotFound("Clojure not found; " + INSTALL_HINT)
