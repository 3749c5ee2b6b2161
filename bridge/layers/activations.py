"""Element-wise activations: ``:relu :logistic :tanh :swish :selu :prelu``
(cortex-spec §1.7, ``layers.clj:199-282``).

EDN spellings: ``(relu)``, ``(layers/tanh :id :t)``, ``(nn/relu)``, ``{:type :relu}``, and
``(linear->relu 10)`` for all but prelu (``linear_composite``). Adding an activation is
one ``_activation(...)`` line here, or one ``bridge.register_layer(...,
linear_composite=True)`` call outside.

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


def _activation(type_name, module_factory, *, init_activation):
    """An element-wise activation: ``(name & kvs)`` and ``(linear->name n & kvs)``."""
    return register(
        LayerSpec(
            type_name,
            infer_shape=_same_shape,
            build=lambda ctx: module_factory(),
            init_activation=init_activation,
            flat_ok=True,
            linear_composite=True,
        )
    )


RELU = _activation("relu", nn.ReLU, init_activation="relu")  # max(x, 0)
LOGISTIC = _activation("logistic", nn.Sigmoid, init_activation="xavier")  # 1/(1+e^-x)
TANH = _activation("tanh", nn.Tanh, init_activation="xavier")
SWISH = _activation("swish", nn.SiLU, init_activation="relu")  # x·σ(x)
# λx, or λα(eˣ−1) below 0; λ = 1.0507009873554805, α = 1.6732632423543772, nn.SELU's too.
SELU = _activation("selu", nn.SELU, init_activation="xavier")

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
    )
)
