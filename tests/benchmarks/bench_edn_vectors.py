"""Reading and writing long number vectors as EDN, against json, in one process.

    .venv/bin/python tests/benchmarks/bench_edn_vectors.py [--count 1000000] [--repeats 5]

For one list of floats (float32 values widened to doubles, as saved weights are) it
times, best of ``--repeats``:

* ``bridge.edn.loads`` of the EDN vector as Clojure's ``pr-str`` writes it (``[1.0 2.0]``)
  and as JSON-minded writers do (``[1.0, 2.0]``), against ``json.loads`` of the JSON
  text of the same list;
* the same for a 1000-row matrix (one json call per row on our side);
* ``bridge.edn.dumps`` of the list and of the float32 array, against ``json.dumps``.

and prints each ratio (ours / json; 1.0 means json's speed).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bridge.edn import dumps, loads


def best_of(repeats: int, function) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def compare(label: str, ours, theirs, repeats: int) -> None:
    # Interleaved, so a busy machine slows both sides alike; the best of each counts.
    mine = reference = float("inf")
    for _ in range(repeats):
        mine = min(mine, best_of(1, ours))
        reference = min(reference, best_of(1, theirs))
    print(f"  {label:<44} {mine:8.3f} s   json {reference:8.3f} s   ratio {mine / reference:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    array = np.random.default_rng(0).standard_normal(args.count).astype(np.float32)
    values = array.astype(np.float64).tolist()
    json_text = json.dumps(values)
    edn_text = dumps(values)
    edn_commas = "[" + ", ".join(map(repr, values)) + "]"
    assert list(loads(edn_text)) == values and list(loads(edn_commas)) == values

    rows = array.reshape(1000, -1).astype(np.float64).tolist() if args.count % 1000 == 0 \
        else [values]
    matrix_json = json.dumps(rows)
    matrix_edn = dumps(rows, indent=1)
    assert [list(r) for r in loads(matrix_edn)] == rows

    print(f"{args.count:,} floats ({len(edn_text) / 1e6:.1f} MB of EDN), best of {args.repeats}")
    compare("loads [a b c] vs json.loads", lambda: loads(edn_text),
            lambda: json.loads(json_text), args.repeats)
    compare("loads [a, b, c] vs json.loads", lambda: loads(edn_commas),
            lambda: json.loads(json_text), args.repeats)
    compare(f"loads {len(rows)}-row matrix vs json.loads", lambda: loads(matrix_edn),
            lambda: json.loads(matrix_json), args.repeats)
    compare("dumps list vs json.dumps", lambda: dumps(values), lambda: json.dumps(values),
            args.repeats)
    compare("dumps float32 ndarray vs json.dumps(list)", lambda: dumps(array),
            lambda: json.dumps(values), args.repeats)


if __name__ == "__main__":
    main()
