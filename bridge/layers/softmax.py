"""``:softmax`` in Cortex's three modes (cortex-spec §1.8, ``layers.clj:171-191``).

EDN spellings: ``(softmax)``, ``(softmax :output-channels 4)``, ``(nn/softmax)``,
``{:type :softmax}``; also the second half of ``(linear->softmax n)``.

Modes, chosen by the input and ``:output-channels`` (default 1):

1. input with one channel: one softmax over the whole per-sample vector;
2. input with C > 1 channels and ``:output-channels`` 1: a softmax *across channels* at
   every pixel (the planar ``[N, C, H·W]`` view);
3. ``:output-channels n > 1``: a softmax over each run of n *contiguous* values, i.e.
   the data is interleaved with the class fastest (``[N, size/n, n]``).

Shape: unchanged. No parameters. Its default loss is softmax-loss.

Differs from Cortex: the gradient is softmax's real Jacobian (autograd). Cortex passed
the gradient through unchanged, which is right only under softmax-loss.
"""

from __future__ import annotations

from torch import nn

from bridge.description.shapes import Shape
from bridge.layers.registry import LayerSpec, register


class CortexSoftmax(nn.Module):
    """Softmax over the whole vector, across channels per pixel, or in groups."""

    def __init__(self, input_shape: Shape, output_channels: int):
        super().__init__()
        self.output_channels = output_channels
        if output_channels > 1:
            self.mode = "groups"
        elif input_shape.channels > 1:
            self.mode = "channels"
        else:
            self.mode = "vector"
        self.channels = input_shape.channels

    def forward(self, x):
        return self._by_mode(x, "softmax")

    def log_forward(self, x):
        """log-softmax in the same mode (for the trainer's softmax loss)."""
        return self._by_mode(x, "log_softmax")

    def _by_mode(self, x, function: str):
        batch = x.shape[0]
        if self.mode == "vector":
            return getattr(x.reshape(batch, -1), function)(dim=1)
        if self.mode == "channels":
            return getattr(x.reshape(batch, self.channels, -1), function)(dim=1)
        return getattr(x.reshape(batch, -1, self.output_channels), function)(dim=-1)

    def extra_repr(self) -> str:
        if self.mode == "groups":
            return f"groups of {self.output_channels} contiguous values"
        return "across channels per pixel" if self.mode == "channels" else "whole vector"


def softmax_shape(node, input_shapes) -> Shape:
    shape = input_shapes[0]
    groups = node.get("output-channels", 1)
    if groups > 1 and shape.size % groups:
        raise ValueError(f":output-channels {groups} must divide the input size {shape.size}")
    return shape


def validate_softmax(node) -> list[str]:
    value = node.get("output-channels", 1)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return []
    return [f":output-channels must be a positive integer. Received: :output-channels {value}"]


SOFTMAX = register(
    LayerSpec(
        "softmax",
        flat_ok=True,
        infer_shape=softmax_shape,
        build=lambda ctx: CortexSoftmax(ctx.input_shape, ctx.node.get("output-channels", 1)),
        validate=validate_softmax,
        default_loss="softmax-loss",
        summary="softmax: whole vector, per pixel across channels, or in groups",
    )
)
