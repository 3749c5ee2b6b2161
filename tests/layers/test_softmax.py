""":softmax in Cortex's three modes (cortex-spec §1.8)."""

from __future__ import annotations

import math

import pytest
import torch

from bridge.description.shapes import Shape
from bridge.layers.registry import LAYER_TYPES

F64 = {"dtype": torch.float64}

# softmax([1 2 3 4]), the numbers in Cortex's own tests (verify/nn/layers.clj:446-499)
SOFTMAX_1234 = [0.03205860328008499, 0.08714431874203257, 0.23688281808991013,
                0.6439142598879724]


def test_mode_1_whole_vector(build_layer):
    built = build_layer("(softmax)", Shape(1, 1, 3))
    assert built.module.mode == "vector"
    # e^0 : e^ln2 : e^ln5 = 1 : 2 : 5
    out = built.module(torch.tensor([[0.0, math.log(2.0), math.log(5.0)]], **F64))
    assert out.flatten().tolist() == pytest.approx([1 / 8, 2 / 8, 5 / 8], abs=1e-15)
    out = built.module(torch.tensor([[1.0, 2.0, 3.0, 4.0]], **F64)[:, :3])
    assert out.sum().item() == pytest.approx(1.0, abs=1e-15)


def test_mode_1_is_stable_for_large_values(build_layer):
    module = build_layer("(softmax)", Shape(1, 1, 4)).module
    out = module(torch.tensor([[1001.0, 1002.0, 1003.0, 1004.0]], **F64))
    assert out.flatten().tolist() == pytest.approx(SOFTMAX_1234, abs=1e-15)


def test_mode_2_per_pixel_across_channels(build_layer):
    # Cortex's softmax-image: 4 channels of 5x5, channel c filled with c + 1
    built = build_layer("(softmax)", Shape(4, 5, 5))
    assert built.module.mode == "channels"
    x = torch.arange(1.0, 5.0, **F64).reshape(1, 4, 1, 1).expand(2, 4, 5, 5)
    out = built.module(x).reshape(2, 4, 25)
    for channel in range(4):
        assert out[:, channel].flatten().tolist() == pytest.approx(
            [SOFTMAX_1234[channel]] * 50, abs=1e-15)


def test_mode_2_small_case_by_hand(build_layer):
    # channels 2, pixels 2: pixel 0 sees (0, ln 3), pixel 1 sees (ln 4, 0); planar layout
    module = build_layer("(softmax)", Shape(2, 1, 2)).module
    x = torch.tensor([[0.0, math.log(4.0), math.log(3.0), 0.0]], **F64)
    assert module(x).flatten().tolist() == pytest.approx([0.25, 0.8, 0.75, 0.2], abs=1e-15)
    # the same values as [N, C, H, W] give the same answer
    assert module(x.reshape(1, 2, 1, 2)).flatten().tolist() == pytest.approx(
        [0.25, 0.8, 0.75, 0.2], abs=1e-15)


def test_mode_3_groups_of_contiguous_values(build_layer):
    # Cortex's softmax-batch-channels: [1 2 3 4] repeated over 10 pixels, :output-channels 4
    built = build_layer("(softmax :output-channels 4)", Shape(1, 1, 40))
    assert built.module.mode == "groups"
    x = torch.tensor([1.0, 2.0, 3.0, 4.0] * 10, **F64).expand(3, 40)
    assert built.module(x).flatten().tolist() == pytest.approx(SOFTMAX_1234 * 30, abs=1e-15)


def test_mode_3_is_interleaved_not_planar(build_layer):
    # [0 ln3 | ln4 0] in groups of 2 → (.25 .75) (.8 .2); a planar reading would pair
    # 0 with ln4 and ln3 with 0 instead
    module = build_layer("(softmax :output-channels 2)", Shape(1, 1, 4)).module
    x = torch.tensor([[0.0, math.log(3.0), math.log(4.0), 0.0]], **F64)
    assert module(x).flatten().tolist() == pytest.approx([0.25, 0.75, 0.8, 0.2], abs=1e-15)


def test_mode_3_wins_over_channels(build_layer):
    # C = 2 but :output-channels 2: groups of contiguous values, not across channels
    module = build_layer("(softmax :output-channels 2)", Shape(2, 1, 2)).module
    assert module.mode == "groups"
    x = torch.tensor([[0.0, math.log(3.0), math.log(4.0), 0.0]], **F64).reshape(1, 2, 1, 2)
    assert module(x).flatten().tolist() == pytest.approx([0.25, 0.75, 0.8, 0.2], abs=1e-15)


def test_log_forward_is_log_softmax_in_the_same_mode(build_layer):
    for layer, shape in (("(softmax)", Shape(1, 1, 5)), ("(softmax)", Shape(3, 2, 2)),
                         ("(softmax :output-channels 3)", Shape(1, 2, 3))):
        built = build_layer(layer, shape)
        (x,) = built.inputs()
        torch.testing.assert_close(built.module.log_forward(x), built.module(x).log(),
                                   rtol=1e-12, atol=1e-12)


def test_gradient_is_the_real_jacobian_not_cortex_identity(build_layer):
    module = build_layer("(softmax)", Shape(1, 1, 3)).module
    x = torch.tensor([[0.0, math.log(2.0), math.log(5.0)]], **F64, requires_grad=True)
    module(x).backward(torch.ones(1, 3, **F64))
    # Σ softmax = 1 whatever x is, so its gradient is 0 (Cortex's pass-through gave 1s)
    assert x.grad.flatten().tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-15)
    x.grad = None
    module(x)[0, 0].backward()
    # ∂p0/∂x = p0·(δ − p) = (1/8)(7/8, −2/8, −5/8)
    assert x.grad.flatten().tolist() == pytest.approx([7 / 64, -2 / 64, -5 / 64], abs=1e-15)


@pytest.mark.parametrize(
    ("layer", "shape", "repr_piece"),
    [
        ("(softmax)", Shape(1, 1, 10), "whole vector"),
        ("(softmax)", Shape(5, 3, 2), "across 5 channels at each pixel"),
        ("(softmax :output-channels 4)", Shape(2, 2, 4), "output-channels=4"),
    ],
)
def test_check_layer(check_layer, layer, shape, repr_piece):
    check_layer(layer, shape, expected_output_shape=shape, repr_contains=(repr_piece,))


def test_spec():
    spec = LAYER_TYPES["softmax"]
    assert spec.default_loss == "softmax-loss"
    assert spec.params == () and spec.defaults == {}
    assert spec.parents == (1, 1)


def test_output_channels_must_divide_the_size(model_error):
    assert model_error("[(input 10) (softmax :output-channels 3)]").reason == (
        ":output-channels 3 must divide the input size 10 (the softmax runs over groups of "
        "3 contiguous values)")


@pytest.mark.parametrize(("value", "shown"), [("0", "0"), ("2.5", "2.5"), ("nil", "nil")])
def test_output_channels_must_be_a_positive_integer(model_error, value, shown):
    assert model_error(f"[(input 10) (softmax :output-channels {value})]").reason == (
        f":output-channels must be a positive integer. Received: :output-channels {shown}")


@pytest.mark.parametrize(
    ("layer", "shape"),
    [("(softmax)", Shape(1, 1, 5)), ("(softmax)", Shape(3, 2, 2)),
     ("(softmax :output-channels 2)", Shape(1, 1, 6))],
)
def test_gradcheck(build_layer, layer, shape):
    built = build_layer(layer, shape)
    assert torch.autograd.gradcheck(built.module, built.inputs(batch=2, requires_grad=True))


@pytest.mark.cuda
def test_cuda_matches_cpu(build_layer):
    cpu = build_layer("(softmax)", Shape(3, 2, 2))
    cuda = build_layer("(softmax)", Shape(3, 2, 2), device="cuda")
    (x,) = cpu.inputs()
    torch.testing.assert_close(cuda.module(x.cuda()).cpu(), cpu.module(x))
