"""The hosted JVM: start once, evaluate, exceptions both ways, clean exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from bridge import jvm
from bridge.errors import ClojureError
from bridge.jvm import classpath


def test_start_is_idempotent_and_reports_versions(clojure):
    again = jvm.start()
    assert again is clojure
    assert clojure.clojure_version.startswith("1.")
    assert str(classpath.project_sources()) == clojure.classpath[0]


def test_a_different_classpath_is_refused(clojure, tmp_path):
    with pytest.raises(ClojureError, match="the JVM cannot be restarted in this process"):
        jvm.start([str(tmp_path)])


def test_eval_converts_simple_values(clojure):
    assert jvm.eval("(+ 1 2)") == 3
    assert jvm.eval("(str \"a\" 1)") == "a1"
    assert jvm.eval("nil") is None
    assert jvm.eval("(= 1 1)") is True
    assert jvm.eval("(/ 1.0 4)") == 0.25


def test_clojure_exceptions_reach_python_with_message_and_trace(clojure):
    with pytest.raises(ClojureError) as caught:
        jvm.eval('(throw (ex-info "bad layer" {:id :fc}))')
    assert "bad layer" in str(caught.value)
    assert "ExceptionInfo" in caught.value.clojure_trace


def test_python_exceptions_reach_clojure_as_ex_info(clojure):
    result = jvm.eval(
        "(try (cortex.bridge.python/call :raise-error \"nope\")"
        " (catch clojure.lang.ExceptionInfo e"
        "  (pr-str [(ex-message e) (:python/type (ex-data e)) (:python/message (ex-data e))"
        "           (boolean (re-find #\"raise_error\" (:python/traceback (ex-data e))))])))")
    assert result == '["ValueError: nope" "ValueError" "nope" true]'


def test_four_jvm_threads_call_python_at_once(clojure):
    started = time.perf_counter()
    result = jvm.eval(
        "(let [work (fn [t] (reduce + (map (fn [i] (cortex.bridge.python/call :echo i))"
        "                                  (range 2000))))"
        "      threads (doall (map (fn [t] (future (work t))) (range 4)))]"
        "  (mapv deref threads))")
    assert list(result) == [sum(range(2000))] * 4
    assert time.perf_counter() - started < 60


def test_clojure_threads_work_while_python_waits(clojure):
    done = threading.Event()
    jvm.eval("(def waiting (promise))"
             "(future (deliver waiting (cortex.bridge.python/call :echo 41)))")
    value = jvm.eval("(deref waiting 10000 :timeout)")
    done.set()
    assert value == 41


def test_process_exits_promptly_after_a_future():
    code = textwrap.dedent("""
        from bridge import jvm
        jvm.start()
        jvm.eval("@(future (+ 1 1))")
        print("done")
    """)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert time.perf_counter() - started < 30  # not the 60 s agent keep-alive


def test_missing_clojure_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(classpath, "DEBIAN_DIR", tmp_path)
    monkeypatch.delenv("CORTEX_BRIDGE_CLASSPATH", raising=False)
    monkeypatch.setattr(classpath, "_real_cli", lambda: None)
    with pytest.raises(classpath.ClojureNotFound, match="apt-get install -y"):
        classpath.clojure_classpath()


def test_classpath_from_the_environment(monkeypatch):
    monkeypatch.setenv("CORTEX_BRIDGE_CLASSPATH", os.pathsep.join(["/a.jar", "/b"]))
    assert classpath.clojure_classpath() == ["/a.jar", "/b"]
