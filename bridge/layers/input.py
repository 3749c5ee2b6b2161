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


INPUT = register(
    LayerSpec(
        "input",
        infer_shape=input_shape,
        build=lambda ctx: Input(),
        parents=(0, 0),
        complete=complete_input,
        validate=validate_input,
        # Cortex's (input 784) and (input {:width …}) keep their argument map in the node
        # (:width …); :input {:stream id} is what Cortex writes into a built input node.
        optional=("output-size", "output-width", "output-height", "output-channels",
                  "width", "height", "channels", "input"),
        summary="data enters here; its stream is named after the layer id",
    )
)
