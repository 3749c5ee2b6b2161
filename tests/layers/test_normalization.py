""":batch-normalization (cortex-spec §1.9) and :local-response-normalization (§1.10)."""

from __future__ import annotations

import math

import pytest
import torch

import bridge
from bridge.description.shapes import Shape
from bridge.edn.types import Keyword
from bridge.layers.registry import LAYER_TYPES

F64 = {"dtype": torch.float64}


def set_params(module, scale, bias, means=None, variances=None):
    with torch.no_grad():
        module.weight.copy_(torch.tensor(scale, **F64))
        module.bias.copy_(torch.tensor(bias, **F64))
        if means is not None:
            module.running_mean.copy_(torch.tensor(means, **F64))
            module.running_var.copy_(torch.tensor(variances, **F64))


# --- batch normalisation: layout -------------------------------------------------------------


def test_elementwise_default_is_per_feature_even_after_a_conv(check_layer):
    # the mnist example: BN after 50x4x4 pooling has 4 x [800] = 3 200 parameters
    built = check_layer(
        "(batch-normalization)", Shape(50, 4, 4), expected_output_shape=Shape(50, 4, 4),
        expected_param_shapes={"scale": (800,), "bias": (800,), "means": (800,),
                               "variances": (800,)},
        expected_parameter_count=3200,
        repr_contains=("features=800",))
    assert built.node["mode"] == Keyword("elementwise")
    assert (built.node["average-factor"], built.node["epsilon"]) == (0.9, 1e-4)


def test_spatial_is_per_channel(check_layer):
    check_layer(
        "(batch-normalization :mode :spatial :ave-factor 0.8 :epsilon 1e-3)", Shape(5, 2, 3),
        expected_output_shape=Shape(5, 2, 3),
        expected_param_shapes={"scale": (5,), "bias": (5,), "means": (5,), "variances": (5,)},
        expected_parameter_count=20,
        repr_contains=("features=5, mode=spatial, average-factor=0.8, epsilon=0.001",))


def test_initial_values_are_cortex_s_and_running_stats_are_buffers():
    net = bridge.load_model("[(input 2 1 3) (batch-normalization)]", seed=0)
    params = net.parameters_by_layer()["batch-normalization-1"]
    assert list(params) == ["scale", "bias", "means", "variances"]
    assert params["scale"].tolist() == [1.0] * 6
    assert params["bias"].tolist() == [0.0] * 6
    assert params["means"].tolist() == [0.0] * 6
    assert params["variances"].tolist() == [0.0] * 6  # Cortex's 0, not PyTorch's 1
    module = net.layer_module("batch-normalization-1")
    assert {name for name, _ in module.named_parameters()} == {"weight", "bias"}
    assert {name for name, _ in module.named_buffers()} == {"running_mean", "running_var"}
    spec = LAYER_TYPES["batch-normalization"]
    assert [p.trainable for p in spec.params] == [True, True, False, False]


# --- batch normalisation: numbers ------------------------------------------------------------


def test_elementwise_training_steps_by_hand(build_layer):
    module = build_layer("(batch-normalization)", Shape(2, 1, 1)).module
    set_params(module, [2.0, 1.0], [0.0, 0.5])
    module.train()
    # feature 0: 1 3 5 → mean 3, population variance 8/3, unbiased 4
    # feature 1: 7 7 7 → mean 7, variance 0 → the bias
    x = torch.tensor([[1.0, 7.0], [3.0, 7.0], [5.0, 7.0]], **F64).reshape(3, 2, 1, 1)
    out = module(x).reshape(3, 2)
    root = math.sqrt(8 / 3 + 1e-4)
    assert out[:, 0].tolist() == pytest.approx([-4 / root, 0.0, 4 / root], rel=1e-14)
    assert out[:, 1].tolist() == [0.5, 0.5, 0.5]
    # the first batch of a fresh layer sets the running statistics (Cortex's f = 1),
    # with the unbiased variance
    assert module.running_mean.tolist() == pytest.approx([3.0, 7.0], rel=1e-14)
    assert module.running_var.tolist() == pytest.approx([4.0, 0.0], rel=1e-14)
    # a second batch: feature 0 constant 5, feature 1: 6 7 8 (mean 7, unbiased var 1);
    # from now on running = 0.1·running + 0.9·batch
    x = torch.tensor([[5.0, 6.0], [5.0, 7.0], [5.0, 8.0]], **F64).reshape(3, 2, 1, 1)
    module(x)
    assert module.running_mean.tolist() == pytest.approx([0.3 + 4.5, 0.7 + 6.3], rel=1e-14)
    assert module.running_var.tolist() == pytest.approx([0.4, 0.9], rel=1e-14)
    # evaluation uses the running statistics
    module.eval()
    x = torch.tensor([[5.0, 7.3]], **F64).reshape(1, 2, 1, 1)
    out = module(x).flatten().tolist()
    assert out == pytest.approx([2 * 0.2 / math.sqrt(0.4 + 1e-4),
                                 0.5 + 0.3 / math.sqrt(0.9 + 1e-4)], rel=1e-12)


def test_elementwise_normalises_each_pixel_separately(build_layer):
    # 1 channel, 2 pixels: pixel 0 sees 0 2, pixel 1 sees 10 30 — each its own mean
    module = build_layer("(batch-normalization)", Shape(1, 1, 2)).module
    set_params(module, [1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0])
    module.train()
    x = torch.tensor([[0.0, 10.0], [2.0, 30.0]], **F64).reshape(2, 1, 1, 2)
    out = module(x).reshape(2, 2)
    assert out[:, 0].tolist() == pytest.approx([-1 / math.sqrt(1 + 1e-4),
                                                1 / math.sqrt(1 + 1e-4)], rel=1e-14)
    assert out[:, 1].tolist() == pytest.approx([-10 / math.sqrt(100 + 1e-4),
                                                10 / math.sqrt(100 + 1e-4)], rel=1e-14)
    # first batch from zero statistics: pixel 0 mean 1, unbiased variance 2; pixel 1
    # mean 20, unbiased variance 200
    assert module.running_mean.tolist() == pytest.approx([1.0, 20.0], rel=1e-14)
    assert module.running_var.tolist() == pytest.approx([2.0, 200.0], rel=1e-14)


def test_spatial_pools_a_channel_over_batch_and_pixels(build_layer):
    module = build_layer("(batch-normalization :mode :spatial)", Shape(2, 1, 2)).module
    set_params(module, [1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0])
    module.train()
    # channel 0: 1 3 | 5 7 → mean 4, population variance 5, unbiased 20/3
    # channel 1: all 2 → mean 2, variance 0
    x = torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]], [[[5.0, 7.0]], [[2.0, 2.0]]]], **F64)
    out = module(x)
    root = math.sqrt(5 + 1e-4)
    assert out[:, 0].flatten().tolist() == pytest.approx(
        [-3 / root, -1 / root, 1 / root, 3 / root], rel=1e-14)
    assert out[:, 1].flatten().tolist() == [0.0] * 4
    assert module.running_mean.tolist() == pytest.approx([4.0, 2.0], rel=1e-14)
    assert module.running_var.tolist() == pytest.approx([20 / 3, 0.0], rel=1e-14)


def test_evaluating_before_training_divides_by_root_epsilon(build_layer):
    # Cortex initialises :variances to 0: y = x/√eps = 100·x with the default eps
    module = build_layer("(batch-normalization)", Shape(1, 1, 2)).module
    module.eval()
    out = module(torch.tensor([[0.5, -0.02]], **F64).reshape(1, 1, 1, 2))
    assert out.flatten().tolist() == pytest.approx([50.0, -2.0], rel=1e-12)


def test_average_factor_is_the_weight_of_the_new_batch(build_layer):
    module = build_layer("(batch-normalization :ave-factor 0.25)", Shape(1, 1, 1)).module
    set_params(module, [1.0], [0.0], [8.0], [4.0])
    module.train()
    module(torch.tensor([0.0, 4.0], **F64).reshape(2, 1, 1, 1))  # mean 2, unbiased var 8
    assert module.running_mean.tolist() == [0.75 * 8.0 + 0.25 * 2.0]
    assert module.running_var.tolist() == [0.75 * 4.0 + 0.25 * 8.0]


def _exact_batches(count, batch, features, mean, variance, seed):
    """Batches whose every feature has exactly this mean and population variance
    (Cortex's ``ensure-gaussian!``)."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        x = torch.randn(batch, features, generator=generator, **F64)
        x = x - x.mean(0)
        x = x / x.std(0, unbiased=False) * math.sqrt(variance) + mean
        batches.append(x)
    return batches


def test_first_batch_sets_the_running_statistics_as_in_cortex_s_layer_test():
    # Cortex's batch-normalization layer test: :ave-factor 0.8, batches of 20 whose 20
    # features all have mean 5 and population variance 20, seven training batches; it
    # then wants the running means at 5 to 1e-6 and the running variances at
    # 20·20/19 (unbiased). Averaging the first batch into the initial zeros would leave
    # the means at 5·(1 − 0.2⁷) ≈ 4.99994.
    net = bridge.load_model("[(input 20 :id :data) (batch-normalization :ave-factor 0.8)]",
                            seed=0).double()
    net.train()
    for x in _exact_batches(7, 20, 20, 5.0, 20.0, seed=3):
        out = net(x)
        assert out.mean(0).abs().max().item() < 1e-6
        assert out.var(0, unbiased=False).tolist() == pytest.approx([20 / (20 + 1e-4)] * 20,
                                                                   rel=1e-12)
    params = net.parameters_by_layer()["batch-normalization-1"]
    assert abs(params["means"].mean().item() - 5.0) < 1e-6
    assert params["variances"].tolist() == pytest.approx([20 * 20 / 19] * 20, rel=1e-12)


def test_trained_statistics_are_averaged_from_the_first_batch_on(build_layer):
    # statistics that are not the initial zeros (a trained network) are never overwritten
    module = build_layer("(batch-normalization :ave-factor 0.5)", Shape(1, 1, 1)).module
    set_params(module, [1.0], [0.0], [0.0], [2.0])
    module.train()
    module(torch.tensor([4.0, 8.0], **F64).reshape(2, 1, 1, 1))  # mean 6, unbiased var 8
    assert module.running_mean.tolist() == [3.0]
    assert module.running_var.tolist() == [5.0]
    module(torch.tensor([0.0, 0.0], **F64).reshape(2, 1, 1, 1))
    assert module.running_mean.tolist() == [1.5]
    assert module.running_var.tolist() == [2.5]


def test_only_the_very_first_batch_is_taken_whole(build_layer):
    # no reset per call (DESIGN.md): switching to eval and back does not re-arm it
    module = build_layer("(batch-normalization :ave-factor 0.5)", Shape(1, 1, 1)).module
    module.train()
    module(torch.tensor([2.0, 4.0], **F64).reshape(2, 1, 1, 1))  # mean 3, unbiased var 2
    assert (module.running_mean.tolist(), module.running_var.tolist()) == ([3.0], [2.0])
    module.eval()
    module(torch.tensor([[100.0]], **F64).reshape(1, 1, 1, 1))
    module.train()
    module(torch.tensor([6.0, 8.0], **F64).reshape(2, 1, 1, 1))  # mean 7, unbiased var 2
    assert (module.running_mean.tolist(), module.running_var.tolist()) == ([5.0], [2.0])
    # statistics zeroed again (a re-initialisation) are set by the next training batch
    set_params(module, [1.0], [0.0], [0.0], [0.0])
    module.train()
    module(torch.tensor([1.0, 5.0], **F64).reshape(2, 1, 1, 1))  # mean 3, unbiased var 8
    assert (module.running_mean.tolist(), module.running_var.tolist()) == ([3.0], [8.0])


# --- batch normalisation: keys and checks ------------------------------------------------


def test_ave_factor_is_honoured_when_average_factor_is_absent(build_layer):
    expanded = build_layer("{:type :batch-normalization :ave-factor 0.5}", Shape(1, 1, 4))
    assert expanded.node["average-factor"] == 0.5 and expanded.node["ave-factor"] == 0.5
    assert expanded.module.average_factor == 0.5
    both = build_layer("{:type :batch-normalization :ave-factor 0.5 :average-factor 0.7}",
                       Shape(1, 1, 4))
    assert both.module.average_factor == 0.7
    constructor = build_layer("(batch-normalization :ave-factor 0.3)", Shape(1, 1, 4))
    assert constructor.node["average-factor"] == 0.3


@pytest.mark.parametrize(("value", "shown"), [("1e-5", "1e-05"), ("1e-6", "1e-06"),
                                              ("0", "0"), ("-1.0", "-1.0")])
def test_epsilon_must_exceed_1e_5(model_error, value, shown):
    assert model_error(f"[(input 4) (batch-normalization :epsilon {value})]").reason == (
        ":epsilon must be a number > 1e-05 (Cortex's batch normalisation rejects smaller "
        f"values; 1e-05 builds there but fails at run time). Received: :epsilon {shown}")


def test_epsilon_just_above_1e_5_is_accepted(build_layer):
    assert build_layer("(batch-normalization :epsilon 1.1e-5)", Shape(1, 1, 2)).module.epsilon \
        == 1.1e-5


@pytest.mark.parametrize(
    ("layer", "reason"),
    [
        ("(batch-normalization :mode :per-pixel)",
         ":mode must be one of :elementwise :spatial. Received: :mode :per-pixel"),
        ("(batch-normalization :ave-factor 1.5)",
         ":average-factor must be a number >= 0 and <= 1. Received: :average-factor 1.5"),
    ],
)
def test_validation_messages(model_error, layer, reason):
    assert model_error(f"[(input 4) {layer}]").reason == reason


def test_a_training_batch_of_one_is_refused_clearly(build_layer):
    module = build_layer("(batch-normalization)", Shape(1, 1, 3)).module
    module.train()
    with pytest.raises(ValueError, match="batch normalisation needs at least 2 values per "
                                         r"feature while training \(got a batch of 1\)"):
        module(torch.ones(1, 1, 1, 3, **F64))
    spatial = build_layer("(batch-normalization :mode :spatial)", Shape(1, 1, 3)).module
    spatial.train()
    assert spatial(torch.arange(3.0, **F64).reshape(1, 1, 1, 3)).shape == (1, 1, 1, 3)
    module.eval()
    assert module(torch.ones(1, 1, 1, 3, **F64)).shape == (1, 3)


# --- local response normalisation -----------------------------------------------------------


def lrn_input():
    """Cortex's LRN test input: range(12) as 3 channels of 2x2, batch of 2."""
    return torch.arange(12.0, **F64).reshape(1, 3, 2, 2).expand(2, 3, 2, 2)


def test_lrn_n_1_from_cortex_test(build_layer):
    module = build_layer("(local-response-normalization :n 1 :k 1 :alpha 1 :beta 1)",
                         Shape(3, 2, 2)).module
    out = module(lrn_input()).flatten().tolist()
    assert out == pytest.approx([x / (1 + x * x) for x in range(12)] * 2, rel=1e-14)


def test_lrn_n_2_from_cortex_test(build_layer):
    # W(c) = [c, c + 1]: channel 0 pixel 1 is 1/(1 + (1² + 5²)/2) = 1/14
    module = build_layer("(local-response-normalization :n 2 :k 1 :alpha 1 :beta 1)",
                         Shape(3, 2, 2)).module
    expected = [0.0, 0.07142857142857142, 0.09523809523809523, 0.1,
                0.0975609756097561, 0.09259259259259259, 0.08695652173913043,
                0.08139534883720931, 0.24242424242424243, 0.21686746987951808,
                0.19607843137254902, 0.17886178861788618]
    assert module(lrn_input()).flatten().tolist() == pytest.approx(expected * 2, rel=1e-14)


def test_lrn_n_3_from_cortex_test(build_layer):
    # W(c) = [c − 1, c + 1]: channel 0 pixel 1 is 1/(1 + (1² + 5²)/3) = 3/29
    module = build_layer("(local-response-normalization :n 3 :k 1 :alpha 1 :beta 1)",
                         Shape(3, 2, 2)).module
    expected = [0.0, 0.10344827586206898, 0.13953488372093023, 0.14754098360655737,
                0.14457831325301207, 0.13636363636363638, 0.1258741258741259,
                0.11538461538461539, 0.28915662650602414, 0.24770642201834867,
                0.21582733812949642, 0.19075144508670522]
    assert module(lrn_input()).flatten().tolist() == pytest.approx(expected * 2, rel=1e-14)


def test_lrn_even_n_differs_from_torch(build_layer):
    module = build_layer("(local-response-normalization :n 2 :k 1 :alpha 1 :beta 1)",
                         Shape(3, 2, 2)).module
    x = lrn_input()[:1]
    ours = module(x)[0, 0, 0, 1].item()
    theirs = torch.nn.LocalResponseNorm(2, alpha=1.0, beta=1.0, k=1.0)(x)[0, 0, 0, 1].item()
    assert ours == pytest.approx(1 / 14, rel=1e-14)  # window: channels 0 and 1
    assert theirs == pytest.approx(1 / 1.5, rel=1e-14)  # torch's window: channel 0 alone


@pytest.mark.parametrize("n", [3, 5])
def test_lrn_odd_n_agrees_with_torch(build_layer, n):
    built = build_layer(f"(local-response-normalization :n {n} :k 1.5 :alpha 0.3)",
                        Shape(6, 2, 3))
    (x,) = built.inputs()
    theirs = torch.nn.LocalResponseNorm(n, alpha=0.3, beta=0.75, k=1.5)(x)
    torch.testing.assert_close(built.module(x), theirs, rtol=1e-12, atol=1e-12)


def test_lrn_five_channel_window_by_hand(build_layer):
    # defaults k 2, n 5, alpha 1e-4, beta .75; one pixel, channels 1..6: channel 0 sees
    # channels 0..2 (1 + 4 + 9 = 14), channel 3 sees 1..5 (4 + 9 + 16 + 25 + 36 = 90)
    built = build_layer("(local-response-normalization)", Shape(6, 1, 1))
    assert (built.node["k"], built.node["n"], built.node["alpha"], built.node["beta"]) == (
        2, 5, 1e-4, 0.75)
    out = built.module(torch.arange(1.0, 7.0, **F64).reshape(1, 6, 1, 1)).flatten().tolist()
    assert out[0] == pytest.approx(1 / (2 + 1e-4 / 5 * 14) ** 0.75, rel=1e-14)
    assert out[3] == pytest.approx(4 / (2 + 1e-4 / 5 * 90) ** 0.75, rel=1e-14)


def test_lrn_check_layer(check_layer):
    check_layer("(local-response-normalization :n 3)", Shape(4, 2, 3),
                expected_output_shape=Shape(4, 2, 3),
                repr_contains=("k=2, n=3, alpha=0.0001, beta=0.75",))


@pytest.mark.parametrize(
    ("layer", "reason"),
    [
        ("(local-response-normalization :n 0)", ":n must be a positive integer. Received: :n 0"),
        ("(local-response-normalization :n 2.0)",
         ":n must be a positive integer. Received: :n 2.0"),
        ("(local-response-normalization :beta :x)", ":beta must be a number. Received: :beta :x"),
    ],
)
def test_lrn_validation_messages(model_error, layer, reason):
    assert model_error(f"[(input 2 2 3) {layer}]").reason == reason


# --- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("(batch-normalization)", Shape(2, 2, 2)),
        ("(batch-normalization :mode :spatial)", Shape(2, 2, 2)),
        ("(local-response-normalization :n 2 :alpha 0.5)", Shape(4, 2, 2)),
        ("(local-response-normalization :alpha 0.5)", Shape(6, 1, 2)),
    ],
)
def test_gradcheck(build_layer, layer, shape):
    built = build_layer(layer, shape)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in built.module.parameters():
            param.copy_(torch.rand(param.shape, generator=generator, **F64) + 0.5)
    built.module.train()
    inputs = built.inputs(requires_grad=True)
    assert torch.autograd.gradcheck(built.module, inputs)
    built.module.eval()
    if hasattr(built.module, "running_var"):
        built.module.running_var.fill_(0.5)
    assert torch.autograd.gradcheck(built.module, inputs)


@pytest.mark.cuda
@pytest.mark.parametrize("layer", ["(batch-normalization)", "(local-response-normalization :n 4)"])
def test_cuda_matches_cpu(build_layer, layer):
    cpu = build_layer(layer, Shape(6, 2, 2))
    cuda = build_layer(layer, Shape(6, 2, 2), device="cuda")
    (x,) = cpu.inputs()
    torch.testing.assert_close(cuda.module(x.cuda()).cpu(), cpu.module(x))
