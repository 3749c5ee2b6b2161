"""The hosted JVM: started once, code evaluated by Clojure's reader, Java exceptions as
ClojureError, a prompt exit. Cases that need a fresh process run in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from bridge import jvm
from bridge.errors import ClojureError
from bridge.jvm import classpath, runtime

INSTALL = ("apt-get update && apt-get install -y default-jdk-headless clojure "
           "libnrepl-clojure")


def python(code: str, *, env: dict | None = None, timeout: float = 120):
    """Run ``code`` in a fresh Python process (a fresh JVM, if it starts one)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


# --- start -------------------------------------------------------------------------------


def test_importing_the_package_starts_nothing():
    result = python("""
        import sys
        import bridge.jvm, bridge.jvm.classpath
        print('jpype' in sys.modules, bridge.jvm.is_started())
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_start_is_idempotent_and_reports_what_it_started(clojure):
    assert jvm.start() is clojure
    assert jvm.is_started()
    assert list(clojure.classpath) == classpath.full_classpath()  # compiled classes first
    assert clojure.clojure_version == jvm.eval("(clojure-version)")
    assert clojure.java_version == jvm.eval('(System/getProperty "java.version")')
    assert "-Xss4m" in clojure.jvm_args
    assert 0 < clojure.start_seconds < 30 and 0 < clojure.clojure_seconds < 30


def test_asking_again_for_entries_it_has_is_fine(clojure):
    assert jvm.start([str(classpath.project_sources())]) is clojure
    assert jvm.start(jvm_args=["-Xss4m"]) is clojure


def test_a_different_classpath_is_refused(clojure, tmp_path):
    with pytest.raises(ClojureError) as caught:
        jvm.start([str(tmp_path)])
    message = str(caught.value)
    assert message.startswith("the JVM cannot be restarted in this process; it was started "
                              f"earlier with the classpath {os.pathsep.join(clojure.classpath)}")
    assert f"now the classpath entries {tmp_path} are asked for" in message


def test_other_jvm_options_are_refused(clojure):
    with pytest.raises(ClojureError, match="now the JVM options -Xmx3g are asked for"):
        jvm.start(jvm_args=("-Xmx3g",))


# --- eval --------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "expected"), [
    ("nil", None), ("true", True), ("false", False), ("(+ 1 2)", 3), ("(/ 1.0 4)", 0.25),
    ('(str "a" 1)', "a1"), ("(int 7)", 7), ("(float 0.5)", 0.5), ("Long/MAX_VALUE", 2**63 - 1),
])
def test_simple_values_come_back_as_python_values(clojure, code, expected):
    value = jvm.eval(code)
    assert value == expected and type(value) is type(expected)


def test_other_values_come_back_as_java_objects(clojure):
    keyword = jvm.eval(":fc")
    assert str(keyword.getClass().getName()) == "clojure.lang.Keyword"
    assert str(keyword) == ":fc"
    layers = jvm.eval("(require 'cortex.nn.layers) (cortex.nn.layers/linear 10 :id :fc)")
    assert len(layers) == 1 and str(layers.get(0)) == "{:type :linear, :output-size 10, :id :fc}"


def test_code_is_read_by_clojures_reader_not_the_edn_reader(clojure):
    assert jvm.eval("@(future (+ 1 1))") == 2
    assert jvm.eval("(#(* % 2) 21)") == 42
    assert jvm.eval("(str `map)") == "clojure.core/map"
    assert jvm.eval("(let [{:keys [a]} {:a 'sym}] (name a))") == "sym"


def test_every_form_runs_in_user_and_the_last_value_is_returned(clojure):
    assert jvm.eval("(def answer 41) (inc answer)") == 42
    assert jvm.eval("(str *ns*)") == "user"
    assert jvm.eval("(in-ns 'elsewhere) (clojure.core/str clojure.core/*ns*)") == "elsewhere"
    assert jvm.eval("(str *ns* \" \" user/answer)") == "user 41"


def test_require(clojure):
    runtime.require("clojure.set")
    assert jvm.eval("(count (clojure.set/union #{1} #{2}))") == 2
    with pytest.raises(ClojureError, match="Could not locate no/such/namespace__init.class"):
        jvm.require("no.such.namespace")


# --- exceptions --------------------------------------------------------------------------


def test_ex_info_reaches_python_with_message_type_data_and_trace(clojure):
    with pytest.raises(ClojureError) as caught:
        jvm.eval('(throw (ex-info "bad layer" {:id :fc}))')
    error = caught.value
    lines = str(error).split("\n")
    assert lines[0].startswith("Execution error (ExceptionInfo) at user/eval")
    assert lines[1:] == ["bad layer", "data: {:id :fc}"]
    assert error.clojure_type == "clojure.lang.ExceptionInfo"
    assert "clojure.lang.ExceptionInfo: bad layer {:id :fc}" in error.clojure_trace
    assert "\tat clojure.lang.Compiler.eval" in error.clojure_trace


def test_syntax_errors_say_where_and_what(clojure):
    with pytest.raises(ClojureError) as caught:
        jvm.eval("(nope 1)")
    assert str(caught.value) == ("Syntax error compiling at (REPL:1:1).\n"
                                 "Unable to resolve symbol: nope in this context")
    assert caught.value.clojure_type == "java.lang.RuntimeException"
    with pytest.raises(ClojureError, match=r"Syntax error reading source .*\nEOF while reading"):
        jvm.eval("(+ 1")


def test_java_exceptions(clojure):
    with pytest.raises(ClojureError, match=r"\(ArithmeticException\).*\nDivide by zero$") as caught:
        jvm.eval("(/ 1 0)")
    assert caught.value.clojure_type == "java.lang.ArithmeticException"


def test_a_layer_error_names_the_node(clojure):
    with pytest.raises(ClojureError) as caught:
        jvm.eval("(require '[cortex.nn.layers :as layers])"
                 "(layers/max-pooling 2 0 2 :pool-op :median :id :pool)")
    message = str(caught.value)
    assert ("\nmax-pooling :pool-op must be one of :max :avg :avg-exc-pad. "
            "Received: :pool-op :median\ndata: {:node {") in message
    assert ":id :pool" in message


# --- Python entry points through the runtime (bridge/jvm/calls.py) -----------------------


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
    jvm.eval("(def waiting (promise))"
             "(future (deliver waiting (cortex.bridge.python/call :echo 41)))")
    assert jvm.eval("(deref waiting 10000 :timeout)") == 41


# --- fresh processes ---------------------------------------------------------------------


def test_a_process_that_ran_a_future_exits_within_5_s():
    result = python("""
        import time
        from bridge import jvm
        jvm.start()
        assert jvm.eval("@(future (+ 1 1))") == 2
        print(time.time(), flush=True)
    """)
    ended = time.time()
    assert result.returncode == 0, result.stderr
    assert ended - float(result.stdout) < 5  # not the 60 s agent-thread keep-alive


def test_without_java_start_says_what_to_install(tmp_path):
    result = python("""
        from bridge import jvm
        from bridge.jvm.classpath import ClojureNotFound
        try:
            jvm.start()
        except ClojureNotFound as error:
            print(error)
    """, env={"PATH": str(tmp_path), "JAVA_HOME": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("no Java found")
    assert INSTALL in result.stdout


def test_without_clojure_start_says_what_to_install(tmp_path):
    result = python("""
        import jpype
        from bridge import jvm
        from bridge.jvm.classpath import ClojureNotFound
        try:
            jvm.start()
        except ClojureNotFound as error:
            print(error)
        print(jpype.isJVMStarted())
    """, env={"CORTEX_BRIDGE_CLASSPATH": str(tmp_path / "no-clojure.jar")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("the JVM runs but has no Clojure")
    assert INSTALL in result.stdout
