"""``:linear`` — a fully connected layer (cortex-spec §1.3, ``layers.clj:127-166``).

EDN spellings: ``(layers/linear 10 :id :fc)``, ``(linear {:output-size 10})``,
``(nn/dense 128)``, ``{:type :linear :output-size 10}``.

Shape: any ``(C, H, W)`` → ``(1, 1, output-size)``; the input is flattened in CHW order.

Parameters: ``:weights [output-size, C·H·W]`` (torch's ``nn.Linear.weight`` layout),
initialised by the first activation downstream (He for relu/swish, else Cortex's
``:xavier`` = N(0, 1/fan_in)); ``:bias [output-size]``, zeros.
"""

from __future__ import annotations

from torch import nn

from bridge.description.constructors import CallForm, as_map, merge, need
from bridge.description.shapes import Shape
from bridge.layers._checks import positive_int
from bridge.layers.registry import LayerSpec, ParamSpec, register


class CortexLinear(nn.Linear):
    """``y = x·Wᵀ + b`` on the flattened input."""

    def forward(self, x):
        return super().forward(x.flatten(1))

    def extra_repr(self) -> str:
        return f"input-size={self.in_features}, output-size={self.out_features}"


def build_linear(ctx) -> nn.Module:
    return CortexLinear(ctx.input_shape.size, ctx.node["output-size"], **ctx.factory_kwargs)


LINEAR_WEIGHTS = ParamSpec(
    "weights",
    "weight",
    shape=lambda ctx: (ctx.node["output-size"], ctx.input_shape.size),
    init={"type": "auto-weight-initialization"},
)
LINEAR_BIAS = ParamSpec(
    "bias",
    "bias",
    shape=lambda ctx: (ctx.node["output-size"],),
    init={"type": "constant", "value": 0.0},
)

def construct_linear(form, args: list, kvs: dict) -> list[dict]:
    """``(linear output-size & kvs)`` or ``(linear {:output-size n})``."""
    if len(args) == 1 and (given := as_map(args[0])) is not None:
        return [merge({**given, "type": "linear"}, kvs)]
    need(form.name, args, 1, "an output size")
    return [merge({"type": "linear", "output-size": args[0]}, kvs)]


LINEAR = register(
    LayerSpec(
        "linear",
        flat_ok=True,
        params_cover_state=True,
        infer_shape=lambda node, shapes: Shape.flat(node["output-size"]),
        build=build_linear,
        params=(LINEAR_WEIGHTS, LINEAR_BIAS),
        required=("output-size",),
        validate=lambda node: positive_int(node, "output-size"),
        call_forms=(
            CallForm("linear", construct_linear,
                     examples=("(linear 3)", "(linear 3 :id :x)", "(linear {:output-size 3})",
                               "(linear 10 :l2-regularization 0.001)")),
            CallForm("dense", construct_linear, examples=("(dense 3)",),
                     python_only="the tutorial's name; Cortex's layers.clj has no dense"),
        ),
    )
)
