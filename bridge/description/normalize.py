"""Every accepted spelling of a description → Cortex's flat list of node maps.

Input is EDN data as :mod:`bridge.edn` reads it: a vector of layers (nested vectors
flatten, as ``linear-network`` does), call forms such as ``(layers/linear 10 :id :fc)``
or ``(nn/sequential [...])``, and expanded maps ``{:type :linear :output-size 10}``.

Output is one :class:`RawNode` per layer: the node as a dict with str keys in Cortex's
spelling, where it was written, and any parameter values given inline (``:weights
[[…]]`` or ``:weights {:buffer [[…]] …}``), which are taken out of the node so the node
holds only options.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bridge.description import constructors
from bridge.description.constructors import ConstructorError, split_args
from bridge.edn.types import EdnList, Keyword, Symbol, position
from bridge.errors import ModelError

__all__ = ["RawNode", "flatten_description", "parameter_keys", "option_map", "take_parameter"]


def parameter_keys(layer_type: str) -> tuple[str, ...]:
    """Node keys whose values are a parameter's (cortex-spec §2.4), from the registry: the
    type's own parameter names, and any other type's that are not one of its options (so
    ``(relu :weights [[…]])`` is caught as values without a parameter). Centers live
    under ``:center-loss``."""
    own = constructors.parameter_names(layer_type)
    options = constructors.option_keys(layer_type)
    return own + tuple(n for n in constructors.parameter_names()
                       if n not in own and n not in options)

# A description nested deeper than this is certainly a mistake (or an attack).
MAX_NESTING = 1000
_END = object()


@dataclass
class RawNode:
    """One layer as written, before ids, parents and shapes are worked out."""

    node: dict[str, Any]
    index: int
    line: int | None = None
    column: int | None = None
    buffers: dict[str, Any] = field(default_factory=dict)
    from_constructor: bool = False
    copied: frozenset = frozenset()  # options a composite copied here (constructors.CopiedMap)


def _plain_key(key, *, where: str) -> str:
    if isinstance(key, Keyword):
        return key.full
    raise ModelError(f"{where} keys must be keywords. Received: {key!r}")


def option_map(value: Mapping, *, where: str) -> dict[str, Any]:
    """An EDN option map with keyword keys → a dict with str keys (one level)."""
    return {_plain_key(k, where=where): v for k, v in value.items()}


def _layer_name(symbol) -> str:
    if isinstance(symbol, Symbol):
        return symbol.name
    raise ModelError(
        "a call form must start with a constructor name such as linear or layers/linear. "
        f"Received: {_show(symbol)}"
    )


def _show(value) -> str:
    """A value as EDN-ish text for messages, cut to 60 characters."""
    if isinstance(value, Keyword | Symbol):
        text = str(value)
    elif isinstance(value, str):
        text = '"' + value + '"'
    elif value is None:
        text = "nil"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def flatten_description(data: Any) -> list[RawNode]:
    """Flatten ``data`` into raw nodes, in description order.

    Raises:
        ModelError: a form that is not a layer, an unknown constructor, or arguments that
            do not fit one; with the line and column of the form where known.
    """
    raw: list[RawNode] = []
    # An explicit stack (not recursion) so absurd nesting cannot overflow Python's stack;
    # it holds iterators, so a vector of a million forms is not copied onto it first.
    stack: list[tuple[Any, int, tuple[int | None, int | None]]] = [
        (iter((data,)), 0, position(data))]
    while stack:
        items, depth, where = stack[-1]
        form = next(items, _END)
        if form is _END:
            stack.pop()
            continue
        if depth > MAX_NESTING:
            raise ModelError(f"the description nests deeper than {MAX_NESTING} levels",
                             line=where[0], column=where[1])
        here = position(form)
        if here[0] is None:
            here = where
        if isinstance(form, EdnList):
            stack.append((iter(_call(form, here)), depth + 1, here))
        elif isinstance(form, list | tuple):
            stack.append((iter(form), depth + 1, here))
        elif isinstance(form, Mapping):
            raw.append(_node_from_map(form, len(raw) + 1, here))
        else:
            raise ModelError(
                "expected a layer: a call like (linear 10), a map with :type, or a vector "
                f"of layers. Received: {_show(form)}",
                line=here[0],
                column=here[1],
                layer_index=len(raw) + 1,
            )
    return raw


def _call(form: EdnList, here) -> list:
    line, column = here
    if not form:
        raise ModelError("an empty list () is not a layer", line=line, column=column)
    try:
        name = _layer_name(form[0]).strip()
    except ModelError as error:
        raise error.with_context(line=line, column=column) from None
    constructor = constructors.lookup(name)
    if constructor is None:
        from difflib import get_close_matches

        known = list(constructors.CONSTRUCTORS)
        close = get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ModelError(
            f"unknown layer constructor ({form[0]} …).{hint} Known constructors: "
            + " ".join(sorted(known)),
            line=line,
            column=column,
        )
    try:
        args, kvs = split_args(name, list(form[1:]))
        produced = constructor.call(args, kvs)
    except ConstructorError as error:
        raise ModelError(str(error), line=line, column=column) from None
    except (TypeError, ValueError, ArithmeticError) as error:
        raise ModelError(f"({name} …) could not be built: {error}", line=line,
                         column=column) from None
    return [_located(item, here) for item in produced]


class _LocatedMap(dict):
    """A constructor's output map, remembering the call form it came from."""

    line: int | None = None
    column: int | None = None
    copied: frozenset = frozenset()


def _located(item, here):
    if isinstance(item, dict) and not hasattr(item, "key_positions"):
        located = _LocatedMap(item)
        located.line, located.column = here
        located.copied = getattr(item, "copied", frozenset())
        return located
    return item


def _node_from_map(form: Mapping, index: int, here) -> RawNode:
    line, column = here
    try:
        node = {(k if isinstance(k, str) and not isinstance(k, Keyword)
                 else _plain_key(k, where="layer map")): v for k, v in form.items()}
    except ModelError as error:
        raise error.with_context(line=line, column=column, layer_index=index) from None
    raw = RawNode(node=node, index=index, line=line, column=column,
                  from_constructor=isinstance(form, _LocatedMap),
                  copied=getattr(form, "copied", frozenset()))
    try:
        _tidy(raw)
    except ModelError as error:
        raise error.with_context(line=line, column=column, layer_index=index) from None
    return raw


def _tidy(raw: RawNode) -> None:
    node = raw.node
    kind = node.get("type")
    if kind is None:
        raise ModelError("a layer map needs a :type, e.g. {:type :linear :output-size 10}")
    if isinstance(kind, str) and not isinstance(kind, Keyword) and raw.from_constructor:
        kind = Keyword(kind)
    if not isinstance(kind, Keyword):
        raise ModelError(f":type must be a keyword such as :linear. Received: :type {_show(kind)}")
    node["type"] = kind.full
    if "id" in node:
        ident = node["id"]
        if not isinstance(ident, Keyword):
            raise ModelError(f":id must be a keyword such as :fc. Received: :id {_show(ident)}")
        node["id"] = ident.full
    if "parents" in node:
        parents = node["parents"]
        if not isinstance(parents, list | tuple) or isinstance(parents, str) or not all(
            isinstance(p, Keyword) for p in parents
        ):
            raise ModelError(
                ":parents must be a vector of layer ids such as [:left :right]. "
                f"Received: :parents {_show(parents)}"
            )
        node["parents"] = [p.full for p in parents]
    for name in parameter_keys(node["type"]):
        if name in node:
            take_parameter(raw, name)
    if isinstance(node.get("center-loss"), Mapping):
        options = option_map(node["center-loss"], where=":center-loss")
        if "centers" in options:
            raw.buffers["centers"] = _buffer_value(options.pop("centers"), "centers")
        node["center-loss"] = options


def take_parameter(raw: RawNode, name: str) -> None:
    value = raw.node[name]
    if isinstance(value, Mapping):
        options = option_map(value, where=f":{name}")
        if "initialization" in options and isinstance(options["initialization"], Mapping):
            options["initialization"] = option_map(options["initialization"],
                                                   where=":initialization")
        if "buffer" in options:
            raw.buffers[name] = _buffer_value(options.pop("buffer"), name)
            options.pop("buffer-id", None)  # the name of the buffer just given inline
        elif "buffer-id" in options:
            raise ModelError(
                f":{name} {{:buffer-id {_show(options['buffer-id'])}}} refers to a buffer of "
                "a built Cortex network, and a description has no buffers to resolve. "
                f"Give the values inline (:{name} {{:buffer [[…]]}}), or import the trained "
                "network (cortex-bridge import)")
        if options:
            raw.node[name] = options
        else:
            del raw.node[name]
    else:
        raw.buffers[name] = _buffer_value(value, name)
        del raw.node[name]


def _buffer_value(value, name: str):
    """Inline values stay as read (nested vectors, a tensor or an array) until the
    network knows the shape they must have; only obvious mistakes are caught here."""
    torch = sys.modules.get("torch")  # a tensor can only come from an imported torch
    if isinstance(value, np.ndarray) or (torch is not None and isinstance(value, torch.Tensor)):
        return value
    if isinstance(value, list | tuple) and not isinstance(value, EdnList | str):
        try:  # what the network does with them later; here only to catch what overflows
            return np.asarray(value, dtype=np.float64)
        except OverflowError:
            raise ModelError(f":{name} holds an integer too large for a floating-point "
                             "number") from None
        except (ValueError, TypeError):
            return value  # ragged or not numbers: the network says so, with the shape
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ModelError(
        f":{name} must be numbers: a vector such as [[1 2] [3 4]], {{:buffer …}}, or a "
        f"#cortex-bridge/tensor literal. Received: {_show(value)}"
    )
