"""bridge.edn.tensor_tag: the #cortex-bridge/tensor literal and the :vector encoding."""

from __future__ import annotations

import base64
import binascii
import math
import re
import zlib

import numpy as np
import pytest
import torch

from bridge.edn import (
    TENSOR_TAG,
    EdnMap,
    Keyword,
    Symbol,
    Vector,
    decode_tensor,
    dumps,
    encode_tensor,
    loads,
    tensor_readers,
    vector_decode,
    vector_encode,
)
from bridge.errors import EdnSyntaxError, ModelError

K = Keyword
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64]
BITS = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def random_bits(dtype: torch.dtype, shape, seed: int = 0) -> torch.Tensor:
    """A tensor whose bytes are random: every NaN payload, subnormal and sign."""
    tensor = torch.empty(shape, dtype=dtype)
    raw = tensor.view(-1).view(torch.uint8)
    raw.copy_(torch.from_numpy(np.random.default_rng(seed).integers(
        0, 256, size=raw.numel(), dtype=np.uint8)))
    if dtype.is_floating_point:
        flat, count = tensor.view(-1), min(3, tensor.numel())
        flat[:count] = torch.tensor([-0.0, math.inf, -math.inf], dtype=dtype)[:count]
    return tensor


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a.dtype == b.dtype and a.shape == b.shape
            and torch.equal(a.view(BITS[a.element_size()]), b.view(BITS[b.element_size()])))


def test_the_literal_text_is_what_the_format_says():
    text = dumps(encode_tensor(torch.tensor([1.0, -0.0])))
    # 1.0f is 00 00 80 3f little-endian, -0.0f is 00 00 00 80.
    raw = bytes.fromhex("0000803f00000080")
    assert text == ('#cortex-bridge/tensor {:dtype :float32 :shape [2] '
                    f':data "{base64.b64encode(raw).decode()}" :crc32 {zlib.crc32(raw)}}}')
    assert text == ('#cortex-bridge/tensor {:dtype :float32 :shape [2] '
                    ':data "AACAPwAAAIA=" :crc32 3042666438}')


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (7,), (4, 5), (2, 3, 4)], ids=str)
def test_every_dtype_and_shape_round_trips_bit_for_bit(dtype, shape):
    tensor = random_bits(dtype, shape)
    text = dumps({K("w"): encode_tensor(tensor)})
    back = loads(text, readers=tensor_readers())[K("w")]
    assert same_bits(back, tensor)


def test_decoded_tensors_are_fresh_writable_and_cpu():
    source = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()  # not contiguous
    back = loads(dumps(encode_tensor(source.requires_grad_())), readers=tensor_readers())
    assert torch.equal(back, source.detach()) and back.is_contiguous()
    back += 1  # in place, with no "not writable" warning (warnings are errors here)
    again = decode_tensor(loads(dumps(encode_tensor(source)), default=lambda tag, v: v))
    assert again.data_ptr() != back.data_ptr()


def test_nan_payloads_survive():
    payloads = torch.tensor([0x7FC00001, 0x7F800002, 0xFFC12345 - 2**32], dtype=torch.int32)
    tensor = payloads.view(torch.float32)
    back = loads(dumps(encode_tensor(tensor)), readers=tensor_readers())
    assert torch.equal(back.view(torch.int32), payloads)


def test_dtypes_outside_the_list_are_refused():
    with pytest.raises(TypeError, match=re.escape(
            "the tensor tag carries :float32 :float64 :float16 :bfloat16 :int64; got "
            "torch.int32")):
        encode_tensor(torch.zeros(2, dtype=torch.int32))
    with pytest.raises(TypeError, match="encode_tensor takes a torch.Tensor, got list"):
        encode_tensor([1.0])


def literal(tensor: torch.Tensor) -> EdnMap:
    """The map inside a tensor literal, as the reader hands it to a tag reader."""
    return loads(dumps(encode_tensor(tensor)), default=lambda tag, value: value)


def test_corruption_flipped_character_is_a_checksum_mismatch():
    text = dumps(encode_tensor(random_bits(torch.float32, (64,))))
    start = text.index(':data "') + 7
    spot = start + 10
    flipped = text[:spot] + ("B" if text[spot] != "B" else "C") + text[spot + 1:]
    with pytest.raises(EdnSyntaxError) as caught:
        loads("{:w\n " + flipped + "}", readers=tensor_readers(), source="net.edn")
    error = caught.value
    assert (error.line, error.column, error.source) == (2, 2, "net.edn")
    crc = int(re.search(r":crc32 (\d+)", text).group(1))
    data = re.search(r':data "([^"]*)"', flipped).group(1)
    actual = zlib.crc32(base64.b64decode(data))
    assert error.reason == (f"#cortex-bridge/tensor checksum mismatch: :crc32 says {crc}, "
                            f"the data gives {actual}; the file is damaged")


def test_corruption_cut_string_is_truncated():
    value = literal(random_bits(torch.float32, (4, 25)))
    value[K("data")] = value[K("data")][:-9]
    with pytest.raises(ModelError) as caught:
        decode_tensor(value)
    assert caught.value.reason == (
        "#cortex-bridge/tensor :data is truncated: :shape [4 25] of :float32 needs 400 "
        "bytes, 536 base64 characters; found 527")


def test_corruption_extra_data_and_bad_alphabet():
    value = literal(torch.zeros(3))
    longer = EdnMap(value)
    longer[K("data")] += "AAAA"
    with pytest.raises(ModelError, match=re.escape(
            ":data is too long: :shape [3] of :float32 needs 12 bytes, 16 base64 characters; "
            "found 20")):
        decode_tensor(longer)
    bad = EdnMap(value)
    bad[K("data")] = "!" + bad[K("data")][1:]
    with pytest.raises(ModelError, match=r"#cortex-bridge/tensor :data is not valid base64 "
                                         r"\(.*\); the file is damaged"):
        decode_tensor(bad)


def test_a_huge_declared_shape_fails_before_anything_is_allocated(monkeypatch):
    value = literal(torch.zeros(2))
    value[K("shape")] = Vector([10**6, 10**6, 10**6])

    def forbidden(*args, **kwargs):
        raise AssertionError("allocated or decoded before refusing the shape")

    monkeypatch.setattr(binascii, "a2b_base64", forbidden)
    monkeypatch.setattr(torch, "empty", forbidden)
    with pytest.raises(ModelError) as caught:
        decode_tensor(value, max_elements=10**8)
    assert caught.value.reason == (
        "#cortex-bridge/tensor :shape [1000000 1000000 1000000] declares "
        "1,000,000,000,000,000,000 values, over the limit of 100,000,000")
    with pytest.raises(ModelError, match=":data is truncated"):
        decode_tensor(value)  # no limit: the data is still far too short


def test_max_elements_through_the_readers():
    text = dumps(encode_tensor(torch.zeros(10, 10)))
    with pytest.raises(EdnSyntaxError, match="declares 100 values, over the limit of 99"):
        loads(text, readers=tensor_readers(max_elements=99))
    assert loads(text, readers=tensor_readers(max_elements=100)).shape == (10, 10)


MALFORMED = [
    ("[1 2]", "#cortex-bridge/tensor takes a map {:dtype … :shape … :data … :crc32 …}, got "
              "Vector"),
    ('{:dtype :int32 :shape [1] :data "AAAAAA==" :crc32 0}',
     "#cortex-bridge/tensor :dtype must be one of :float32 :float64 :float16 :bfloat16 "
     ":int64. Received: Keyword('int32')"),
    ('{:dtype :float32 :shape [-1] :data "" :crc32 0}',
     "#cortex-bridge/tensor :shape must be a vector of non-negative integers. Received: [-1]"),
    ('{:dtype :float32 :shape [2.0] :data "" :crc32 0}',
     "#cortex-bridge/tensor :shape must be a vector of non-negative integers. Received: "
     "[2.0]"),
    ('{:dtype :float32 :shape [true] :data "" :crc32 0}',
     "#cortex-bridge/tensor :shape must be a vector of non-negative integers. Received: "
     "[True]"),
    ('{:dtype :float32 :shape 4 :data "" :crc32 0}',
     "#cortex-bridge/tensor :shape must be a vector of non-negative integers. Received: 4"),
    ('{:dtype :float32 :shape [1] :data "AACAPw=="}',
     "#cortex-bridge/tensor needs :crc32; it has :dtype :shape :data"),
    ('{:dtype :float32 :shape [1] :data "AACAPw==" :crc32 -1}',
     "#cortex-bridge/tensor :crc32 must be an unsigned 32-bit integer. Received: -1"),
    ('{:dtype :float32 :shape [1] :data [0] :crc32 0}',
     "#cortex-bridge/tensor :data must be a base64 string, got Vector"),
    ('{:dtype :float32 :shape [1] :data "AACAPw==" :crc32 0 :order :big}',
     "#cortex-bridge/tensor has unknown keys :order; it takes :dtype :shape :data :crc32"),
]


@pytest.mark.parametrize("body, message", MALFORMED, ids=[m[22:60] for _, m in MALFORMED])
def test_malformed_literals_say_what_was_expected_and_found(body, message):
    with pytest.raises(EdnSyntaxError) as caught:
        loads("[\n  #cortex-bridge/tensor " + body + "]", readers=tensor_readers())
    assert (caught.value.reason, caught.value.line, caught.value.column) == (message, 2, 3)


def test_readers_key_is_the_tag_symbol():
    assert TENSOR_TAG == Symbol("cortex-bridge/tensor")
    assert list(tensor_readers()) == [TENSOR_TAG]


def test_java_computes_the_same_checksum(clojure_edn):
    tensors = [random_bits(dtype, (3, 7), seed) for seed, dtype in enumerate(DTYPES)]
    answers = clojure_edn([dumps(encode_tensor(t)) for t in tensors])
    for tensor, (status, printed) in zip(tensors, answers, strict=True):
        assert status == "OK", printed
        read = loads(printed)
        assert read[K("crc-ok")] is True
        assert read[K("bytes")] == tensor.numel() * tensor.element_size()
        assert read[K("shape")] == (3, 7)


# --- the :vector encoding -------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_vector_encoding_round_trips_bits_except_nan_payloads(dtype):
    tensor = random_bits(dtype, (5, 6), seed=3)
    if dtype.is_floating_point:
        tensor[torch.isnan(tensor)] = 0.5
        tensor.view(-1)[3] = math.nan
    encoded = vector_encode(tensor)
    assert type(encoded) is Vector and type(encoded[0]) is Vector and len(encoded) == 5
    back = vector_decode(loads(dumps(encoded)), dtype=dtype)
    if dtype.is_floating_point:
        nan = torch.isnan(tensor)
        assert torch.isnan(back).equal(nan)
        back, tensor = back.masked_fill(nan, 0), tensor.masked_fill(nan, 0)
    assert same_bits(back, tensor)


def test_vector_encoding_values_are_the_exact_doubles():
    encoded = vector_encode(torch.tensor([0.1, -0.0], dtype=torch.float32))
    assert encoded == Vector([0.10000000149011612, -0.0])
    assert math.copysign(1, encoded[1]) == -1
    assert vector_encode(torch.tensor(2.5)) == 2.5
    assert vector_encode(torch.tensor([[1, 2]])) == Vector([Vector([1, 2])])
    with pytest.raises(TypeError, match="the :vector encoding has no numbers for"):
        vector_encode(torch.zeros(2, dtype=torch.complex64))


def test_vector_decode_reshapes_and_refuses_what_is_not_a_grid():
    flat = Vector([float(i) for i in range(12)])
    assert vector_decode(flat, (3, 4)).shape == (3, 4)
    assert vector_decode([[1, 2], [3, 4]], [2, 2], torch.int64).dtype == torch.int64
    with pytest.raises(ModelError, match=re.escape(
            "12 values do not fill the shape [5, 2] (10 values)")):
        vector_decode(flat, (5, 2))
    with pytest.raises(ModelError, match="not a rectangular array"):
        vector_decode([[1.0, 2.0], [3.0]])
    with pytest.raises(ModelError, match="the values must all be numbers; found values of "
                                         "types Keyword, float"):
        vector_decode([1.0, Keyword("a")])
    with pytest.raises(ModelError, match="the values must all be integers; found fractional"):
        vector_decode([1.5], dtype=torch.int64)
    with pytest.raises(ModelError, match="the values must all be numbers; found booleans"):
        vector_decode([True, False])


def test_vector_decode_copies():
    array = np.arange(4.0)
    tensor = vector_decode(array, dtype=torch.float64)
    tensor += 1
    assert array.tolist() == [0.0, 1.0, 2.0, 3.0]
