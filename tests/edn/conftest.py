"""The real ``clojure.edn`` as an oracle for the EDN tests, run in a subprocess (the test
session's own JVM is left alone). Without Java or Clojure these tests fail with the
install instructions; they never skip."""

from __future__ import annotations

import base64
import math
import os
import shutil
import struct
import subprocess
from decimal import Decimal
from fractions import Fraction

import pytest

from bridge.edn import Char, EdnList, Keyword, Symbol, Tagged

# Reads one base64 line per case; answers "OK <base64 of pr-str>" or "ERR <base64 of the
# exception>". A case must hold exactly one form (a second read must hit EOF), as our
# loads demands. The tensor tag's reader decodes :data and checks :crc32 with
# java.util.zip.CRC32, so Python's zlib.crc32 is checked against Java's.
ORACLE = r"""
(require '[clojure.edn :as edn])
(import '[java.util Base64] '[java.io PushbackReader StringReader BufferedReader]
        '[java.util.zip CRC32])
(defn b64d [s] (String. (.decode (Base64/getDecoder) ^String s) "UTF-8"))
(defn b64e [^String s] (.encodeToString (Base64/getEncoder) (.getBytes s "UTF-8")))
(defn tensor [{:keys [dtype shape data crc32]}]
  (let [raw (.decode (Base64/getDecoder) ^String data)
        c (doto (CRC32.) (.update raw))]
    {:dtype dtype :shape shape :bytes (alength raw) :crc-ok (= crc32 (.getValue c))}))
(def opts {:eof ::eof :readers {'cortex-bridge/tensor tensor}})
(defn read-doc [s]
  (let [r (PushbackReader. (StringReader. s))
        v (edn/read opts r)]
    (when-not (= ::eof (edn/read opts r))
      (throw (ex-info "trailing input" {})))
    (if (= v ::eof) nil v)))
(binding [*print-namespace-maps* false *print-length* nil *print-meta* false]
  (doseq [line (line-seq (BufferedReader. *in*))]
    (println
      (try (str "OK " (b64e (pr-str (read-doc (b64d line)))))
           (catch Throwable e
             (str "ERR " (b64e (str (.getName (class e)) ": " (.getMessage e))))))))
  (flush))
"""


def _java_command(script: str) -> list[str]:
    from bridge.jvm.classpath import INSTALL_HINT, clojure_classpath

    java = shutil.which("java")
    if java is None:
        pytest.fail(f"the EDN oracle needs Java and Clojure: {INSTALL_HINT}")
    try:
        classpath = clojure_classpath()
    except Exception as error:  # ClojureNotFound, with the install hint
        pytest.fail(f"the EDN oracle needs Clojure: {error}")
    return [java, "-cp", os.pathsep.join(map(str, classpath)), "clojure.main", script]


@pytest.fixture(scope="session")
def clojure_edn(tmp_path_factory):
    """``read(texts) -> [("OK", pr-str text) | ("ERR", message)]`` from clojure.edn,
    one JVM per call."""
    script = tmp_path_factory.mktemp("oracle") / "oracle.clj"
    script.write_text(ORACLE, encoding="utf-8")
    command = _java_command(str(script))

    def read(texts: list[str]) -> list[tuple[str, str]]:
        lines = "".join(base64.b64encode(t.encode("utf-8", "surrogatepass")).decode() + "\n"
                        for t in texts)
        result = subprocess.run(command, input=lines, capture_output=True, text=True,
                                timeout=300, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        answers = []
        for line in result.stdout.splitlines():
            status, _, payload = line.partition(" ")
            answers.append((status, base64.b64decode(payload).decode("utf-8",
                                                                     "surrogatepass")))
        assert len(answers) == len(texts), result.stderr[-2000:]
        return answers

    return read


@pytest.fixture(scope="session")
def canonical():
    """:func:`canonical_form`, for tests."""
    return canonical_form


def canonical_form(value):
    """A tree that is equal for two values exactly when they are the same EDN data:
    types count (vector ≠ list, 1 ≠ 1.0 ≠ true, \\a ≠ "a"), floats compare by bits
    (-0.0 ≠ 0.0; any NaN equals any NaN), maps and sets ignore order. Recursive: for
    the shallow values of the tests, not for deep nesting."""
    if value is None or isinstance(value, bool):
        return ("atom", value)
    if isinstance(value, float):
        return ("nan",) if math.isnan(value) else ("float", struct.pack("<d", value))
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, Decimal | Fraction):
        return (type(value).__name__, value)
    if isinstance(value, Keyword | Symbol | Char):
        return (type(value).__name__, str(value))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, Tagged):
        return ("tagged", str(value.tag), canonical_form(value.value))
    if isinstance(value, dict):
        pairs = [(canonical_form(k), canonical_form(v)) for k, v in value.items()]
        return ("map", tuple(sorted(pairs, key=repr)))
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted(map(canonical_form, value), key=repr)))
    if isinstance(value, EdnList) or type(value) is tuple:
        return ("list", tuple(map(canonical_form, value)))
    if isinstance(value, list | tuple):  # list, Vector
        return ("vector", tuple(map(canonical_form, value)))
    return ("other", repr(value))
