"""EDN text → Python values, as strict as ``clojure.edn``, with the line and column of
every collection and of every error.

Types: vectors → :class:`Vector`, lists → :class:`EdnList`, maps → :class:`EdnMap`, sets →
``frozenset``, keywords and symbols → :class:`Keyword`/:class:`Symbol`, ``\\c`` →
:class:`Char`, ``nil true false`` → ``None True False``, integers (also ``N``, hex, radix)
→ ``int``, floats → ``float`` (``-0.0`` keeps its sign, ``##NaN ##Inf ##-Inf``), ``M`` →
``Decimal``, ratios → ``Fraction`` (an ``int`` when they reduce to one, as in Clojure),
``#inst`` → an aware ``datetime``, ``#uuid`` → ``UUID``.

The rules follow Clojure's ``EdnReader`` (number, symbol, keyword, string and character
syntax, its whitespace, its error texts) with these decisions of ours:

* **One document, one form.** :func:`loads` refuses anything after the first form except
  whitespace, comments and ``#_`` discards; empty text reads as ``None``.
* **Leading zeros are refused.** Clojure reads ``012`` as octal 10; in a model file that
  is a typo, so it is an error that says so (hex ``0x1F`` and radix ``2r101`` are kept).
* **Metadata is read and dropped.** ``clojure.edn`` attaches ``^{…}``/``^:kw`` metadata
  to the next form; our data has nowhere to keep it. We raise where Clojure raises
  (metadata that is not a map, keyword, symbol or string; metadata on a number, string,
  keyword, nil or boolean).
* **Clojure's printer output that is not data is refused with guidance:** the symbol
  ``...`` (``*print-length*`` cut the data short) and ``#object[…]`` (a Java object).
* **Python equality.** A dict cannot hold both ``1`` and ``1.0`` (or ``true`` and ``1``)
  as keys, which Clojure can; such maps and sets are reported as duplicate keys.
* **Nesting is limited** to :data:`MAX_DEPTH` levels (``max_depth=`` asks for fewer).
  The reader keeps its own stack and never recurses, so no input can overflow Python's.
* A leading byte-order mark is skipped (it is not part of line 1's columns).

Vectors of plain numbers — a saved network's weights, megabytes of them — are handed to
``json`` in one piece when their text is JSON-compatible, which reads them at json's
speed; anything else takes the general path, which gives the same values.
"""

# Why this reader is written here rather than taken from edn_format (which the tests keep
# as an oracle): edn_format keeps no positions (every error says line 1), silently
# accepts trailing input ("1 2" reads as 1, "012" as 0), keeps the last of duplicate map
# keys where Clojure throws, has one process-global tag registry and raises
# NotImplementedError for an unknown tag, and reads long number vectors about 20x slower
# than json.

from __future__ import annotations

import bisect
import datetime as _dt
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

from bridge.edn.types import Char, EdnList, EdnMap, Keyword, Symbol, Vector
from bridge.errors import EdnSyntaxError, ModelError

__all__ = ["loads", "loads_all", "MAX_DEPTH", "read_name"]

#: Forms may nest this deep (Clojure's recursive reader overflows its stack far sooner).
MAX_DEPTH = 10_000

# Java's Character.isWhitespace plus the comma: Clojure's notion of whitespace.
_WS = "\t\n\x0b\f\r\x1c-\x1f ,\u1680\u2000-\u2006\u2008-\u200a\u2028\u2029\u205f\u3000"
_SKIP = re.compile("(?:[" + _WS + "]+|;[^\n\r]*)*")
# A token runs until whitespace or one of Clojure's terminating macro characters.
_TOKEN = re.compile("[^" + _WS + '";^()\\[\\]{}\\\\]+')

# EdnReader's patterns (intPat, ratioPat, floatPat, symbolPat), ASCII digits only.
_INT = re.compile(
    r"([-+]?)(?:(0)|([1-9][0-9]*)|0[xX]([0-9A-Fa-f]+)|0([0-7]+)|([1-9][0-9]?)[rR]([0-9A-Za-z]+)"
    r"|(0[0-9]+))(N)?"
)
_RATIO = re.compile(r"([-+]?[0-9]+)/([0-9]+)")
_FLOAT = re.compile(r"([-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)(M)?")
_SYMBOL = re.compile(r":?([^0-9/].*/)?(/|[^0-9/][^/]*)")

_STRING_WITH_ESCAPES = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_ESCAPE = re.compile(r"\\(?:([tnrbf\"\\])|u([0-9A-Fa-f]{4})|([0-7]{1,3})|(.))", re.S)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_HEX = re.compile("[0-9A-Fa-f]+")
# A character literal of one BMP character, or \uXXXX, that ends where its token ends.
_SIMPLE_CHAR = re.compile("\\\\(?:u([0-9A-Fa-f]{4})|([^u\ud800-\udfff\U00010000-\U0010ffff]))"
                          "(?![^" + _WS + '";^()\\[\\]{}\\\\])', re.S)
# Two or more of them (no surrogate escapes), each ending at whitespace or a backslash.
_ONE_CHAR = ("\\\\(?:u(?![dD][89a-fA-F])[0-9A-Fa-f]{4}|[^u\ud800-\udfff"
             "\U00010000-\U0010ffff])(?![^" + _WS + '";^()\\[\\]{}\\\\])')
_CHARACTER_RUN = re.compile("(?:" + _ONE_CHAR + "[" + _WS + "]*){2,}(?<![" + _WS + "])",
                            re.S)
_CHAR_NAMES = {"newline": "\n", "space": " ", "tab": "\t", "backspace": "\b",
               "formfeed": "\f", "return": "\r"}
# One shared object each, as Clojure's boxed constants: #{##NaN ##NaN} is a duplicate.
_SYMBOLIC = {"NaN": float("nan"), "Inf": float("inf"), "-Inf": float("-inf")}

# The numeric fast path: what JSON calls whitespace, and where EDN separators go.
_JSON_SPACE = re.compile(r"[ \t\n\r,]*")
_SEPARATORS = re.compile(r"[ \t\n\r,]+")

_MatchAt = Callable[[str, int], "re.Match[str]"]
# Both match the empty string, so their match never returns None: typed so, once.
_skip_at = cast(_MatchAt, _SKIP.match)
_json_space_at = cast(_MatchAt, _JSON_SPACE.match)
_FAST_MIN = 48  # characters; shorter vectors gain nothing from the detour
_BIG = 2.0**63


def _reject_constant(name: str):
    raise ValueError(name)  # NaN / Infinity are symbols in EDN, not numbers


_json_numbers = json.JSONDecoder(parse_constant=_reject_constant).decode

_fast_numbers: Callable[[str], Any]
try:  # parses a row of weights several times faster than json, to the same doubles
    from orjson import loads as _fast_numbers
except ImportError:  # pragma: no cover - a dependency; json's path gives the same values
    _fast_numbers = _json_numbers

# Frame kinds. Collections first, so `kind <= _NSMAP` means "holds items".
_VECTOR, _LIST, _MAP, _SET, _NSMAP, _DISCARD, _TAG, _META = range(8)
_OPENER = {_VECTOR: "[", _LIST: "(", _MAP: "{", _SET: "#{", _NSMAP: "#:{"}
_CLOSER = {_VECTOR: "]", _LIST: ")", _MAP: "}", _SET: "}", _NSMAP: "}"}
_NOTHING = object()  # "no form here" (end of input, or a discarded form)


class _Frame:
    """One open form on the reader's stack."""

    __slots__ = ("kind", "start", "items", "offsets", "extra")

    def __init__(self, kind: int, start: int, extra: Any = None):
        self.kind = kind
        self.start = start
        self.items: list = []
        self.offsets: list[int] = []
        self.extra = extra  # namespace of #:ns{}, tag name, or metadata value


def read_name(token: str) -> Keyword | Symbol | None:
    """Clojure's ``EdnReader.matchSymbol``: the Keyword or Symbol ``token`` spells, or
    ``None`` when Clojure would call it an invalid token (``a/``, ``a::b``, ``::a``…)."""
    match = _SYMBOL.fullmatch(token)
    if match is None or not _TOKEN.fullmatch(token):
        return None
    namespace, name = match.group(1), match.group(2)
    if ((namespace is not None and namespace.endswith(":/")) or name.endswith(":")
            or token.find("::", 1) != -1 or token.startswith("::")):
        return None
    if token[0] == ":":
        return Keyword(token[1:])
    return Symbol(token)


class _Reader:
    """The state of one ``loads``/``loads_all`` call."""

    def __init__(self, text: str, readers, default, source, max_depth: int = MAX_DEPTH):
        if not isinstance(text, str):
            hint = " (decode it first: data.decode('utf-8'))" if isinstance(
                text, bytes | bytearray) else ""
            raise TypeError(f"EDN text must be a str, got {type(text).__name__}{hint}")
        if default is not None and not callable(default):
            raise TypeError("default must be a function of (tag, value)")
        self.text = text
        self.n = len(text)
        self.source = source
        self.max_depth = max_depth
        self.default = default
        if readers is not None and not isinstance(readers, Mapping):
            raise TypeError(f"readers must be a mapping of tag → function, got "
                            f"{type(readers).__name__}")
        self.readers: dict[str, Callable] = {"inst": _read_inst, "uuid": _read_uuid}
        for key, fn in (readers or {}).items():
            if isinstance(key, Symbol):
                key = key.full
            elif not isinstance(key, str):
                raise TypeError(f"readers keys must be Symbols or 'ns/name' strings, got {key!r}")
            if not callable(fn):
                raise TypeError(f"the reader for #{key} is not callable")
            self.readers[key.lstrip("#")] = fn
        self.bom = 1 if text.startswith("\ufeff") else 0
        self.pos = self.bom
        self.form_start = 0
        self.opened = 0  # where the collection that close() just finished opened
        self.newlines: list[int] = []
        self.scanned = 0
        self.close_from = self.close_at = -1  # cache for the fast path's search for "]"
        self.characters: dict[str, Char] = {}  # character_run's literals, read once each

    # --- positions and errors ----------------------------------------------------------

    def where(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        if offset > self.scanned:  # index the newlines up to offset (memchr, not regex)
            find, newlines = self.text.find, self.newlines
            index = find("\n", self.scanned, offset)
            while index >= 0:
                newlines.append(index)
                index = find("\n", index + 1, offset)
            self.scanned = offset
        line = bisect.bisect_left(self.newlines, offset)
        column = offset - (self.newlines[line - 1] + 1 if line else self.bom) + 1
        return line + 1, column

    def error(self, message: str, offset: int) -> EdnSyntaxError:
        line, column = self.where(offset)
        return EdnSyntaxError(message, source=self.source, line=line, column=column)

    def at(self, offset: int) -> str:
        line, column = self.where(offset)
        return f"line {line}, column {column}"

    # --- the main loop -----------------------------------------------------------------

    def read(self) -> Any:
        """The next whole form from ``self.pos``, or ``_NOTHING`` at the end of the text."""
        text, n = self.text, self.n
        stack: list[_Frame] = []
        skip = _skip_at
        while True:
            pos = skip(text, self.pos).end()
            self.pos = pos
            if pos >= n:
                if stack:
                    raise self.eof(stack[-1])
                return _NOTHING
            start = pos
            char = text[pos]
            if char == "[":
                value = self.fast_vector(pos)
                if value is None:
                    self.push(stack, _Frame(_VECTOR, pos), pos + 1)
                    continue
            elif char == "(":
                self.push(stack, _Frame(_LIST, pos), pos + 1)
                continue
            elif char == "{":
                self.push(stack, _Frame(_MAP, pos), pos + 1)
                continue
            elif char == ")" or char == "]" or char == "}":
                value = self.close(stack, char)
                start = self.opened  # a collection is where it opens
            elif char == '"':
                value = self.string(pos)
            elif char == "\\":
                if stack and stack[-1].kind <= _NSMAP and self.character_run(stack[-1], pos):
                    continue
                value = self.character(pos)
            elif char == "#":
                value = self.dispatch(stack, pos)
                if value is _NOTHING:
                    continue
            elif char == "^":
                self.push(stack, _Frame(_META, pos, _NOTHING), pos + 1)
                continue
            else:
                value = self.token(pos)
            # Hand the finished form to whatever waits for it.
            while True:
                if not stack:
                    self.form_start = start
                    return value
                frame = stack[-1]
                kind = frame.kind
                if kind <= _NSMAP:
                    frame.items.append(value)
                    frame.offsets.append(start)
                    break
                if kind == _DISCARD:
                    stack.pop()
                    break
                if kind == _TAG:
                    stack.pop()
                    value = self.apply_tag(frame, value)
                    start = frame.start
                    continue
                if frame.extra is _NOTHING:  # metadata: first its value …
                    if not (isinstance(value, EdnMap | Keyword | Symbol) or type(value) is str):
                        raise self.error("Metadata must be Symbol, Keyword, String or Map", start)
                    frame.extra = value
                    break
                stack.pop()  # … then the form it applies to, which goes on without it
                if value is None or isinstance(value, bool | int | float | str | Keyword | Decimal
                                               | Fraction | _dt.datetime | uuid.UUID):
                    raise self.error("Metadata can only be applied to collections and symbols "
                                     f"(IMetas), not {_show(value)}", frame.start)
                start = frame.start

    def push(self, stack: list, frame: _Frame, pos: int) -> None:
        if len(stack) >= self.max_depth:
            raise self.error(f"forms nest deeper than {self.max_depth} levels", frame.start)
        stack.append(frame)
        self.pos = pos

    def describe(self, frame: _Frame) -> str:
        if frame.kind == _DISCARD:
            return f"the #_ at {self.at(frame.start)} has no form to discard"
        if frame.kind == _TAG:
            return f"the tag #{frame.extra} at {self.at(frame.start)} has no value"
        if frame.kind == _META:
            return f"the metadata ^ at {self.at(frame.start)} applies to no form"
        return f"the {_OPENER[frame.kind]} at {self.at(frame.start)} is never closed"

    def eof(self, frame: _Frame) -> EdnSyntaxError:
        return self.error(f"EOF while reading: {self.describe(frame)}", self.n)

    def close(self, stack: list, char: str):
        pos = self.pos
        if not stack:
            raise self.error(f"Unmatched delimiter: {char}", pos)
        frame = stack[-1]
        if frame.kind > _NSMAP:
            raise self.error(f"Unmatched delimiter: {char} ({self.describe(frame)})", pos)
        if _CLOSER[frame.kind] != char:
            raise self.error(f"Unmatched delimiter: {char} (expected {_CLOSER[frame.kind]} to "
                             f"close the {_OPENER[frame.kind]} at {self.at(frame.start)})", pos)
        stack.pop()
        self.pos = pos + 1
        self.opened = frame.start
        kind = frame.kind
        value: Vector | EdnList | EdnMap
        if kind == _VECTOR:
            value = Vector(frame.items)
        elif kind == _LIST:
            value = EdnList(frame.items)
        elif kind == _SET:
            return self.make_set(frame)
        else:
            value = self.make_map(frame)
        value.line, value.column = self.where(frame.start)
        return value

    def make_set(self, frame: _Frame) -> frozenset:
        try:
            return self.build_set(frame)
        except RecursionError:
            raise self.too_deep(frame, "set elements") from None

    def make_map(self, frame: _Frame) -> EdnMap:
        try:
            return self.build_map(frame)
        except RecursionError:
            raise self.too_deep(frame, "map keys") from None

    def too_deep(self, frame: _Frame, what: str) -> EdnSyntaxError:
        return self.error(f"these {what} nest too deeply for Python to compare them",
                          frame.start)

    def build_set(self, frame: _Frame) -> frozenset:
        try:
            value = frozenset(frame.items)
        except TypeError:
            value = None
        if value is not None and len(value) == len(frame.items):
            return value
        seen: dict = {}
        for item, offset in zip(frame.items, frame.offsets, strict=True):
            self.check_hashable(item, offset, "a set element")
            if item in seen:
                raise self.duplicate(item, seen, offset)
            seen[item] = offset
        raise AssertionError("unreachable")  # pragma: no cover

    def build_map(self, frame: _Frame) -> EdnMap:
        items, offsets, namespace = frame.items, frame.offsets, frame.extra
        if len(items) % 2:
            what = "Namespaced map" if namespace is not None else "Map"
            raise self.error(f"{what} literal must contain an even number of forms "
                             f"(it has {len(items)})", frame.start)
        result = EdnMap()
        positions: dict = {}
        for index in range(0, len(items), 2):
            key, offset = items[index], offsets[index]
            if namespace is not None:
                key = _namespaced(key, namespace)
            self.check_hashable(key, offset, "a map key")
            if key in result:
                raise self.duplicate(key, positions, offset)
            result[key] = items[index + 1]
            positions[key] = offset
        result.key_positions = {key: self.where(offset) for key, offset in positions.items()}
        return result

    def check_hashable(self, value, offset: int, what: str) -> None:
        try:
            hash(value)
        except TypeError:
            raise self.error(f"{_show(value)} cannot be {what} here: it holds a map, which "
                             "Python cannot hash", offset) from None

    def duplicate(self, key, earlier: dict, offset: int) -> EdnSyntaxError:
        first = next((k for k in earlier if k is key or k == key), key)
        note = f"first at {self.at(earlier[first])}"
        if _show(first) != _show(key) or type(first) is not type(key):
            note += f", as {_show(first)}, which Python counts as the same key"
        return self.error(f"Duplicate key: {_show(key)} ({note})", offset)

    # --- atoms -------------------------------------------------------------------------

    def string(self, pos: int) -> str:
        text = self.text
        end = text.find('"', pos + 1)
        if end >= 0 and text.find("\\", pos + 1, end) < 0:
            self.pos = end + 1
            return text[pos + 1 : end]
        match = _STRING_WITH_ESCAPES.match(text, pos + 1)
        if match is None:
            raise self.error("EOF while reading string", pos)
        self.pos = match.end()
        body = text[pos + 1 : match.end() - 1]
        value = _ESCAPE.sub(lambda m: self.escape(m, pos + 1), body)
        if _SURROGATE.search(value):  # \ud83d\ude00 is one character, as in Java
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le",
                                                                      "surrogatepass")
        return value

    def escape(self, match, body_start: int) -> str:
        simple, unicode, octal, other = match.groups()
        if simple is not None:
            return _ESCAPES[simple]
        if unicode is not None:
            return chr(int(unicode, 16))
        if octal is not None:
            value = int(octal, 8)
            if value > 0o377:
                raise self.error("Octal escape sequence must be in range [0, 377]",
                                 body_start + match.start())
            return chr(value)
        offset = body_start + match.start()
        if other == "u":
            raise self.error("Invalid unicode escape: \\u needs 4 hex digits", offset)
        if other in "89":
            raise self.error(f"Invalid digit: {other} (octal escapes use 0-7)", offset)
        raise self.error(f"Unsupported escape character: \\{other}", offset)

    def character_run(self, frame: _Frame, pos: int) -> bool:
        """Several simple character literals in a row (``\\a \\b \\u0041``) go into
        ``frame`` at once; ``False`` (nothing read) when there are fewer than two."""
        run = _CHARACTER_RUN.match(self.text, pos)
        if run is None:
            return False
        items, offsets, known = frame.items, frame.offsets, self.characters
        for match in _SIMPLE_CHAR.finditer(self.text, pos, run.end()):
            literal = match.group()
            char = known.get(literal)
            if char is None:
                hexa = match.group(1)
                char = known[literal] = Char(match.group(2) if hexa is None
                                             else chr(int(hexa, 16)))
            items.append(char)
            offsets.append(match.start())
        self.pos = run.end()
        return True

    def character(self, pos: int) -> Char:
        text = self.text
        simple = _SIMPLE_CHAR.match(text, pos)
        if simple is not None:  # \a or \u0041 (most of them): one regex, no token
            hexa = simple.group(1)
            if hexa is None:
                self.pos = simple.end()
                return Char(simple.group(2))
            code = int(hexa, 16)
            if not 0xD800 <= code <= 0xDFFF:
                self.pos = simple.end()
                return Char(chr(code))
        if pos + 1 >= self.n:
            raise self.error("EOF while reading character", pos)
        match = _TOKEN.match(text, pos + 2)
        end = match.end() if match else pos + 2
        token = text[pos + 1 : end]
        self.pos = end
        if len(token) == 1:
            if token > "\uffff":
                raise self.error(f"Unsupported character: \\{token} (a Java char holds only "
                                 "the Basic Multilingual Plane; use a string)", pos)
            return Char(token)
        if token in _CHAR_NAMES:
            return Char(_CHAR_NAMES[token])
        if token[0] == "u" and len(token) == 5 and _HEX.fullmatch(token, 1):
            code = int(token[1:], 16)
            if 0xD800 <= code <= 0xDFFF:
                raise self.error(f"Invalid character constant: \\{token} (a surrogate)", pos)
            return Char(chr(code))
        if token[0] == "o" and 2 <= len(token) <= 4 and all(c in "01234567" for c in token[1:]):
            code = int(token[1:], 8)
            if code > 0o377:
                raise self.error("Octal escape sequence must be in range [0, 377]", pos)
            return Char(chr(code))
        raise self.error(f"Unsupported character: \\{token}", pos)

    def token(self, pos: int):
        match = _TOKEN.match(self.text, pos)
        assert match is not None  # the callers saw a token character at pos
        token = match.group()
        self.pos = match.end()
        first = token[0]
        if first.isdecimal() or (first in "+-" and len(token) > 1 and token[1].isdecimal()):
            return self.number(token, pos)
        if first in "@`~":
            raise self.error(f"Invalid leading character: {first} ({first}… is Clojure code, "
                             "not EDN data)", pos)
        if token == "nil":
            return None
        if token == "true":
            return True
        if token == "false":
            return False
        if token == "...":
            raise self.error("the symbol ... is what Clojure prints when *print-length* cuts "
                             "data short; print it with (binding [*print-length* nil] "
                             "(pr-str data))", pos)
        value = read_name(token)
        if value is None:
            if token.startswith("::"):
                raise self.error(f"Invalid token: {token} (auto-resolved keywords are not EDN; "
                                 f"write :some.ns/{token[2:]})", pos)
            raise self.error(f"Invalid token: {token}", pos)
        return value

    def number(self, token: str, pos: int):
        try:
            return self.parse_number(token, pos)
        except EdnSyntaxError:
            raise
        except ValueError:  # Python's 4300-digit limit on int(), and radix digits
            shown = token if len(token) <= 40 else token[:40] + "…"
            raise self.error(f"Invalid number: {shown}", pos) from None

    def parse_number(self, token: str, pos: int):
        match = _INT.fullmatch(token)
        if match:
            sign, zero, decimal, hexa, octal, radix, digits, leading, _ = match.groups()
            if octal is not None:
                raise self.error(f"Invalid number: {token} (Clojure would read a leading 0 as "
                                 f"octal, {int(sign + octal, 8)}; write it without the 0)", pos)
            if leading is not None:
                raise self.error(f"Invalid number: {token} (no leading zeros)", pos)
            if zero is not None:
                return 0
            if decimal is not None:
                value = int(decimal)
            elif hexa is not None:
                value = int(hexa, 16)
            else:
                base = int(radix)
                if not 2 <= base <= 36:
                    raise self.error(f"Invalid number: {token} (radix {base} is not in 2..36)",
                                     pos)
                value = int(digits, base)
            return -value if sign == "-" else value
        match = _FLOAT.fullmatch(token)
        if match:
            if match.group(2):
                return Decimal(match.group(1))
            return float(match.group(1))
        match = _RATIO.fullmatch(token)
        if match:
            denominator = int(match.group(2))
            if denominator == 0:
                raise self.error(f"Divide by zero: {token}", pos)
            ratio = Fraction(int(match.group(1)), denominator)
            return ratio.numerator if ratio.denominator == 1 else ratio
        raise self.error(f"Invalid number: {token}", pos)

    # --- # dispatch --------------------------------------------------------------------

    def dispatch(self, stack: list, pos: int):
        """A form starting with ``#``; pushes a frame and returns ``_NOTHING``, or returns
        the finished value."""
        text = self.text
        if pos + 1 >= self.n:
            raise self.error("EOF while reading: # needs a dispatch character", pos)
        following = text[pos + 1]
        if following == "{":
            self.push(stack, _Frame(_SET, pos), pos + 2)
        elif following == "_":
            self.push(stack, _Frame(_DISCARD, pos), pos + 2)
        elif following == "^":
            self.push(stack, _Frame(_META, pos, _NOTHING), pos + 2)
        elif following == ":":
            self.namespaced_map(stack, pos)
        elif following == "#":
            start = _skip_at(text, pos + 2).end()
            match = _TOKEN.match(text, start)
            name = match.group() if match else ""
            if name not in _SYMBOLIC:
                raise self.error(f"Unknown symbolic value: ##{name} (EDN has ##NaN ##Inf "
                                 "##-Inf)", pos)
            assert match is not None  # a name in _SYMBOLIC came from the match
            self.pos = match.end()
            return _SYMBOLIC[name]
        elif following == "<":
            raise self.error("Unreadable form: #<…> is how Clojure prints an object it "
                             "cannot print as data", pos)
        elif following.isalpha():
            match = _TOKEN.match(text, pos + 1)
            assert match is not None  # text[pos + 1] is a letter, a token character
            name = match.group()
            if name == "object" and "object" not in self.readers:
                raise self.error(
                    "#object[…] is how Clojure prints a Java object (an array, a proxy …), "
                    "which EDN cannot carry: send numbers as vectors or as "
                    "#cortex-bridge/tensor literals", pos)
            if name in ("nil", "true", "false") or not isinstance(read_name(name), Symbol):
                raise self.error(f"Reader tag must be a symbol: #{name}", pos)
            self.push(stack, _Frame(_TAG, pos, name), match.end())
        else:
            hint = " (Clojure code, not EDN data)" if following in "'(\"=?!" else ""
            shown = following if following.isprintable() and not following.isspace() else \
                repr(following)
            raise self.error(f"No dispatch macro for: #{shown}{hint}", pos)
        return _NOTHING

    def namespaced_map(self, stack: list, pos: int) -> None:
        text = self.text
        start = _skip_at(text, pos + 2).end()
        match = _TOKEN.match(text, start)
        name = match.group() if match else ""
        if name.startswith(":"):
            raise self.error("auto-resolved namespaced maps (#::{…}) are not EDN; write "
                             "#:some.ns{…}", pos)
        symbol = read_name(name) if name else None
        if not isinstance(symbol, Symbol) or symbol.namespace is not None or name in (
                "nil", "true", "false"):
            raise self.error(f"Namespaced map must specify a valid namespace: #:{name}", pos)
        assert match is not None  # the name, a symbol, came from the match
        brace = _skip_at(text, match.end()).end()
        if text[brace : brace + 1] != "{":
            raise self.error("Namespaced map must specify a map: #:ns{…}", pos)
        self.push(stack, _Frame(_NSMAP, pos, name), brace + 1)

    def apply_tag(self, frame: _Frame, value):
        name = frame.extra
        reader = self.readers.get(name)
        try:
            if reader is not None:
                return reader(value)
            if self.default is not None:
                return self.default(Symbol(name), value)
        except ModelError as error:
            line, column = self.where(frame.start)
            raise EdnSyntaxError(error.reason, source=self.source, line=line,
                                 column=column) from error
        except Exception as error:  # a reader's failure is a fault of the text it was given
            raise self.error(f"#{name}: {error}", frame.start) from error
        raise self.error(f"No reader function for tag {name}", frame.start)

    # --- the fast path for number vectors ----------------------------------------------

    def fast_vector(self, pos: int):
        """A flat vector of JSON-style numbers at ``pos``, read by json; else ``None``.

        Nested vectors are not handled here: the main loop opens the outer ones and comes
        back here for each row, so a matrix costs one json call per row.
        """
        text = self.text
        first = _json_space_at(text, pos + 1).end()
        if first >= self.n or text[first] not in "-0123456789":
            return None
        if self.close_from <= pos < self.close_at:
            close = self.close_at  # no "]" lies between pos and the one found before
        else:
            close = text.find("]", pos)
            close = self.n if close < 0 else close
            self.close_from, self.close_at = pos, close
        if close >= self.n or close - pos < _FAST_MIN or text.find("[", pos + 1, close) >= 0:
            return None
        span = text[pos : close + 1]
        # With no quote, brace, 'u' or 'a', json can only find numbers here (true, null and
        # false need a 'u' or an 'a'; NaN and Infinity are refused by the decoder).
        if '"' in span or "{" in span or "u" in span or "a" in span:
            return None
        try:
            # orjson refuses what json does here (NaN, Infinity, leading zeros, 1.), but
            # reads an integer past 64 bits as a float: any value that large goes to
            # json, which keeps it an integer.
            items = _fast_numbers(span if "," in span else span.replace(" ", ","))
            if type(items) is not list:
                return None
            # (When every number has a decimal point there is no integer to check.)
            if items and span.count(".") != len(items) and (
                    max(items) >= _BIG or min(items) <= -_BIG):
                raise ValueError("a number past 64 bits")
        except ValueError:
            try:
                items = _json_numbers(
                    "[" + _SEPARATORS.sub(",", span[1:-1].strip(" \t\n\r,")) + "]")
            except ValueError:
                return None  # EDN-only syntax (1. +1 22/7 …) or an error: the general path
        self.pos = close + 1
        value = Vector(items)
        value.line, value.column = self.where(pos)
        return value


def _namespaced(key, namespace: str):
    """A key of ``#:ns{…}``: bare keywords and symbols get ``ns``, ``:_/x`` loses it."""
    if isinstance(key, Keyword | Symbol):
        if key.namespace is None:
            return type(key)(f"{namespace}/{key.name}")
        if key.namespace == "_":
            return type(key)(key.name)
    return key


def _show(value, depth: int = 0) -> str:
    """A short EDN-like rendering of a value for error messages."""
    if depth > 3:
        return "…"
    if value is None:
        return "nil"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, Keyword | Symbol):
        text = str(value)
    elif isinstance(value, float) and (value != value or value in (math.inf, -math.inf)):
        text = "##NaN" if value != value else "##Inf" if value > 0 else "##-Inf"
    elif isinstance(value, Char):
        text = "\\" + value
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, Vector | EdnList | frozenset | EdnMap):
        opener, closer = {Vector: "[]", EdnList: "()", frozenset: ("#{", "}"),
                          EdnMap: "{}"}[type(value)]
        items = list(value.items() if isinstance(value, EdnMap) else value)
        inner = " ".join(" ".join(_show(x, depth + 1) for x in v) if isinstance(value, EdnMap)
                         else _show(v, depth + 1) for v in items[:4])
        text = opener + inner + (" …" if len(items) > 4 else "") + closer
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


_INST = re.compile(
    r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})(?:[T]([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})"
    r"(?:[.]([0-9]+))?)?)?)?)?)?(?:[Z]|([-+])([0-9]{2}):([0-9]{2}))?"
)


def _read_inst(value) -> _dt.datetime:
    """``#inst``: Clojure's RFC 3339 subset (``"2024"`` … ``"2024-01-02T03:04:05.123+01:00"``)."""
    if not isinstance(value, str):
        raise ValueError(f"#inst takes a timestamp string, got {_show(value)}")
    match = _INST.fullmatch(value)
    if match is None:
        raise ValueError(f"Unrecognized date/time syntax: {value}")
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    if second == "60":
        raise ValueError(f"leap seconds cannot be represented: {value}")
    if off_h is not None and (int(off_h) > 23 or int(off_m) > 59):
        raise ValueError(f"invalid UTC offset in {value}")
    offset = _dt.timedelta(0)
    if sign is not None:
        offset = _dt.timedelta(hours=int(off_h), minutes=int(off_m))
        offset = -offset if sign == "-" else offset
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return _dt.datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                            int(minute or 0), int(second or 0), micro,
                            tzinfo=_dt.timezone(offset))
    except ValueError as error:
        raise ValueError(f"invalid timestamp {value}: {error}") from None


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _read_uuid(value) -> uuid.UUID:
    """``#uuid``: the canonical 8-4-4-4-12 hex form."""
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise ValueError(f"#uuid takes a string like \"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\", "
                         f"got {_show(value)}")
    return uuid.UUID(value)


def loads(
    text: str,
    *,
    readers: Mapping[Symbol | str, Callable[[Any], Any]] | None = None,
    default: Callable[[Symbol, Any], Any] | None = None,
    source: str | None = None,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Read the one EDN form in ``text``.

    Args:
        text: EDN text.
        readers: tag readers for this call only, ``{"ns/tag": fn(value)}`` (Symbol keys
            work too); consulted before the built-in ``#inst`` and ``#uuid``.
        default: ``fn(tag, value)`` for tags with no reader, as ``clojure.edn``'s
            ``:default``; pass :class:`~bridge.edn.types.Tagged` to keep them as data.
            Without it an unknown tag is an error. ``#object`` is refused either way
            unless ``readers`` names it.
        source: a file name for error messages.
        max_depth: how deep forms may nest (model files ask for far less than the
            default, so that nothing downstream meets data deeper than it expects).

    Returns:
        The value (see the module docstring for the types), or ``None`` when ``text`` holds
        only whitespace, comments and discarded forms.

    Raises:
        EdnSyntaxError: malformed text, more than one form, duplicate keys, an unknown
            tag, a tag reader that failed; with ``source``, line and column. No other
            exception escapes for any text.
        TypeError: ``text`` is not a str.
    """
    reader = _Reader(text, readers, default, source, max_depth)
    value = reader.read()
    if value is _NOTHING:
        return None
    pos = _skip_at(reader.text, reader.pos).end()
    if pos < reader.n:
        if reader.text.startswith("#_", pos):  # trailing discards are comments
            reader.pos = pos
            if reader.read() is _NOTHING:
                return value
            pos = reader.form_start
        raise reader.error("unexpected trailing input after the first form (an EDN document "
                           "holds one form; loads_all reads several)", pos)
    return value


def loads_all(
    text: str,
    *,
    readers: Mapping[Symbol | str, Callable[[Any], Any]] | None = None,
    default: Callable[[Symbol, Any], Any] | None = None,
    source: str | None = None,
    max_depth: int = MAX_DEPTH,
) -> list:
    """Read every form in ``text``, in order.

    Args:
        text, readers, default, source, max_depth: as for :func:`loads`.

    Returns:
        A list of the forms (empty for empty text).

    Raises:
        EdnSyntaxError: as for :func:`loads`.
        TypeError: ``text`` is not a str.
    """
    reader = _Reader(text, readers, default, source, max_depth)
    values = []
    while (value := reader.read()) is not _NOTHING:
        values.append(value)
    return values
