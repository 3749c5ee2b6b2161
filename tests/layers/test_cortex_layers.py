"""Pooling, softmax, dropout, batch-norm, LRN and the graph layers, against numbers
worked out by hand from cortex-spec §1.5-1.11."""

from __future__ import annotations

import math

import pytest
import torch

import bridge
from bridge.description.shapes import Shape
from bridge.edn.types import Keyword
from bridge.layers.registry import LAYER_TYPES, BuildContext

F64 = {"dtype": torch.float64}


def build(node, *input_shapes):
    spec = LAYER_TYPES[node["type"]]
    node = {**spec.defaults, **node}
    if spec.complete:
        spec.complete(node)
    problems = spec.validate(node) if spec.validate else []
    assert problems == []
    output = spec.infer_shape(node, input_shapes)
    module = spec.build(BuildContext(node, input_shapes, output, F64))
    return module, output


def pool(k, p, s, op="max", **extra):
    return {"type": "max-pooling", "kernel-dim": k, "pad": p, "stride": s,
            "pool-op": Keyword(op), **extra}


# --- pooling -------------------------------------------------------------------------------


def test_avg_pool_with_padding_from_cortex_test():
    # verify/nn/layers.clj: 2x2 ones, k=2 p=1 s=1, :avg → 3x3 [.25 .5 .25 .5 1 .5 .25 .5 .25]
    module, output = build(pool(2, 1, 1, "avg"), Shape(1, 2, 2))
    assert output == Shape(1, 3, 3)
    out = module(torch.ones(1, 1, 2, 2, **F64)).flatten().tolist()
    assert out == [0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25]


def test_avg_exc_pad_divides_by_real_cells():
    module, _ = build(pool(2, 1, 1, "avg-exc-pad"), Shape(1, 2, 2))
    assert module(torch.ones(1, 1, 2, 2, **F64)).flatten().tolist() == [1.0] * 9


def test_ceil_sizing_without_torch_last_window_rule():
    # in=3, k=2, p=1, s=2: Cortex gives 3 outputs, torch's ceil_mode gives 2
    module, output = build(pool(2, 1, 2), Shape(1, 1, 3))
    assert output == Shape(1, 2, 3)  # height 1 also grows to 2
    assert torch.nn.MaxPool2d(2, 2, 1, ceil_mode=True)(torch.zeros(1, 1, 1, 3)).shape[-1] == 2
    x = torch.tensor([[[[-1.0, -2.0, -3.0]]]], **F64)
    # windows over padded [pad, -1, -2, -3, pad]: {pad,-1} {-2,-3} {pad}; padding excluded,
    # a window of padding alone gives 0
    assert module(x).flatten().tolist() == [-1.0, -2.0, 0.0, 0.0, 0.0, 0.0]


def test_max_pool_2x2_stride_2():
    module, output = build(pool(2, 0, 2), Shape(1, 4, 4))
    assert output == Shape(1, 2, 2)
    x = torch.arange(16, **F64).reshape(1, 1, 4, 4)
    assert module(x).flatten().tolist() == [5.0, 7.0, 13.0, 15.0]


def test_floor_dimension_op_override():
    module, output = build(pool(2, 0, 2, **{"dimension-op": Keyword("floor")}), Shape(1, 5, 5))
    assert output == Shape(1, 2, 2)
    _, ceil_output = build(pool(2, 0, 2), Shape(1, 5, 5))
    assert ceil_output == Shape(1, 3, 3)


def test_unknown_pool_op_lists_the_three():
    with pytest.raises(bridge.ModelError) as caught:
        bridge.load_model("[(input 4 4 1) (max-pooling 2 0 2 :pool-op :median)]")
    assert caught.value.reason == (":pool-op must be one of :max :avg :avg-exc-pad. "
                                   "Received: :pool-op :median")


# --- softmax -------------------------------------------------------------------------------


def test_softmax_whole_vector():
    module, _ = build({"type": "softmax"}, Shape(1, 1, 3))
    out = module(torch.tensor([[[[0.0, math.log(2.0), math.log(5.0)]]]], **F64))
    assert out.flatten().tolist() == pytest.approx([0.125, 0.25, 0.625], abs=1e-15)


def test_softmax_per_pixel_across_channels():
    # two channels, two pixels: pixel 0 sees (0, ln 3), pixel 1 sees (ln 4, 0)
    module, _ = build({"type": "softmax"}, Shape(2, 1, 2))
    x = torch.tensor([[0.0, math.log(4.0), math.log(3.0), 0.0]], **F64).reshape(1, 2, 1, 2)
    out = module(x).flatten().tolist()
    assert out == pytest.approx([0.25, 0.8, 0.75, 0.2], abs=1e-15)


def test_softmax_groups_of_contiguous_values():
    # spec: [1 2 3 4] repeated with :output-channels 4 → the 4-way softmax per group
    module, _ = build({"type": "softmax", "output-channels": 4}, Shape(1, 1, 8))
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]], **F64)
    expected = torch.tensor([1.0, 2.0, 3.0, 4.0], **F64).softmax(0).tolist() * 2
    assert module(x).flatten().tolist() == pytest.approx(expected, abs=1e-15)


def test_softmax_groups_must_divide_the_size():
    with pytest.raises(bridge.ModelError, match=":output-channels 3 must divide the input "
                                                "size 10"):
        bridge.load_model("[(input 10) (softmax :output-channels 3)]")


# --- dropout -------------------------------------------------------------------------------


def test_dropout_probability_is_the_keep_probability():
    module, _ = build({"type": "dropout", "distribution": Keyword("bernoulli"),
                       "probability": 0.8}, Shape(1, 1, 100_000))
    module.train()
    torch.manual_seed(0)
    out = module(torch.ones(1, 100_000, **F64))
    kept = (out != 0).double().mean().item()
    assert kept == pytest.approx(0.8, abs=0.01)
    assert set(out.unique().tolist()) == {0.0, 1.25}  # kept values scaled by 1/p
    module.eval()
    assert torch.equal(module(torch.ones(1, 5, **F64)), torch.ones(1, 5, **F64))


def test_gaussian_dropout_has_the_given_variance_and_no_rescale():
    module, _ = build({"type": "dropout", "distribution": Keyword("gaussian"),
                       "variance": 0.25}, Shape(1, 1, 200_000))
    module.train()
    torch.manual_seed(0)
    out = module(torch.ones(1, 200_000, **F64))
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)
    assert out.var().item() == pytest.approx(0.25, abs=0.01)


def test_dropout_keep_probability_must_be_in_range():
    with pytest.raises(bridge.ModelError) as caught:
        bridge.load_model("[(input 4) (dropout 1.5)]")
    assert caught.value.reason == (":probability (the keep probability) must be a number > 0 "
                                   "and <= 1. Received: :probability 1.5")


# --- batch normalisation -----------------------------------------------------------------


def test_batch_norm_is_per_feature_by_default_even_after_conv():
    net = bridge.load_model("[(input 2 2 3) (convolutional 1 0 1 5) (batch-normalization)]",
                            seed=0)
    params = net.parameters_by_layer()["batch-normalization-1"]
    assert {k: tuple(v.shape) for k, v in params.items()} == {
        "scale": (20,), "bias": (20,), "means": (20,), "variances": (20,)}
    assert params["scale"].tolist() == [1.0] * 20 and params["variances"].tolist() == [0.0] * 20
    spatial = bridge.load_model(
        "[(input 2 2 3) (convolutional 1 0 1 5) (batch-normalization :mode :spatial)]", seed=0)
    assert spatial.parameters_by_layer()["batch-normalization-1"]["scale"].shape == (5,)


def test_batch_norm_training_step_by_hand():
    module, _ = build({"type": "batch-normalization"}, Shape(1, 1, 2))
    with torch.no_grad():
        module.weight.copy_(torch.tensor([2.0, 1.0]))
        module.bias.copy_(torch.tensor([0.0, 1.0]))
        module.running_mean.zero_()
        module.running_var.zero_()
    module.train()
    x = torch.tensor([[1.0, 10.0], [3.0, 10.0]], **F64).reshape(2, 1, 1, 2)
    out = module(x).reshape(2, 2)
    # feature 0: mean 2, population variance 1 → (x-2)/sqrt(1+1e-4)·2
    scale = 2 / math.sqrt(1 + 1e-4)
    assert out[:, 0].tolist() == pytest.approx([-scale, scale])
    assert out[:, 1].tolist() == pytest.approx([1.0, 1.0])  # constant feature → bias
    # running stats: 0.9 weights the new batch; variance is the unbiased one (2 here)
    assert module.running_mean.tolist() == pytest.approx([1.8, 9.0])
    assert module.running_var.tolist() == pytest.approx([1.8, 0.0])
    module.eval()
    inference = module(torch.tensor([[1.8, 9.0]], **F64).reshape(1, 1, 1, 2)).flatten()
    assert inference.tolist() == pytest.approx([0.0, 1.0])


@pytest.mark.parametrize("epsilon", ["1e-5", "1e-6", "0"])
def test_batch_norm_epsilon_must_exceed_1e_5(epsilon):
    with pytest.raises(bridge.ModelError, match=r":epsilon must be a number > 1e-05"):
        bridge.load_model(f"[(input 4) (batch-normalization :epsilon {epsilon})]")


def test_ave_factor_key_is_honoured():
    net = bridge.load_model("[(input 4) (batch-normalization :ave-factor 0.5)]", seed=0)
    assert net.layer_module("batch-normalization-1").average_factor == 0.5


# --- local response normalisation ----------------------------------------------------------


def lrn_by_hand(values, k, n, alpha, beta):
    channels = len(values)
    out = []
    for c in range(channels):
        low, high = c - (n - 1) // 2, c + math.ceil((n - 1) / 2)
        total = sum(values[j] ** 2 for j in range(max(0, low), min(channels - 1, high) + 1))
        out.append(values[c] / (k + alpha / n * total) ** beta)
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_lrn_matches_cortex_formula(n):
    values = [1.0, -2.0, 3.0, 0.5, 4.0]
    module, _ = build({"type": "local-response-normalization", "n": n, "k": 1.0,
                       "alpha": 0.5, "beta": 0.75}, Shape(5, 1, 1))
    out = module(torch.tensor(values, **F64).reshape(1, 5, 1, 1)).flatten().tolist()
    assert out == pytest.approx(lrn_by_hand(values, 1.0, n, 0.5, 0.75), rel=1e-12)


def test_lrn_even_window_differs_from_torch():
    values = torch.tensor([1.0, -2.0, 3.0, 0.5, 4.0], **F64).reshape(1, 5, 1, 1)
    module, _ = build({"type": "local-response-normalization", "n": 2, "k": 1.0,
                       "alpha": 0.5, "beta": 0.75}, Shape(5, 1, 1))
    theirs = torch.nn.LocalResponseNorm(2, alpha=0.5, beta=0.75, k=1.0)(values)
    assert not torch.allclose(module(values), theirs)


# --- graph layers --------------------------------------------------------------------------


def test_concatenate_in_parents_order():
    module, output = build({"type": "concatenate"}, Shape(1, 1, 2), Shape(2, 1, 1))
    assert output == Shape(1, 1, 4)
    a = torch.tensor([[1.0, 2.0]], **F64).reshape(1, 1, 1, 2)
    b = torch.tensor([[3.0, 4.0]], **F64).reshape(1, 2, 1, 1)
    assert module(b, a).flatten().tolist() == [3.0, 4.0, 1.0, 2.0]


def test_join_widths_3_4_5_from_the_spec():
    inputs = [torch.tensor([[1.0, 2.0, 3.0]], **F64), torch.tensor([[1.0, 2.0, 3.0, 4.0]], **F64),
              torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]], **F64)]
    shapes = (Shape(1, 1, 3), Shape(1, 1, 4), Shape(1, 1, 5))
    plus, output = build({"type": "join", "operation": Keyword("+")}, *shapes)
    assert output == Shape(1, 1, 5)
    assert plus(*inputs).flatten().tolist() == [3.0, 6.0, 9.0, 8.0, 5.0]
    times, _ = build({"type": "join", "operation": Keyword("*")}, *shapes)
    assert times(*inputs).flatten().tolist() == [1.0, 8.0, 27.0, 0.0, 0.0]


def test_join_keeps_a_common_shape():
    _, output = build({"type": "join"}, Shape(2, 3, 3), Shape(2, 3, 3))
    assert output == Shape(2, 3, 3)


def test_split_feeds_several_children():
    net = bridge.load_model("[(input 4 :id :x) (split :id :s) (linear 2 :id :a)"
                            " (linear 3 :id :b :parents [:s])]", seed=0)
    assert net.output_ids == ("a", "b")
    out = net({"x": torch.ones(2, 4)})
    assert out["a"].shape == (2, 2) and out["b"].shape == (2, 3)


# --- gradients -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "shapes"),
    [
        (pool(2, 1, 2, "max"), (Shape(2, 3, 3),)),
        (pool(3, 1, 2, "avg"), (Shape(2, 4, 4),)),
        (pool(2, 1, 2, "avg-exc-pad"), (Shape(2, 3, 3),)),
        ({"type": "softmax"}, (Shape(1, 1, 5),)),
        ({"type": "softmax"}, (Shape(3, 2, 2),)),
        ({"type": "softmax", "output-channels": 2}, (Shape(1, 1, 6),)),
        ({"type": "batch-normalization"}, (Shape(2, 2, 2),)),
        ({"type": "batch-normalization", "mode": Keyword("spatial")}, (Shape(2, 2, 2),)),
        ({"type": "local-response-normalization", "n": 2}, (Shape(4, 2, 2),)),
        ({"type": "local-response-normalization"}, (Shape(6, 1, 2),)),
        ({"type": "concatenate"}, (Shape(1, 1, 3), Shape(2, 1, 1))),
        ({"type": "join", "operation": Keyword("+")}, (Shape(1, 1, 3), Shape(1, 1, 4))),
        ({"type": "join", "operation": Keyword("*")}, (Shape(1, 1, 3), Shape(1, 1, 4))),
    ],
    ids=lambda value: value["type"] if isinstance(value, dict) else None,
)
def test_gradcheck(node, shapes):
    module, _ = build(node, *shapes)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.rand(param.shape, generator=generator, **F64) + 0.5)
    module.train()
    inputs = tuple(torch.randn(3, *shape, generator=generator, **F64).requires_grad_(True)
                   for shape in shapes)
    assert torch.autograd.gradcheck(module, inputs)
