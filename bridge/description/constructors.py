"""Cortex's layer constructors as Python functions — the counterpart of ``layers.clj``.

A call form in a model file, ``(layers/convolutional 5 0 1 20 :id :conv)``, is looked up
here by its symbol's *name* (the namespace is ignored, so ``linear``, ``layers/linear``
and ``cortex.nn.layers/linear`` are one thing) and returns the same maps Cortex's
constructor returns (cortex-spec §1): str keys in Cortex's spelling, keyword values as
:class:`~bridge.edn.types.Keyword`. Each function takes the positional arguments and the
trailing keyword pairs (already a dict with str keys), mirroring ``merge-args``.

The tutorial's names (``nn/sequential``, ``nn/dense``) live here too, as aliases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bridge.edn.types import Keyword

__all__ = ["CONSTRUCTORS", "ConstructorError", "call_constructor", "register_constructor"]

Node = dict[str, Any]


class ConstructorError(ValueError):
    """A call form whose arguments do not fit the constructor; the caller adds the place."""


def _kw(name: str) -> Keyword:
    return Keyword(name)


def _as_map(value) -> dict[str, Any] | None:
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


def _need(name: str, args: list, count: int, usage: str) -> None:
    if len(args) != count:
        raise ConstructorError(
            f"({name} …) takes {usage}. Received {len(args)} positional argument"
            f"{'' if len(args) == 1 else 's'}"
        )


def _merge(node: Node, kvs: Mapping[str, Any]) -> Node:
    merged = dict(node)
    merged.update(kvs)
    return merged


# --- data and fully connected layers -------------------------------------------------


def input_layer(args: list, kvs: dict) -> list[Node]:
    """``(input width)``, ``(input {:width W :height H :channels C})``, ``(input w h c)``.

    The one-argument and map forms merge their argument map into the node, so
    ``(input 784)`` carries a stray ``:width 784`` as in Cortex.
    """
    if len(args) == 1:
        given = _as_map(args[0])
        if given is None:
            given = {"width": args[0]}
        extra = given
    elif len(args) == 3:
        given = {"width": args[0], "height": args[1], "channels": args[2]}
        extra = {}
    else:
        raise ConstructorError(
            "(input …) takes a width, a {:width :height :channels} map, or width height "
            f"channels. Received {len(args)} positional arguments"
        )
    if "width" not in given:
        raise ConstructorError("(input {…}) needs a :width")
    width, height, channels = given["width"], given.get("height", 1), given.get("channels", 1)
    node = {"type": "input", "output-width": width, "output-height": height,
            "output-channels": channels}
    if all(_is_int(v) for v in (width, height, channels)):
        node["output-size"] = width * height * channels
    node.update(extra)
    return [_merge(node, kvs)]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def linear(args: list, kvs: dict) -> list[Node]:
    """``(linear output-size & kvs)`` or ``(linear {:output-size n})``."""
    if len(args) == 1 and (given := _as_map(args[0])) is not None:
        return [_merge({**given, "type": "linear"}, kvs)]
    _need("linear", args, 1, "an output size")
    return [_merge({"type": "linear", "output-size": args[0]}, kvs)]


def _window(name: str, args: list, keys: tuple[str, ...]) -> dict[str, Any]:
    if len(args) == 1 and (given := _as_map(args[0])) is not None:
        missing = [k for k in keys if k not in given]
        if missing:
            raise ConstructorError(
                f"({name} {{…}}) needs " + " ".join(f":{k}" for k in missing)
            )
        return given
    usage = " ".join(keys)
    _need(name, args, len(keys), usage)
    return dict(zip(keys, args, strict=True))


def convolutional(args: list, kvs: dict) -> list[Node]:
    """``(convolutional kernel-dim pad stride num-kernels & kvs)`` or the map arity.

    As in Cortex, the positional form is the map form of the positional values merged
    with the options (so an option such as ``:stride 2`` wins over the positional one),
    and ``:dimension-op`` is forced to ``:floor`` whatever the options say.
    """
    given = _window("convolutional", args, ("kernel-dim", "pad", "stride", "num-kernels"))
    given = _merge(given, kvs)
    k, p, s = given["kernel-dim"], given["pad"], given["stride"]
    node = {"type": "convolutional", "kernel-width": k, "kernel-height": k, "pad-x": p,
            "pad-y": p, "stride-x": s, "stride-y": s, "num-kernels": given["num-kernels"]}
    node.update(given)
    node["dimension-op"] = _kw("floor")
    return [node]


def max_pooling(args: list, kvs: dict) -> list[Node]:
    """``(max-pooling kernel-dim pad stride & kvs)`` or the map arity.

    The positional form is the map form of the positional values merged with the
    options, as in Cortex; options may override ``:dimension-op`` (default ``:ceil``).
    """
    given = _window("max-pooling", args, ("kernel-dim", "pad", "stride"))
    given = _merge(given, kvs)
    k, p, s = given["kernel-dim"], given["pad"], given["stride"]
    node = {"type": "max-pooling", "kernel-width": k, "kernel-height": k, "pad-x": p,
            "pad-y": p, "stride-x": s, "stride-y": s, "num-kernels": 0,
            "dimension-op": _kw("ceil"), "pool-op": _kw("max")}
    node.update(given)
    return [node]


def convolutional_type_layer(args: list, kvs: dict) -> list[Node]:
    """``(convolutional-type-layer type kw kh pad-x pad-y stride-x stride-y K dim-op)``."""
    _need("convolutional-type-layer", args, 9,
          "layer-type kernel-width kernel-height pad-x pad-y stride-x stride-y "
          "num-kernels dimension-op")
    layer_type, kw, kh, px, py, sx, sy, kernels, dim_op = args
    if not isinstance(layer_type, Keyword):
        raise ConstructorError(
            f"(convolutional-type-layer …) needs a layer type keyword first. Received: {layer_type}"
        )
    node = {"type": layer_type.full, "kernel-width": kw, "kernel-height": kh, "pad-x": px,
            "pad-y": py, "stride-x": sx, "stride-y": sy, "num-kernels": kernels,
            "dimension-op": dim_op}
    return [_merge(node, kvs)]


# --- dropout --------------------------------------------------------------------------


def dropout(args: list, kvs: dict) -> list[Node]:
    """``(dropout keep-probability & kvs)`` or ``(dropout {:probability p})``."""
    if len(args) == 1 and (given := _as_map(args[0])) is not None:
        # Cortex's map arity forces the type and distribution over the map's own keys.
        node = {**given, "type": "dropout", "distribution": _kw("bernoulli")}
        return [_merge(node, kvs)]
    _need("dropout", args, 1, "a keep probability")
    return [_merge({"type": "dropout", "distribution": _kw("bernoulli"),
                    "probability": args[0]}, kvs)]


def multiplicative_dropout(args: list, kvs: dict) -> list[Node]:
    """``(multiplicative-dropout variance & kvs)`` or ``{:variance v}``: Gaussian noise."""
    if len(args) == 1 and (given := _as_map(args[0])) is not None:
        node = {**given, "type": "dropout", "distribution": _kw("gaussian")}
        return [_merge(node, kvs)]
    _need("multiplicative-dropout", args, 1, "a variance")
    return [_merge({"type": "dropout", "distribution": _kw("gaussian"),
                    "variance": args[0]}, kvs)]


# --- keyword-only layers ----------------------------------------------------------------


def _keyword_only(type_name: str) -> Callable[[list, dict], list[Node]]:
    def construct(args: list, kvs: dict) -> list[Node]:
        if args:
            raise ConstructorError(
                f"({type_name} …) takes only keyword options such as :id. "
                f"Received {len(args)} positional argument{'' if len(args) == 1 else 's'}"
            )
        return [_merge({"type": type_name}, kvs)]

    construct.__name__ = type_name.replace("-", "_")
    construct.__doc__ = f"``({type_name} & kvs)``."
    return construct


def batch_normalization(args: list, kvs: dict) -> list[Node]:
    """``(batch-normalization & {:keys [ave-factor epsilon mode]})``, Cortex's defaults."""
    if args:
        raise ConstructorError("(batch-normalization …) takes only keyword options")
    rest = {k: v for k, v in kvs.items() if k != "epsilon"}
    node = {"type": "batch-normalization",
            "average-factor": kvs.get("ave-factor", 0.9),
            "epsilon": kvs.get("epsilon", 1e-4),
            "mode": kvs.get("mode", _kw("elementwise"))}
    return [_merge(node, rest)]


def local_response_normalization(args: list, kvs: dict) -> list[Node]:
    """``(local-response-normalization & {:keys [k n alpha beta]})``, AlexNet's defaults."""
    if args:
        raise ConstructorError("(local-response-normalization …) takes only keyword options")
    node = {"type": "local-response-normalization", "k": 2, "n": 5, "alpha": 1e-4,
            "beta": 0.75}
    return [_merge(node, kvs)]


def join(args: list, kvs: dict) -> list[Node]:
    """``(join & kvs)``: a bare map in Cortex, with ``:operation :+`` by default."""
    if args:
        raise ConstructorError("(join …) takes only keyword options such as :parents")
    return [_merge({"type": "join", "operation": _kw("+")}, kvs)]


class CopiedMap(dict):
    """A composite's second map; ``copied`` names the options it got only because
    Cortex gives every option to both layers (the linear's ``:weights`` on the relu),
    so a key there that the layer does not take draws no unknown-key warning."""

    copied: frozenset = frozenset()


def _linear_then(activation: str) -> Callable[[list, dict], list[Node]]:
    """``(linear->relu n & kvs)``: ``:id`` goes to the activation only, the rest to both."""

    def construct(args: list, kvs: dict) -> list[Node]:
        _need(f"linear->{activation}", args, 1, "an output size")
        shared = {k: v for k, v in kvs.items() if k != "id"}
        then = CopiedMap(_merge({"type": activation}, kvs))
        then.copied = frozenset(shared)
        return [_merge({"type": "linear", "output-size": args[0]}, shared), then]

    construct.__name__ = f"linear_to_{activation}"
    construct.__doc__ = f"``(linear->{activation} n & kvs)``."
    return construct


def sequential(args: list, kvs: dict) -> list[Any]:
    """The tutorial's ``(nn/sequential [layers…])``: the layers, flattened later."""
    if kvs:
        raise ConstructorError("(sequential [...]) takes a vector of layers and no options")
    return list(args)


CONSTRUCTORS: dict[str, Callable[[list, dict], list]] = {
    "input": input_layer,
    "linear": linear,
    "dense": linear,  # the tutorial's name
    "convolutional": convolutional,
    "max-pooling": max_pooling,
    "convolutional-type-layer": convolutional_type_layer,
    "dropout": dropout,
    "multiplicative-dropout": multiplicative_dropout,
    "batch-normalization": batch_normalization,
    "local-response-normalization": local_response_normalization,
    "join": join,
    "sequential": sequential,
}
for _name in ("relu", "logistic", "tanh", "swish", "selu", "prelu", "softmax",
              "concatenate", "split"):
    CONSTRUCTORS[_name] = _keyword_only(_name)
for _act in ("softmax", "relu", "swish", "selu", "tanh", "logistic"):
    CONSTRUCTORS[f"linear->{_act}"] = _linear_then(_act)

# Constructors whose positional arguments include keywords (the type and dimension-op).
FIXED_POSITIONAL = {"convolutional-type-layer": 9}

# Calls whose positional arguments are layers rather than numbers.
TAKES_LAYERS = frozenset({"sequential"})


def register_constructor(name: str, constructor: Callable[[list, dict], list]) -> None:
    """Let model files call ``(name …)``; used by :func:`bridge.register_layer`."""
    CONSTRUCTORS[name] = constructor


def call_constructor(name: str, args: list, kvs: dict) -> list:
    """Run the constructor ``name``; unknown names raise ``KeyError``."""
    return CONSTRUCTORS[name](args, kvs)


def split_args(name: str, items: list) -> tuple[list, dict]:
    """Split a call's arguments into positional ones and trailing keyword pairs.

    Mirrors ``cortex.util/merge-args``: the positional arguments come first, then
    ``:key value`` pairs. The first keyword argument starts the pairs (so
    ``(input 784 :id :x)`` reads as width 784 with an id, where Cortex would misread it).
    """
    fixed = FIXED_POSITIONAL.get(name, 0)
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

