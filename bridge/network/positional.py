"""A network with positional inputs and a tuple of outputs, as tracers want it (the ONNX
exporter, TensorBoard's graph)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Positional", "example_inputs"]


class Positional(nn.Module):
    """``net`` called as ``f(*inputs)`` in ``net.input_ids`` order, returning its leaves
    in ``net.output_ids`` order."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, *inputs):
        outputs = self.net(dict(zip(self.net.input_ids, inputs, strict=True)))
        return tuple(outputs[leaf] for leaf in self.net.output_ids)


def example_inputs(net, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """Zeros of the network's input sizes, in its precision and on its device."""
    return tuple(torch.zeros(batch, net.input_sizes[i], dtype=net.dtype, device=net.device)
                 for i in net.input_ids)
