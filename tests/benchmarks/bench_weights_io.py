"""Saving and loading weights as EDN, against numpy.save/load and json, in one run.

    .venv/bin/python tests/benchmarks/bench_weights_io.py [--big-only | --small-only]

For a 25-million-parameter network (ResNet-50's size: one 5000x5000 linear layer) and
the tutorial's MNIST MLP (101,770 parameters) it times, on the same arrays:

* save_network + load_network with the :tensor encoding (base64 of the raw bytes);
* save_network + load_network with the :vector encoding (nested EDN vectors);
* numpy.save + numpy.load of every parameter array;
* json.dumps + json.loads of every parameter as nested lists;

and prints seconds and the ratios the issue sets targets for: :tensor / numpy (target
<= 2) and :vector / json (target <= 1). Files go to a temporary directory. Our saves
are atomic (fsync, then rename), which numpy's and json's are not. Base64 alone
(encode + decode, no file) is printed as the floor of any text encoding of raw bytes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import bridge
from bridge.edn.tensor_tag import _b64decode, _b64encode

NETWORKS = {
    "25M (5000x5000 linear)": "[(input 5000) (linear 5000)]",
    "MNIST MLP": "[(input 784) (linear 128) (relu) (linear 10) (softmax)]",
}


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def best_of(repeats: int, function) -> float:
    return min(timed(function) for _ in range(repeats))


def measure(name: str, text: str, directory: Path, repeats: int) -> None:
    net = bridge.load_model(text, seed=0)
    arrays = [t.detach().numpy() for p in net.parameters_by_layer().values()
              for t in p.values()]
    count = sum(a.size for a in arrays)

    def edn_round_trip(encoding):
        path = directory / f"net-{encoding}.edn"

        def run():
            bridge.save_network(net, path, encoding=encoding)
            bridge.load_network(path)

        return run

    def numpy_round_trip():
        # The idiomatic fast form: every array into one open file, read back in order.
        path = directory / "arrays.npy"
        with open(path, "wb") as out:
            for array in arrays:
                np.save(out, array)
        with open(path, "rb") as stream:
            for _ in arrays:
                np.load(stream)

    def json_round_trip():
        path = directory / "arrays.json"
        path.write_text(json.dumps([a.astype(np.float64).tolist() for a in arrays]))
        json.loads(path.read_text())

    def base64_alone():
        for array in arrays:
            _b64decode(_b64encode(array.view(np.uint8).reshape(-1)))

    tensor = best_of(3, edn_round_trip("tensor"))
    numpy_time = best_of(3, numpy_round_trip)
    floor = best_of(3, base64_alone)
    vector = best_of(repeats, edn_round_trip("vector"))
    json_time = best_of(repeats, json_round_trip)
    print(f"\n{name}: {count:,} parameters")
    print(f"  :tensor save+load {tensor:8.3f} s   numpy.save+load {numpy_time:8.3f} s   "
          f"ratio {tensor / numpy_time:6.2f}  (target <= 2)")
    print(f"      base64 encode+decode alone {floor:8.3f} s ({floor / numpy_time:.2f}x numpy)")
    print(f"  :vector save+load {vector:8.3f} s   json dumps+loads {json_time:8.3f} s   "
          f"ratio {vector / json_time:6.2f}  (target <= 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-only", action="store_true")
    parser.add_argument("--small-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name, text in NETWORKS.items():
            big = name.startswith("25M")
            if (big and args.small_only) or (not big and args.big_only):
                continue
            measure(name, text, Path(folder), repeats=1 if big else 5)


if __name__ == "__main__":
    main()
