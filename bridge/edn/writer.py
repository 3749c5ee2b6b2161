"""Python values → EDN text that ``clojure.edn/read-string`` reads back as equal data.

=============================  ==========================================
Python                         EDN
=============================  ==========================================
``None`` / ``True`` / ``False``  ``nil`` / ``true`` / ``false``
``int``, numpy integers        ``42``
``float``, numpy floats        ``1.5``, ``1e-07``, ``-0.0``, ``##NaN``, ``##Inf``
``Decimal`` / ``Fraction``     ``1.5M`` / ``22/7``
``str`` / :class:`Char`        ``"text"`` / ``\\a``
:class:`Keyword`, :class:`Symbol`  ``:linear``, ``nn/dense``
``list``, :class:`Vector`      ``[…]``
``tuple``, :class:`EdnList`    ``(…)``
``dict``                       ``{…}`` (str keys stay strings)
``set``, ``frozenset``         ``#{…}``
numpy arrays, torch tensors    nested vectors of numbers
``datetime``, ``UUID``         ``#inst "…"``, ``#uuid "…"``
:class:`Tagged`                ``#tag value``
anything with ``__edn__()``    the text it returns (the tensor tag uses this)
=============================  ==========================================

Floats print with Python's ``repr``, the shortest text that reads back to the same
double, so every float64 — and every float32 widened to float64 — survives exactly.
Numeric arrays go through ``json.dumps`` (JSON numbers are EDN numbers and commas are
EDN whitespace), which keeps long weight vectors at json's speed.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from bridge.edn.types import Char, EdnList, Keyword, Symbol, Tagged, Vector

__all__ = ["dumps", "array_text"]

_CHAR_NAMES = {"\n": "newline", " ": "space", "\t": "tab", "\b": "backspace",
               "\f": "formfeed", "\r": "return"}
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r",
                   "\b": "\\b", "\f": "\\f"}
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f]')
_JSON_SPECIALS = re.compile(r"-Infinity|Infinity|NaN")
_SPECIAL_TEXT = {"NaN": "##NaN", "Infinity": "##Inf", "-Infinity": "##-Inf"}


def _float(value: float) -> str:
    if value != value:
        return "##NaN"
    if math.isinf(value):
        return "##Inf" if value > 0 else "##-Inf"
    return repr(float(value))


def _string(value: str) -> str:
    if not _NEEDS_ESCAPE.search(value):
        return '"' + value + '"'

    def escape(match):
        char = match.group()
        return _STRING_ESCAPES.get(char) or f"\\u{ord(char):04x}"

    return '"' + _NEEDS_ESCAPE.sub(escape, value) + '"'


def _char(value: str) -> str:
    if value in _CHAR_NAMES:
        return "\\" + _CHAR_NAMES[value]
    if value.isprintable() and not value.isspace():
        return "\\" + value
    return f"\\u{ord(value):04x}"


def array_text(array: Any) -> str:
    """A numpy array (or torch tensor) as nested EDN vectors, at ``json.dumps`` speed.

    Floating arrays are widened to float64 first, so float16, bfloat16 and float32
    values print as the exact double they equal and read back bit for bit.
    """
    if isinstance(array, torch.Tensor):
        tensor = array.detach().to("cpu")
        if tensor.dtype in (torch.bfloat16, torch.float16):
            tensor = tensor.to(torch.float32)
        array = tensor.numpy()
    array = np.asarray(array)
    if array.dtype == np.bool_:
        return json.dumps(array.tolist()).replace(",", "")
    if np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float64).tolist()
        text = json.dumps(values, allow_nan=True)
        if not np.isfinite(array).all():
            text = _JSON_SPECIALS.sub(lambda m: _SPECIAL_TEXT[m.group()], text)
        return text
    if np.issubdtype(array.dtype, np.integer):
        return json.dumps(array.tolist())
    raise TypeError(f"cannot write an array of dtype {array.dtype} as EDN")


def _atom(value: Any) -> str | None:
    """The text of a value that holds no other values, else ``None``."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Keyword | Symbol):
        return str(value)
    if isinstance(value, Char):
        return _char(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, np.bool_):
        return "true" if value else "false"
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, np.floating):
        return _float(float(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"EDN has no text for the decimal {value}")
        return f"{value}M"
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, _dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        return f'#inst "{stamp.isoformat()}"'
    if isinstance(value, _dt.date):
        return f'#inst "{value.isoformat()}T00:00:00+00:00"'
    if isinstance(value, uuid.UUID):
        return f'#uuid "{value}"'
    edn = getattr(value, "__edn__", None)
    if edn is not None and not isinstance(value, type):
        return edn()
    if isinstance(value, np.ndarray | torch.Tensor):
        return array_text(value)
    return None


_OPEN = {"vector": "[", "list": "(", "map": "{", "set": "#{"}
_CLOSE = {"vector": "]", "list": ")", "map": "}", "set": "}"}


def _kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, EdnList):
        return "list"
    if isinstance(value, Vector | list):
        return "vector"
    if isinstance(value, tuple):
        return "list"
    if isinstance(value, set | frozenset):
        return "set"
    return None


def dumps(value: Any, *, indent: int | None = None) -> str:
    """EDN text for ``value``.

    Args:
        value: see the table in this module's docstring.
        indent: ``None`` for one line; a number for a readable layout where the
            top-level map puts one key per line and vectors of maps one map per line,
            indented by that many spaces.

    Raises:
        TypeError: a value EDN cannot represent (the message names its type).
    """
    out: list[str] = []
    # Work stack of ("value", v, depth) and ("text", s) entries, so deep data cannot
    # exhaust Python's recursion limit.
    work: list[tuple] = [("value", value, 0)]
    pretty = indent is not None
    while work:
        entry = work.pop()
        if entry[0] == "text":
            out.append(entry[1])
            continue
        _, item, depth = entry
        text = _atom(item)
        if text is not None:
            out.append(text)
            continue
        if isinstance(item, Tagged):
            out.append(f"#{item.tag} ")
            work.append(("value", item.value, depth))
            continue
        kind = _kind(item)
        if kind is None:
            raise TypeError(f"cannot write a {type(item).__name__} as EDN: {item!r:.80}")
        elements: list = []
        if kind == "map":
            for key, inner in item.items():
                elements.append((key, inner))
        else:
            elements = list(item)
        breaking = pretty and (
            (kind == "map" and depth == 0)
            or (kind == "vector" and elements and all(isinstance(e, Mapping) for e in elements))
        )
        pad = "\n" + " " * (depth + 1) if breaking else " "
        out.append(_OPEN[kind])
        pending: list[tuple] = []
        for index, element in enumerate(elements):
            if index:
                pending.append(("text", pad))
            if kind == "map":
                key, inner = element
                pending.append(("value", key, depth + 1))
                inner_breaks = breaking and _kind(inner) in ("vector", "map") and _is_big(inner)
                pending.append(("text", ("\n" + " " * (depth + 1)) if inner_breaks else " "))
                pending.append(("value", inner, depth + 1))
            else:
                pending.append(("value", element, depth + 1))
        pending.append(("text", _CLOSE[kind]))
        work.extend(reversed(pending))
    return "".join(out)


def _is_big(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) > 0 and all(
        isinstance(v, Mapping) for v in value)
