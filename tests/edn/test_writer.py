"""bridge.edn.writer: text that reads back as equal data, here and in Clojure."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import struct
import uuid
from decimal import Decimal
from fractions import Fraction

import edn_format
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.edn import (
    Char,
    EdnList,
    EdnMap,
    Keyword,
    Symbol,
    Tagged,
    Vector,
    dumps,
    loads,
)

K, S = Keyword, Symbol

WRITES = [
    (None, "nil"),
    (True, "true"),
    (False, "false"),
    (42, "42"),
    (-7, "-7"),
    (2**70, "1180591620717411303424"),
    (1.0, "1.0"),
    (-0.0, "-0.0"),
    (0.1, "0.1"),
    (1e-07, "1e-07"),
    (1e16, "1e+16"),
    (5e-324, "5e-324"),
    (math.nan, "##NaN"),
    (math.inf, "##Inf"),
    (-math.inf, "##-Inf"),
    (Decimal("1.5"), "1.5M"),
    (Decimal("-0"), "-0M"),
    (Decimal("1E+3"), "1E+3M"),
    (Fraction(22, 7), "22/7"),
    (Fraction(-1, 2), "-1/2"),
    (Fraction(4, 2), "2"),
    ("text", '"text"'),
    ('q"b\\s\n\t\r\b\f', '"q\\"b\\\\s\\n\\t\\r\\b\\f"'),
    ("\x00\x1f\x7fé😀", '"\\u0000\\u001f\\u007fé😀"'),
    ("\ud800", '"\\ud800"'),
    (Char("a"), "\\a"),
    (Char("\n"), "\\newline"),
    (Char(" "), "\\space"),
    (Char("\t"), "\\tab"),
    (Char("\x00"), "\\u0000"),
    (Char("("), "\\("),
    (Char("é"), "\\é"),
    (K("a"), ":a"),
    (K("ns/name"), ":ns/name"),
    (S("nn/dense"), "nn/dense"),
    (S("/"), "/"),
    ([1, 2, 3], "[1 2 3]"),
    (Vector((1, K("a"))), "[1 :a]"),
    ((1, 2), "(1 2)"),
    (EdnList((S("linear"), 10)), "(linear 10)"),
    ({K("a"): 1, "s": [1.5]}, '{:a 1 "s" [1.5]}'),
    (EdnMap({K("a"): None}), "{:a nil}"),
    ({3, 1, 2}, "#{1 2 3}"),
    (frozenset({K("b"), K("a")}), "#{:a :b}"),
    ([], "[]"),
    ((), "()"),
    ({}, "{}"),
    (set(), "#{}"),
    ([0.5] * 8 + [math.nan, -math.inf], "[" + "0.5 " * 8 + "##NaN ##-Inf]"),
    (EdnList([1] * 9), "(" + " ".join(["1"] * 9) + ")"),
    ([1] * 8 + [True], "[" + "1 " * 8 + "true]"),
    (np.float32(0.1), "0.10000000149011612"),
    (np.float64(0.1), "0.1"),
    (np.float16(0.1), "0.0999755859375"),
    (np.int64(-5), "-5"),
    (np.uint8(200), "200"),
    (np.bool_(True), "true"),
    (np.array([[1.5, -0.0], [np.nan, np.inf]], dtype=np.float32), "[[1.5 -0.0] [##NaN ##Inf]]"),
    (np.array([1, 2], dtype=np.int64), "[1 2]"),
    (np.array([True, False]), "[true false]"),
    (np.array(2.5), "2.5"),
    (torch.tensor([0.1], dtype=torch.bfloat16), "[0.10009765625]"),
    (torch.tensor([[1, 2]], dtype=torch.int64), "[[1 2]]"),
    (torch.tensor([1.0], requires_grad=True), "[1.0]"),
    (Tagged(S("my/point"), [1, 2]), "#my/point [1 2]"),
    (dt.datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=dt.timezone.utc),
     '#inst "2024-01-02T03:04:05.123000+00:00"'),
    (dt.datetime(2024, 1, 2), '#inst "2024-01-02T00:00:00+00:00"'),
    (dt.date(2024, 1, 2), '#inst "2024-01-02"'),
    (uuid.UUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
     '#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"'),
]


@pytest.mark.parametrize("value, text", WRITES, ids=[repr(t[:30]) for _, t in WRITES])
def test_writes_each_type(value, text):
    assert dumps(value) == text


def test_huge_ints_go_out_as_hex_and_come_back():
    value = -(7**6000)
    text = dumps([value])
    assert text.startswith("[-0x")
    assert loads(text)[0] == value


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __edn__(self):
        return f"#my/point [{self.x} {self.y}]"


def test_objects_write_themselves_through_the_edn_hook():
    assert dumps({K("p"): Point(1, 2)}) == "{:p #my/point [1 2]}"
    with pytest.raises(TypeError, match="cannot write a type as EDN"):
        dumps(Point)


BAD = [
    (object(), TypeError, "cannot write a object as EDN"),
    ({1j}, TypeError, "cannot write a complex as EDN: 1j"),
    (range(3), TypeError, "cannot write a range as EDN: range(0, 3)"),
    (K("a b"), ValueError, "Keyword('a b') has no EDN spelling"),
    (K(""), ValueError, "Keyword('') has no EDN spelling"),
    (S("nil"), ValueError, "Symbol('nil') has no EDN spelling"),
    (S("-1"), ValueError, "Symbol('-1') has no EDN spelling"),
    (S("1a"), ValueError, "Symbol('1a') has no EDN spelling"),
    (S("..."), ValueError, "Symbol('...') has no EDN spelling"),
    (S("#tag"), ValueError, "Symbol('#tag') has no EDN spelling"),
    (Char("😀"), ValueError, "EDN characters are single UTF-16 code units"),
    (Char("\ud800"), ValueError, "EDN characters are single UTF-16 code units"),
    (Decimal("NaN"), ValueError, "EDN has no text for the decimal NaN"),
    (np.array([1 + 2j]), TypeError, "cannot write an array of dtype complex128"),
    (np.longdouble(1.5), TypeError, "cannot write float128 exactly"),
    (torch.tensor([1j]), TypeError, "cannot write a torch.complex64 tensor"),
    (Tagged(S("1x"), 1), ValueError, "Symbol('1x') has no EDN spelling"),
    (Tagged(S("-x"), 1), ValueError, "cannot be a tag: a tag starts with a letter"),
]


@pytest.mark.parametrize("value, error, message", BAD, ids=[m[:30] for _, _, m in BAD])
def test_refuses_what_edn_cannot_say(value, error, message):
    with pytest.raises(error, match=re.escape(message)):
        dumps([value])


def test_refuses_a_collection_that_contains_itself():
    looped: list = [1]
    looped.append(looped)
    with pytest.raises(ValueError, match="contains itself"):
        dumps(looped)
    with pytest.raises(ValueError, match="contains itself"):
        dumps({K("a"): looped}, indent=1)
    shared = [1, 2]
    assert dumps([shared, shared]) == "[[1 2] [1 2]]"  # the same list twice is fine


@pytest.mark.parametrize("indent", [None, 1])
@pytest.mark.parametrize("depth", [1000, 5000])
def test_deep_nesting_needs_no_recursion(depth, indent):
    value: list = []
    for _ in range(depth):
        value = [value, {K("k"): 1}]
    text = dumps(value, indent=indent)
    back = loads(text)
    for _ in range(depth):
        assert len(back) == 2 and back[1] == {K("k"): 1}
        back = back[0]
    assert back == ()


def test_float32_values_survive_text_bit_for_bit():
    bits = np.random.default_rng(0).integers(0, 2**32, size=50_000, dtype=np.uint64)
    values = bits.astype(np.uint32).view(np.float32)
    special = np.array([-0.0, 0.0, 1e-45, -1e-45, np.finfo(np.float32).tiny / 3,
                        np.finfo(np.float32).max, np.inf, -np.inf, np.nan], dtype=np.float32)
    values = np.concatenate([values, special])
    with np.errstate(invalid="ignore"):
        back = np.array(loads(dumps(values)), dtype=np.float64).astype(np.float32)
    finite = ~np.isnan(values)
    assert np.array_equal(back[finite].view(np.uint32), values[finite].view(np.uint32))
    assert np.isnan(back[~finite]).all()
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        tensor = torch.from_numpy(values[finite][:1000].copy()).to(dtype)
        again = torch.tensor(loads(dumps(tensor)), dtype=torch.float64).to(dtype)
        assert torch.equal(again.view(torch.int8), tensor.view(torch.int8)), dtype


def test_finite_float64_arrays_survive_text_bit_for_bit():
    bits = np.random.default_rng(4).integers(0, 2**64, size=50_000, dtype=np.uint64)
    values = bits.view(np.float64)
    values = values[np.isfinite(values)]
    back = np.array(loads(dumps(values)), dtype=np.float64)
    assert np.array_equal(back.view(np.uint64), values.view(np.uint64))
    # the same text whether an array or a list of the same floats is written
    assert loads(dumps(values[:500])) == loads(dumps(values[:500].tolist()))


def test_a_laid_out_matrix_puts_each_row_on_its_own_line():
    matrix = np.arange(300.0).reshape(100, 3)
    text = dumps({K("weights"): matrix, K("id"): K("w")}, indent=1)
    lines = text.splitlines()
    assert lines[0] == "{:weights [[0.0 1.0 2.0]"
    assert lines[1] == "           [3.0 4.0 5.0]"
    assert len(lines) == 101 and lines[-1] == " :id :w}"
    assert np.array_equal(np.array(loads(text)[K("weights")]), matrix)
    # a small array counts its real width, so it can stay on one line
    assert dumps({K("b"): np.array([1.0, 2.0])}, indent=1) == "{:b [1.0 2.0]}"


def test_indent_lays_out_a_model_file_for_people():
    layers = [{K("type"): K("input"), K("output-size"): 784},
              {K("type"): K("linear"), K("output-size"): 10,
               K("weights"): [[0.5, -0.25, 1.0], [0.125, 2.0, -0.0]], K("bias"): [0.0, 0.0]},
              {K("type"): K("softmax")}]
    document = {K("cortex-bridge/format"): 1, K("name"): "mnist", K("description"): layers,
                K("train"): {K("epochs"): 3}}
    assert dumps(document, indent=1, width=60) == (
        "{:cortex-bridge/format 1\n"
        ' :name "mnist"\n'
        " :description\n"
        "  [{:type :input :output-size 784}\n"
        "   {:type :linear\n"
        "    :output-size 10\n"
        "    :weights [[0.5 -0.25 1.0] [0.125 2.0 -0.0]]\n"
        "    :bias [0.0 0.0]}\n"
        "   {:type :softmax}]\n"
        " :train {:epochs 3}}")
    assert dumps(document, indent=1, width=400).count("\n") == 0  # it all fits
    long_row = [0.5] * 100
    assert dumps({K("w"): [long_row, long_row]}, indent=2, width=40) == (
        "{:w\n   [" + dumps(long_row) + "\n    " + dumps(long_row) + "]}")
    with pytest.raises(ValueError, match="indent must be None or a non-negative int"):
        dumps([], indent=-1)


def test_a_tensor_literal_is_encoded_once_however_it_is_laid_out():
    calls = []

    class Counting:
        def __edn__(self):
            calls.append(1)
            return "[" + " ".join(["1.0"] * 50) + "]"

    item = Counting()
    dumps({K("layers"): [{K("weights"): item, K("id"): K("a")}]}, indent=1, width=40)
    assert len(calls) == 1


# --- properties ----------------------------------------------------------------------

names = st.from_regex(r"[a-zA-Z*!_?<>=][a-zA-Z0-9.*+!\-_?<>=']{0,8}(/[a-zA-Z][a-z0-9\-]{0,6})?",
                      fullmatch=True)
keywords = names.map(Keyword)
symbols = names.filter(lambda n: n not in ("nil", "true", "false")).map(Symbol)
chars = st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",)).map(Char)
fractions = st.fractions().filter(lambda f: f.denominator != 1)
key_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                        st.decimals(allow_nan=False, allow_infinity=False), fractions,
                        st.text(), chars, keywords, symbols)
scalars = st.one_of(key_scalars, st.floats(), st.integers(-(2**200), 2**200))
keys = st.one_of(key_scalars, st.lists(key_scalars, max_size=3).map(Vector))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(Vector),
        st.lists(inner, max_size=5).map(EdnList),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
        st.frozensets(keys, max_size=4),
        st.lists(st.floats(), min_size=8, max_size=40),  # the json fast paths
        st.builds(Tagged, st.just(S("my/tag")), inner),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values, st.sampled_from([None, 0, 1, 2]))
def test_round_trip_gives_equal_data_with_exact_floats(canonical, value, indent):
    text = dumps(value, indent=indent, width=30)
    assert canonical(loads(text, default=Tagged)) == canonical(value)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(), min_size=1, max_size=200))
def test_float_vectors_round_trip_bit_for_bit(floats):
    back = loads(dumps(floats))
    assert [struct.pack("<d", x) for x in back if x == x] == [
        struct.pack("<d", x) for x in floats if x == x]
    assert [x != x for x in back] == [x != x for x in floats]


# --- other readers -------------------------------------------------------------------

def _random_value(rng: random.Random, depth: int = 0):
    """A random value made only of what edn_format and Clojure both read back."""
    pick = rng.randrange(14 if depth < 3 else 9)
    if pick == 0:
        return rng.choice([None, True, False])
    if pick == 1:
        return rng.randint(-(2**80), 2**80)
    if pick == 2:
        return rng.choice([struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0],
                           -0.0, 0.1, 1e-07, 1e16, math.inf, 5e-324])
    if pick == 3:
        return "".join(rng.choice("ab\"\\\n\té😀 ;#[") for _ in range(rng.randrange(6)))
    if pick == 4:
        return K(rng.choice(["a", "ns/b", "x.y/z-1", "k?", "<="]))
    if pick == 5:
        return S(rng.choice(["f", "nn/dense", "a.b", "+", "->x"]))
    if pick == 6:
        return Decimal(rng.choice(["1.5", "-0.001", "1E+3", "12345678901234567890.5"]))
    if pick == 7:
        return Fraction(rng.choice([-1, 1]) * rng.randrange(1, 99, 2), rng.choice([2, 4, 8, 64]))
    if pick == 8:
        return Char(rng.choice("aZ(\\\n é"))
    if pick in (9, 10):
        items = [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
        return Vector(items) if pick == 9 else EdnList(items)
    if pick == 11:
        return {K(f"k{i}"): _random_value(rng, depth + 1) for i in range(rng.randrange(4))}
    if pick == 12:
        return frozenset(rng.randint(0, 99) for _ in range(rng.randrange(4)))
    return [rng.random() * 10 ** rng.randint(-30, 30) for _ in range(rng.randint(8, 30))]


CORPUS = [_random_value(random.Random(seed)) for seed in range(300)]


def test_clojure_reads_our_text_as_the_same_data(clojure_edn, canonical):
    """Python → EDN text → clojure.edn → pr-str → Python gives equal data, floats exact."""
    texts = [dumps(value) for value in CORPUS] + [dumps(value, indent=1, width=20)
                                                  for value in CORPUS[:50]]
    answers = clojure_edn(texts)
    failures = [(text, payload) for text, (status, payload) in zip(texts, answers, strict=True)
                if status != "OK"]
    assert failures == []
    for value, (_, printed) in zip(CORPUS + CORPUS[:50], answers, strict=True):
        assert canonical(loads(printed)) == canonical(value), printed


def test_float32_weights_survive_a_trip_through_clojure(clojure_edn):
    weights = np.random.default_rng(1).standard_normal((64, 50)).astype(np.float32)
    weights[0, :4] = [-0.0, 1e-45, np.finfo(np.float32).tiny / 4, np.finfo(np.float32).max]
    [(status, printed)] = clojure_edn([dumps(weights)])
    assert status == "OK"
    back = np.array(loads(printed), dtype=np.float64).astype(np.float32)
    assert np.array_equal(back.view(np.uint32), weights.view(np.uint32))


def _from_edn_format(value):
    """edn_format's types → ours, so its reading can be compared with the original."""
    if isinstance(value, edn_format.Keyword):
        return K(value.name)
    if isinstance(value, edn_format.Symbol):
        return S(value.name)
    if isinstance(value, edn_format.Char):
        return Char(value)
    if isinstance(value, edn_format.ImmutableDict | dict):
        return EdnMap({_from_edn_format(k): _from_edn_format(v) for k, v in value.items()})
    if isinstance(value, edn_format.ImmutableList | list):
        return Vector(_from_edn_format(v) for v in value)
    if isinstance(value, tuple):
        return EdnList(_from_edn_format(v) for v in value)
    if isinstance(value, frozenset):
        return frozenset(_from_edn_format(v) for v in value)
    return value


def test_edn_format_reads_our_text(canonical):
    for value in CORPUS:
        assert canonical(_from_edn_format(edn_format.loads(dumps(value)))) == canonical(value)
