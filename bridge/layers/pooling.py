"""``:max-pooling`` with ``:pool-op :max``, ``:avg`` or ``:avg-exc-pad``
(cortex-spec §1.5, ``layers.clj:492-524``).

EDN spellings: ``(layers/max-pooling 2 0 2)`` (kernel, pad, stride),
``(max-pooling 3 1 2 :pool-op :avg)``, ``(max-pooling {:kernel-dim 2 :pad 0 :stride 2})``,
``{:type :max-pooling :kernel-width 2 :kernel-height 2 :pad-x 0 :pad-y 0 :stride-x 2
:stride-y 2}``. Defaults: ``:pool-op :max``, ``:dimension-op :ceil``, ``:num-kernels 0``.
There is no separate average-pooling type; Cortex has only this one.

Shape: ``(C, H, W) → (C, ⌈(H + 2·pad-y − kh)/stride-y⌉ + 1,
⌈(W + 2·pad-x − kw)/stride-x⌉ + 1)``: ceil sizing *without* PyTorch's rule that drops a
last window starting in the right padding (in=3, k=2, pad=1, stride=2 gives 3 here, 2
with ``ceil_mode=True``); ``:dimension-op :floor`` switches to floor sizing.
No parameters.

Window ``(i, j)`` covers padded rows ``[i·stride-y, i·stride-y + kh)`` and columns
``[j·stride-x, j·stride-x + kw)``; the parts of it that ceil sizing pushes past the
bottom/right padding (the overhang) hold nothing and are skipped.

- ``:max`` — the largest *real input* value in the window: padding is excluded, as
  Cortex documents (``layers.clj:493``) and its cuDNN path computes
  (``CUDNN_POOLING_MAX``). A window that holds no real cell at all (possible with
  ``pad ≥ kernel`` or with ceil overhang) gives 0.
- ``:avg`` — the sum of the real cells divided by kh·kw, always: padding and overhang
  count as zeros (``CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING``). Cortex's own test:
  2×2 ones, k=2, pad=1, stride=1 → ``[.25 .5 .25 .5 1 .5 .25 .5 .25]``.
- ``:avg-exc-pad`` — the sum divided by the number of real cells in the window (0 for a
  window without any).

Differs from Cortex: Cortex's *CPU* backend treated padding as 0.0 inside ``:max``
(``cpu/tensor_math.clj:1160-1172``), so on CPU a padded window of negative values pooled
to 0 while the GPU gave the negative maximum; we follow the documented (GPU) rule on every
device. Gradients come from autograd: a tie sends the whole gradient to one of the tied
inputs, where Cortex's CPU backward gave it to each of them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bridge.description.constructors import CallForm
from bridge.description.shapes import Shape, window_output_size
from bridge.edn.types import Keyword
from bridge.layers._checks import keyword_name, one_of, register_working_elements
from bridge.layers.convolutional import (
    complete_window,
    square_window,
    window_args,
    window_problems,
    window_shape,
)
from bridge.layers.registry import LayerSpec, register

__all__ = ["CortexPool2d", "MAX_POOLING", "POOL_OPS"]

POOL_OPS = ("max", "avg", "avg-exc-pad")


class CortexPool2d(nn.Module):
    """Max or average pooling with Cortex's window placement."""

    real_cells: torch.Tensor  # buffers (register_buffer), declared for the type checker
    has_real: torch.Tensor

    def __init__(
        self,
        kernel: tuple[int, int],
        stride: tuple[int, int],
        pad: tuple[int, int],
        pool_op: str,
        input_shape: Shape,
        output_shape: Shape,
        *,
        device=None,
        dtype=None,
    ):
        """**Arguments:**

        - kernel, stride, pad: ``(height, width)`` pairs (``:kernel-height``,
          ``:kernel-width`` …).
        - pool_op: ``"max"``, ``"avg"`` or ``"avg-exc-pad"``.
        - input_shape: the ``(C, H, W)`` this layer receives; the input must be
          ``[N, C, H, W]``.
        - output_shape: the ``(C, H', W')`` Cortex's sizing gives (ceil or floor).
        - device, dtype: where the precomputed window counts live.
        """
        super().__init__()
        if pool_op not in POOL_OPS:
            raise ValueError(f"pool_op must be one of {', '.join(POOL_OPS)}; got {pool_op!r}")
        self.kernel, self.stride, self.pad, self.pool_op = kernel, stride, pad, pool_op
        self.input_hw = (input_shape.height, input_shape.width)
        self.output_hw = (output_shape.height, output_shape.width)
        ph, pw = pad
        (height, width), (out_h, out_w) = self.input_hw, self.output_hw
        # Cortex pools with ceil and no last-window rule (cortex-spec §1.5): pad the
        # bottom/right by the overhang so every window Cortex places exists in full;
        # torch's plain pooling (no ceil_mode) then yields exactly those windows, and
        # the output is cut to Cortex's size (smaller when :dimension-op is :floor).
        extra_h, extra_w = _overhang(kernel, stride, pad, self.input_hw, self.output_hw)
        self.padding = (pw, pw + extra_w, ph, ph + extra_h)  # F.pad order: W, then H
        # How many real input cells each window holds (the padding and overhang are 0).
        # (pool_working_elements counts this tensor against the size limit beforehand.)
        real = torch.zeros(1, 1, height + 2 * ph + extra_h, width + 2 * pw + extra_w)
        real[..., ph : ph + height, pw : pw + width] = 1.0
        counts = F.avg_pool2d(real, kernel, stride, divisor_override=1)[..., :out_h, :out_w]
        self.all_windows_real = bool((counts > 0).all())
        factory = {"device": device, "dtype": dtype}
        # Non-persistent: derived from the shapes, so not part of the saved state.
        self.register_buffer("real_cells", counts.clamp_min(1.0).to(**factory),
                             persistent=False)
        self.register_buffer("has_real", (counts > 0).to(device=device), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """**Arguments:** x: ``[N, C, H, W]``. **Returns:** ``[N, C, H', W']``."""
        height, width = self.output_hw
        if self.pool_op == "max":
            if any(self.padding):
                # Padding never wins a max: pad with −∞ (cuDNN's rule, spec §1.5).
                x = F.pad(x, self.padding, value=-math.inf)
            out = F.max_pool2d(x, self.kernel, self.stride)[..., :height, :width]
            if not self.all_windows_real:  # a window of padding only: 0, not −∞
                out = torch.where(self.has_real, out, out.new_zeros(()))
            return out
        if any(self.padding):
            x = F.pad(x, self.padding, value=0.0)
        sums = F.avg_pool2d(x, self.kernel, self.stride, divisor_override=1)
        sums = sums[..., :height, :width]
        if self.pool_op == "avg":  # divisor always kh·kw (spec §1.5)
            return sums / (self.kernel[0] * self.kernel[1])
        return sums / self.real_cells  # :avg-exc-pad: divisor = real cells

    def extra_repr(self) -> str:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        text = f"kernel={kw}x{kh}, stride={sw}x{sh}"
        if (ph, pw) != (0, 0):
            text += f", pad={pw}x{ph}"
        if self.pool_op != "max":  # :max is Cortex's default
            text += f", pool-op={self.pool_op}"
        return text


def _overhang(kernel, stride, pad, input_hw, output_hw) -> tuple[int, int]:
    """Rows and columns past the bottom/right padding that ceil sizing's last windows
    reach."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    (height, width), (out_h, out_w) = input_hw, output_hw
    return (max(0, (out_h - 1) * sh + kh - (height + 2 * ph)),
            max(0, (out_w - 1) * sw + kw - (width + 2 * pw)))


def pool_working_elements(ctx) -> int:
    """Values :class:`CortexPool2d` allocates when built, beyond its output: the padded
    map of real cells, the window sums, and the two per-window buffers."""
    node, (height, width) = ctx.node, (ctx.input_shape.height, ctx.input_shape.width)
    kernel = (node["kernel-height"], node["kernel-width"])
    stride, pad = (node["stride-y"], node["stride-x"]), (node["pad-y"], node["pad-x"])
    out_hw = (ctx.output_shape.height, ctx.output_shape.width)
    extra_h, extra_w = _overhang(kernel, stride, pad, (height, width), out_hw)
    padded = (height + 2 * pad[0] + extra_h) * (width + 2 * pad[1] + extra_w)
    sums = ((height + 2 * pad[0] + extra_h - kernel[0]) // stride[0] + 1) * (
        (width + 2 * pad[1] + extra_w - kernel[1]) // stride[1] + 1)
    return padded + sums + 2 * out_hw[0] * out_hw[1]


def pool_shape(node, input_shapes) -> Shape:
    """Ceil sizing unless the node says ``:dimension-op :floor`` (cortex-spec §1.5)."""
    rounding = keyword_name(node.get("dimension-op", Keyword("ceil"))) or "ceil"

    def sizer(size, kernel, pad, stride):
        return window_output_size(size, kernel, pad, stride, rounding)

    return window_shape(node, input_shapes[0], input_shapes[0].channels, sizer)


def build_pool(ctx) -> nn.Module:
    node = ctx.node
    pool_op = keyword_name(node["pool-op"])
    assert pool_op is not None  # the spec's default, checked by the plan
    return CortexPool2d(
        (node["kernel-height"], node["kernel-width"]),
        (node["stride-y"], node["stride-x"]),
        (node["pad-y"], node["pad-x"]),
        pool_op,
        ctx.input_shape,
        ctx.output_shape,
        **ctx.factory_kwargs,
    )


def validate_pool(node) -> list[str]:
    return window_problems(node, rounding="ceil") + one_of(node, "pool-op", POOL_OPS)


def construct_pool(form, args: list, kvs: dict) -> list[dict]:
    """``(max-pooling kernel-dim pad stride & kvs)`` or the map arity; the options may
    override the defaults (``:pool-op :max``, ``:dimension-op :ceil``)."""
    given = window_args(form.name, args, kvs, ("kernel-dim", "pad", "stride"))
    return [{**square_window("max-pooling", given), **form.defaults, **given}]


MAX_POOLING = register(
    LayerSpec(
        "max-pooling",
        infer_shape=pool_shape,
        build=build_pool,
        required=("kernel-width", "kernel-height", "pad-x", "pad-y", "stride-x", "stride-y"),
        defaults={"pool-op": Keyword("max"), "dimension-op": Keyword("ceil"), "num-kernels": 0},
        complete=complete_window,
        validate=validate_pool,
        call_forms=(CallForm("max-pooling", construct_pool,
                             examples=("(max-pooling 2 0 2)", "(max-pooling 3 1 2 :pool-op :avg)",
                                       "(max-pooling 2 0 2 :kernel-dim 3 :id :p)",
                                       "(max-pooling {:kernel-dim 2 :pad 0 :stride 2})")),),
        optional=("kernel-dim", "pad", "stride"),
    )
)
register_working_elements("max-pooling", pool_working_elements)
