"""Small validation helpers shared by the layer modules.

Each returns a list of problems (empty when the node is fine) worded with the message
template of :mod:`bridge.errors`: what was expected, then ``Received: :key value``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeGuard

from bridge.edn.types import Keyword

__all__ = ["keyword_name", "positive_int", "non_negative_int", "number_in", "one_of", "show",
           "register_working_elements", "working_elements", "count_text"]

# Layer type → fn(BuildContext) -> the values its module allocates when built beyond its
# parameters and its output (precomputed buffers). The plan counts them against the
# size limit before anything is allocated.
_WORKING: dict[str, Callable[[Any], int]] = {}


def register_working_elements(type_name: str, count: Callable[[Any], int]) -> None:
    """Declare what a layer type's module allocates beyond parameters and output."""
    _WORKING[type_name] = count


def working_elements(type_name: str, context: Any) -> int:
    """The values a layer of ``type_name`` allocates when built, beyond its parameters
    and its output (0 for most types)."""
    count = _WORKING.get(type_name)
    return 0 if count is None else int(count(context))


def keyword_name(value: Any) -> str | None:
    """``Keyword("max")`` → ``"max"``; a plain string passes through; else ``None``."""
    if isinstance(value, Keyword):
        return value.full
    if isinstance(value, str):
        return value.lstrip(":")
    return None


def show(value: Any) -> str:
    """A value as EDN-ish text for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nil"
    if isinstance(value, str) and not isinstance(value, Keyword):
        return f'"{value}"'
    return str(value)


def count_text(count: int) -> str:
    """``1,234,567`` — or, for a count with hundreds of digits (sizes multiplied out of
    absurd inputs), ``about 10^N``: Python refuses to print ints past 4,300 digits."""
    if count.bit_length() <= 200:
        return f"{count:,}"
    return f"about 10^{int(count.bit_length() * 0.30103)}"


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> TypeGuard[int | float]:
    """A real number that is not NaN (booleans are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def positive_int(node: Mapping[str, Any], key: str) -> list[str]:
    value = node.get(key)
    if _is_int(value) and value >= 1:
        return []
    return [f":{key} must be a positive integer. Received: :{key} {show(value)}"]


def non_negative_int(node: Mapping[str, Any], key: str) -> list[str]:
    value = node.get(key)
    if _is_int(value) and value >= 0:
        return []
    return [f":{key} must be a non-negative integer. Received: :{key} {show(value)}"]


def _within(value: float, low: float | None, high: float | None, *, low_open: bool,
            high_open: bool) -> bool:
    if low is not None and not (value > low if low_open else value >= low):
        return False
    return high is None or (value < high if high_open else value <= high)


def number_in(
    node: Mapping[str, Any],
    key: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> list[str]:
    """``key`` must be a real number within the bounds given."""
    value = node.get(key)
    if _is_real(value) and _within(value, low, high, low_open=low_open, high_open=high_open):
        return []
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    rule = " and ".join(bounds)
    expected = f"a number {rule}" if rule else "a number"
    return [f":{key} must be {expected}. Received: :{key} {show(value)}"]


def one_of(node: Mapping[str, Any], key: str, allowed: Iterable[str]) -> list[str]:
    allowed = tuple(allowed)
    value = node.get(key)
    if keyword_name(value) in allowed and isinstance(value, Keyword):
        return []
    choices = " ".join(f":{a}" for a in allowed)
    return [f":{key} must be one of {choices}. Received: :{key} {show(value)}"]
