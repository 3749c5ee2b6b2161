"""The Clojure door's costs, each against its anchor, in one run.

    .venv/bin/python tests/benchmarks/bench_jvm.py

1. One Clojure -> Python call through an entry point (target <= 10 us), against a plain
   Clojure function call.
2. A 60000 x 784 float32 data set from Clojure to torch tensors (one bulk copy into a
   direct buffer that numpy views without copying), against numpy.copy of the same bytes
   (target: at least half of memcpy speed).
3. The same training run (digits MLP, 20 epochs) started from Clojure and from Python
   (target: ratio >= 0.95).
4. `cortex-bridge repl` from start to its first prompt (target < 3 s).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import numpy as np

import bridge
from bridge import jvm

MODEL = "edn_models/digits-mlp.edn"


def call_cost() -> None:
    result = jvm.eval("""
      (let [n 100000
            f (fn [x] x)
            time-it (fn [g] (let [t (System/nanoTime)]
                              (dotimes [i n] (g i))
                              (/ (- (System/nanoTime) t) 1000.0 n)))]
        (time-it #(cortex.bridge.python/call :echo %))  ; warm up
        (pr-str [(time-it #(cortex.bridge.python/call :echo %)) (time-it f)]))""")
    python_us, clojure_us = bridge.edn.loads(result)
    print(f"1. one Clojure->Python call {python_us:8.2f} us   plain Clojure call "
          f"{clojure_us:8.4f} us   (target <= 10 us)")


def array_transfer() -> None:
    rows, width = 60000, 784
    seconds = bridge.edn.loads(jvm.eval(f"""
      (let [rows {rows} width {width}
            items (vec (for [i (range rows)]
                         {{:data (float-array width (float (mod i 7))) :labels (mod i 10)}}))
            t (System/nanoTime)
            ds (cortex.bridge/dataset items)]
        (pr-str (/ (- (System/nanoTime) t) 1e9)))"""))
    source = np.random.default_rng(0).random((rows, width), dtype=np.float32)
    started = time.perf_counter()
    np.copy(source)
    copy_seconds = time.perf_counter() - started
    mb = rows * width * 4 / 1e6
    print(f"2. {rows}x{width} floats Clojure->torch {seconds:6.3f} s ({mb / seconds:7.0f} MB/s)"
          f"   numpy.copy {copy_seconds:6.3f} s ({mb / copy_seconds:7.0f} MB/s)   "
          f"speed ratio {copy_seconds / seconds:5.2f} (target >= 0.5)")


def training_ratio() -> None:
    train = bridge.datasets.digits("train")
    options = "{:epochs 20 :batch-size 32 :optimizer {:type :adam} :seed 0 :log nil}"
    jvm.eval("(require '[cortex.bridge :as b] '[cortex.dataset :as ds])"
             "(def digits (ds/load-digits :train))")

    def from_clojure() -> float:
        started = time.perf_counter()
        jvm.eval(f'(let [net (b/load-model "{MODEL}" {{:seed 0}})]'
                 f" (binding [*out* (java.io.StringWriter.)] (b/train! net digits {options})))")
        return time.perf_counter() - started

    def from_python() -> float:
        started = time.perf_counter()
        net = bridge.load_model(MODEL, seed=0)
        bridge.train(net, train, epochs=20, batch_size=32, optimizer="adam", seed=0,
                     log=lambda _: None)
        return time.perf_counter() - started

    from_clojure(), from_python()
    clojure_s = min(from_clojure() for _ in range(3))
    python_s = min(from_python() for _ in range(3))
    print(f"3. training from Clojure {clojure_s:6.3f} s   from Python {python_s:6.3f} s   "
          f"speed ratio {python_s / clojure_s:5.2f} (target >= 0.95)")


def repl_start() -> None:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bridge", "repl"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    seen = b""
    while b"=> " not in seen and time.perf_counter() - started < 120:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            seen += os.read(process.stdout.fileno(), 4096)
    elapsed = time.perf_counter() - started
    process.communicate(b"", timeout=60)
    print(f"4. cortex-bridge repl to first prompt {elapsed:6.2f} s   (target < 3 s)")


def main() -> None:
    jvm.start()
    jvm.eval("(require 'cortex.bridge 'cortex.dataset)")
    call_cost()
    array_transfer()
    training_ratio()
    repl_start()


if __name__ == "__main__":
    main()
