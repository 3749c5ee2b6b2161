"""``:max-pooling`` with ``:pool-op :max``, ``:avg`` or ``:avg-exc-pad``
(cortex-spec §1.5, ``layers.clj:492-524``).

EDN spellings: ``(layers/max-pooling 2 0 2)`` (kernel, pad, stride),
``(max-pooling 3 1 2 :pool-op :avg)``, ``(max-pooling {:kernel-dim 2 :pad 0 :stride 2})``,
``{:type :max-pooling :kernel-width 2 :kernel-height 2 :pad-x 0 :pad-y 0 :stride-x 2
:stride-y 2}``.

Shape: ``(C, H, W) → (C, ⌈(H + 2·pad-y − kh)/stride-y⌉ + 1, ⌈(W + 2·pad-x − kw)/stride-x⌉ + 1)``:
ceil sizing *without* PyTorch's rule that drops a last window starting in the right
padding (in=3, k=2, pad=1, stride=2 gives 3 here, 2 with ``ceil_mode=True``);
``:dimension-op :floor`` switches to floor sizing. No parameters.

Pool operations: ``:max`` over the real input cells of each window (padding excluded, as
Cortex's cuDNN path and documentation do); ``:avg`` divides by k·k always, padding
counted as zeros; ``:avg-exc-pad`` divides by the number of real cells in the window.
Windows that run past the padded input (from ceil sizing) are clipped.

Differs from Cortex: Cortex's CPU path counted padding zeros in ``:max`` (so CPU and GPU
disagreed on negative activations with pad > 0); we follow the GPU and the docs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bridge.description.shapes import Shape, window_output_size
from bridge.edn.types import Keyword
from bridge.layers._checks import keyword_name, one_of
from bridge.layers.convolutional import complete_window, window_problems, window_shape
from bridge.layers.registry import LayerSpec, register

POOL_OPS = ("max", "avg", "avg-exc-pad")


class CortexPool2d(nn.Module):
    """Max or average pooling with Cortex's window placement."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
                 pool_op: str, input_shape: Shape, output_shape: Shape):
        super().__init__()
        self.kernel, self.stride, self.pad, self.pool_op = kernel, stride, pad, pool_op
        (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
        # Extra right/bottom padding so every window Cortex places exists in full; the
        # cells beyond the padded input are masked out below.
        self.extra = (
            max(0, (output_shape.height - 1) * sh + kh - (input_shape.height + 2 * ph)),
            max(0, (output_shape.width - 1) * sw + kw - (input_shape.width + 2 * pw)),
        )
        self.output_hw = (output_shape.height, output_shape.width)
        real = torch.zeros(1, 1, input_shape.height + 2 * ph + self.extra[0],
                           input_shape.width + 2 * pw + self.extra[1])
        real[..., ph:ph + input_shape.height, pw:pw + input_shape.width] = 1.0
        real_cells = F.avg_pool2d(real, kernel, stride)[..., : self.output_hw[0],
                                                         : self.output_hw[1]] * (kh * kw)
        # :avg-exc-pad divides by the real cells; windows with none give 0, not NaN.
        self.register_buffer("real_cells", real_cells.clamp_min(1.0), persistent=False)
        self.register_buffer("has_real", real_cells > 0, persistent=False)

    def forward(self, x):
        (ph, pw), (eh, ew) = self.pad, self.extra
        height, width = self.output_hw
        if self.pool_op == "max":
            padded = F.pad(x, (pw, pw + ew, ph, ph + eh), value=-math.inf)
            out = F.max_pool2d(padded, self.kernel, self.stride)[..., :height, :width]
            return torch.where(self.has_real, out, torch.zeros((), dtype=out.dtype,
                                                               device=out.device))
        padded = F.pad(x, (pw, pw + ew, ph, ph + eh), value=0.0)
        out = F.avg_pool2d(padded, self.kernel, self.stride)[..., :height, :width]
        if self.pool_op == "avg-exc-pad":
            out = out * (self.kernel[0] * self.kernel[1]) / self.real_cells
        return out

    def extra_repr(self) -> str:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        text = f"kernel={kw}x{kh}, stride={sw}x{sh}"
        if (ph, pw) != (0, 0):
            text += f", pad={pw}x{ph}"
        return text + f", pool_op={self.pool_op}"


def pool_shape(node, input_shapes) -> Shape:
    rounding = keyword_name(node.get("dimension-op", "ceil")) or "ceil"

    def sizer(size, kernel, pad, stride):
        return window_output_size(size, kernel, pad, stride, rounding)

    return window_shape(node, input_shapes[0], input_shapes[0].channels, sizer)


def build_pool(ctx) -> nn.Module:
    node = ctx.node
    return CortexPool2d((node["kernel-height"], node["kernel-width"]),
                        (node["stride-y"], node["stride-x"]), (node["pad-y"], node["pad-x"]),
                        keyword_name(node["pool-op"]), ctx.input_shape, ctx.output_shape)


def validate_pool(node) -> list[str]:
    return window_problems(node, rounding="ceil") + one_of(node, "pool-op", POOL_OPS)


MAX_POOLING = register(
    LayerSpec(
        "max-pooling",
        infer_shape=pool_shape,
        build=build_pool,
        required=("kernel-width", "kernel-height", "pad-x", "pad-y", "stride-x", "stride-y"),
        defaults={"pool-op": Keyword("max"), "dimension-op": Keyword("ceil"), "num-kernels": 0},
        complete=complete_window,
        validate=validate_pool,
        summary="max or average pooling, ceil sizing",
    )
)
