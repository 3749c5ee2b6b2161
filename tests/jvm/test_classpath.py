"""Finding Java, Clojure and the project's Clojure sources (no JVM is started here)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import bridge
from bridge.jvm import classpath

ROOT = Path(bridge.__file__).resolve().parent.parent

DEBIAN_WRAPPER = """#!/bin/sh
exec java -cp /usr/share/java/clojure-1.11.jar"$extra_classpath" clojure.main "$@"
"""


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def bare(monkeypatch, tmp_path):
    """No CORTEX_BRIDGE_CLASSPATH, a fake `java` on PATH, no `clojure`, an empty
    /usr/share/java; returns the fake Debian directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "java", "#!/bin/sh\nexit 0\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("CORTEX_BRIDGE_CLASSPATH", raising=False)
    debian = tmp_path / "share-java"
    debian.mkdir()
    monkeypatch.setattr(classpath, "DEBIAN_DIR", debian)
    # whether setup precompiled jvm/ must not matter here
    monkeypatch.setattr(classpath, "compiled_classes", lambda sources=None: None)
    return debian


def test_project_sources_are_next_to_the_package(monkeypatch):
    monkeypatch.delenv("CORTEX_BRIDGE_JVM_SRC", raising=False)
    assert classpath.project_sources() == ROOT / "jvm" / "src"
    assert (classpath.project_sources() / "cortex" / "nn" / "layers.clj").is_file()


def test_project_sources_can_be_moved(monkeypatch, tmp_path):
    monkeypatch.setenv("CORTEX_BRIDGE_JVM_SRC", str(tmp_path))
    assert classpath.project_sources() == tmp_path


def test_debian_jars(bare):
    for name in classpath.DEBIAN_JARS:
        (bare / name).write_bytes(b"")
    assert classpath.clojure_classpath() == [str(bare / n) for n in classpath.DEBIAN_JARS]


def test_debian_jars_without_nrepl(bare):
    for name in classpath.DEBIAN_JARS[:3]:
        (bare / name).write_bytes(b"")
    assert classpath.clojure_classpath() == [str(bare / n) for n in classpath.DEBIAN_JARS[:3]]


def test_debians_clojure_wrapper_is_not_taken_for_the_cli(bare, tmp_path):
    executable(tmp_path / "bin" / "clojure", DEBIAN_WRAPPER)
    assert classpath.clojure_cli() is None
    for name in classpath.DEBIAN_JARS:
        (bare / name).write_bytes(b"")
    assert classpath.clojure_classpath()[0] == str(bare / "clojure.jar")


def test_the_clojure_cli_comes_before_debian(bare, tmp_path):
    for name in classpath.DEBIAN_JARS:
        (bare / name).write_bytes(b"")
    executable(tmp_path / "bin" / "clojure",
               '#!/bin/sh\ncase "$1" in -Spath) echo "src:/m2/org/clojure/clojure-1.12.0.jar:'
               '/m2/nrepl-1.3.jar";; esac\n')
    assert classpath.clojure_cli() == str(tmp_path / "bin" / "clojure")
    entries = classpath.clojure_classpath()
    # run in jvm/ (where deps.edn is); relative entries become absolute
    assert entries == [str(ROOT / "jvm" / "src"), "/m2/org/clojure/clojure-1.12.0.jar",
                       "/m2/nrepl-1.3.jar"]
    assert classpath.full_classpath()[:2] == [str(ROOT / "jvm" / "src"),
                                              "/m2/org/clojure/clojure-1.12.0.jar"]


def test_a_failing_cli_falls_back_to_debian(bare, tmp_path):
    for name in classpath.DEBIAN_JARS:
        (bare / name).write_bytes(b"")
    executable(tmp_path / "bin" / "clojure", '#!/bin/sh\n# handles -Spath\nexit 1\n')
    assert classpath.clojure_classpath()[0] == str(bare / "clojure.jar")


def test_the_environment_decides(bare, monkeypatch):
    for name in classpath.DEBIAN_JARS:
        (bare / name).write_bytes(b"")
    monkeypatch.setenv("CORTEX_BRIDGE_CLASSPATH", os.pathsep.join(["/a/clojure.jar", "/b"]))
    assert classpath.clojure_classpath() == ["/a/clojure.jar", "/b"]


def test_no_clojure_says_what_to_run(bare):
    with pytest.raises(classpath.ClojureNotFound) as caught:
        classpath.clojure_classpath()
    message = str(caught.value)
    assert message.startswith("Clojure not found (no CORTEX_BRIDGE_CLASSPATH, no Clojure CLI, "
                              "no clojure.jar in ")
    assert ("apt-get update && apt-get install -y default-jdk-headless clojure "
            "libnrepl-clojure") in message
    assert "or set CORTEX_BRIDGE_CLASSPATH" in message


def test_no_java_says_what_to_run(bare, monkeypatch, tmp_path):
    for name in classpath.DEBIAN_JARS:
        (bare / name).write_bytes(b"")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(classpath.ClojureNotFound, match=r"^no Java found .*apt-get update && "
                       r"apt-get install -y default-jdk-headless clojure libnrepl-clojure"):
        classpath.clojure_classpath()


def test_java_home_is_used(bare, monkeypatch, tmp_path):
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    executable(home / "bin" / "java", "#!/bin/sh\n")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    monkeypatch.setenv("JAVA_HOME", str(home))
    assert classpath.find_java() == str(home / "bin" / "java")


def test_full_classpath_puts_sources_first_and_drops_duplicates(bare):
    for name in classpath.DEBIAN_JARS:
        (bare / name).write_bytes(b"")
    sources = str(classpath.project_sources())
    entries = classpath.full_classpath(["/mine", sources])
    assert entries == [sources, "/mine", *(str(bare / n) for n in classpath.DEBIAN_JARS)]


def test_this_machine_has_clojure():
    """The suite's other tests need Clojure; without it this fails with the message."""
    entries = classpath.clojure_classpath()
    assert any(Path(e).name.startswith("clojure") for e in entries)


def test_nippy_jars_join_only_when_installed(bare):
    for name in classpath.DEBIAN_JARS:
        (bare / name).write_bytes(b"")
    clojure = [str(bare / n) for n in classpath.DEBIAN_JARS]
    assert classpath.full_classpath()[-len(clojure):] == clojure  # no nippy installed
    for name in classpath.NIPPY_JARS:
        (bare / name).write_bytes(b"")
    assert classpath.full_classpath()[-len(classpath.NIPPY_JARS):] == [
        str(bare / n) for n in classpath.NIPPY_JARS]
    # a classpath with its own nippy keeps it; one with its own tools.reader keeps that;
    # another Clojure gets none (Debian's jars name Debian's clojure.jar in their manifests)
    debian = str(bare / "clojure.jar")
    assert classpath.nippy_classpath([debian, "/m2/nippy-3.3.0.jar"]) == []
    assert str(bare / "tools.reader.jar") not in classpath.nippy_classpath(
        [debian, "/x/tools.reader.jar"])
    assert classpath.nippy_classpath(["/m2/org/clojure/clojure-1.12.0.jar"]) == []
