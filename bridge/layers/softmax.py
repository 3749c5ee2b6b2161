"""``:softmax`` in Cortex's three modes (cortex-spec §1.8, ``layers.clj:171-191``).

EDN spellings: ``(softmax)``, ``(softmax :output-channels 4)``, ``(nn/softmax)``,
``{:type :softmax}``; also the second half of ``(linear->softmax n)``.

Modes, chosen by the input's channel count C and ``:output-channels`` n (Cortex reads a
missing n as 1; the constructor does not write it, and neither do we):

1. n = 1, C = 1 (e.g. after ``linear``): one softmax over the whole per-sample vector;
2. n = 1, C > 1 (e.g. straight after a convolution): a softmax *across channels* at every
   pixel, on the planar ``[N, C, H·W]`` view — ``x.view(N, C, -1).softmax(1)``;
3. n > 1: a softmax over each run of n *contiguous* values, i.e. the data is interleaved
   with the class fastest — ``x.view(N, -1, n).softmax(-1)``. Cortex's docstring says
   "planar", but its code and its test (``[1 2 3 4]`` repeated) are interleaved; we
   follow the code. The input size must be a multiple of n.

Every softmax subtracts the maximum first (stable), as Cortex's does.

Shape: unchanged. No parameters. Its default loss is softmax-loss.

Differs from Cortex: the gradient is softmax's real Jacobian (autograd). Cortex passed
the gradient through unchanged (dx = dy), which is right only under softmax-loss.
"""

from __future__ import annotations

import torch
from torch import nn

from bridge.description.constructors import CallForm
from bridge.description.shapes import Shape
from bridge.layers._checks import positive_int
from bridge.layers.registry import LayerSpec, register

__all__ = ["CortexSoftmax", "SOFTMAX"]


class CortexSoftmax(nn.Module):
    """Softmax over the whole vector, across channels per pixel, or in groups."""

    def __init__(self, input_shape: Shape, output_channels: int = 1):
        """**Arguments:**

        - input_shape: the ``(C, H, W)`` this layer receives; it chooses the mode.
        - output_channels: Cortex's ``:output-channels``; above 1, the size of each group
          of contiguous values.
        """
        super().__init__()
        self.channels = input_shape.channels
        self.output_channels = output_channels
        if output_channels > 1:
            self.mode = "groups"
        elif input_shape.channels > 1:
            self.mode = "channels"
        else:
            self.mode = "vector"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """**Arguments:** x: ``[N, C, H, W]`` or flat ``[N, C·H·W]``.
        **Returns:** probabilities, ``N`` first, ``C·H·W`` values per sample."""
        return self._grouped(x).softmax(self._dim)

    def log_forward(self, x: torch.Tensor) -> torch.Tensor:
        """log-softmax in the same mode (the trainer's softmax loss reads it)."""
        return self._grouped(x).log_softmax(self._dim)

    @property
    def _dim(self) -> int:
        return 1 if self.mode == "channels" else -1

    def _grouped(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        if self.mode == "vector":
            return x.reshape(batch, -1)
        if self.mode == "channels":  # planar: channel c holds H·W values in a row
            return x.reshape(batch, self.channels, -1)
        return x.reshape(batch, -1, self.output_channels)  # interleaved groups

    def extra_repr(self) -> str:
        if self.mode == "groups":
            return f"output-channels={self.output_channels} (contiguous groups)"
        if self.mode == "channels":
            return f"across {self.channels} channels at each pixel"
        return "whole vector"


def _output_channels(node) -> int:
    return node.get("output-channels", 1)


def softmax_shape(node, input_shapes) -> Shape:
    shape = input_shapes[0]
    groups = _output_channels(node)
    if groups > 1 and shape.size % groups:
        raise ValueError(
            f":output-channels {groups} must divide the input size {shape.size} "
            f"(the softmax runs over groups of {groups} contiguous values)"
        )
    return shape


def validate_softmax(node) -> list[str]:
    return positive_int(node, "output-channels") if "output-channels" in node else []


SOFTMAX = register(
    LayerSpec(
        "softmax",
        flat_ok=True,
        infer_shape=softmax_shape,
        build=lambda ctx: CortexSoftmax(ctx.input_shape, _output_channels(ctx.node)),
        validate=validate_softmax,
        optional=("output-channels",),
        default_loss="softmax-loss",
        linear_composite=True,
        call_forms=(CallForm("softmax", examples=("(softmax)", "(softmax :output-channels 4)")),),
    )
)
