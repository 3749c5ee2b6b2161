"""bridge.jvm.aot: precompiled Clojure namespaces, used only while they match jvm/src."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import bridge
from bridge.jvm import aot, classpath

ROOT = Path(bridge.__file__).resolve().parent.parent
SOURCES = ROOT / "jvm" / "src"


def test_namespaces_follow_clojures_file_name_rule(tmp_path):
    (tmp_path / "cortex" / "nn").mkdir(parents=True)
    (tmp_path / "cortex" / "nn" / "my_layers.clj").write_text("(ns cortex.nn.my-layers)")
    (tmp_path / "cortex" / "core.clj").write_text("(ns cortex.core)")
    assert aot.namespaces(tmp_path) == ["cortex.core", "cortex.nn.my-layers"]
    assert "cortex.experiment.train" in aot.namespaces(SOURCES)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """A copy of jvm/src compiled next to itself (the checkout is left alone)."""
    sources = tmp_path_factory.mktemp("jvm") / "src"
    shutil.copytree(SOURCES, sources)
    return sources, aot.compile_namespaces(sources)


def test_compiling_writes_our_classes_and_the_digest(compiled):
    sources, classes = compiled
    assert classes == sources.parent / "classes"
    for name in aot.namespaces(sources):
        init = name.replace(".", "/").replace("-", "_") + "__init.class"
        assert (classes / init).is_file(), init
    assert sorted(p.name for p in classes.iterdir()) == [aot.DIGEST_FILE, "cortex"]
    assert aot.compiled_classes(sources) == classes
    assert not list(sources.parent.glob(".classes-*")), "the work directory is gone"


def test_any_edit_puts_the_sources_back_in_charge(compiled, tmp_path):
    sources, _ = compiled
    copy = tmp_path / "src"
    shutil.copytree(sources, copy)
    shutil.copytree(sources.parent / "classes", tmp_path / "classes")
    assert aot.compiled_classes(copy) == tmp_path / "classes"
    layers = copy / "cortex" / "nn" / "layers.clj"
    layers.write_text(layers.read_text() + "\n;; an edit\n")
    assert aot.compiled_classes(copy) is None
    (copy / "cortex" / "extra.clj").write_text("(ns cortex.extra)")
    layers.write_text(layers.read_text().removesuffix("\n;; an edit\n"))
    assert aot.compiled_classes(copy) is None  # a new file counts too


def test_the_classpath_puts_matching_classes_first(compiled, monkeypatch):
    sources, classes = compiled
    monkeypatch.setenv("CORTEX_BRIDGE_JVM_SRC", str(sources))
    assert classpath.full_classpath()[:2] == [str(classes), str(sources)]
    (classes / aot.DIGEST_FILE).write_text("0" * 64)
    assert classpath.full_classpath()[0] == str(sources)


def test_a_failed_compile_says_why_and_leaves_nothing(tmp_path):
    sources = tmp_path / "src"
    (sources / "cortex").mkdir(parents=True)
    (sources / "cortex" / "broken.clj").write_text("(ns cortex.broken) (undefined-fn 1)")
    with pytest.raises(RuntimeError, match="undefined-fn"):
        aot.compile_namespaces(sources)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def _class_url_in_a_fresh_jvm(sources: Path) -> str:
    """Where a new JVM, started the project's way on ``sources``, finds cortex.bridge."""
    import os
    import subprocess
    import sys

    code = ("from bridge import jvm; print('URL=' + str(jvm.eval("
            "'(str (.getResource (clojure.lang.RT/baseLoader) \"cortex/bridge__init.class\"))'"
            ")))")
    env = dict(os.environ, CORTEX_BRIDGE_JVM_SRC=str(sources))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("URL=")]
    return line.removeprefix("URL=")


def test_a_started_jvm_loads_matching_classes_and_ignores_stale_ones(compiled, tmp_path):
    sources, classes = compiled  # (another test leaves the fixture's digest stale)
    copy, copied = tmp_path / "src", tmp_path / "classes"
    shutil.copytree(sources, copy)
    shutil.copytree(classes, copied)
    (copied / aot.DIGEST_FILE).write_text(aot.sources_digest(copy))  # matching classes
    assert str(copied) in _class_url_in_a_fresh_jvm(copy)
    (copied / aot.DIGEST_FILE).write_text("0" * 64)  # no longer matches
    assert _class_url_in_a_fresh_jvm(copy) in ("", "None")  # loaded from the sources
