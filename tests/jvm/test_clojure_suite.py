"""Runs every clojure.test namespace under jvm/test inside the session's JVM, and fails
listing every failure and error (and when no test ran at all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge import jvm

TEST_ROOT = Path(__file__).resolve().parents[2] / "jvm" / "test"

# (fn [paths]) -> [tests assertions problems report]: each file is loaded with load-file
# (jvm/test is not on the classpath) and its namespace is read from its ns form; a file
# that does not load, a namespace without tests, a failure and an error are problems.
RUNNER = r"""
(fn [paths]
  (let [problems (atom [])
        note! (fn [& parts] (swap! problems conj (apply str parts)))
        names (vec (for [path paths
                         :let [name (try
                                      (with-open [in (java.io.PushbackReader.
                                                       (clojure.java.io/reader path))]
                                        (let [form (read in)]
                                          (load-file path)
                                          (second form)))
                                      (catch Throwable e
                                        (note! "LOAD " path "\n  " (.getName (class e)) ": "
                                               (ex-message e)
                                               (when-let [c (ex-cause e)]
                                                 (str "\n  caused by " (.getName (class c))
                                                      ": " (ex-message c))))
                                        nil))]
                         :when name]
                     name))
        untested (for [n names
                    :when (not-any? (comp :test meta) (vals (ns-interns n)))]
                n)
        _ (doseq [n untested] (note! "EMPTY " n " defines no tests"))
        original clojure.test/report
        record (fn [m]
                 (when (#{:fail :error} (:type m))
                   (note! (if (= :fail (:type m)) "FAIL " "ERROR ")
                          (clojure.test/testing-vars-str m)
                          (let [c (clojure.test/testing-contexts-str)]
                            (when (seq c) (str "\n  " c)))
                          (when (:message m) (str "\n  " (:message m)))
                          "\n  expected: " (pr-str (:expected m))
                          "\n    actual: " (let [a (:actual m)]
                                            (if (instance? Throwable a)
                                              (str (.getName (class a)) ": " (ex-message a)
                                                   (when-let [d (ex-data a)]
                                                     (str " " (pr-str d))))
                                              (pr-str a)))))
                 (original m))
        out (java.io.StringWriter.)
        summary (binding [clojure.test/*test-out* out
                          *out* out
                          clojure.test/report record
                          *print-length* 20
                          *print-level* 5]
                  (apply clojure.test/run-tests names))]
    [(:test summary) (+ (:pass summary) (:fail summary) (:error summary))
     (count @problems) (clojure.string/join "\n\n" @problems)]))
"""


def clojure_test_files() -> list[Path]:
    return sorted(TEST_ROOT.rglob("*_test.clj"))


def test_every_clojure_test_namespace_passes(clojure):
    files = clojure_test_files()
    assert files, f"no *_test.clj under {TEST_ROOT}"
    for namespace in ("clojure.test", "clojure.java.io", "clojure.string"):
        jvm.require(namespace)
    runner = jvm.eval(RUNNER)
    import jpype

    paths = jpype.JClass("clojure.lang.PersistentVector").create(
        [jpype.JString(str(f)) for f in files])
    tests, assertions, problems, report = runner.invoke(paths)
    tests, assertions, problems = int(tests), int(assertions), int(problems)
    if problems:
        pytest.fail(f"{problems} problem(s) in the Clojure suite ({tests} tests, "
                    f"{assertions} assertions):\n\n{report}", pytrace=False)
    assert tests > 0 and assertions > 0, "the Clojure suite ran no tests"
