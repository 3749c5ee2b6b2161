"""The Network module: forward layouts, parameters in Cortex's layout, initialisation."""

from __future__ import annotations

import pytest
import torch

import bridge
from bridge.description.shapes import Shape
from bridge.errors import DataError


def test_linear_forward_matches_cortex_layer_test():
    # cortex verify/nn/layers.clj: W=[[1 2][3 4]], b=[0 10], x=[1 2] → y=[5 21]
    net = bridge.load_model("[(input 2) (linear 2 :weights [[1 2] [3 4]] :bias [0 10])]")
    assert net(torch.tensor([[1.0, 2.0]])).tolist() == [[5.0, 21.0]]


def test_weights_given_as_buffer_map_are_used():
    net = bridge.load_model(
        "[(input 2) (linear 1 :weights {:buffer [[2 -1]] :l2-regularization 0.1})]")
    assert net(torch.tensor([[3.0, 1.0]])).tolist() == [[5.0]]
    # the options stay on the node, the values moved into the module
    assert net.layers[1].node["weights"] == {"l2-regularization": 0.1}


def test_flat_and_planar_input_give_the_same_output():
    net = bridge.load_model("[(input 3 2 2) (convolutional 1 0 1 4) (linear 3)]", seed=0)
    x = torch.randn(5, 2, 2, 3)
    assert torch.allclose(net(x), net(x.reshape(5, -1)))
    assert net(x).shape == (5, 3)


def test_wrong_input_width_is_a_data_error_naming_the_input():
    net = bridge.load_model("[(input 4 :id :data) (linear 2)]", seed=0)
    with pytest.raises(DataError, match=r"input :data takes 4 values per sample \(1x1x4\); "
                                        r"received a tensor of shape \[2, 5\]"):
        net(torch.zeros(2, 5))


def test_conv_weights_are_a_view_in_cortex_layout():
    net = bridge.load_model("[(input 5 5 3) (convolutional 3 1 1 4)]", seed=0)
    weights = net.parameters_by_layer()["convolutional-1"]["weights"]
    torch_weight = net.layer_module("convolutional-1").weight
    assert weights.shape == (4, 27)
    assert torch.equal(weights, torch_weight.reshape(4, -1))
    with torch.no_grad():
        weights[0, 0] = 42.0
    assert torch_weight[0, 0, 0, 0].item() == 42.0


def test_conv_weights_given_inline_in_cortex_layout():
    # one 2x2 kernel over one channel, in (c, ky, kx) order
    net = bridge.load_model(
        "[(input 2 2 1) (convolutional 2 0 1 1 :weights [[1 2 3 4]] :bias [1])]")
    x = torch.tensor([[1.0, 10.0, 100.0, 1000.0]])
    assert net(x).tolist() == [[1 * 1 + 2 * 10 + 3 * 100 + 4 * 1000 + 1.0]]


def test_multiple_inputs_and_outputs_use_dicts():
    net = bridge.load_model(
        "[(input 2 1 1 :id :a) (input 3 1 1 :id :b :parents [])"
        " (concatenate :parents [:a :b] :id :cat)"
        " (linear 1 :id :left :weights [[1 1 1 1 1]])"
        " (linear 2 :id :right :parents [:cat])]", seed=0)
    assert net.input_ids == ("a", "b")
    assert net.output_ids == ("left", "right")
    out = net({"a": torch.ones(4, 2), "b": torch.ones(4, 3)})
    assert set(out) == {"left", "right"}
    assert out["left"].tolist() == [[5.0]] * 4
    with pytest.raises(DataError, match="several inputs"):
        net(torch.ones(4, 5))
    with pytest.raises(DataError, match="missing input :b"):
        net({"a": torch.ones(4, 2)})


def test_default_ids_are_cortex_ids():
    net = bridge.load_model("[(input 4) (linear->relu 3) (linear->relu 3) (linear 2)"
                            " (softmax)]", seed=0)
    assert [layer.id for layer in net.layers] == [
        "input-1", "linear-1", "relu-1", "linear-2", "relu-2", "linear-3", "softmax-1"]


def test_explicit_ids_are_reserved_before_defaults():
    net = bridge.load_model("[(input 4) (linear 3) (linear 2 :id :linear-1)]", seed=0)
    assert [layer.id for layer in net.layers] == ["input-1", "linear-2", "linear-1"]


def test_parents_default_to_the_previous_layer():
    net = bridge.load_model(MNIST_CONV_TEXT, seed=0)
    assert [layer.parents for layer in net.layers[:3]] == [(), ("data",), ("convolutional-1",)]


def _variance_per_row(tensor):
    return tensor.double().var(dim=1, unbiased=False)


@pytest.mark.parametrize(
    ("text", "layer", "variance_times_fan_in"),
    [
        ("[(input 50) (linear 20) (relu)]", "linear-1", 2.0),  # He: relu follows
        ("[(input 50) (linear 20) (tanh)]", "linear-1", 1.0),  # Cortex's "xavier" 1/fan_in
        ("[(input 50) (linear 20)]", "linear-1", 1.0),  # no activation: xavier
        ("[(input 50) (linear 20) (dropout 0.5) (swish)]", "linear-1", 2.0),  # far downstream
        ("[(input 50) (linear 20) (selu)]", "linear-1", 1.0),
        ("[(input 50) (linear 20 :weights {:initialization {:type :relu}})]", "linear-1", 2.0),
    ],
)
def test_auto_initialisation_follows_the_first_activation(text, layer, variance_times_fan_in):
    weights = bridge.load_model(text, seed=0).parameters_by_layer()[layer]["weights"]
    fan_in = weights.shape[1]
    rows = _variance_per_row(weights) * fan_in
    assert torch.allclose(rows, torch.full_like(rows, variance_times_fan_in), atol=1e-5)
    # Cortex rescales each row to exactly mean 0
    assert weights.double().mean(dim=1).abs().max() < 1e-6


def test_biases_start_at_zero_and_prelu_at_a_quarter():
    params = bridge.load_model("[(input 3 2 2) (prelu) (linear 2) (prelu)]", seed=0)
    by_layer = params.parameters_by_layer()
    assert by_layer["linear-1"]["bias"].tolist() == [0.0, 0.0]
    assert by_layer["prelu-1"]["neg-scale"].tolist() == [0.25, 0.25]  # one per channel
    assert by_layer["prelu-2"]["neg-scale"].tolist() == [0.25, 0.25]  # one per element


def test_prelu_forward_and_layout():
    net = bridge.load_model("[(input 2 1 2) (prelu :neg-scale [0.5 0.1])]")
    x = torch.tensor([[-2.0, -4.0, 3.0, -10.0]])  # planar: channel 0 is -2 -4, channel 1 is 3 -10
    assert torch.allclose(net(x), torch.tensor([[-1.0, -2.0, 3.0, -1.0]]))


def test_summary_lists_every_layer_and_the_total():
    net = bridge.load_model("[(input 4) (linear 3) (relu) (linear 2)]", seed=0)
    text = net.summary()
    lines = text.splitlines()
    assert lines[0].split() == ["#", "id", "type", "output", "(CxHxW)", "parameters"]
    assert lines[2].split() == ["1", ":input-1", ":input", "1x1x4", "0"]
    assert lines[3].split() == ["2", ":linear-1", ":linear", "1x1x3", "15"]
    assert lines[-1] == "total parameters: 23"


def test_layer_records():
    net = bridge.load_model("[(input 5 5 3) (convolutional 3 0 2 4)]", seed=0)
    conv = net.layers[1]
    assert (conv.id, conv.type, conv.output_shape) == ("convolutional-1", "convolutional",
                                                       Shape(4, 2, 2))
    assert conv.parameter_count == 4 * 27 + 4
    with pytest.raises(AttributeError):
        conv.id = "x"


def test_state_dict_keys_use_layer_ids():
    net = bridge.load_model("[(input 4) (linear 2 :id :fc)]", seed=0)
    assert sorted(net.state_dict()) == ["layer_modules.fc.bias", "layer_modules.fc.weight"]


def test_gradients_flow_to_every_parameter():
    net = bridge.load_model("[(input 3 4 4) (convolutional 3 1 1 2) (relu) (linear 3)"
                            " (tanh)]", seed=0)
    net(torch.randn(2, 48)).sum().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_float64_networks():
    net = bridge.load_model("[(input 3) (linear 2)]", seed=0, dtype=torch.float64)
    assert net(torch.ones(1, 3)).dtype == torch.float64


MNIST_CONV_TEXT = """
[(layers/input 28 28 1 :id :data)
 (layers/convolutional 5 0 1 20)
 (layers/max-pooling 2 0 2)
 (layers/relu)
 (layers/convolutional 5 0 1 50)]
"""


def test_a_network_without_parameters_keeps_its_inputs_precision():
    net = bridge.load_model("[(input 4) (relu) (softmax)]")
    x = torch.tensor([[1.0, 2.0, -3.0, 0.5]], dtype=torch.float64)
    out = net.double()(x)
    assert out.dtype == torch.float64
    expected = torch.softmax(torch.relu(x), dim=1)
    assert torch.equal(out, expected)
    assert net(x.tolist()).dtype == torch.float32  # plain numbers: Cortex's float32
    weighted = bridge.load_model("[(input 4) (linear 2)]", seed=0)
    assert weighted(x).dtype == torch.float32  # a float32 network converts its input
