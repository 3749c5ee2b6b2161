"""bridge.edn.reader: what it reads, where it says things are, and what it refuses."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal
from fractions import Fraction

import edn_format
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.edn import Char, EdnList, EdnMap, Keyword, Symbol, Tagged, Vector, loads, loads_all
from bridge.edn.reader import MAX_DEPTH
from bridge.errors import EdnSyntaxError, ModelError

K, S = Keyword, Symbol
UTC = dt.timezone.utc
V = lambda *items: Vector(items)  # noqa: E731
L = lambda *items: EdnList(items)  # noqa: E731


def M(*pairs):
    return EdnMap(zip(pairs[::2], pairs[1::2], strict=True))


LONG_FLOATS = [i * 0.25 - 3.0 for i in range(100)]
LONG_MIXED = [i if i % 3 else i + 0.5 for i in range(100)]

# text → expected value; types count (see canonical): 1 ≠ 1.0, [..] ≠ (..), -0.0 ≠ 0.0.
VALID = [
    ("nil", None),
    ("true", True),
    ("false", False),
    ("42", 42),
    ("-7", -7),
    ("+1", 1),
    ("-0", 0),
    ("42N", 42),
    ("123456789012345678901234567890", 123456789012345678901234567890),
    ("-12345678901234567890N", -12345678901234567890),
    ("0x1F", 31),
    ("-0X1f", -31),
    ("2r1010", 10),
    ("36rZZ", 1295),
    ("1.5", 1.5),
    ("1.", 1.0),
    ("-0.0", -0.0),
    ("+2.5", 2.5),
    ("1e3", 1000.0),
    ("1E-3", 0.001),
    ("1.5e+2", 150.0),
    ("1.0E-7", 1e-07),
    ("1e400", math.inf),
    ("1.5M", Decimal("1.5")),
    ("1M", Decimal("1")),
    ("22/7", Fraction(22, 7)),
    ("-1/2", Fraction(-1, 2)),
    ("4/2", 2),
    ("##NaN", math.nan),
    ("##Inf", math.inf),
    ("##-Inf", -math.inf),
    ("## Inf", math.inf),
    ('"plain"', "plain"),
    ('"a\\nb\\tc\\"q\\"\\\\"', 'a\nb\tc"q"\\'),
    ('"\\u00e9\\101\\b\\f\\r"', "\u00e9A\b\f\r"),
    ('"\\ud83d\\ude00"', "\U0001f600"),
    ('"two\nlines"', "two\nlines"),
    ('"é ; not a comment"', "é ; not a comment"),
    ("\\a", Char("a")),
    ("\\newline", Char("\n")),
    ("\\space", Char(" ")),
    ("\\tab", Char("\t")),
    ("\\return", Char("\r")),
    ("\\u0041", Char("A")),
    ("\\o101", Char("A")),
    ("\\\\", Char("\\")),
    ("\\(", Char("(")),
    (":a", K("a")),
    (":ns/name", K("ns/name")),
    (":a.b/c-d?", K("a.b/c-d?")),
    (":1", K("1")),
    ("foo", S("foo")),
    ("nn/dense", S("nn/dense")),
    ("+", S("+")),
    ("-", S("-")),
    ("/", S("/")),
    ("<=", S("<=")),
    ("a'b", S("a'b")),
    ("a#b", S("a#b")),
    ("[1 2 3]", V(1, 2, 3)),
    ("[1, 2, 3]", V(1, 2, 3)),
    ("(1 :a)", L(1, K("a"))),
    ("{:a 1, :b [2]}", M(K("a"), 1, K("b"), V(2))),
    ("#{1 2}", frozenset({1, 2})),
    ("[]", V()),
    ("()", L()),
    ("{}", M()),
    ("#{}", frozenset()),
    ("[[1 2] [3 4]]", V(V(1, 2), V(3, 4))),
    ("; comment\n[1 ; inside\n 2]", V(1, 2)),
    ("[1 #_ 2 3]", V(1, 3)),
    ("[1 #_ #_ 2 3 4]", V(1, 4)),
    ("[#_[nested (stuff #{1})] 1]", V(1)),
    ("{:a #_ :b 1}", M(K("a"), 1)),
    ("#_ 1 2", 2),
    ("1 #_ 2", 1),
    ("#:ns{:a 1 :_/b 2 c 3 :x/y 4}", M(K("ns/a"), 1, K("b"), 2, S("ns/c"), 3, K("x/y"), 4)),
    ("#:ns {:a 1}", M(K("ns/a"), 1)),
    ("^:private [1]", V(1)),
    ('^{:doc "x"} sym', S("sym")),
    ("^tag ^\"str\" (1)", L(1)),
    ("#^:a [1]", V(1)),
    ('#inst "2024-01-02T03:04:05.5+01:00"',
     dt.datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=dt.timezone(dt.timedelta(hours=1)))),
    ('#inst "2024"', dt.datetime(2024, 1, 1, tzinfo=UTC)),
    ('#inst "2024-02-29T23:59:59.123456789Z"', dt.datetime(2024, 2, 29, 23, 59, 59, 123456,
                                                            tzinfo=UTC)),
    ('#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"',
     uuid.UUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")),
    ("", None),
    ("  ; only a comment\n", None),
    ("#_ 1", None),
    ("\ufeff[1]", V(1)),
    ("[1\u2028 2\x1c3]", V(1, 2, 3)),  # Java whitespace (U+2028, U+001C)
    ("[a\xa0b]", V(S("a\xa0b"))),  # a no-break space is not whitespace to Java
    # The number fast path: long vectors, with EDN's and JSON's separators.
    ("[" + " ".join(map(repr, LONG_FLOATS)) + "]", Vector(LONG_FLOATS)),
    ("[" + ", ".join(map(repr, LONG_FLOATS)) + "]", Vector(LONG_FLOATS)),
    ("[\n " + "\n ".join(map(repr, LONG_FLOATS)) + "\n]", Vector(LONG_FLOATS)),
    ("[" + " ".join(map(repr, LONG_MIXED)) + "]", Vector(LONG_MIXED)),
    ("[-0.0 " + " ".join(["1.5"] * 40) + "]", Vector([-0.0] + [1.5] * 40)),
    ("[" + " ".join(["18446744073709551617"] * 10) + "]", Vector([2**64 + 1] * 10)),
    ("[1. +2 3N 22/7 1e1 " + " ".join(["0.5"] * 20) + "]",
     Vector([1.0, 2, 3, Fraction(22, 7), 10.0] + [0.5] * 20)),
    ("[1 2 " + " ".join(["7"] * 30) + " :a]", Vector([1, 2] + [7] * 30 + [K("a")])),
    ("[NaN " + " ".join(["1.0"] * 30) + "]", Vector([S("NaN")] + [1.0] * 30)),
    ("[1.0 " + " ".join(["2.0"] * 30) + " ##NaN]", Vector([1.0] + [2.0] * 30 + [math.nan])),
    ("[[" + " ".join(["1.0"] * 30) + "] [" + " ".join(["2"] * 30) + "]]",
     V(Vector([1.0] * 30), Vector([2] * 30))),
]


@pytest.mark.parametrize("text, expected", VALID, ids=[repr(t[:30]) for t, _ in VALID])
def test_reads_valid_edn(text, expected, canonical):
    assert canonical(loads(text)) == canonical(expected)


def test_collections_know_where_they_start():
    text = '{:a [1 2]\n :b (x y)\n\t:c {:d #{1}}\n :e [' + " ".join(["0.5"] * 40) + "]}"
    data = loads(text, source="model.edn")
    assert (data.line, data.column) == (1, 1)
    assert data.key_positions == {K("a"): (1, 2), K("b"): (2, 2), K("c"): (3, 2),
                                  K("e"): (4, 2)}
    assert (data[K("a")].line, data[K("a")].column) == (1, 5)
    assert (data[K("b")].line, data[K("b")].column) == (2, 5)
    assert (data[K("c")].line, data[K("c")].column) == (3, 5)  # a tab is one column
    assert (data[K("e")].line, data[K("e")].column) == (4, 5)  # the fast path keeps it


def test_positions_of_rows_matrix_and_nsmap_keys():
    rows = "\n ".join("[" + " ".join(["1.25"] * 20) + "]" for _ in range(3))
    matrix = loads("\n\n  [" + rows + "]")
    assert (matrix.line, matrix.column) == (3, 3)
    assert [(row.line, row.column) for row in matrix] == [(3, 4), (4, 2), (5, 2)]
    nsmap = loads("#:layer{:type :dense\n        :units 3}")
    assert nsmap.key_positions == {K("layer/type"): (1, 9), K("layer/units"): (2, 9)}


def test_positions_after_bom_crlf_and_wide_characters():
    assert (loads("\ufeff[1]").line, loads("\ufeff[1]").column) == (1, 1)
    first, second = loads_all("[1]\r\n[2]")
    assert (second.line, second.column) == (2, 1)
    _, vector = loads_all('"é😀" [1]')
    assert (vector.line, vector.column) == (1, 6)  # columns count characters


def test_loads_all_reads_every_form(canonical):
    assert canonical(loads_all("1 [2] #_ 3 ; c\n :k")) == canonical([1, V(2), K("k")])
    assert loads_all("") == []
    assert loads_all(" #_ 1 ") == []


def test_numeric_fast_path_agrees_with_the_general_path(canonical):
    values = [math.ldexp(1.0, -1074), 5e-324, 1.7976931348623157e308, -0.0, 0.1, 1e-07,
              123456789012345678, -9007199254740993] * 8
    fast = loads("[" + " ".join(map(repr, values)) + "]")
    general = loads("[" + " ".join(map(repr, values)) + " #_ x]")  # "#" leaves the fast path
    assert canonical(fast) == canonical(general) == canonical(Vector(values))


def test_numeric_fast_path_keeps_integers_past_64_bits_and_huge_floats():
    # orjson, which reads long rows, turns 99999999999999999999 into a float; EDN keeps
    # it an integer, and 1e400 is Infinity in Clojure (orjson refuses it).
    filler = " ".join(str(i) for i in range(40))
    row = loads(f"[99999999999999999999 -123456789012345678901 {filler}]")
    assert list(row[:2]) == [99999999999999999999, -123456789012345678901]
    assert all(type(v) is int for v in row)
    assert list(loads(f"[1e400 -1e400 {filler}]")[:2]) == [math.inf, -math.inf]
    big_float = loads(f"[1.5e300 {filler}]")[0]
    assert big_float == 1.5e300 and type(big_float) is float


def test_numeric_fast_path_reads_random_doubles_bit_for_bit():
    import random
    import struct
    rng = random.Random(3)
    values = []
    while len(values) < 20_000:
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(value):
            values.append(value)
    back = loads("[" + " ".join(map(repr, values)) + "]")
    assert [struct.pack("<d", v) for v in back] == [struct.pack("<d", v) for v in values]


def test_tags_readers_and_default_are_per_call():
    text = "[#my/point [1 2] #inst \"2024\"]"
    points = loads(text, readers={"my/point": lambda v: ("point", *v)})
    assert points[0] == ("point", 1, 2)
    symbol_keyed = loads(text, readers={S("my/point"): list, S("inst"): str})
    assert symbol_keyed == V([1, 2], "2024")  # readers win over the built-in #inst
    kept = loads(text, default=Tagged)
    assert kept[0] == Tagged(S("my/point"), V(1, 2))
    with pytest.raises(EdnSyntaxError, match="No reader function for tag my/point"):
        loads(text)  # nothing registered globally by the calls above


def test_a_failing_tag_reader_is_a_syntax_error_at_the_tag():
    def boom(value):
        raise RuntimeError("bad point")

    with pytest.raises(EdnSyntaxError) as caught:
        loads("[1\n  #my/point [1]]", readers={"my/point": boom}, source="f.edn")
    assert str(caught.value) == "f.edn:2:3: #my/point: bad point"

    def refuse(value):
        raise ModelError("points need three coordinates")

    with pytest.raises(EdnSyntaxError) as caught:
        loads("#my/point [1]", readers={"my/point": refuse})
    assert (caught.value.reason, caught.value.line, caught.value.column) == (
        "points need three coordinates", 1, 1)


def test_object_tag_needs_an_explicit_reader():
    assert loads('#object [1]', readers={"object": list}) == [1]


def test_bad_arguments_are_type_errors():
    with pytest.raises(TypeError, match=r"EDN text must be a str, got bytes \(decode it"):
        loads(b"[1]")
    with pytest.raises(TypeError, match="got NoneType"):
        loads_all(None)
    with pytest.raises(TypeError, match="readers keys"):
        loads("1", readers={1: str})


DEEP = "[" * (MAX_DEPTH + 1)
NESTED = "[" * 3000 + "]" * 3000  # deeper than Python's comparisons recurse
# text → (line, column, message). Messages are checked in full.
INVALID = [
    ("1 2", 1, 3, "unexpected trailing input after the first form (an EDN document holds "
                  "one form; loads_all reads several)"),
    ("[1] ]", 1, 5, "unexpected trailing input after the first form (an EDN document holds "
                    "one form; loads_all reads several)"),
    ("1 #_ 2 3", 1, 8, "unexpected trailing input after the first form (an EDN document "
                       "holds one form; loads_all reads several)"),
    ("{:a 1 :a 2}", 1, 7, "Duplicate key: :a (first at line 1, column 2)"),
    ("#{1 2 1}", 1, 7, "Duplicate key: 1 (first at line 1, column 3)"),
    ("{1 :a 1.0 :b}", 1, 7, "Duplicate key: 1.0 (first at line 1, column 2, as 1, which "
                            "Python counts as the same key)"),
    ("#:a{:b 1 :a/b 2}", 1, 10, "Duplicate key: :a/b (first at line 1, column 5)"),
    ("[1 2", 1, 5, "EOF while reading: the [ at line 1, column 1 is never closed"),
    ("{:layers\n [(linear 10)\n  (relu]}", 3, 8,
     "Unmatched delimiter: ] (expected ) to close the ( at line 3, column 3)"),
    (")", 1, 1, "Unmatched delimiter: )"),
    ("[1 #_]", 1, 6, "Unmatched delimiter: ] (the #_ at line 1, column 4 has no form to "
                     "discard)"),
    ("[#my/tag]", 1, 9, "Unmatched delimiter: ] (the tag #my/tag at line 1, column 2 has no "
                        "value)"),
    ("#_", 1, 3, "EOF while reading: the #_ at line 1, column 1 has no form to discard"),
    ("^:a", 1, 4, "EOF while reading: the metadata ^ at line 1, column 1 applies to no form"),
    ('"abc', 1, 1, "EOF while reading string"),
    ('"a\\qb"', 1, 3, "Unsupported escape character: \\q"),
    ('"\\u00"', 1, 2, "Invalid unicode escape: \\u needs 4 hex digits"),
    ('"\\400"', 1, 2, "Octal escape sequence must be in range [0, 377]"),
    ("\\abc", 1, 1, "Unsupported character: \\abc"),
    ("\\ud800", 1, 1, "Invalid character constant: \\ud800 (a surrogate)"),
    ("\\\U0001f600", 1, 1, "Unsupported character: \\\U0001f600 (a Java char holds only "
                           "the Basic Multilingual Plane; use a string)"),
    ("\\", 1, 1, "EOF while reading character"),
    ("::foo", 1, 1, "Invalid token: ::foo (auto-resolved keywords are not EDN; write "
                    ":some.ns/foo)"),
    ("a/", 1, 1, "Invalid token: a/"),
    (":a:", 1, 1, "Invalid token: :a:"),
    ("a::b", 1, 1, "Invalid token: a::b"),
    ("@foo", 1, 1, "Invalid leading character: @ (@… is Clojure code, not EDN data)"),
    ("[~x]", 1, 2, "Invalid leading character: ~ (~… is Clojure code, not EDN data)"),
    ('#object["[F" 0x1f "[F@1f"]', 1, 1,
     "#object[…] is how Clojure prints a Java object (an array, a proxy …), which EDN "
     "cannot carry: send numbers as vectors or as #cortex-bridge/tensor literals"),
    ("(0 1 2 ...)", 1, 8, "the symbol ... is what Clojure prints when *print-length* cuts "
                          "data short; print it with (binding [*print-length* nil] "
                          "(pr-str data))"),
    ("#<Object@1>", 1, 1, "Unreadable form: #<…> is how Clojure prints an object it cannot "
                          "print as data"),
    ("012", 1, 1, "Invalid number: 012 (Clojure would read a leading 0 as octal, 10; write "
                  "it without the 0)"),
    ("[1 -012]", 1, 4, "Invalid number: -012 (Clojure would read a leading 0 as octal, -10; "
                       "write it without the 0)"),
    ("08", 1, 1, "Invalid number: 08 (no leading zeros)"),
    ("1.5N", 1, 1, "Invalid number: 1.5N"),
    ("2r102", 1, 1, "Invalid number: 2r102"),
    ("40r1", 1, 1, "Invalid number: 40r1 (radix 40 is not in 2..36)"),
    ("1" * 5000, 1, 1, "Invalid number: " + "1" * 40 + "…"),
    ("1/0", 1, 1, "Divide by zero: 1/0"),
    ("[" + " ".join(["1.0"] * 30) + " 012]", 1, 122,
     "Invalid number: 012 (Clojure would read a leading 0 as octal, 10; write it without "
     "the 0)"),
    ("##Foo", 1, 1, "Unknown symbolic value: ##Foo (EDN has ##NaN ##Inf ##-Inf)"),
    ("#foo/bar 1", 1, 1, "No reader function for tag foo/bar"),
    ("[1\n #inst \"2024-13-01\"]", 2, 2,
     "#inst: invalid timestamp 2024-13-01: month must be in 1..12"),
    ('#inst "yesterday"', 1, 1, "#inst: Unrecognized date/time syntax: yesterday"),
    ('#uuid "nope"', 1, 1, '#uuid: #uuid takes a string like '
                           '"f81d4fae-7dec-11d0-a765-00a0c91e6bf6", got "nope"'),
    ("#nil 1", 1, 1, "Reader tag must be a symbol: #nil"),
    ("#(+ 1 2)", 1, 1, "No dispatch macro for: #( (Clojure code, not EDN data)"),
    ("# x", 1, 1, "No dispatch macro for: #' '"),
    ("#::{:a 1}", 1, 1, "auto-resolved namespaced maps (#::{…}) are not EDN; write "
                        "#:some.ns{…}"),
    ("#:a/b{:c 1}", 1, 1, "Namespaced map must specify a valid namespace: #:a/b"),
    ("#:a [1]", 1, 1, "Namespaced map must specify a map: #:ns{…}"),
    ("{:a}", 1, 1, "Map literal must contain an even number of forms (it has 1)"),
    ("#:n{:a}", 1, 1, "Namespaced map literal must contain an even number of forms (it has 1)"),
    ("^1 [1]", 1, 2, "Metadata must be Symbol, Keyword, String or Map"),
    ("^:a 1", 1, 1, "Metadata can only be applied to collections and symbols (IMetas), not 1"),
    ("{[{:a 1}] 1}", 1, 2, "[{:a 1}] cannot be a map key here: it holds a map, which Python "
                           "cannot hash"),
    ("#{{} 1}", 1, 3, "{} cannot be a set element here: it holds a map, which Python cannot "
                      "hash"),
    (DEEP, 1, MAX_DEPTH + 1, f"forms nest deeper than {MAX_DEPTH} levels"),
    ("#{" + NESTED + " " + NESTED + "}", 1, 1,
     "these set elements nest too deeply for Python to compare them"),
    ("{" + NESTED + " 1 " + NESTED + " 2}", 1, 1,
     "these map keys nest too deeply for Python to compare them"),
    ("#{1 " + "[" * 3000 + "{}" + "]" * 3000 + "}", 1, 5,
     "[[[[…]]]] cannot be a set element here: it holds a map, which Python cannot hash"),
]


@pytest.mark.parametrize("text, line, column, message", INVALID,
                         ids=[repr(case[0][:30]) + str(len(case[0])) for case in INVALID])
def test_refuses_invalid_edn_with_position_and_exact_message(text, line, column, message):
    with pytest.raises(EdnSyntaxError) as caught:
        loads(text, source="model.edn")
    error = caught.value
    assert (error.reason, error.line, error.column) == (message, line, column)
    assert error.source == "model.edn"
    assert str(error) == f"model.edn:{line}:{column}: {message}"


def test_deep_nesting_within_the_limit_reads_without_recursion():
    depth = MAX_DEPTH - 1
    value = loads("[" * depth + "]" * depth)
    for _ in range(depth - 1):
        assert type(value) is Vector and len(value) == 1
        value = value[0]
    assert value == V()
    assert loads("#_" * 5000 + " 0" * 5000 + " 1") == 1  # 5000 discards, each of one 0


# --- properties ----------------------------------------------------------------------

SEEDS = ['{:a [1 2.5 "s\\n" \\c] :b #{:x} :c (f 1/2 2M) #_ 3 ; c\n :d #:n{:e nil}}',
         "[(input 784) (linear 10 :id :fc) ^:m {:type :relu} ##NaN -0.0 0x1F 2r11]",
         '#inst "2024-01-01" #uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"',
         "[" + " ".join(map(repr, LONG_FLOATS)) + "]"]
EDN_ALPHABET = '[]{}()#_:^\\"; ,.0123456789eE+-/MNxru\n\tab@~`\'{}#!<>=?*&%$'


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate", "cut"]))
        if action == "insert":
            text = text[:where] + draw(st.text(EDN_ALPHABET, min_size=1, max_size=3)) + \
                text[where:]
        elif action == "delete":
            text = text[:where] + text[where + draw(st.integers(1, 5)):]
        elif action == "duplicate":
            text = text[:where] + text[where:where + draw(st.integers(1, 10))] + text[where:]
        else:
            text = text[:where]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.text(EDN_ALPHABET, max_size=60), mutated()))
def test_any_text_reads_or_raises_only_an_edn_syntax_error(text):
    try:
        loads_all(text)
        loads(text)
    except EdnSyntaxError as error:
        assert error.line is not None and error.line >= 1
        assert error.column is not None and error.column >= 1
        assert error.reason


# --- differential tests ---------------------------------------------------------------

def _from_edn_format(value):
    """edn_format's types → ours, so the two readers can be compared."""
    if isinstance(value, edn_format.Keyword):
        return K(value.name)
    if isinstance(value, edn_format.Symbol):
        return S(value.name)
    if isinstance(value, edn_format.Char):
        return Char(value)
    if isinstance(value, edn_format.ImmutableDict | dict):
        return EdnMap({_from_edn_format(k): _from_edn_format(v) for k, v in value.items()})
    if isinstance(value, edn_format.ImmutableList):
        return Vector(_from_edn_format(v) for v in value)
    if isinstance(value, tuple):
        return EdnList(_from_edn_format(v) for v in value)
    if isinstance(value, frozenset):
        return frozenset(_from_edn_format(v) for v in value)
    return value


# Valid inputs on which edn_format 0.8 is right (it is wrong on "1.", "012", duplicate
# keys, trailing input, `#inst "2024"` and `::a`; see interop-notes §3).
EDN_FORMAT_AGREES = [text for text, _ in VALID if text and not any(
    marker in text for marker in ("1.]", "1. ", "#inst", "\\o", "##", "## ", "N", "0x", "0X",
                                  "r1", "rZ", "4/2", "^", "#_", "\ufeff", "\u2028", "\xa0",
                                  "\\u0041", '"\\101', "\\return", "\\(", ":1", "#:",
                                  "1e400", "a#b", "a'b", "\\\\", '\\"', "\\ud83d", "1.]"))
    and text not in ("1.", "", "  ; only a comment\n")]


@pytest.mark.parametrize("text", EDN_FORMAT_AGREES, ids=[repr(t[:30]) for t in
                                                         EDN_FORMAT_AGREES])
def test_agrees_with_edn_format_where_edn_format_is_right(text, canonical):
    assert canonical(loads(text)) == canonical(_from_edn_format(edn_format.loads(text)))


def test_edn_format_gets_wrong_what_we_get_right():
    """The reasons this reader exists, pinned: if edn_format fixes them, revisit."""
    assert edn_format.loads("1 2") == 1
    assert edn_format.loads("012") == 0
    assert edn_format.loads("{:a 1 :a 2}") == {edn_format.Keyword("a"): 2}
    with pytest.raises(NotImplementedError):
        edn_format.loads("#no/such 1")


# Cases where we differ from clojure.edn on purpose (module docstring of the reader).
DELIBERATE = {
    "012": "leading zeros are refused (Clojure reads octal)",
    "[1 -012]": "leading zeros are refused (Clojure reads octal)",
    "[" + " ".join(["1.0"] * 30) + " 012]": "leading zeros are refused (Clojure reads octal)",
    "(0 1 2 ...)": "the symbol ... means *print-length* cut the data",
    "{true 1 1 2}": "Python cannot hold both true and 1 as keys",
    "{1 :a 1.0 :b}": "Python cannot hold both 1 and 1.0 as keys",
    "#{1 1.0}": "Python cannot hold both 1 and 1.0 in a set",
    "{[{:a 1}] 1}": "Python cannot hash a map",
    "#{{} 1}": "Python cannot hash a map",
    "\ufeff[1]": "a byte-order mark is skipped",
}
CLOJURE_CASES = [text for text, _ in VALID if text not in ("", "  ; only a comment\n")] + [
    case[0] for case in INVALID if case[0] not in (DEEP, "1" * 5000) and NESTED not in case[0]
] + list(DELIBERATE) + [
    "[1 2] [3]", ":/", ".5", "-.5", "nil/a", "true/x", "[1 #_ 2]", "#:a{:_/b 1}",
    "{:a 1, :b 2,}", "\\u00e9", "\\o377", '"\\377"', "#{#{}}", "{[] 1 () 2}", "[1.0E16]",
    "[1e-7 1.0e+16]", "-0x10", "+0.5M", "1e3M", "-1N", "3/6", "#^{:a 1} []",
    "^:a ^:b sym", "#my/tag", "[1 2 3", "{:a 1 :b}", "#{:a :a}", "\\space\\a", "#{##NaN ##NaN}",
]


def test_agrees_with_clojure_edn(clojure_edn, canonical):
    """Every case: both readers accept it and read the same data, or both refuse it."""
    answers = clojure_edn(CLOJURE_CASES)
    disagreements = []
    for text, (status, payload) in zip(CLOJURE_CASES, answers, strict=True):
        try:
            ours = ("OK", canonical(loads(text)))
        except EdnSyntaxError as error:
            ours = ("ERR", error.reason)
        if text in DELIBERATE:
            assert ours[0] == "ERR" or text == "\ufeff[1]", text
            continue
        if status == "OK" and ours[0] == "OK" and text.startswith("#inst"):
            # java.util.Date keeps milliseconds and prints in UTC; we keep microseconds
            # and the offset written. The instants agree.
            instant = loads(text)
            if loads(payload) != instant.replace(microsecond=instant.microsecond // 1000 * 1000):
                disagreements.append((text, payload, "different instants"))
        elif status == "OK" and ours[0] == "OK":
            theirs = canonical(loads(payload))
            if theirs != ours[1]:
                disagreements.append((text, payload, "different values"))
        elif status != ours[0]:
            disagreements.append((text, payload, ours))
    assert disagreements == [], "\n".join(map(repr, disagreements))


def test_runs_of_character_literals_read_as_one_at_a_time():
    """The reader takes runs of simple character literals in one regex; it must give the
    same values and errors (with positions) as reading them one by one."""
    import random
    import re

    import bridge.edn.reader as reader

    pieces = [r"\a", r"\u0041", r"\uD800", r"\ud7ff", r"\uE000", r"\newline", r"\u", r"\ ",
              "\\\n", r"\\", r"\(", r"\]", r"\"", r"\o101", r"\é", "\\\U0001F600", " ", ",",
              "\n", "a", ":k", "1", "[", "]", "\\", '"x"', r"\ab", r"\u00411", "#_"]

    def read(text):
        try:
            value = reader.loads(text)
            return "ok", repr(value), getattr(value, "line", None)
        except EdnSyntaxError as error:
            return "error", str(error)

    rng = random.Random(7)
    for _ in range(3000):
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        text = rng.choice(["[%s]", "(%s)", "{%s}", "#{%s}", "[[%s] %s]"]).replace("%s", body)
        fast = read(text)
        saved, reader._CHARACTER_RUN = reader._CHARACTER_RUN, re.compile("(?!)")
        try:
            assert read(text) == fast, text
        finally:
            reader._CHARACTER_RUN = saved
