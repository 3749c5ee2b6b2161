"""The #cortex-bridge/tensor literal against numpy.save + numpy.load, in one process.

    .venv/bin/python tests/benchmarks/bench_tensor_tag.py [--count 25000000] [--repeats 3]

Times, best of ``--repeats``, for one float32 array:

* encode: ``dumps(encode_tensor(t))`` (base64 text with shape, dtype and crc32);
* decode: ``loads(text, readers=tensor_readers())`` (checks, base64, crc32, one copy);
* numpy: ``numpy.save`` to a BytesIO and ``numpy.load`` back;
* the floor: ``binascii`` base64 encode + decode of the same bytes, which no base64
  format can beat without a faster base64 library;

and prints encode+decode / numpy (the target is 2) and encode+decode / floor.
"""

from __future__ import annotations

import argparse
import binascii
import io
import time

import numpy as np
import torch

from bridge.edn import dumps, encode_tensor, loads, tensor_readers


def best_of(repeats: int, function) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=25_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    array = np.random.default_rng(0).standard_normal(args.count).astype(np.float32)
    tensor = torch.from_numpy(array)
    readers = tensor_readers()
    text = dumps(encode_tensor(tensor))
    assert torch.equal(loads(text, readers=readers), tensor)

    def numpy_round_trip():
        buffer = io.BytesIO()
        np.save(buffer, array)
        buffer.seek(0)
        return np.load(buffer)

    raw = array.tobytes()
    encoded = binascii.b2a_base64(raw, newline=False)
    encode = best_of(args.repeats, lambda: dumps(encode_tensor(tensor)))
    decode = best_of(args.repeats, lambda: loads(text, readers=readers))
    numpy_time = best_of(args.repeats, numpy_round_trip)
    floor = (best_of(args.repeats, lambda: binascii.b2a_base64(raw, newline=False))
             + best_of(args.repeats, lambda: binascii.a2b_base64(encoded)))
    print(f"{args.count:,} float32 ({array.nbytes / 1e6:.0f} MB), best of {args.repeats}")
    print(f"  encode {encode:7.3f} s   decode {decode:7.3f} s   "
          f"numpy.save+load {numpy_time:7.3f} s")
    print(f"  encode+decode / numpy.save+load   ratio {(encode + decode) / numpy_time:5.2f}"
          "  (target <= 2)")
    print(f"  encode+decode / base64 alone      ratio {(encode + decode) / floor:5.2f}"
          f"  (base64 encode+decode {floor:.3f} s)")


if __name__ == "__main__":
    main()
