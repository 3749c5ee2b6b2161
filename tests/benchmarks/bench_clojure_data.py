"""Cortex data from Clojure collections into Python, against the float[] path.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_clojure_data.py

8000 items of 784 numbers (MNIST's size), three ways: each :data a float[] (one bulk
copy per item), a flat vector of doubles, and 28 vectors of 28 (nested). Each time is
the crossing: packing into direct buffers (cortex.bridge.pack) plus the Python data set
made on them, median of 5 (best of the JIT's warm runs). The target is vectors within
10x of float[]. The last line is a repeated crossing of the same vector value, which the
per-value cache answers without packing again.
"""

from __future__ import annotations

from bridge import jvm

BENCH = r"""
(require '[cortex.bridge :as bridge] '[cortex.bridge.pack :as pack])
(let [n 8000 w 784
      rows (vec (for [i (range n)] (vec (for [j (range w)] (double (/ (mod (* i j) 255) 255.0))))))
      label (fn [i] (assoc (vec (repeat 10 0.0)) (mod i 10) 1.0))
      arrays (mapv (fn [i r] {:data (float-array r) :labels (label i)}) (range) rows)
      vectors (mapv (fn [i r] {:data r :labels (label i)}) (range) rows)
      nested (mapv (fn [i r] {:data (mapv vec (partition 28 r)) :labels (label i)}) (range) rows)
      cross (fn [items packer]
              (let [t0 (System/nanoTime)
                    {:keys [count streams buffers]} (packer items)
                    h (cortex.bridge.python/call :dataset-from-buffers
                                                 (pr-str {:count count :streams streams})
                                                 (object-array buffers))]
                (cortex.bridge.python/call :release h)
                (/ (- (System/nanoTime) t0) 1e9)))
      median (fn [items packer]
               (let [times (sort (repeatedly 5 #(cross items packer)))] (nth times 2)))]
  (dotimes [_ 2] (cross arrays pack/pack) (cross vectors pack/pack) (cross nested pack/pack))
  (let [a (median arrays pack/pack) v (median vectors pack/pack) nv (median nested pack/pack)
        _ (cross vectors pack/packed)
        cached (median vectors pack/packed)]
    (format (str "float[] items:        %.3f s\n"
                 "vector items:         %.3f s  (%.1fx float[])\n"
                 "nested 28x28 vectors: %.3f s  (%.1fx float[])\n"
                 "same vector value again (cached): %.4f s")
            a v (/ v a) nv (/ nv a) cached)))
"""


def main() -> None:
    from bridge.jvm.repl import jvm_options

    jvm.start(jvm_args=jvm_options(interactive=True))  # as the REPL runs it (C1 only)
    jvm.require("cortex.bridge")
    print("8000 x 784 items, crossing time (pack + Python data set), median of 5")
    print(jvm.eval(BENCH))


if __name__ == "__main__":
    main()
