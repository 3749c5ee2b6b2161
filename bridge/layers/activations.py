"""Element-wise activations: ``:relu :logistic :tanh :swish :selu :prelu``
(cortex-spec §1.7, ``layers.clj:199-282``).

EDN spellings: ``(relu)``, ``(layers/tanh :id :t)``, ``(nn/relu)``, ``{:type :relu}``.

Shape: unchanged. Only ``:prelu`` has a parameter: ``:neg-scale``, one slope per
channel when the input has C > 1 channels, else one per element; initialised to 0.25.

Differs from Cortex: gradients come from autograd and are mathematically right. Cortex
differentiates swish and selu at the output instead of the input, and sums the prelu
slope gradient over all elements instead of the negative ones (spec §1.7, DESIGN.md).
"""

from __future__ import annotations

import torch
from torch import nn

from bridge.layers.registry import LayerSpec, ParamSpec, register


def _same_shape(node, input_shapes):
    return input_shapes[0]


class PReLU(nn.Module):
    """``y = x`` for x ≥ 0, ``a·x`` below, with slopes per channel or per element."""

    def __init__(self, input_shape, *, device=None, dtype=None):
        super().__init__()
        self.per_channel = input_shape.channels > 1
        count = input_shape.channels if self.per_channel else input_shape.size
        self.view_shape = (
            (1, input_shape.channels, 1, 1) if self.per_channel else (1, *input_shape)
        )
        self.weight = nn.Parameter(torch.empty(count, device=device, dtype=dtype))

    def forward(self, x):
        slopes = self.weight.view(self.view_shape)
        return torch.where(x >= 0, x, x * slopes)

    def extra_repr(self) -> str:
        return f"slopes={self.weight.numel()}, per_channel={self.per_channel}"


def _prelu_count(ctx) -> tuple[int]:
    shape = ctx.input_shape
    return (shape.channels if shape.channels > 1 else shape.size,)


def _activation(type_name, module_factory, *, init_activation, summary):
    return register(
        LayerSpec(
            type_name,
            infer_shape=_same_shape,
            build=lambda ctx: module_factory(),
            init_activation=init_activation,
            flat_ok=True,
            summary=summary,
        )
    )


RELU = _activation("relu", nn.ReLU, init_activation="relu", summary="max(x, 0)")
LOGISTIC = _activation("logistic", nn.Sigmoid, init_activation="xavier", summary="1/(1+e^-x)")
TANH = _activation("tanh", nn.Tanh, init_activation="xavier", summary="tanh x")
SWISH = _activation("swish", nn.SiLU, init_activation="relu", summary="x·σ(x)")
# λ = 1.0507009873554805, α = 1.6732632423543772 — the constants of nn.SELU too.
SELU = _activation("selu", nn.SELU, init_activation="xavier", summary="λx, or λα(eˣ−1) below 0")

PRELU = register(
    LayerSpec(
        "prelu",
        infer_shape=_same_shape,
        build=lambda ctx: PReLU(ctx.input_shape, **ctx.factory_kwargs),
        params=(
            ParamSpec("neg-scale", "weight", shape=_prelu_count,
                      init={"type": "constant", "value": 0.25}),
        ),
        params_cover_state=True,
        summary="x, or a·x below 0 with learned slopes",
    )
)
