"""The real ``clojure.edn`` as an oracle for the EDN tests, run in a subprocess (the test
session's own JVM is left alone). Without Java or Clojure these tests fail with the
install instructions; they never skip."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess

import pytest

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
    (-0.0 ≠ 0.0; any NaN equals any NaN), maps and sets ignore order."""
    import math
    import struct
    from decimal import Decimal
    from fractions import Fraction

    from bridge.edn import Char, EdnList, Keyword, Symbol, Tagged

    work_result = []
    # An explicit stack, so thousands of nesting levels need no recursion.
    stack = [(value, work_result)]
    while stack:
        item, out = stack.pop()
        if item is None or isinstance(item, bool):
            out.append(("atom", item))
        elif isinstance(item, float):
            out.append(("nan",) if math.isnan(item) else ("float", struct.pack("<d", item)))
        elif isinstance(item, int):
            out.append(("int", item))
        elif isinstance(item, Decimal | Fraction):
            out.append((type(item).__name__, item))
        elif isinstance(item, Keyword | Symbol | Char):
            out.append((type(item).__name__, str(item)))
        elif isinstance(item, str):
            out.append(("str", item))
        elif isinstance(item, Tagged):
            inner: list = []
            out.append(("tagged", str(item.tag), inner))
            stack.append((item.value, inner))
        elif isinstance(item, dict):
            pairs: list = []
            out.append(("map", pairs))
            for key, val in item.items():
                pair: list = []
                pairs.append(pair)
                stack.append((val, pair))
                stack.append((key, pair))
        elif isinstance(item, set | frozenset):
            elements: list = []
            out.append(("set", elements))
            stack.extend((element, elements) for element in item)
        elif isinstance(item, EdnList) or (isinstance(item, tuple) and not hasattr(item, "line")
                                          and type(item) is tuple):
            elements = []
            out.append(("list", elements))
            stack.extend((element, elements) for element in reversed(item))
        elif isinstance(item, list | tuple):
            elements = []
            out.append(("vector", elements))
            stack.extend((element, elements) for element in reversed(item))
        else:
            out.append(("other", repr(item)))
    return _freeze(work_result[0])


def _freeze(tree):
    """Lists → tuples, and map/set members sorted by repr so order does not matter."""
    stack = [(tree, None, None)]
    done: dict[int, object] = {}
    order = []
    while stack:
        node, parent, index = stack.pop()
        order.append((node, parent, index))
        if isinstance(node, tuple) and node and node[0] in ("map", "set", "list", "vector",
                                                            "tagged"):
            children = node[-1]
            for i, child in enumerate(children):
                stack.append((child, node, i))
        elif isinstance(node, list):  # a map pair
            for i, child in enumerate(node):
                stack.append((child, node, i))
    for node, _, _ in reversed(order):
        if isinstance(node, list):
            done[id(node)] = tuple(done.get(id(c), c) for c in node)
        elif isinstance(node, tuple) and node and node[0] in ("map", "set", "list", "vector",
                                                              "tagged"):
            children = [done.get(id(c), c) for c in node[-1]]
            if node[0] in ("map", "set"):
                children.sort(key=repr)
            done[id(node)] = node[:-1] + (tuple(children),)
    return done.get(id(tree), tree)
