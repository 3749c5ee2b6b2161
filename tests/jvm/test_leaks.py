"""No leaks through the Clojure door: data sets made inside a call go when the call ends,
networks and data sets the user drops go when the JVM collects them (or at release!),
and RSS stays flat over many ``run`` calls on Cortex data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bridge import jvm
from bridge.jvm import calls

SETUP = """
(require '[cortex.bridge :as bridge] '[cortex.nn.layers :as layers])
(def leak-net (bridge/load-model [(layers/input 784 1 1 :id :x) (layers/linear 10 :id :y)]
                                 {:seed 1}))
(def leak-items (vec (for [i (range 2000)]
                       {:x (vec (for [j (range 784)] (double (mod (* i j) 7))))})))
(count leak-items)
"""


# Run in a JVM of its own with a fixed heap: the session JVM's heap grows and shrinks by
# hundreds of MB with the garbage of other tests, which would hide or fake a leak.
RSS_SCRIPT = f"""
import os, sys
from bridge import jvm
from bridge.jvm import calls
jvm.start(jvm_args=("-Xms384m", "-Xmx384m", "-XX:+AlwaysPreTouch"))
jvm.require("cortex.bridge")
def rss():
    with open(f"/proc/{{os.getpid()}}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
jvm.eval({SETUP!r})
jvm.eval("(dotimes [_ 30] (bridge/run leak-net leak-items))")  # warm: caches, JIT, heap
handles, before = calls.handle_count(), rss()
print(before)
jvm.eval("(dotimes [_ 300] (bridge/run leak-net leak-items))")
print(rss() - before, calls.handle_count() - handles)
"""


def test_rss_stays_flat_over_300_runs(clojure):
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", RSS_SCRIPT], capture_output=True,
                            text=True, timeout=600, check=False,
                            env={**os.environ, "PYTHONPATH": str(root)}, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    growth, handles = result.stdout.split()[-2:]
    assert int(handles) == 0, "a data set made for a call outlived it"
    assert float(growth) < 50, f"RSS grew {float(growth):.0f} MB over 300 runs"


def test_temporary_data_sets_are_released_after_each_call(clojure):
    jvm.eval(SETUP)
    handles = calls.handle_count()
    jvm.eval("(let [labelled (mapv #(assoc % :y (assoc (vec (repeat 10 0)) (mod (count %) 10) 1))"
             "                     (take 50 leak-items))]"
             " (bridge/train! leak-net labelled {:epochs 1 :log nil :test (take 10 labelled)})"
             " (bridge/evaluate leak-net labelled))")
    jvm.eval("(bridge/run leak-net (take 50 leak-items))"
             " (bridge/run leak-net (mapv #(assoc % :x (float-array (:x %)))"
             "                            (take 50 leak-items)))")
    assert calls.handle_count() <= handles
    jvm.eval("(try (bridge/run leak-net [{:x [1 2]}]) (catch Exception _ :failed))")
    assert calls.handle_count() <= handles, "a failed call leaves no data set behind"


def test_dropped_networks_and_data_sets_are_freed_by_the_collector(clojure):
    jvm.eval(SETUP)
    handles = calls.handle_count()
    jvm.eval("(dotimes [i 40] (bridge/load-model [(layers/input 2 1 1 :id :x)"
             " (layers/linear 1 :id :y)]) (bridge/dataset [{:x [i 1]}]))")
    assert calls.handle_count() >= handles + 40  # (a collection may already run meanwhile)
    freed = jvm.eval("""
      (loop [tries 0]
        (System/gc) (Thread/sleep 100)
        (bridge/run leak-net (take 1 leak-items))   ; any call releases what was queued
        (if (or (> tries 30) (zero? (cortex.bridge.python/pending-releases)))
          tries (recur (inc tries))))""")
    assert freed <= 30
    assert calls.handle_count() <= handles + 5, "collected networks keep their Python side"


def test_release_frees_at_once_and_only_once(clojure):
    jvm.eval(SETUP)
    handles = calls.handle_count()
    result = jvm.eval("""
      (let [net (bridge/load-model [(layers/input 2 1 1 :id :x) (layers/linear 1 :id :y)])
            first-release (bridge/release! net)
            second-release (bridge/release! net)]
        [first-release second-release (bridge/released? net) (pr-str net)
         (:cortex.bridge/error (try (bridge/run net [{:x [1 2]}])
                                    (catch Exception e (ex-data e))))])""")
    first, second, released, printed, error = list(result)
    assert (bool(first), bool(second), bool(released)) == (True, False, True)
    assert "released" in str(printed)
    assert str(error) == ":released"
    assert calls.handle_count() <= handles
