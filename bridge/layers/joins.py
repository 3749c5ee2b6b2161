"""Graph layers: ``:concatenate``, ``:split`` and ``:join`` (cortex-spec §1.11,
``layers.clj:602-686``). They need ``:parents`` to be useful::

    (concatenate :parents [:left :right])
    (join :parents [:a :b :c] :operation :*)
    (split :id :fork)

``:concatenate``: the flattened parents, one after the other in ``:parents`` order;
output ``(1, 1, Σ sizes)``.

``:split``: passes its input on unchanged to several children (Cortex copies it once
per child and sums the gradients; a shared tensor does both here).

``:join``: element-wise ``:+`` (default) or ``:*`` over its parents. When all parents
have one shape the output has it; otherwise the output is flat with the width of the
largest parent: ``:+`` pads each flattened input with zeros to that width and adds;
``:*`` multiplies over the first min-size values and leaves the rest 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bridge.description.shapes import Shape
from bridge.edn.types import Keyword
from bridge.layers._checks import one_of
from bridge.layers.registry import LayerSpec, register


class Concatenate(nn.Module):
    """The flattened inputs side by side."""

    def forward(self, *inputs):
        return torch.cat([x.reshape(x.shape[0], -1) for x in inputs], dim=1)


class Split(nn.Module):
    """The input, unchanged, for every child."""

    def forward(self, x):
        return x


class Join(nn.Module):
    """Element-wise sum or product of inputs, padded or cut to Cortex's widths."""

    def __init__(self, operation: str, sizes: tuple[int, ...]):
        super().__init__()
        self.operation = operation
        self.sizes = sizes
        self.width = max(sizes)
        self.common = min(sizes)

    def forward(self, *inputs):
        flats = [x.reshape(x.shape[0], -1) for x in inputs]
        if self.operation == "+":
            total = F.pad(flats[0], (0, self.width - flats[0].shape[1]))
            for flat in flats[1:]:
                total = total + F.pad(flat, (0, self.width - flat.shape[1]))
            return total
        product = flats[0][:, : self.common]
        for flat in flats[1:]:
            product = product * flat[:, : self.common]
        return F.pad(product, (0, self.width - self.common))

    def extra_repr(self) -> str:
        return f"operation={self.operation}, sizes={list(self.sizes)}"


def _join_shape(node, input_shapes) -> Shape:
    if all(shape == input_shapes[0] for shape in input_shapes):
        return input_shapes[0]
    return Shape.flat(max(shape.size for shape in input_shapes))


CONCATENATE = register(
    LayerSpec(
        "concatenate",
        flat_ok=True,
        infer_shape=lambda node, shapes: Shape.flat(sum(s.size for s in shapes)),
        build=lambda ctx: Concatenate(),
        parents=(1, None),
        summary="the flattened parents side by side",
    )
)

SPLIT = register(
    LayerSpec(
        "split",
        flat_ok=True,
        infer_shape=lambda node, shapes: shapes[0],
        build=lambda ctx: Split(),
        training_only=True,
        summary="its input, for several children",
    )
)

JOIN = register(
    LayerSpec(
        "join",
        flat_ok=True,
        infer_shape=_join_shape,
        build=lambda ctx: Join(ctx.node["operation"].full,
                               tuple(s.size for s in ctx.input_shapes)),
        parents=(1, None),
        defaults={"operation": Keyword("+")},
        validate=lambda node: one_of(node, "operation", ("+", "*")),
        summary="element-wise sum or product of the parents",
    )
)
