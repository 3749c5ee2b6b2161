"""``:convolutional`` — 2-D cross-correlation (cortex-spec §1.4, ``layers.clj:394-489``).

EDN spellings: ``(layers/convolutional 5 0 1 20)`` (kernel, pad, stride, kernels),
``(convolutional {:kernel-dim 5 :pad 0 :stride 1 :num-kernels 20})``, and the expanded
``{:type :convolutional :kernel-width 5 :kernel-height 5 :pad-x 0 :pad-y 0 :stride-x 1
:stride-y 1 :num-kernels 20}``.

Shape: ``(C, H, W) → (K, ⌊(H + 2·pad-y − kh)/stride-y⌋ + 1, ⌊(W + 2·pad-x − kw)/stride-x⌋ + 1)``
(floor sizing; Cortex forces ``:dimension-op :floor``).

Parameters: ``:weights [K, C·kh·kw]``, each row one kernel in (c, ky, kx) order — a view
of ``nn.Conv2d.weight`` ``[K, C, kh, kw]``; ``:bias [K]``, zeros.

Differs from Cortex: non-square kernels and unequal x/y padding or stride are computed
correctly here (Cortex swaps width and height in places, spec §1.4).
"""

from __future__ import annotations

from torch import nn

from bridge.description.constructors import (
    CallForm,
    ConstructorError,
    as_map,
    merge,
    need,
)
from bridge.description.shapes import Shape, conv_output_size
from bridge.edn.types import Keyword
from bridge.layers._checks import keyword_name, non_negative_int, positive_int
from bridge.layers.registry import LayerSpec, ParamSpec, register

WINDOW_KEYS = ("kernel-width", "kernel-height", "stride-x", "stride-y")
PAD_KEYS = ("pad-x", "pad-y")


class CortexConv2d(nn.Conv2d):
    """``nn.Conv2d`` with Cortex's vocabulary in its repr."""

    def extra_repr(self) -> str:
        kh, kw = self.kernel_size
        text = f"{self.in_channels}->{self.out_channels}, kernel={kw}x{kh}"
        if self.stride != (1, 1):
            text += f", stride={self.stride[1]}x{self.stride[0]}"
        if self.padding != (0, 0):
            text += f", pad={self.padding[1]}x{self.padding[0]}"
        return text


def window_problems(node, *, rounding: str) -> list[str]:
    """Checks shared by convolution and pooling windows."""
    problems = []
    for key in WINDOW_KEYS:
        problems += positive_int(node, key)
    for key in PAD_KEYS:
        problems += non_negative_int(node, key)
    op = keyword_name(node.get("dimension-op", rounding))
    allowed = ("floor",) if rounding == "floor" else ("floor", "ceil")
    if op not in allowed:
        problems.append(
            f":dimension-op must be {' or '.join(':' + a for a in allowed)}. "
            f"Received: :dimension-op {node.get('dimension-op')}"
        )
    return problems


def complete_window(node) -> None:
    """Expand the square shorthands ``:kernel-dim :pad :stride`` of an expanded map."""
    for short, (x_key, y_key) in (("kernel-dim", ("kernel-width", "kernel-height")),
                                  ("pad", ("pad-x", "pad-y")),
                                  ("stride", ("stride-x", "stride-y"))):
        if short in node:
            node.setdefault(x_key, node[short])
            node.setdefault(y_key, node[short])


def window_shape(node, input_shape: Shape, channels: int, sizer) -> Shape:
    height = sizer(input_shape.height, node["kernel-height"], node["pad-y"], node["stride-y"])
    width = sizer(input_shape.width, node["kernel-width"], node["pad-x"], node["stride-x"])
    if height < 1 or width < 1:
        raise ValueError(
            f"a {node['kernel-width']}x{node['kernel-height']} window with pad "
            f"{node['pad-x']}x{node['pad-y']} does not fit the "
            f"{input_shape.width}x{input_shape.height} (width x height) input"
        )
    return Shape(channels, height, width)


def conv_shape(node, input_shapes) -> Shape:
    return window_shape(node, input_shapes[0], node["num-kernels"], conv_output_size)


def build_conv(ctx) -> nn.Module:
    node = ctx.node
    return CortexConv2d(
        ctx.input_shape.channels,
        node["num-kernels"],
        kernel_size=(node["kernel-height"], node["kernel-width"]),
        stride=(node["stride-y"], node["stride-x"]),
        padding=(node["pad-y"], node["pad-x"]),
        **ctx.factory_kwargs,
    )


def validate_conv(node) -> list[str]:
    return window_problems(node, rounding="floor") + positive_int(node, "num-kernels")


CONV_WEIGHTS = ParamSpec(
    "weights",
    "weight",
    shape=lambda ctx: (
        ctx.node["num-kernels"],
        ctx.input_shape.channels * ctx.node["kernel-width"] * ctx.node["kernel-height"],
    ),
    init={"type": "auto-weight-initialization"},
    cortex_view=lambda weight: weight.view(weight.shape[0], -1),
)
CONV_BIAS = ParamSpec(
    "bias",
    "bias",
    shape=lambda ctx: (ctx.node["num-kernels"],),
    init={"type": "constant", "value": 0.0},
)

def window_args(name: str, args: list, kvs: dict, keys: tuple[str, ...]) -> dict:
    """The positional values (or the one map) of a window constructor, merged with the
    options, as Cortex does: an option such as ``:stride 2`` wins over the positional one."""
    if len(args) == 1 and (given := as_map(args[0])) is not None:
        missing = [k for k in keys if k not in given]
        if missing:
            raise ConstructorError(f"({name} {{…}}) needs " + " ".join(f":{k}" for k in missing))
    else:
        need(name, args, len(keys), " ".join(keys))
        given = dict(zip(keys, args, strict=True))
    return merge(given, kvs)


def square_window(layer_type: str, given: dict) -> dict:
    """Cortex's ``:kernel-dim :pad :stride`` spelt out per axis."""
    k, p, s = given["kernel-dim"], given["pad"], given["stride"]
    return {"type": layer_type, "kernel-width": k, "kernel-height": k, "pad-x": p,
            "pad-y": p, "stride-x": s, "stride-y": s}


def construct_conv(form, args: list, kvs: dict) -> list[dict]:
    """``(convolutional kernel-dim pad stride num-kernels & kvs)`` or the map arity;
    ``:dimension-op`` is forced to the default ``:floor`` whatever the options say."""
    given = window_args(form.name, args, kvs, ("kernel-dim", "pad", "stride", "num-kernels"))
    node = {**square_window("convolutional", given), "num-kernels": given["num-kernels"],
            **given}
    node["dimension-op"] = form.defaults["dimension-op"]
    return [node]


def construct_window_layer(form, args: list, kvs: dict) -> list[dict]:
    """``(convolutional-type-layer type kw kh pad-x pad-y stride-x stride-y K dim-op)``."""
    need(form.name, args, 9, "layer-type kernel-width kernel-height pad-x pad-y stride-x "
         "stride-y num-kernels dimension-op")
    layer_type, kw, kh, px, py, sx, sy, kernels, dim_op = args
    if not isinstance(layer_type, Keyword):
        raise ConstructorError(
            f"({form.name} …) needs a layer type keyword first. Received: {layer_type}")
    node = {"type": layer_type.full, "kernel-width": kw, "kernel-height": kh, "pad-x": px,
            "pad-y": py, "stride-x": sx, "stride-y": sy, "num-kernels": kernels,
            "dimension-op": dim_op}
    return [merge(node, kvs)]


CONVOLUTIONAL = register(
    LayerSpec(
        "convolutional",
        infer_shape=conv_shape,
        build=build_conv,
        params=(CONV_WEIGHTS, CONV_BIAS),
        required=("kernel-width", "kernel-height", "pad-x", "pad-y", "stride-x", "stride-y",
                  "num-kernels"),
        defaults={"dimension-op": Keyword("floor")},
        complete=complete_window,
        validate=validate_conv,
        call_forms=(
            CallForm("convolutional", construct_conv,
                     examples=("(convolutional 5 0 1 20)", "(convolutional 3 1 2 8 :id :c)",
                               "(convolutional 3 1 1 4 :stride 2)",
                               "(convolutional {:kernel-dim 3 :pad 0 :stride 1 "
                               ":num-kernels 4})")),
            # Its type and dimension-op are keywords among the positional arguments.
            CallForm("convolutional-type-layer", construct_window_layer, fixed_positional=9,
                     examples=("(convolutional-type-layer :convolutional 3 4 1 0 1 2 8 "
                               ":floor)",)),
        ),
        optional=("kernel-dim", "pad", "stride"),
        params_cover_state=True,
    )
)
