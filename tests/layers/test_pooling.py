""":max-pooling with :pool-op :max / :avg / :avg-exc-pad (cortex-spec §1.5).

Every expected number below is worked out by hand from the spec's rules: ceil sizing
without PyTorch's last-window rule, padding excluded from :max, :avg divided by k·k,
:avg-exc-pad divided by the real cells, overhang windows clipped.
"""

from __future__ import annotations

import pytest
import torch

import bridge
from bridge.description.shapes import Shape
from bridge.edn.types import Keyword
from bridge.layers.pooling import CortexPool2d
from bridge.layers.registry import LAYER_TYPES

F64 = {"dtype": torch.float64}


def grid(rows, channels=1):
    """A ``[1, channels, H, W]`` tensor from nested rows, repeated over channels."""
    return torch.tensor(rows, **F64).expand(1, channels, -1, -1).contiguous()


# --- Cortex's own layer tests (verify/nn/layers.clj:560-640) ------------------------------


def test_avg_includes_padding_divides_by_k_squared(build_layer):
    # 2x2 ones in 4 channels, k=2 p=1 s=1 → 3x3 per channel
    built = build_layer("(max-pooling 2 1 1 :pool-op :avg)", Shape(4, 2, 2))
    assert built.output_shape == Shape(4, 3, 3)
    x = torch.ones(2, 4, 2, 2, **F64, requires_grad=True)
    out = built.module(x)
    assert out.flatten().tolist() == [0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25] * 8
    # output gradient 1..9 per channel: each input cell sits in four windows, each /4
    out.backward(torch.arange(1.0, 10.0, **F64).reshape(1, 1, 3, 3).expand(2, 4, 3, 3))
    assert x.grad.flatten().tolist() == [3.0, 4.0, 6.0, 7.0] * 8


def test_avg_exc_pad_divides_by_real_cells(build_layer):
    built = build_layer("(max-pooling 2 1 1 :pool-op :avg-exc-pad)", Shape(4, 2, 2))
    x = torch.ones(2, 4, 2, 2, **F64, requires_grad=True)
    out = built.module(x)
    assert out.flatten().tolist() == [1.0] * 72
    # corner windows hold 1 real cell, edge windows 2, the centre 4:
    # input (0,0) gets 1/1 + 2/2 + 4/2 + 5/4 = 5.25
    out.backward(torch.arange(1.0, 10.0, **F64).reshape(1, 1, 3, 3).expand(2, 4, 3, 3))
    assert x.grad.flatten().tolist() == [5.25, 8.25, 14.25, 17.25] * 8


def test_max_basic_and_its_gradient(build_layer):
    built = build_layer("(max-pooling 2 0 1)", Shape(4, 2, 2))
    assert built.output_shape == Shape(4, 1, 1)
    x = torch.arange(1.0, 17.0, **F64).reshape(1, 4, 2, 2).requires_grad_(True)
    out = built.module(x)
    assert out.flatten().tolist() == [4.0, 8.0, 12.0, 16.0]
    out.backward(torch.tensor([1.0, 2.0, 3.0, 4.0], **F64).reshape(1, 4, 1, 1))
    assert x.grad.flatten().tolist() == [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]


# --- ceil sizing without the last-window rule ------------------------------------------


def test_ceil_gives_a_window_torch_ceil_mode_drops(build_layer):
    # in=3, k=2, p=1, s=2: ⌈(3 + 2 − 2)/2⌉ + 1 = 3 windows; torch's ceil_mode gives 2
    built = build_layer("(max-pooling 2 1 2)", Shape(1, 3, 3))
    assert built.output_shape == Shape(1, 3, 3)
    assert torch.nn.MaxPool2d(2, 2, 1, ceil_mode=True)(torch.zeros(1, 1, 3, 3)).shape == (
        1, 1, 2, 2)
    x = -grid([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    # padded rows/cols 0..4 (0 and 4 are padding); windows start at 0, 2, 4.
    # (0,0) holds only -1; (0,1) holds -2 -3; (1,0) holds -4 -7; (1,1) holds -5 -6 -8 -9;
    # the last row and column of windows cover padding and overhang only → 0.
    # (Cortex's CPU backend, which let padding zeros win, would give 0 0 0 / 0 -5 0 / 0 0 0.)
    assert built.module(x).flatten().tolist() == [-1, -2, 0, -4, -5, 0, 0, 0, 0]


def test_ceil_windows_with_avg_and_avg_exc_pad(build_layer):
    x = -grid([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    avg = build_layer("(max-pooling 2 1 2 :pool-op :avg)", Shape(1, 3, 3)).module
    assert avg(x).flatten().tolist() == [-0.25, -1.25, 0, -2.75, -7.0, 0, 0, 0, 0]
    exc = build_layer("(max-pooling 2 1 2 :pool-op :avg-exc-pad)", Shape(1, 3, 3)).module
    assert exc(x).flatten().tolist() == [-1.0, -2.5, 0, -5.5, -7.0, 0, 0, 0, 0]


def test_overhang_counts_as_zero_in_avg_unlike_torch(build_layer):
    # in=4, k=3, p=0, s=2: 2 windows; the second covers columns 2, 3 and one overhang
    built = build_layer("(max-pooling 3 0 2 :pool-op :avg)", Shape(1, 4, 4))
    assert built.output_shape == Shape(1, 2, 2)
    ones = torch.ones(1, 1, 4, 4, **F64)
    # real cells per window 9, 6, 6, 4; the divisor stays 3·3 = 9
    assert built.module(ones).flatten().tolist() == [1.0, 6 / 9, 6 / 9, 4 / 9]
    # torch clips the divisor to the window's part inside the input: 1 everywhere
    torch_avg = torch.nn.AvgPool2d(3, 2, ceil_mode=True)(ones)
    assert torch_avg.flatten().tolist() == [1.0, 1.0, 1.0, 1.0]
    exc = build_layer("(max-pooling 3 0 2 :pool-op :avg-exc-pad)", Shape(1, 4, 4)).module
    assert exc(ones).flatten().tolist() == [1.0, 1.0, 1.0, 1.0]


def test_ceil_max_over_an_overhang_window(build_layer):
    built = build_layer("(max-pooling 2 0 2)", Shape(1, 5, 5))
    assert built.output_shape == Shape(1, 3, 3)
    x = torch.arange(25.0, **F64).reshape(1, 1, 5, 5)
    # windows rows {0,1} {2,3} {4}, columns likewise
    assert built.module(x).flatten().tolist() == [6, 8, 9, 16, 18, 19, 21, 23, 24]


def test_ceil_of_a_negative_span_still_gives_one_window(build_layer):
    # a flat 1x5 row under a 2x2 pool: height ⌈(1 − 2)/2⌉ + 1 = ⌈−0.5⌉ + 1 = 1 (Cortex's
    # Math/ceil gives −0.0), width ⌈(5 − 2)/2⌉ + 1 = 3; each window's second row is
    # overhang, and the last window's second column too
    row = [[3.0, -1.0, -4.0, -2.0, 5.0]]
    built = build_layer("(max-pooling 2 0 2)", Shape(1, 1, 5))
    assert built.output_shape == Shape(1, 1, 3)
    assert built.module(grid(row)).flatten().tolist() == [3.0, -2.0, 5.0]
    avg = build_layer("(max-pooling 2 0 2 :pool-op :avg)", Shape(1, 1, 5)).module
    assert avg(grid(row)).flatten().tolist() == [0.5, -1.5, 1.25]
    exc = build_layer("(max-pooling 2 0 2 :pool-op :avg-exc-pad)", Shape(1, 1, 5)).module
    assert exc(grid(row)).flatten().tolist() == [1.0, -3.0, 5.0]
    # the same network through load_model: flat input, flat output
    net = bridge.load_model("[(input 5) (max-pooling 2 0 2)]")
    assert net.layers[-1].output_shape == Shape(1, 1, 3)
    assert net(torch.tensor(row)).tolist() == [[3.0, -2.0, 5.0]]


def test_negative_span_limits(model_error):
    # floor of −0.5 is −1: no window; a span of −stride or less gives none under ceil
    assert model_error("[(input 5) (max-pooling 2 0 2 :dimension-op :floor)]").reason == (
        "a 2x2 window with pad 0x0 does not fit the 5x1 (width x height) input")
    assert model_error("[(input 5) (max-pooling 2 0 1)]").reason == (
        "a 2x2 window with pad 0x0 does not fit the 5x1 (width x height) input")


def test_dimension_op_floor_override(build_layer):
    built = build_layer("(max-pooling 2 0 2 :dimension-op :floor)", Shape(1, 5, 5))
    assert built.output_shape == Shape(1, 2, 2)
    x = torch.arange(25.0, **F64).reshape(1, 1, 5, 5)
    assert built.module(x).flatten().tolist() == [6, 8, 16, 18]


def test_pad_as_large_as_the_kernel_gives_padding_only_windows(build_layer):
    # k=1, p=1: the border windows hold padding alone → 0 for every pool-op
    x = grid([[-3.0]])
    for op in ("max", "avg", "avg-exc-pad"):
        built = build_layer(f"(max-pooling 1 1 1 :pool-op :{op})", Shape(1, 1, 1))
        assert built.output_shape == Shape(1, 3, 3)
        assert built.module(x).flatten().tolist() == [0, 0, 0, 0, -3.0, 0, 0, 0, 0]


def test_non_square_window_from_an_expanded_map(build_layer):
    built = build_layer("{:type :max-pooling :kernel-width 3 :kernel-height 1 :pad-x 1 "
                        ":pad-y 0 :stride-x 2 :stride-y 1}", Shape(1, 2, 4))
    # height (2 − 1)/1 + 1 = 2; width ⌈(4 + 2 − 3)/2⌉ + 1 = 3
    assert built.output_shape == Shape(1, 2, 3)
    x = grid([[1, 2, 3, 4], [5, 6, 7, 8]])
    # columns: {pad,1,2} {2,3,4} {4,pad,overhang}
    assert built.module(x).flatten().tolist() == [2, 4, 4, 6, 8, 8]


# --- shapes, parameters, repr, export (the shared harness) ------------------------------


@pytest.mark.parametrize(
    ("layer", "shape", "expected", "repr_piece"),
    [
        ("(max-pooling 2 0 2)", Shape(20, 24, 24), Shape(20, 12, 12), "kernel=2x2, stride=2x2"),
        ("(max-pooling 3 1 2 :pool-op :avg-exc-pad)", Shape(2, 5, 7), Shape(2, 3, 4),
         "pool-op=avg-exc-pad"),
        ("(max-pooling 2 1 2 :pool-op :avg)", Shape(3, 3, 3), Shape(3, 3, 3), "pad=1x1"),
        ("(max-pooling {:kernel-dim 3 :pad 0 :stride 3})", Shape(1, 7, 7), Shape(1, 3, 3),
         "kernel=3x3, stride=3x3"),
    ],
)
def test_check_layer(check_layer, layer, shape, expected, repr_piece):
    built = check_layer(layer, shape, expected_output_shape=expected, repr_contains=(repr_piece,))
    assert built.module(*built.inputs()).shape == (3, *expected)


def test_defaults_are_cortex_constructor_values(build_layer):
    node = build_layer("{:type :max-pooling :kernel-dim 2 :pad 0 :stride 2}", Shape(1, 4, 4)).node
    assert node["pool-op"] == Keyword("max")
    assert node["dimension-op"] == Keyword("ceil")
    assert node["num-kernels"] == 0
    assert (node["kernel-width"], node["pad-y"], node["stride-x"]) == (2, 0, 2)
    spec = LAYER_TYPES["max-pooling"]
    assert spec.params == () and spec.default_loss == "mse-loss"


def test_max_repr_leaves_out_the_default_pool_op(build_layer):
    assert build_layer("(max-pooling 2 0 2)", Shape(1, 4, 4)).module.extra_repr() == (
        "kernel=2x2, stride=2x2")


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[(input 4 4 1) (max-pooling 2 0 2 :pool-op :median)]",
         ":pool-op must be one of :max :avg :avg-exc-pad. Received: :pool-op :median"),
        ("[(input 4 4 1) (max-pooling 2 0 2 :pool-op \"avg\")]",
         ':pool-op must be one of :max :avg :avg-exc-pad. Received: :pool-op "avg"'),
        ("[(input 4 4 1) (max-pooling 2 0 2 :dimension-op :round)]",
         ":dimension-op must be :floor or :ceil. Received: :dimension-op :round"),
        ("[(input 3 3 1) (max-pooling 5 0 1)]",
         "a 5x5 window with pad 0x0 does not fit the 3x3 (width x height) input"),
        ("[(input 4 4 1) {:type :max-pooling :kernel-dim 2 :pad -1 :stride 2}]",
         ":pad-x must be a non-negative integer. Received: :pad-x -1"),
    ],
)
def test_validation_messages(model_error, text, reason):
    assert model_error(text).reason == reason


def test_module_rejects_an_unknown_pool_op():
    with pytest.raises(ValueError, match="pool_op must be one of max, avg, avg-exc-pad; got 'min'"):
        CortexPool2d((2, 2), (2, 2), (0, 0), "min", Shape(1, 4, 4), Shape(1, 2, 2))


# --- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("(max-pooling 2 1 2)", Shape(2, 3, 3)),  # overhang and padding-only windows
        ("(max-pooling 3 1 2 :pool-op :avg)", Shape(2, 4, 4)),
        ("(max-pooling 2 1 2 :pool-op :avg-exc-pad)", Shape(2, 3, 3)),
        ("(max-pooling 2 0 2)", Shape(1, 4, 4)),  # no padding at all: the plain path
    ],
)
def test_gradcheck(build_layer, layer, shape):
    built = build_layer(layer, shape)
    assert torch.autograd.gradcheck(built.module, built.inputs(batch=2, requires_grad=True))


# --- devices --------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("op", ["max", "avg", "avg-exc-pad"])
def test_cuda_matches_cpu(build_layer, op):
    layer = f"(max-pooling 3 1 2 :pool-op :{op})"
    cpu = build_layer(layer, Shape(3, 6, 5))
    cuda = build_layer(layer, Shape(3, 6, 5), device="cuda")
    (x,) = cpu.inputs()
    torch.testing.assert_close(cuda.module(x.cuda()).cpu(), cpu.module(x))
