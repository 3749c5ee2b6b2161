"""``:input`` — where data enters (cortex-spec §1.2, ``layers.clj:101-123``).

EDN spellings: ``(layers/input 28 28 1 :id :data)`` (positional order **width, height,
channels**), ``(input 784)``, ``(input {:width 28 :height 28 :channels 1})``,
``(nn/input 784)``, ``{:type :input :output-size 784}``.

Shape: ``(output-channels, output-height, output-width)``; no parents.
The dataset stream feeding it is named after its id (``:input-1`` by default).

Differs from Cortex: an input never takes the previous element as an implicit parent,
so a second input need not be marked ``:parents []`` (Cortex throws instead).
"""

from __future__ import annotations

from torch import nn

from bridge.description.constructors import CallForm, ConstructorError, as_map, merge
from bridge.description.shapes import Shape
from bridge.layers._checks import positive_int
from bridge.layers.registry import LayerSpec, register


class Input(nn.Module):
    """Passes its data through; the network reshapes it to ``[N, C, H, W]``."""

    def forward(self, x):
        return x


def input_shape(node, input_shapes) -> Shape:
    return Shape(node["output-channels"], node["output-height"], node["output-width"])


def complete_input(node) -> None:
    """``{:type :input :output-size 784}`` means a flat 1x1x784 input."""
    if "output-width" not in node and "output-size" in node:
        node["output-width"] = node["output-size"]
    node.setdefault("output-height", 1)
    node.setdefault("output-channels", 1)


def validate_input(node) -> list[str]:
    problems = []
    for key in ("output-width", "output-height", "output-channels"):
        problems += positive_int(node, key)
    if not problems and "output-size" in node:
        size = node["output-width"] * node["output-height"] * node["output-channels"]
        if node["output-size"] != size:
            problems.append(
                f":output-size must equal width x height x channels ({size}). "
                f"Received: :output-size {node['output-size']}"
            )
    return problems


def construct_input(form, args: list, kvs: dict) -> list[dict]:
    """``(input width)``, ``(input {:width W :height H :channels C})``, ``(input w h c)``.

    The one-argument and map forms merge their argument map into the node, so
    ``(input 784)`` carries a stray ``:width 784`` as in Cortex.
    """
    if len(args) == 1:
        given = as_map(args[0])
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
    return [merge(node, kvs)]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


INPUT = register(
    LayerSpec(
        "input",
        infer_shape=input_shape,
        build=lambda ctx: Input(),
        parents=(0, 0),
        complete=complete_input,
        validate=validate_input,
        call_forms=(CallForm("input", construct_input,
                             examples=("(input 784)", "(input 28 28 1 :id :data)",
                                       "(input {:width 4 :height 3 :channels 2})")),),
        # Cortex's (input 784) and (input {:width …}) keep their argument map in the node
        # (:width …); :input {:stream id} is what Cortex writes into a built input node.
        optional=("output-size", "output-width", "output-height", "output-channels",
                  "width", "height", "channels", "input"),
    )
)
