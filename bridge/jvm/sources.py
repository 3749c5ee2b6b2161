"""Where the project's Clojure sources are, and whether the classes compiled from them
(:mod:`bridge.jvm.aot`) still match them. Both the classpath and the compiler ask this
module; it asks neither."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["DIGEST_FILE", "project_sources", "sources_digest", "namespaces",
           "compiled_classes", "classes_for"]


def project_sources() -> Path:
    """The directory holding ``cortex/nn/layers.clj`` and the other namespaces.

    Returns:
        ``CORTEX_BRIDGE_JVM_SRC`` when set; else ``jvm/src`` beside the package in a
        checkout; else ``bridge/jvm_src`` (an installed wheel). The path may not exist;
        :func:`bridge.jvm.runtime.start` checks.
    """
    override = os.environ.get("CORTEX_BRIDGE_JVM_SRC")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent.parent  # bridge/
    checkout = package.parent / "jvm" / "src"
    if checkout.is_dir():
        return checkout
    packaged = package / "jvm_src"
    return packaged if packaged.is_dir() else checkout


DIGEST_FILE = ".sources-sha256"


def classes_for(sources: Path) -> Path:
    return sources.parent / "classes"


def source_files(sources: Path) -> list[Path]:
    return sorted(sources.rglob("*.clj"))


def sources_digest(sources: Path) -> str:
    """SHA-256 over every ``.clj`` file's relative path and bytes."""
    digest = hashlib.sha256()
    for path in source_files(sources):
        digest.update(str(path.relative_to(sources)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def namespaces(sources: Path) -> list[str]:
    """The namespace each source file holds, by Clojure's file-name rule."""
    return [".".join(path.relative_to(sources).with_suffix("").parts).replace("_", "-")
            for path in source_files(sources)]


def compiled_classes(sources: Path | None = None) -> Path | None:
    """The class directory for ``sources`` (default: the project's) when it was compiled
    from exactly these sources; else ``None``."""
    if sources is None:
        sources = project_sources()
    classes = classes_for(sources)
    try:
        recorded = (classes / DIGEST_FILE).read_text().strip()
    except OSError:
        return None
    return classes if recorded == sources_digest(sources) else None
