"""Python values → EDN text that ``clojure.edn/read-string`` reads back as equal data.

=================================  ==============================================
Python                             EDN
=================================  ==============================================
``None`` / ``True`` / ``False``    ``nil`` / ``true`` / ``false``
``int``, numpy integers            ``42`` (past 4000 digits: hex, ``0x…``)
``float``, numpy floats            ``1.5``, ``1e-07``, ``-0.0``, ``##NaN``, ``##Inf``
``Decimal`` / ``Fraction``         ``1.5M`` / ``22/7``
``str`` / :class:`Char`            ``"text"`` / ``\\a``, ``\\newline``
:class:`Keyword`, :class:`Symbol`  ``:linear``, ``nn/dense``
``list``, :class:`Vector`          ``[…]``
``tuple``, :class:`EdnList`        ``(…)``
any ``Mapping``                    ``{…}`` (str keys stay strings)
``set``, ``frozenset``             ``#{…}`` (sorted when the elements sort)
numpy arrays, torch tensors        nested vectors of numbers (or booleans)
``datetime``, ``date``, ``UUID``   ``#inst "…"``, ``#uuid "…"``
:class:`Tagged`                    ``#tag value``
anything with ``__edn__()``        the text it returns
anything with ``__edn_chunks__``   its ASCII bytes (the tensor tag uses this)
=================================  ==============================================

Floats print with Python's ``repr``: the shortest text that reads back as the same
double (Clojure's reader takes ``1e-07`` and ``1e+16``). Float arrays are widened to
float64 first, so each float32 (or float16, bfloat16) value prints as the double it
equals exactly. We chose that over the shortest float32 text (what Clojure's
``Float.toString`` gives) because the text then *is* the value: any reader, reading it as
a double, gets the number the tensor held, and casting back to float32 restores its bits
without relying on a second rounding. It costs about eight characters per number.

Sequences of plain numbers are written by ``json.dumps`` (JSON numbers are EDN numbers;
we ask it for spaces, not commas). Numeric arrays and tensors are *bulk* values: orjson
prints them (its Ryu float printer gives the same shortest round-trip text as ``repr``,
several times faster), a matrix one row per line when the layout has room. Deep data
cannot exhaust Python's stack: the writer keeps its own.

Bulk values — arrays, and objects with ``__edn_chunks__(column)`` such as the tensor
literal — come out of :func:`dump_chunks` as the bytes they were printed into, so
hundreds of megabytes of weights reach a file without being copied into a ``str`` and
back. :func:`dumps` gives the same text as one ``str``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from bridge.edn.reader import read_name
from bridge.edn.types import Char, EdnList, Keyword, Symbol, Tagged, Vector

try:  # Ryu float printing: several times json's speed on weight arrays
    import orjson as _orjson
except ImportError:  # pragma: no cover - a dependency; json's path gives the same values
    _orjson = None  # type: ignore[assignment]

__all__ = ["dumps", "dump_chunks", "array_text", "array_chunks"]

_CHAR_NAMES = {"\n": "newline", " ": "space", "\t": "tab", "\b": "backspace",
               "\f": "formfeed", "\r": "return"}
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r",
                   "\b": "\\b", "\f": "\\f"}
_NEEDS_ESCAPE = re.compile('[\\\\"\x00-\x1f\x7f\ud800-\udfff]')
_JSON_SPECIALS = re.compile(r"-Infinity|Infinity|NaN")
_EDN_SPECIALS = {"NaN": "##NaN", "Infinity": "##Inf", "-Infinity": "##-Inf"}
_NUMBER_TYPES = frozenset((int, float))
_COMMA_TO_SPACE = bytes.maketrans(b",", b" ")
_FAST_MIN = 8  # sequences at least this long try the json path
_BIG_INT = 10**4000  # str() refuses ints past 4300 digits; hex has no such limit

_names_ok: dict = {}


def _float(value: float) -> str:
    if value != value:
        return "##NaN"
    if value in (math.inf, -math.inf):
        return "##Inf" if value > 0 else "##-Inf"
    return float.__repr__(value)


def _int(value: int) -> str:
    if -_BIG_INT < value < _BIG_INT:
        return int.__repr__(value)
    return hex(value)  # Clojure and our reader take 0x… at any length


def _string(value: str) -> str:
    if not _NEEDS_ESCAPE.search(value):
        return '"' + value + '"'
    return '"' + _NEEDS_ESCAPE.sub(
        lambda m: _STRING_ESCAPES.get(m.group()) or f"\\u{ord(m.group()):04x}", value) + '"'


def _char(value: str) -> str:
    if len(value) != 1 or value > "\uffff" or "\ud800" <= value <= "\udfff":
        raise ValueError(f"EDN characters are single UTF-16 code units (Java chars); "
                         f"{value!r} is not one: write it as a string")
    if value in _CHAR_NAMES:
        return "\\" + _CHAR_NAMES[value]
    if value.isprintable() and not value.isspace():
        return "\\" + value
    return f"\\u{ord(value):04x}"


def _name(value: Keyword | Symbol) -> str:
    """The text of a keyword or symbol, checked once to read back as itself."""
    text = str(value)
    ok = _names_ok.get(value)
    if ok is None:
        ok = read_name(text) == value and (isinstance(value, Keyword) or (
            text not in ("nil", "true", "false", "...")
            and text[0] not in "@`~#"
            and not (text[0] in "+-" and text[1:2].isdecimal())))
        if len(_names_ok) > 100_000:
            _names_ok.clear()
        _names_ok[value] = ok
    if not ok:
        raise ValueError(f"{value!r} has no EDN spelling: it would not read back as itself")
    return text


def _inst(value: _dt.date) -> str:
    if not isinstance(value, _dt.datetime):
        return f'#inst "{value.isoformat()}"'  # midnight UTC, to Clojure
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)  # naive means UTC, as in Clojure
    offset = value.utcoffset()
    if offset is not None and offset % _dt.timedelta(minutes=1):
        value = value.astimezone(_dt.timezone.utc)  # RFC 3339 offsets are whole minutes
    return f'#inst "{value.isoformat()}"'


def _numbers_text(sequence, opener: str = "[", closer: str = "]") -> str | None:
    """``sequence`` through json.dumps when it holds only exact ints and floats."""
    if not set(map(type, sequence)) <= _NUMBER_TYPES:
        return None
    try:
        text = json.dumps(sequence, separators=(" ", ":"), check_circular=False)
    except ValueError:  # an int past str()'s digit limit
        return None
    if "N" in text or "I" in text:
        text = _JSON_SPECIALS.sub(lambda m: _EDN_SPECIALS[m.group()], text)
    if opener != "[":
        text = opener + text[1:-1] + closer
    return text


def array_text(array: Any) -> str:
    """A numpy array or torch tensor as nested EDN vectors, at ``json.dumps`` speed.

    Floating values are widened to float64 first, so float16, bfloat16 and float32 values
    print as the exact double they equal. A 0-d array prints as its one number.

    Raises:
        TypeError: a dtype EDN has no numbers for (complex, float128, …).
    """
    array = _numeric_array(array)
    text = json.dumps(array.tolist(), separators=(" ", ":"), check_circular=False)
    if array.dtype.kind == "f" and ("N" in text or "I" in text):
        text = _JSON_SPECIALS.sub(lambda m: _EDN_SPECIALS[m.group()], text)
    return text


def array_chunks(array: Any, column: int | None = None) -> list[bytes]:
    """A numpy array or torch tensor as nested EDN vectors, as ASCII bytes.

    The same numbers as :func:`array_text`, printed by orjson where it can (finite
    values; it writes ``null`` for NaN, so arrays holding one take the json path). With
    ``column`` (where the array starts on its line) a matrix puts each row on its own
    line, aligned one past the opening bracket.
    """
    if _orjson is not None:
        array = _numeric_array(array)
        if array.ndim > 0 and (array.dtype.kind != "f" or np.isfinite(array).all()):
            text = _orjson.dumps(np.ascontiguousarray(array),
                                 option=_orjson.OPT_SERIALIZE_NUMPY)
            text = text.translate(_COMMA_TO_SPACE)
            if column is not None and array.ndim > 1:
                text = text.replace(b"] [", b"]\n" + b" " * (column + 1) + b"[")
            return [text]
    printed = array_text(array)
    if column is not None and printed.startswith("[["):
        printed = printed.replace("] [", "]\n" + " " * (column + 1) + "[")
    return [printed.encode("ascii")]


def _numeric_array(array: Any) -> np.ndarray:
    """``array`` as numpy: floats widened to float64 (exactly), ints and bools kept."""
    if isinstance(array, torch.Tensor):
        tensor = array.detach().to("cpu").resolve_conj().resolve_neg()
        if tensor.is_complex():
            raise TypeError(f"cannot write a {tensor.dtype} tensor as EDN")
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float64)  # exact, and numpy has no bfloat16
        array = tensor.numpy()
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind == "f":
        if array.dtype.itemsize > 8:
            raise TypeError(f"cannot write {array.dtype} exactly as EDN doubles")
        with np.errstate(invalid="ignore"):  # signalling NaNs widen quietly, as NaN
            return array.astype(np.float64, copy=False)
    if kind not in "iub":
        raise TypeError(f"cannot write an array of dtype {array.dtype} as EDN numbers")
    return array


def _chunker(value: Any):
    """The function printing ``value`` as bulk bytes, or ``None`` when it is not bulk."""
    chunks = getattr(type(value), "__edn_chunks__", None)
    if chunks is not None:
        return chunks
    if isinstance(value, np.ndarray | torch.Tensor):
        return array_chunks
    return None


def _bulk_size(value: Any) -> int:
    """How many numbers a bulk value prints (its width grows with this)."""
    inner = getattr(value, "tensor", value)
    if isinstance(inner, torch.Tensor):
        return inner.numel()
    return int(np.size(inner))


_EXACT_ATOMS: dict[type, Callable[[Any], str]] = {
    type(None): lambda v: "nil",
    bool: lambda v: "true" if v else "false",
    int: _int,
    float: _float,
    str: _string,
    Keyword: _name,
    Symbol: _name,
    Char: _char,
}


def _atom(value: Any, memo: dict | None = None) -> str | None:
    """The text of a value that holds no other values; ``None`` for anything else.

    ``memo`` keeps ``__edn__`` texts by object id, so a layout that measures a value
    before writing it encodes a tensor once.
    """
    exact = _EXACT_ATOMS.get(type(value))
    if exact is not None:
        return exact(value)
    edn = getattr(type(value), "__edn__", None)
    if edn is not None:
        if memo is not None and id(value) in memo:
            return memo[id(value)][1]
        text = edn(value)
        if not isinstance(text, str):
            raise TypeError(f"{type(value).__name__}.__edn__() must return a str")
        if memo is not None:
            memo[id(value)] = (value, text)  # the value is kept so its id stays unique
        return text
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, Char):
        return _char(value)
    if isinstance(value, str):
        return _string(str(value))
    if isinstance(value, Keyword | Symbol):
        return _name(value)
    if isinstance(value, int | np.integer):
        return _int(int(value))
    if isinstance(value, float | np.floating):
        if isinstance(value, np.floating) and value.dtype.itemsize > 8:
            raise TypeError(f"cannot write {value.dtype} exactly as an EDN double")
        return _float(float(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"EDN has no text for the decimal {value}")
        return f"{value}M"
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return _int(value.numerator)
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, _dt.date):
        return _inst(value)
    if isinstance(value, uuid.UUID):
        return f'#uuid "{value}"'
    return None  # collections, and bulk values (arrays, tensors), which _chunker prints


_VECTOR, _LIST, _MAP, _SET, _TAGGED = range(5)
_OPEN = {_VECTOR: "[", _LIST: "(", _MAP: "{", _SET: "#{"}
_CLOSE = {_VECTOR: "]", _LIST: ")", _MAP: "}", _SET: "}"}


def _holds_collections(sequence) -> bool:
    return any(_kind_of_type(t) is not None for t in set(map(type, sequence)))


def _kind_of_type(cls: type) -> int | None:
    if issubclass(cls, Mapping):
        return _MAP
    if issubclass(cls, EdnList):
        return _LIST
    if issubclass(cls, Vector | list):
        return _VECTOR
    if issubclass(cls, tuple):
        return _LIST
    if issubclass(cls, set | frozenset):
        return _SET
    if issubclass(cls, Tagged):
        return _TAGGED
    return None


def _kind(value: Any) -> int | None:
    if isinstance(value, Mapping):
        return _MAP
    if isinstance(value, EdnList):
        return _LIST
    if isinstance(value, Vector | list):
        return _VECTOR
    if isinstance(value, tuple):
        return _LIST
    if isinstance(value, set | frozenset):
        return _SET
    if isinstance(value, Tagged):
        return _TAGGED
    return None


def _elements(value: Any, kind: int) -> list:
    if kind == _MAP:
        return list(value.items())
    if kind == _SET:
        try:
            return sorted(value)  # a stable order where the elements allow one
        except (TypeError, RecursionError):
            return list(value)
    return list(value)


def _tag(value: Tagged) -> str:
    text = _name(value.tag)
    if not text[0].isalpha():
        raise ValueError(f"{value.tag!r} cannot be a tag: a tag starts with a letter")
    return "#" + text + " "


def _unknown(value: Any) -> TypeError:
    return TypeError(f"cannot write a {type(value).__name__} as EDN: {value!r:.80}")


class _Writer:
    """One ``dumps`` call: an explicit work stack, so deep data needs no recursion."""

    def __init__(self, indent: int | None, width: int, binary: bool = False):
        self.indent = indent
        self.width = width
        self.binary = binary  # keep bulk bytes as bytes in self.out (dump_chunks)
        self.out: list = []
        self.open_ids: set[int] = set()
        self.memo: dict | None = None if indent is None else {}

    def enter(self, value: Any) -> None:
        key = id(value)
        if key in self.open_ids:
            raise ValueError("cannot write a collection that contains itself")
        self.open_ids.add(key)

    def flat(self, value: Any) -> None:
        """Append ``value`` on one line."""
        out = self.out
        work: list = [value]
        text_item = _Text
        while work:
            item = work.pop()
            if type(item) is text_item:
                out.append(item.text)
                if item.closes is not None:
                    self.open_ids.discard(item.closes)
                continue
            if type(item) not in _EXACT_ATOMS:
                chunker = _chunker(item)
                if chunker is not None:
                    self.bulk(chunker(item, None))
                    continue
            text = _atom(item, self.memo)
            if text is not None:
                out.append(text)
                continue
            kind = _kind(item)
            if kind is None:
                raise _unknown(item)
            if kind == _TAGGED:
                out.append(_tag(item))
                work.append(item.value)
                continue
            if kind in (_VECTOR, _LIST) and len(item) >= _FAST_MIN:
                text = _numbers_text(item, _OPEN[kind], _CLOSE[kind])
                if text is not None:
                    out.append(text)
                    continue
            self.enter(item)
            out.append(_OPEN[kind])
            pending: list = []
            for index, element in enumerate(_elements(item, kind)):
                if index:
                    pending.append(_SPACE)
                if kind == _MAP:
                    pending.append(element[0])
                    pending.append(_SPACE)
                    pending.append(element[1])
                else:
                    pending.append(element)
            pending.append(_Text(_CLOSE[kind], id(item)))
            pending.reverse()
            work.extend(pending)

    def bulk(self, chunks: list) -> None:
        """Append a bulk value's bytes: as they are for dump_chunks, else as text."""
        for chunk in chunks:
            if not isinstance(chunk, bytes | bytearray):
                raise TypeError("__edn_chunks__() must return a list of ASCII bytes")
            self.out.append(bytes(chunk) if self.binary else chunk.decode("ascii"))

    def flat_text(self, value: Any) -> str:
        saved, self.out = self.out, []
        try:
            self.flat(value)
            return "".join(self.out)
        finally:
            self.out = saved

    def fits(self, value: Any, budget: int) -> bool:
        """Whether ``value`` written on one line takes at most ``budget`` characters."""
        work = [value]
        while work:
            item = work.pop()
            chunker = None if type(item) in _EXACT_ATOMS else _chunker(item)
            if chunker is not None:
                # Small bulk values are measured; a big one never fits (and is not
                # printed twice to find that out).
                if _bulk_size(item) > _MEASURED_BULK:
                    return False
                budget -= sum(len(chunk) for chunk in chunker(item, None))
            elif isinstance(item, str):
                budget -= len(item) + 2
            else:
                kind = _kind(item)
                if kind is None:
                    text = _atom(item, self.memo)
                    budget -= len(text) if text is not None else 0
                elif kind == _TAGGED:
                    budget -= len(str(item.tag)) + 2
                    work.append(item.value)
                else:
                    size = len(item)
                    budget -= len(_OPEN[kind]) + 1 + max(size * (2 if kind == _MAP else 1) - 1,
                                                         0)
                    if budget < 0:
                        return False
                    work.extend(item.values() if kind == _MAP else item)
                    if kind == _MAP:
                        work.extend(item.keys())
            if budget < 0:
                return False
        return True

    def breaks(self, value: Any) -> bool:
        """Whether a too-long ``value`` is laid out over several lines (maps, and
        sequences that hold collections; a long run of numbers stays on one line)."""
        kind = _kind(value)
        if kind == _TAGGED:
            return self.breaks(value.value)
        if kind == _MAP:
            return len(value) > 0
        if kind is None:
            return False
        return _holds_collections(value)

    def pretty(self, value: Any) -> None:
        """Append ``value`` laid out over lines, Clojure style, within ``self.width``."""
        out = self.out
        work: list = [(value, 0)]
        while work:
            item, column = work.pop()
            if type(item) is _Text:
                out.append(item.text)
                if item.closes is not None:
                    self.open_ids.discard(item.closes)
                continue
            chunker = None if type(item) in _EXACT_ATOMS else _chunker(item)
            if chunker is not None:
                self.bulk(chunker(item, column))
                continue
            kind = _kind(item)
            if kind is None or not self.breaks(item) or self.fits(item, self.width - column):
                self.flat(item)
                continue
            if kind == _TAGGED:
                tag = _tag(item)
                out.append(tag)
                work.append((item.value, column + len(tag)))
                continue
            self.enter(item)
            opener = _OPEN[kind]
            out.append(opener)
            inner = column + len(opener)
            newline = "\n" + " " * inner
            pending: list = []
            for index, element in enumerate(_elements(item, kind)):
                if index:
                    pending.append((_Text(newline), 0))
                if kind != _MAP:
                    pending.append((element, inner))
                    continue
                key, val = element
                key_text = self.flat_text(key)
                pending.append((_Text(key_text), 0))
                value_column = inner + len(key_text) + 1
                if self.breaks(val) and not self.fits(val, self.width - value_column):
                    below = inner + self.indent
                    pending.append((_Text("\n" + " " * below), 0))
                    pending.append((val, below))
                else:
                    pending.append((_SPACE, 0))
                    pending.append((val, value_column))
            pending.append((_Text(_CLOSE[kind], id(item)), 0))
            pending.reverse()
            work.extend(pending)


class _Text:
    """Literal output on the work stack; ``closes`` ends a collection's cycle check."""

    __slots__ = ("text", "closes")

    def __init__(self, text: str, closes: int | None = None):
        self.text = text
        self.closes = closes


_SPACE = _Text(" ")
_MEASURED_BULK = 64  # numbers: bulk values up to this size are measured for the layout


def dumps(value: Any, *, indent: int | None = None, width: int = 100) -> str:
    """EDN text for ``value``.

    Args:
        value: see the table in this module's docstring.
        indent: ``None`` writes everything on one line. A number lays the text out for
            people, Clojure style: a map or a sequence of collections that does not fit
            in ``width`` columns puts one entry per line, aligned after its opening
            bracket, and a map value that must itself break starts on the line below its
            key, ``indent`` spaces in from the key. Runs of numbers never break.
        width: the line width the layout aims for (only with ``indent``).

    Returns:
        The text; ``clojure.edn/read-string`` and :func:`bridge.edn.loads` read it back
        as equal data (floats bit for bit).

    Raises:
        TypeError: a value EDN cannot represent (the message names its type).
        ValueError: a keyword or symbol with no EDN spelling, a character outside the
            BMP, a non-finite Decimal, or a collection that contains itself.
    """
    return "".join(_write(value, indent, width, binary=False))


def dump_chunks(value: Any, *, indent: int | None = None, width: int = 100) -> list[bytes]:
    """The UTF-8 bytes of :func:`dumps`'s text, as a list of chunks to write in order.

    Bulk values (arrays, tensor literals) are the bytes they were printed into, not
    copied through a ``str``; the text between them is joined and encoded.
    """
    chunks: list[bytes] = []
    pending: list[str] = []
    for piece in _write(value, indent, width, binary=True):
        if isinstance(piece, str):
            pending.append(piece)
            continue
        if pending:
            chunks.append("".join(pending).encode("utf-8"))
            pending = []
        chunks.append(piece)
    if pending:
        chunks.append("".join(pending).encode("utf-8"))
    return chunks


def _write(value: Any, indent: int | None, width: int, *, binary: bool) -> list:
    if indent is not None and (not isinstance(indent, int) or indent < 0):
        raise ValueError(f"indent must be None or a non-negative int, got {indent!r}")
    writer = _Writer(indent, width, binary)
    if indent is None:
        writer.flat(value)
    else:
        writer.pretty(value)
    return writer.out
