"""Shapes and Cortex's window arithmetic, free of torch.

Cortex keeps every activation as ``{:channels C :height H :width W}`` in planar CHW
order (cortex-spec §2.3); :class:`Shape` is that triple.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Shape", "conv_output_size", "pool_output_size", "window_output_size"]


class Shape(NamedTuple):
    """``(channels, height, width)`` of one layer's output, Cortex's order."""

    channels: int
    height: int
    width: int

    @property
    def size(self) -> int:
        """The flat element count C·H·W per sample."""
        return self.channels * self.height * self.width

    @classmethod
    def flat(cls, size: int) -> Shape:
        """The shape Cortex gives a flat vector: ``(1, 1, size)``."""
        return cls(1, 1, size)

    def __str__(self) -> str:
        return f"{self.channels}x{self.height}x{self.width}"


def window_output_size(size: int, kernel: int, pad: int, stride: int, rounding: str) -> int:
    """Cortex's ``get-padded-strided-dimension`` (cortex-spec §1.4, §1.5).

    ``out = round((size + 2·pad − kernel) / stride) + 1`` with ``round`` floor for
    convolutions and ceil for pooling. There is no rule that drops a last window
    starting inside the right padding (PyTorch's ``ceil_mode`` has one).

    The rounding applies to a negative span too, as Cortex's ``Math/ceil`` does: a
    kernel up to ``stride − 1`` cells larger than the padded input still gives one
    (ceil) window, e.g. size 1, kernel 2, stride 2 → ⌈−0.5⌉ + 1 = 1, with floor 0.
    """
    span = size + 2 * pad - kernel
    if rounding == "floor":
        return span // stride + 1
    if rounding == "ceil":
        return -(-span // stride) + 1
    raise ValueError(f"rounding must be 'floor' or 'ceil', got {rounding!r}")


def conv_output_size(size: int, kernel: int, pad: int, stride: int) -> int:
    """Output length of a convolution along one axis: floor sizing (cortex-spec §1.4)."""
    return window_output_size(size, kernel, pad, stride, "floor")


def pool_output_size(size: int, kernel: int, pad: int, stride: int) -> int:
    """Output length of a pooling along one axis: ceil sizing (cortex-spec §1.5)."""
    return window_output_size(size, kernel, pad, stride, "ceil")
