"""The one registry of layer types, keyed by Cortex's type keyword without the colon.

Every built-in layer module ends with ``register(SPEC)``; user code adds its own types
with :func:`bridge.register_layer` through the same door. Looking a type up goes through
:func:`get_spec`, which suggests the nearest known names for a typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from bridge.description import constructors
from bridge.description.constructors import CallForm
from bridge.description.shapes import Shape
from bridge.errors import ModelError

__all__ = [
    "BuildContext",
    "ParamSpec",
    "LayerSpec",
    "LAYER_TYPES",
    "register",
    "unregister",
    "get_spec",
    "known_types",
    "identity_view",
]


@dataclass(frozen=True)
class BuildContext:
    """What a layer's ``build`` and parameter shape functions may look at.

    Attributes:
        node: the canonical node (str keys in Cortex spelling, read-only).
        input_shapes: the output shapes of the node's parents, in ``:parents`` order.
        output_shape: the node's own output shape, from ``infer_shape``.
        factory_kwargs: ``{"device": …, "dtype": …}`` for every tensor the layer creates.
    """

    node: Mapping[str, Any]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    factory_kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> Shape:
        """The single parent's shape (most layers have exactly one)."""
        return self.input_shapes[0]


def identity_view(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a layer, Cortex's view and torch's side by side.

    Attributes:
        name: Cortex's name (``"weights"``, ``"bias"``, ``"means"`` …).
        attr: the attribute of the torch module that holds it (``"weight"``).
        shape: Cortex's layout, from the build context (linear ``[out in]``,
            convolution ``[K C·k·k]``).
        init: the default initialisation as a Cortex map, e.g.
            ``{"type": "constant", "value": 0.0}`` or ``{"type": "auto-weight-initialization"}``.
        trainable: ``False`` for running statistics (a buffer, not a Parameter).
        cortex_view: turns the live torch tensor into a view with Cortex's layout
            (a reshape for convolutions); writes through the view reach the module.
    """

    name: str
    attr: str
    shape: Callable[[BuildContext], tuple[int, ...]]
    init: Mapping[str, Any]
    trainable: bool = True
    cortex_view: Callable[[torch.Tensor], torch.Tensor] = identity_view


@dataclass(frozen=True)
class LayerSpec:
    """Everything cortex-bridge knows about one layer type.

    Attributes:
        type: Cortex's type keyword without the colon (``"max-pooling"``).
        infer_shape: ``(node, input_shapes) -> Shape``; pure, so a description is sized
            and checked before anything is allocated. Raises ``ModelError`` with a bare
            reason; the graph adds file, line and layer.
        build: ``(ctx: BuildContext) -> nn.Module`` with parameters allocated but not
            initialised. The module takes its parents' outputs as ``[N, C, H, W]``
            tensors and returns a tensor with ``output_shape.size`` values per sample.
        params: the parameters, in Cortex's order.
        defaults: Cortex's default values, written into the node when absent.
        required: keys that must be present.
        parents: ``(min, max)`` number of parents; ``max`` ``None`` means any.
        validate: ``(node) -> list[str]`` of problems with the node's own keys.
        complete: ``(node) -> None`` fills keys that other keys imply, in place (an
            expanded map's ``:kernel-dim`` gives ``:kernel-width`` and ``:kernel-height``).
        default_loss: the loss Cortex attaches when this layer is a leaf
            (``bridge.training.losses`` reads it).
        init_activation: for activations, the weight initialisation a linear or
            convolution upstream takes when this is the first activation after it
            (``"relu"`` or ``"xavier"``); ``None`` for other layers.
        params_cover_state: every tensor of the module is one of ``params``, so it may be
            built on the meta device and filled only by the network's initialisation
            (skipping torch's own random init, which would be thrown away).
        flat_ok: the module takes its inputs in any shape with the batch first (it is
            element-wise or flattens); the network then skips reshaping them to
            ``[N, C, H, W]`` — each reshape is one more autograd node per step.
        call_forms: how a model file calls it, ``(linear 10)``; see
            :class:`~bridge.description.constructors.CallForm`. ``None`` (the default)
            gives one keyword-only form named after the type (and, for ``my.ns/gated``,
            the short ``gated`` too unless another type holds it); ``()`` none.
        linear_composite: an activation that also gets ``(linear->X n & kvs)``.
        optional: further node keys the layer reads, beyond ``defaults``, ``required``
            and ``params`` (``:output-channels`` of a softmax). Together they are the
            keys a node of this type takes; any other key draws an
            :class:`~bridge.errors.UnknownKeyWarning` (see ``bridge.network.keys``).
    """

    type: str
    infer_shape: Callable[[Mapping[str, Any], tuple[Shape, ...]], Shape]
    build: Callable[[BuildContext], nn.Module]
    params: tuple[ParamSpec, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    parents: tuple[int, int | None] = (1, 1)
    validate: Callable[[Mapping[str, Any]], list[str]] | None = None
    complete: Callable[[dict[str, Any]], None] | None = None
    default_loss: str = "mse-loss"
    init_activation: str | None = None
    flat_ok: bool = False
    params_cover_state: bool = False
    optional: tuple[str, ...] = ()
    call_forms: tuple[CallForm, ...] | None = None
    linear_composite: bool = False

    def param(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        raise KeyError(name)


LAYER_TYPES: dict[str, LayerSpec] = {}


def register(spec: LayerSpec, *, replace: bool = False) -> LayerSpec:
    """Add a layer type. Registering a type twice is an error unless ``replace``."""
    if not isinstance(spec, LayerSpec):
        raise TypeError(f"register() takes a LayerSpec, got {type(spec).__name__}")
    if spec.type in LAYER_TYPES and not replace:
        raise ValueError(
            f"layer type :{spec.type} is already registered; pass replace=True to override it"
        )
    forms = call_forms(spec)
    for name, owner in constructors.conflicts(spec.type, forms):
        holder = f":{owner}" if owner else "the description language"
        raise ValueError(f"the call form ({name} …) of :{spec.type} belongs to {holder}")
    LAYER_TYPES[spec.type] = spec
    constructors.publish(spec.type, forms, tuple(p.name for p in spec.params),
                         frozenset((*spec.required, *spec.defaults, *spec.optional)))
    return spec


def call_forms(spec: LayerSpec) -> list[CallForm]:
    """``spec``'s call forms, bound to its type and defaults (see ``LayerSpec.call_forms``)."""
    if spec.call_forms is not None:
        forms = list(spec.call_forms)
    else:
        forms = [CallForm(spec.type)]
        short = spec.type.rpartition("/")[2]
        if short != spec.type and not constructors.conflicts(spec.type, [CallForm(short)]):
            forms.append(CallForm(short))
    if spec.linear_composite:
        forms.append(constructors.composite(spec.type))
    return [form.bound(spec.type, spec.defaults) for form in forms]


def unregister(type_name: str) -> None:
    """Remove a layer type and its call forms (for user types; tests clean up with it)."""
    LAYER_TYPES.pop(type_name, None)
    constructors.withdraw(type_name)


def known_types() -> list[str]:
    return sorted(LAYER_TYPES)


def get_spec(type_name: str) -> LayerSpec:
    """The spec of ``type_name``; an unknown name raises ``ModelError`` with suggestions."""
    spec = LAYER_TYPES.get(type_name)
    if spec is not None:
        return spec
    raise ModelError(unknown_type_message(type_name), layer_type=None)


def unknown_type_message(type_name: str) -> str:
    known = known_types()
    close = difflib.get_close_matches(type_name, known, n=3, cutoff=0.6)
    message = f"unknown layer type :{type_name}."
    if close:
        message += " Did you mean " + " or ".join(f":{name}" for name in close) + "?"
    message += " Known types: " + " ".join(f":{name}" for name in known) + "."
    return message

