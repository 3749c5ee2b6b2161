"""Python values for the EDN forms that have no exact Python counterpart.

=================  ==========================  =============================================
EDN                Python                       notes
=================  ==========================  =============================================
``:ns/name``       :class:`Keyword`             ``Keyword("ns/name")``; never equal to a str
``ns/name``        :class:`Symbol`              ``Symbol("nn/dense")``
``[a b]``          :class:`Vector` (tuple)      carries ``.line``/``.column`` when read
``(a b)``          :class:`EdnList` (tuple)     a call form in model files
``{k v}``          :class:`EdnMap` (dict)       ``.line``/``.column`` and ``.key_positions``
``#{a b}``         ``frozenset``
``\\c``            :class:`Char` (str)
``#tag value``     whatever the tag reader returns, else :class:`Tagged`
``nil/true/false`` ``None/True/False``
ints, floats       ``int``, ``float``; ``M`` → ``decimal.Decimal``; ``a/b`` → ``Fraction``
=================  ==========================  =============================================

Vectors and lists are both tuples, so ``Vector((1, 2)) == EdnList((1, 2))`` is ``True``,
as ``(= [1 2] '(1 2))`` is in Clojure; ``isinstance`` tells them apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self

__all__ = ["Keyword", "Symbol", "Vector", "EdnList", "EdnMap", "Char", "Tagged", "position",
           "key_name"]


def _nested_repr(name: str, inner, value) -> str:
    """``name(inner(value))``; data nested deeper than Python's recursion limit shows its
    innermost levels as ``…`` instead of raising ``RecursionError``."""
    try:
        return f"{name}({inner(value)})"
    except RecursionError:
        return f"{name}(…)"


class _Named:
    """Shared body of Keyword and Symbol: an interned, hashable ``ns/name`` pair."""

    __slots__ = ("_full", "namespace", "name")
    _prefix = ""
    _cache: dict
    _full: str
    namespace: str | None
    name: str

    def __new__(cls, full: str | _Named) -> Self:  # a Keyword/Symbol itself passes through
        if isinstance(full, cls):
            return full
        if not isinstance(full, str):
            raise TypeError(f"{cls.__name__} name must be a str, got {type(full).__name__}")
        if full.startswith(cls._prefix) and cls._prefix:
            full = full[len(cls._prefix) :]
        cached = cls._cache.get(full)
        if cached is not None:
            return cached
        self = object.__new__(cls)
        given, slash, name = full.partition("/")
        namespace: str | None = given
        if not slash or not name or not given:  # "/" alone, or no namespace
            namespace, name = None, full
        object.__setattr__(self, "_full", full)
        object.__setattr__(self, "namespace", namespace)
        object.__setattr__(self, "name", name)
        cls._cache[full] = self
        return self

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self):
        return (type(self), (self._full,))

    def __str__(self) -> str:
        return self._prefix + self._full

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._full!r})"

    def __hash__(self) -> int:
        return hash((self._prefix, self._full))

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other._full == self._full

    def __ne__(self, other) -> bool:
        return not self == other

    def __lt__(self, other) -> bool:  # sorting keys for stable output
        if type(other) is not type(self):
            return NotImplemented
        return self._full < other._full

    @property
    def full(self) -> str:
        """``ns/name`` or ``name``, without the leading colon."""
        return self._full


class Keyword(_Named):
    """An EDN keyword. ``Keyword("linear")`` prints as ``:linear``."""

    __slots__ = ()
    _prefix = ":"
    _cache: dict = {}


def key_name(key) -> str:
    """A name as a plain string: a keyword's full name without the colon
    (``:cortex-bridge/format`` -> ``"cortex-bridge/format"``), a string without a leading
    colon (``":mse"`` -> ``"mse"``), anything else as ``str``. The one spelling of
    "Keyword -> str" in the package."""
    return key.full if isinstance(key, Keyword) else str(key).lstrip(":")


class Symbol(_Named):
    """An EDN symbol. ``Symbol("nn/dense")`` has namespace ``nn`` and name ``dense``."""

    __slots__ = ()
    _prefix = ""
    _cache: dict = {}


class Vector(tuple):
    """An EDN vector ``[…]``. ``line``/``column`` are set when it came from text."""

    line: int | None = None
    column: int | None = None

    def __repr__(self) -> str:
        return _nested_repr("Vector", tuple.__repr__, self)


class EdnList(tuple):
    """An EDN list ``(…)``. ``line``/``column`` are set when it came from text."""

    line: int | None = None
    column: int | None = None

    def __repr__(self) -> str:
        return _nested_repr("EdnList", tuple.__repr__, self)


class EdnMap(dict):
    """An EDN map ``{…}``.

    ``line``/``column`` locate the opening brace; ``key_positions[key]`` is the
    ``(line, column)`` of each key as written, where the map came from text.
    """

    line: int | None = None
    column: int | None = None
    key_positions: dict | None = None

    def __repr__(self) -> str:
        return _nested_repr("EdnMap", dict.__repr__, self)


class Char(str):
    """An EDN character literal such as ``\\a`` or ``\\newline``."""

    def __repr__(self) -> str:
        return f"Char({str.__repr__(self)})"


class Tagged:
    """A tagged literal ``#tag value`` for which no reader function was given."""

    __slots__ = ("tag", "value")

    def __init__(self, tag: Symbol | str, value):
        self.tag = Symbol(tag)
        self.value = value

    def __eq__(self, other) -> bool:
        return isinstance(other, Tagged) and (self.tag, self.value) == (other.tag, other.value)

    def __hash__(self) -> int:
        return hash((self.tag, _hashable(self.value)))

    def __repr__(self) -> str:
        return _nested_repr("Tagged", lambda x: f"{x.tag!r}, {x.value!r}", self)


def _hashable(value):
    try:
        hash(value)
        return value
    except TypeError:
        return id(value)


def position(form) -> tuple[int | None, int | None]:
    """``(line, column)`` of a form read from text, or ``(None, None)``."""
    return getattr(form, "line", None), getattr(form, "column", None)
