"""``register_layer``: user layer types that EDN files can name, like Keras's custom objects.

    >>> import bridge, torch
    >>> class Gate(torch.nn.Module):
    ...     def __init__(self, size):
    ...         super().__init__()
    ...         self.weight = torch.nn.Parameter(torch.empty(size))
    ...     def forward(self, x):
    ...         return x * torch.sigmoid(self.weight.view(1, *x.shape[1:]))
    >>> _ = bridge.register_layer(
    ...     "my.ns/gated", lambda ctx: Gate(ctx.input_shape.size),
    ...     params=[("gate", "weight")], replace=True)
    >>> net = bridge.load_model("[(input 4) (my.ns/gated)]", seed=0)
    >>> sorted(net.parameters_by_layer()["gated-1"])
    ['gate']

A type is looked up only by the names registered; a model file can never make the
library import or run anything else (the lesson of Keras's safe mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from bridge.description.constructors import CallForm
from bridge.description.shapes import Shape
from bridge.layers.registry import BuildContext, LayerSpec, ParamSpec, register

__all__ = ["register_layer"]


def _same_shape(node, input_shapes) -> Shape:
    return input_shapes[0]


def _module_param(builder, cortex_name: str, attr: str) -> ParamSpec:
    """A parameter whose shape is read from a build on the meta device (no memory)."""

    def shape(ctx: BuildContext) -> tuple[int, ...]:
        meta = BuildContext(ctx.node, ctx.input_shapes, ctx.output_shape,
                            {"device": "meta", "dtype": torch.float32})
        module = builder(meta)
        tensor = getattr(module, attr, None)
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"the module built for :{ctx.node['type']} has no tensor "
                             f"attribute {attr!r} for parameter :{cortex_name}")
        return tuple(tensor.shape)

    return ParamSpec(cortex_name, attr, shape=shape, init={"type": "by-rank"})


def register_layer(
    name: str,
    builder: Callable[[BuildContext], nn.Module] | LayerSpec,
    *,
    output_shape: Callable[[Mapping[str, Any], tuple[Shape, ...]], Shape] | None = None,
    params: Iterable[ParamSpec | tuple[str, str]] = (),
    parents: tuple[int, int | None] = (1, 1),
    required: tuple[str, ...] = (),
    defaults: Mapping[str, Any] | None = None,
    default_loss: str = "mse-loss",
    replace: bool = False,
    optional: tuple[str, ...] = (),
    call_forms: Iterable[CallForm] | None = None,
    linear_composite: bool = False,
    init_activation: str | None = None,
) -> LayerSpec:
    """Add the layer type ``name`` (``"my.ns/gated"``; written ``:my.ns/gated`` in EDN).

    Args:
        name: the type keyword without the colon. Model files may then use
            ``{:type :my.ns/gated …}`` or the call form ``(my.ns/gated :key value …)``.
        builder: ``builder(ctx) -> nn.Module`` (``ctx`` is a :class:`BuildContext` with
            the node, input shapes, output shape and factory kwargs), or a complete
            :class:`LayerSpec`. The module receives its parents' outputs as
            ``[N, C, H, W]`` tensors.
        output_shape: ``(node, input_shapes) -> Shape``; default: the input's shape.
        params: parameters saved with the network, as ``ParamSpec``s or
            ``(cortex_name, module_attribute)`` pairs (initialised like Cortex: xavier
            for matrices, zeros for vectors, from the network's seeded generator).
        parents, required, defaults, default_loss: as in :class:`LayerSpec`.
        replace: allow replacing an existing type of the same name.
        optional: other node keys the layer reads; a key that is none of ``required``,
            ``defaults``, ``params`` and these draws an ``UnknownKeyWarning``.
        call_forms: how model files call it, as
            :class:`~bridge.description.constructors.CallForm` entries; by default
            ``(my.ns/gated & kvs)`` and the short ``(gated & kvs)`` (keyword options only,
            with ``defaults`` written in), unless another type holds the short name.
        linear_composite: an activation: ``(linear->gated n & kvs)`` too.
        init_activation: for an activation, how a linear or convolution just before it
            initialises its weights (``"relu"`` or ``"xavier"``), as in ``LayerSpec``.

    Returns:
        The registered spec.
    """
    if not isinstance(name, str) or not name or name.startswith(":"):
        raise ValueError(f"a layer type name is a keyword without the colon, such as "
                         f"'my.ns/gated'. Received: {name!r}")
    if isinstance(builder, LayerSpec):
        if builder.type != name:
            raise ValueError(f"the LayerSpec's type :{builder.type} differs from {name!r}")
        spec = builder
    else:
        if not callable(builder):
            raise TypeError("builder must be a callable builder(ctx) -> nn.Module or a LayerSpec")
        param_specs = tuple(
            p if isinstance(p, ParamSpec) else _module_param(builder, p[0], p[1]) for p in params
        )
        spec = LayerSpec(name, infer_shape=output_shape or _same_shape, build=builder,
                         params=param_specs, defaults=dict(defaults or {}), required=required,
                         parents=parents, default_loss=default_loss,
                         optional=tuple(optional), linear_composite=linear_composite,
                         init_activation=init_activation,
                         call_forms=None if call_forms is None else tuple(call_forms))
    return register(spec, replace=replace)
