"""input, linear, convolutional and the element-wise activations, against the spec."""

from __future__ import annotations

import math

import pytest
import torch

from bridge.description.shapes import Shape, conv_output_size, pool_output_size
from bridge.layers.registry import LAYER_TYPES, BuildContext

F64 = {"dtype": torch.float64}


def build(node, *input_shapes):
    spec = LAYER_TYPES[node["type"]]
    node = {**spec.defaults, **node}
    if spec.complete:
        spec.complete(node)
    output = spec.infer_shape(node, input_shapes)
    module = spec.build(BuildContext(node, input_shapes, output, F64))
    return spec, module, output


@pytest.mark.parametrize(("size", "k", "p", "s", "floor", "ceil"),
                         [(28, 5, 0, 1, 24, 24), (24, 2, 0, 2, 12, 12), (3, 2, 1, 2, 2, 3),
                          (7, 3, 0, 2, 3, 3), (8, 3, 0, 2, 3, 4), (5, 5, 2, 1, 5, 5)])
def test_window_arithmetic(size, k, p, s, floor, ceil):
    assert conv_output_size(size, k, p, s) == floor
    assert pool_output_size(size, k, p, s) == ceil


def test_linear_shape_and_params():
    spec, module, output = build({"type": "linear", "output-size": 7}, Shape(2, 3, 4))
    assert output == Shape(1, 1, 7)
    ctx = BuildContext({"output-size": 7}, (Shape(2, 3, 4),), output)
    assert [p.shape(ctx) for p in spec.params] == [(7, 24), (7,)]
    assert module(torch.zeros(5, 2, 3, 4, **F64)).shape == (5, 7)


def test_conv_output_shape_non_square_input():
    node = {"type": "convolutional", "kernel-width": 3, "kernel-height": 3, "pad-x": 1,
            "pad-y": 1, "stride-x": 2, "stride-y": 2, "num-kernels": 6}
    _, module, output = build(node, Shape(3, 4, 7))  # 3 channels, 4 high, 7 wide
    assert output == Shape(6, 2, 4)
    assert module(torch.zeros(1, 3, 4, 7, **F64)).shape == (1, 6, 2, 4)


def test_conv_non_square_kernel_is_computed_correctly():
    node = {"type": "convolutional", "kernel-width": 3, "kernel-height": 1, "pad-x": 0,
            "pad-y": 0, "stride-x": 1, "stride-y": 1, "num-kernels": 1}
    _, module, output = build(node, Shape(1, 2, 4))
    assert output == Shape(1, 2, 2)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[[[1.0, 10.0, 100.0]]]]))
        module.bias.zero_()
    x = torch.tensor([[[[1.0, 2, 3, 4], [5, 6, 7, 8]]]], **F64)
    assert module(x).flatten().tolist() == [321.0, 432.0, 765.0, 876.0]


def test_conv_cross_correlation_with_padding_by_hand():
    node = {"type": "convolutional", "kernel-dim": 2, "pad": 1, "stride": 1,
            "num-kernels": 1}
    _, module, output = build(node, Shape(1, 1, 1))
    assert output == Shape(1, 2, 2)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]))
        module.bias.fill_(0.5)
    # one input cell 10 padded to 3x3; windows see it at kernel positions 4, 3, 2, 1
    out = module(torch.tensor([[[[10.0]]]], **F64)).flatten().tolist()
    assert out == [40.5, 30.5, 20.5, 10.5]


@pytest.mark.parametrize(
    ("kind", "x", "expected"),
    [
        ("relu", [-1.0, 0.0, 2.0], [0.0, 0.0, 2.0]),
        ("logistic", [0.0, math.log(3.0)], [0.5, 0.75]),
        ("tanh", [0.0, 1.0], [0.0, math.tanh(1.0)]),
        ("swish", [1.0, -2.0], [1 / (1 + math.exp(-1)), -2 / (1 + math.exp(2))]),
        ("selu", [1.0, -1.0], [1.0507009873554805,
                               1.0507009873554805 * 1.6732632423543772 * (math.exp(-1) - 1)]),
    ],
)
def test_activation_forward_by_hand(kind, x, expected):
    _, module, output = build({"type": kind}, Shape(1, 1, len(x)))
    assert output == Shape(1, 1, len(x))
    got = module(torch.tensor([x], **F64)).flatten().tolist()
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kind", ["linear", "convolutional", "relu", "logistic", "tanh",
                                  "swish", "selu", "prelu"])
def test_gradcheck(kind):
    nodes = {
        "linear": {"type": "linear", "output-size": 3},
        "convolutional": {"type": "convolutional", "kernel-dim": 2, "pad": 1, "stride": 1,
                          "num-kernels": 2},
    }
    node = nodes.get(kind, {"type": kind})
    spec, module, _ = build(node, Shape(2, 3, 3))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, **F64))
    x = torch.randn(2, 2, 3, 3, generator=generator, **F64)
    x = x + torch.sign(x) * 0.05  # keep away from relu/prelu's kink at 0
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(module, (x,))


def test_prelu_slope_gradient_is_mathematically_right():
    # Cortex summed dy·x over all elements (spec §1.7); autograd only over x < 0.
    _, module, _ = build({"type": "prelu"}, Shape(1, 1, 4))
    with torch.no_grad():
        module.weight.fill_(0.25)
    x = torch.tensor([[-1.0, 2.0, -3.0, 4.0]], **F64)
    module(x.view(1, 1, 1, 4)).sum().backward()
    assert module.weight.grad.tolist() == [-1.0, 0.0, -3.0, 0.0]


def test_input_shape_from_size_alone():
    _, _, output = build({"type": "input", "output-size": 12}, )
    assert output == Shape(1, 1, 12)
