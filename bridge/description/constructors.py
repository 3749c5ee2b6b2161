"""Call forms ``(name …)``: the shared machinery, and the table the layer registry fills.

A call form in a model file, ``(layers/convolutional 5 0 1 20 :id :conv)``, is looked up
by its symbol's *name* (the namespace is ignored, so ``linear``, ``layers/linear`` and
``cortex.nn.layers/linear`` are one thing) and returns the same maps Cortex's constructor
returns (cortex-spec §1): str keys in Cortex's spelling, keyword values as
:class:`~bridge.edn.types.Keyword`.

Each layer type's call forms are part of its :class:`~bridge.layers.registry.LayerSpec`
(``call_forms``, ``linear_composite``), written next to the spec in its layer module;
:func:`bridge.layers.registry.register` binds them to the type and its defaults and
hands them to :func:`publish` here. This module holds only what every form shares:
argument splitting (:func:`split_args`), the helpers, the keyword-only and
``linear->X`` factories, and ``sequential`` (the tutorial's wrapper, not a layer type).

Pure data and functions: nothing here imports torch or the layer registry, so a
description can be read without building anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.edn.types import Keyword
from bridge.errors import ConstructorError

__all__ = [
    "CONSTRUCTORS",
    "CallForm",
    "ConstructorError",
    "call_constructor",
    "lookup",
    "option_keys",
    "parameter_names",
    "publish",
    "split_args",
    "withdraw",
]

Node = dict[str, Any]


@dataclass(frozen=True)
class CallForm:
    """One way of writing a layer as a call form, e.g. ``(linear n)`` or ``(dense n)``.

    Attributes:
        name: the symbol's name (``"linear"``, ``"linear->relu"``).
        construct: ``(form, args, kvs) -> [node, …]``: the positional arguments and the
            trailing keyword pairs (a dict with str keys, as ``merge-args`` gives them).
            ``None``: keyword options only, ``(name & kvs)``.
        examples: call strings a test evaluates here and in Clojure's
            ``cortex.nn.layers``, which must give the same maps; keyword-only forms and
            composites get ``(name)``-style examples by default.
        python_only: the reason the form has no var in ``cortex.nn.layers`` (``dense``,
            the tutorial's name); empty when it has one.
        fixed_positional: how many leading positional arguments may be keywords
            (``convolutional-type-layer`` takes its type and dimension-op positionally).
        layer_type, defaults: bound by the registry: the type the form builds and that
            type's ``LayerSpec.defaults``, so a constructor never restates a number.
    """

    name: str
    construct: Callable[[CallForm, list, dict], list] | None = None
    examples: tuple[str, ...] = ()
    python_only: str = ""
    fixed_positional: int = 0
    layer_type: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def call(self, args: list, kvs: dict) -> list:
        return (self.construct or keyword_only)(self, args, kvs)

    def bound(self, layer_type: str, defaults: Mapping[str, Any]) -> CallForm:
        return dataclasses.replace(self, layer_type=layer_type, defaults=dict(defaults))

    def call_examples(self) -> tuple[str, ...]:
        if self.examples:
            return self.examples
        if self.construct is None:
            return (f"({self.name})", f"({self.name} :id :x)")
        return ()


# --- helpers for the layer modules' constructors ---------------------------------------


def kw(name: str) -> Keyword:
    return Keyword(name)


def as_map(value) -> dict[str, Any] | None:
    """A map argument (map arity) with its keys as plain strings, else ``None``."""
    if isinstance(value, Mapping):
        return {_key(k): v for k, v in value.items()}
    return None


def _key(key) -> str:
    if isinstance(key, Keyword):
        return key.full
    if isinstance(key, str):
        return key.lstrip(":")
    raise ConstructorError(f"map keys must be keywords. Received: {key!r}")


def need(name: str, args: list, count: int, usage: str) -> None:
    if len(args) != count:
        raise ConstructorError(
            f"({name} …) takes {usage}. Received {len(args)} positional argument"
            f"{'' if len(args) == 1 else 's'}"
        )


def merge(node: Node, kvs: Mapping[str, Any]) -> Node:
    merged = dict(node)
    merged.update(kvs)
    return merged


def no_positional(name: str, args: list) -> None:
    if args:
        raise ConstructorError(
            f"({name} …) takes only keyword options such as :id. "
            f"Received {len(args)} positional argument{'' if len(args) == 1 else 's'}"
        )


# --- the two factories ------------------------------------------------------------------


def keyword_only(form: CallForm, args: list, kvs: dict) -> list[Node]:
    """``(name & kvs)``: the type and its defaults, then the options (Cortex's ``join``
    and ``local-response-normalization`` write their defaults; the activations have none)."""
    no_positional(form.name, args)
    return [merge({"type": form.layer_type, **form.defaults}, kvs)]


class CopiedMap(dict):
    """A composite's second map; ``copied`` names the options it got only because
    Cortex gives every option to both layers (the linear's ``:weights`` on the relu),
    so a key there that the layer does not take draws no unknown-key warning."""

    copied: frozenset = frozenset()


def linear_then(form: CallForm, args: list, kvs: dict) -> list[Node]:
    """``(linear->relu n & kvs)``: ``(linear n)`` then the activation's own form; ``:id``
    goes to the activation only, every other option to both (cortex-spec §1.12)."""
    need(form.name, args, 1, "an output size")
    shared = {k: v for k, v in kvs.items() if k != "id"}
    activation = form.name.partition("->")[2]
    (then,) = call_constructor(activation, [], kvs)
    then = CopiedMap(then)
    then.copied = frozenset(shared)
    return [*call_constructor("linear", [args[0]], shared), then]


def composite(activation: str) -> CallForm:
    """The ``linear->X`` form of an activation spec with ``linear_composite=True``."""
    name = f"linear->{activation}"
    return CallForm(name, linear_then, examples=(f"({name} 3)", f"({name} 3 :id :x)"))


def sequential(form: CallForm, args: list, kvs: dict) -> list[Any]:
    """The tutorial's ``(nn/sequential [layers…])``: the layers, flattened later."""
    if kvs:
        raise ConstructorError("(sequential [...]) takes a vector of layers and no options")
    return list(args)


# --- the table --------------------------------------------------------------------------

# name -> bound form; filled by publish() as layer types register (bridge.layers).
CONSTRUCTORS: dict[str, CallForm] = {
    "sequential": CallForm("sequential", sequential, python_only="a wrapper, not a layer"),
}
_PARAMETERS: dict[str, tuple[str, ...]] = {}
_OPTIONS: dict[str, frozenset[str]] = {}


def conflicts(layer_type: str, forms: list[CallForm]) -> list[tuple[str, str | None]]:
    """``(name, owner)`` of each name among ``forms`` that another layer type (or, owner
    ``None``, the shared machinery: ``sequential``) already holds."""
    return [(f.name, CONSTRUCTORS[f.name].layer_type) for f in forms
            if f.name in CONSTRUCTORS and CONSTRUCTORS[f.name].layer_type != layer_type]


def publish(layer_type: str, forms: list[CallForm], parameters: tuple[str, ...],
            options: frozenset[str] = frozenset()) -> None:
    """Make ``forms`` (bound to ``layer_type``) callable, and record its parameter names
    (the node keys whose values are tensors: ``:weights [[…]]``) and its option keys."""
    withdraw(layer_type)
    for form in forms:
        CONSTRUCTORS[form.name] = form
    _PARAMETERS[layer_type] = tuple(parameters)
    _OPTIONS[layer_type] = frozenset(options)


def withdraw(layer_type: str) -> None:
    """Forget ``layer_type``'s forms and parameter names (``unregister``)."""
    for name in [n for n, f in CONSTRUCTORS.items() if f.layer_type == layer_type]:
        del CONSTRUCTORS[name]
    _PARAMETERS.pop(layer_type, None)
    _OPTIONS.pop(layer_type, None)


def parameter_names(layer_type: str | None = None) -> tuple[str, ...]:
    """The parameter names of ``layer_type``; of every registered type when ``None``."""
    if layer_type is not None:
        return _PARAMETERS.get(layer_type, ())
    return tuple(dict.fromkeys(n for names in _PARAMETERS.values() for n in names))


def option_keys(layer_type: str) -> frozenset[str]:
    """The keys ``layer_type`` reads as options (``required``, ``defaults``, ``optional``)."""
    return _OPTIONS.get(layer_type, frozenset())


def lookup(name: str) -> CallForm | None:
    return CONSTRUCTORS.get(name)


def call_constructor(name: str, args: list, kvs: dict) -> list:
    """Run the call form ``name``; unknown names raise ``KeyError``."""
    return CONSTRUCTORS[name].call(args, kvs)


def split_args(name: str, items: list) -> tuple[list, dict]:
    """Split a call's arguments into positional ones and trailing keyword pairs.

    Mirrors ``cortex.util/merge-args``: the positional arguments come first, then
    ``:key value`` pairs. The first keyword argument starts the pairs (so
    ``(input 784 :id :x)`` reads as width 784 with an id, where Cortex would misread it).
    """
    form = CONSTRUCTORS.get(name)
    fixed = form.fixed_positional if form is not None else 0
    for index, item in enumerate(items):
        if index >= fixed and isinstance(item, Keyword):
            positional, pairs = items[:index], items[index:]
            break
    else:
        return list(items), {}
    if len(pairs) % 2:
        raise ConstructorError(
            f"({name} …) needs keyword/value pairs after its positional arguments; "
            f"{pairs[-1]} has no value"
        )
    kvs: dict[str, Any] = {}
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        if not isinstance(key, Keyword):
            raise ConstructorError(
                f"({name} …) expected a keyword in its options. Received: {key!r}"
            )
        if key.full in kvs:
            raise ConstructorError(f"({name} …) gives :{key.full} twice")
        kvs[key.full] = value
    return list(positional), kvs
