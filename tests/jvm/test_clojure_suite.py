"""Runs every clojure.test namespace under jvm/test inside the session JVM."""

from __future__ import annotations

import json
from pathlib import Path

from bridge import jvm

TEST_ROOT = Path(__file__).resolve().parents[2] / "jvm" / "test"


def namespaces() -> list[str]:
    names = []
    for path in sorted(TEST_ROOT.rglob("*_test.clj")):
        relative = path.relative_to(TEST_ROOT).with_suffix("")
        names.append(".".join(relative.parts).replace("_", "-"))
    return names


def test_clojure_test_suite_passes(clojure):
    found = namespaces()
    assert len(found) >= 3, found
    files = " ".join(json.dumps(str(TEST_ROOT / (ns.replace(".", "/").replace("-", "_")
                                                    + ".clj"))) for ns in found)
    names = " ".join(json.dumps(ns) for ns in found)
    report = jvm.eval(
        "(require 'clojure.test)"
        f" (doseq [f [{files}]] (load-file f))"
        " (let [out (java.io.StringWriter.)"
        "       summary (binding [clojure.test/*test-out* out]"
        f"                 (apply clojure.test/run-tests (map symbol [{names}])))]"
        "   (pr-str (assoc (select-keys summary [:test :pass :fail :error]) :out (str out))))")
    from bridge.edn import Keyword, loads as read

    summary = read(report)
    counts = {k.name: summary[k] for k in summary if k.name != "out"}
    assert counts["test"] >= 10, summary
    assert counts["fail"] == 0 and counts["error"] == 0, summary[Keyword("out")]
