"""#cortex-bridge/tensor between Python and Clojure, bit for bit: Python writes, the
hosted JVM and a plain ``java … clojure.main`` process (no Python, no JPype) read; the
hosted JVM writes, Python reads; both print the same text for the same values."""

from __future__ import annotations

import base64
import functools
import os
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from bridge import jvm
from bridge.jvm import classpath

# dtype name -> numpy type of its raw bits (bfloat16 has no numpy dtype; bits suffice)
BIT_TYPES = {"float32": "<u4", "float64": "<u8", "int64": "<i8", "float16": "<u2",
             "bfloat16": "<u2"}


def literal(name: str, bits: np.ndarray) -> str:
    """The tag as the format defines it: base64 of the little-endian bytes, C order, and
    zlib's CRC-32 of those bytes. Written here independently of bridge.edn.tensor_tag."""
    raw = np.ascontiguousarray(bits, dtype=BIT_TYPES[name]).tobytes()
    shape = " ".join(str(d) for d in bits.shape)
    return (f"#cortex-bridge/tensor {{:dtype :{name} :shape [{shape}] "
            f':data "{base64.b64encode(raw).decode()}" :crc32 {zlib.crc32(raw)}}}')


def f32(*values) -> list[int]:
    return [int(v) for v in np.array(values, dtype=np.float32).view(np.uint32)]


# name -> raw bits of values worth checking: -0.0, NaN payloads of both signs (quiet and
# signalling), infinities, subnormals, extremes, and random values.
SPECIAL = {
    "float32": np.array([0x80000000, 0x7fc00001, 0xffc12345, 0x7f800001, 0x7f800000,
                         0xff800000, 0x00000001, 0x007fffff, 0x7f7fffff, *f32(0.1, -2.5)],
                        dtype=np.uint32),
    "float64": np.array([0x8000000000000000, 0x7ff8000000000001, 0xfff0000000abcdef,
                         0x7ff0000000000000, 0x0000000000000001, 0x7fefffffffffffff,
                         *np.array([0.1, -2.5]).view(np.uint64)], dtype=np.uint64),
    "int64": np.array([-2**63, -1, 0, 1, 2**63 - 1, 1234567890123], dtype=np.int64),
    "float16": np.array([0x8000, 0x7e01, 0xfe3f, 0x7c01, 0x7c00, 0xfc00, 0x0001, 0x03ff,
                         0x7bff, 0x3c00, 0x2e66], dtype=np.uint16),
    "bfloat16": np.array([0x8000, 0x7fc1, 0xff81, 0x7f80, 0xff80, 0x0001, 0x7f7f, 0x3f80,
                          0x3dcd], dtype=np.uint16),
}


def random_bits(rng: np.random.Generator, name: str, n: int) -> np.ndarray:
    if name == "int64":
        return rng.integers(-2**63, 2**63 - 1, size=n, dtype=np.int64)
    if name == "bfloat16":
        return (rng.standard_normal(n).astype(np.float32).view(np.uint32) >> 16).astype(
            np.uint16)
    kind = {"float32": np.float32, "float64": np.float64, "float16": np.float16}[name]
    return rng.standard_normal(n).astype(kind).view(BIT_TYPES[name].replace("<", ""))


@functools.cache
def cases() -> dict[str, np.ndarray]:
    """name -> bits in a 4x25 shape: the special values, then seeded random ones."""
    rng = np.random.default_rng(20240601)
    out = {}
    for name, special in SPECIAL.items():
        bits = np.concatenate([special.astype(BIT_TYPES[name]),
                               random_bits(rng, name, 4 * 25 - len(special)).astype(
                                   BIT_TYPES[name])])
        out[name] = bits.reshape(4, 25)
    return out


def clojure_bits(name: str, bits: np.ndarray) -> list[int]:
    """What the Clojure side must hold: the bits, float16/bfloat16 widened to float32."""
    if name == "float16":
        return [int(b) for b in bits.reshape(-1).view(np.float16).astype(np.float32)
                .view(np.uint32)]
    if name == "bfloat16":
        return [int(b) << 16 for b in bits.reshape(-1)]
    return [int(b) for b in bits.reshape(-1)]


def clojure_string(text: str) -> str:
    """``text`` as a Clojure string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# A Clojure function of a read tensor: its dtype, shape and raw bits, as text.
DESCRIBE = r"""
(fn [{:keys [dtype shape data]}]
  (let [bits (cond (instance? (Class/forName "[F") data)
                   (map #(bit-and (long (Float/floatToRawIntBits %)) 0xffffffff) data)
                   (instance? (Class/forName "[D") data)
                   (map #(Long/toUnsignedString (Double/doubleToRawLongBits %)) data)
                   :else (seq data))]
    (clojure.string/join " " (concat [(name dtype) (count shape)] shape bits))))
"""


def parse_description(text: str) -> tuple[str, list[int], list[int]]:
    name, rank, *rest = text.split()
    rank = int(rank)
    return name, [int(d) for d in rest[:rank]], [int(b) for b in rest[rank:]]


@pytest.fixture(scope="module")
def describe(clojure):
    jvm.require("clojure.string")
    jvm.require("cortex.bridge.edn")
    return jvm.eval(DESCRIBE)


def test_the_local_helper_writes_what_bridge_edn_writes():
    """bridge/edn/tensor_tag.py and this test's reading of the format agree."""
    from bridge.edn import dumps
    from bridge.edn.tensor_tag import encode_tensor

    for name, bits in cases().items():
        tensor = torch.from_numpy(bits.view(BIT_TYPES[name].replace("<u", "<i")).copy())
        assert dumps(encode_tensor(tensor.view(getattr(torch, name)))) == literal(name, bits)


@pytest.mark.parametrize("name", list(SPECIAL))
def test_the_hosted_jvm_reads_python_tensors_bit_for_bit(clojure, describe, tmp_path, name):
    bits = cases()[name]
    path = tmp_path / f"{name}.edn"
    path.write_text(literal(name, bits))
    text = str(describe.invoke(jvm.eval(
        "(clojure.edn/read-string {:readers cortex.bridge.edn/readers} "
        f'(slurp "{path}"))')))
    assert parse_description(text) == (name, [4, 25], clojure_bits(name, bits))


@pytest.mark.parametrize("name", list(SPECIAL))
def test_python_reads_clojure_tensors_bit_for_bit_and_the_texts_match(clojure, name):
    """The JVM prints (tensor->edn) what it read; the text is Python's, byte for byte."""
    bits = cases()[name]
    text = literal(name, bits)
    printed = str(jvm.eval(
        "(require 'cortex.bridge.tensor)"
        "(cortex.bridge.tensor/tensor->edn"
        " (clojure.edn/read-string {:readers cortex.bridge.edn/readers}"
        f"  {clojure_string(text)}))"))
    assert printed == text
    from bridge.edn import loads
    from bridge.edn.tensor_tag import tensor_readers

    tensor = loads(printed, readers=tensor_readers())
    unsigned = BIT_TYPES[name].replace("<i", "<u")
    assert tensor.dtype == getattr(torch, name) and list(tensor.shape) == [4, 25]
    signed = {2: torch.int16, 8: torch.int64, 4: torch.int32}[tensor.element_size()]
    back = tensor.view(signed).numpy().view(unsigned)
    assert np.array_equal(back, bits.view(unsigned))


def test_shapes_scalars_and_empty_tensors(clojure, describe):
    for shape in [(), (0,), (2, 0), (1, 1, 1, 3)]:
        bits = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
        value = jvm.eval("(clojure.edn/read-string {:readers cortex.bridge.edn/readers} "
                         f"{clojure_string(literal('int64', bits))})")
        assert parse_description(str(describe.invoke(value))) == (
            "int64", list(shape), [int(b) for b in bits.reshape(-1)])


def test_damage_made_in_python_is_caught_in_clojure(clojure):
    from bridge.errors import ClojureError

    text = literal("float32", SPECIAL["float32"])
    data = text.split('"')[1]
    damaged = text.replace(data, ("B" if data[0] != "B" else "C") + data[1:])
    with pytest.raises(ClojureError, match="checksum mismatch: :crc32 says"):
        jvm.eval("(clojure.edn/read-string {:readers cortex.bridge.edn/readers} "
                 f"{clojure_string(damaged)})")
    cut = text.replace(data, data[:-8])
    with pytest.raises(ClojureError, match=":data is truncated"):
        jvm.eval("(clojure.edn/read-string {:readers cortex.bridge.edn/readers} "
                 f"{clojure_string(cut)})")


def test_a_plain_clojure_process_reads_python_tensors(tmp_path: Path):
    """No Python and no JPype on the reading side: java -cp … clojure.main."""
    all_cases = cases()
    path = tmp_path / "tensors.edn"
    path.write_text("{" + "\n".join(f":{name} {literal(name, bits)}"
                                    for name, bits in all_cases.items()) + "}")
    code = f"""
      (require 'clojure.edn 'clojure.string 'cortex.bridge.edn)
      (let [describe {DESCRIBE}
            m (clojure.edn/read-string {{:readers cortex.bridge.edn/readers}}
                                       (slurp {clojure_string(str(path))}))
            same (cortex.bridge.edn/read-network {clojure_string(str(path))})]
        (doseq [k (sort (keys m))]
          (assert (= (describe (get m k)) (describe (get same k))))
          (println (describe (get m k)))))"""
    java = classpath.find_java()
    cp = os.pathsep.join(classpath.full_classpath())
    result = subprocess.run([java, "-cp", cp, "clojure.main", "-e", code],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    described = sorted(parse_description(line) for line in result.stdout.splitlines() if line)
    expected = sorted((name, [4, 25], clojure_bits(name, bits))
                      for name, bits in all_cases.items())
    assert described == expected
