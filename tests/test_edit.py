"""Network editing under Cortex's names: each edit returns a new network and keeps the
trained values of every kept layer bit for bit."""

from __future__ import annotations

import pytest
import torch

import bridge
from bridge import edit
from bridge.training.optimizers import make_optimizer


def _trained_values(net):
    return {layer: {name: tensor.detach().clone() for name, tensor in params.items()}
            for layer, params in net.parameters_by_layer().items()}


def _assert_kept(before, after, layers):
    now = after.parameters_by_layer()
    for layer in layers:
        for name, tensor in before[layer].items():
            assert torch.equal(now[layer][name], tensor), (layer, name)


def test_mnist_fine_tune_flow_only_trains_the_new_head(tmp_path):
    net = bridge.load_model("edn_models/mnist-mlp.edn", seed=0)
    with torch.no_grad():  # stand-in for training: values no initialiser would give
        for params in net.parameters_by_layer().values():
            for tensor in params.values():
                tensor.add_(torch.randn_like(tensor))
    before = _trained_values(net)

    body = edit.dissoc_layers_from_network(net, "linear-2")
    assert [layer.id for layer in body.layers] == ["input-1", "linear-1", "relu-1"]
    tuned = edit.assoc_layers_to_network(body, "[(linear 2) (softmax)]", seed=3)
    assert [layer.id for layer in tuned.layers][-2:] == ["linear-2", "softmax-1"]
    assert tuned.layers[3].parents == ("relu-1",)
    for layer in body.layers:
        tuned = edit.add_property_to_layer(tuned, layer.id, "non-trainable?", True)

    _assert_kept(before, tuned, ["linear-1"])
    head = tuned.layer_module("linear-2")
    grouped = [p for group in tuned.param_groups() for p in group["params"]]
    assert {id(p) for p in grouped} == {id(head.weight), id(head.bias)}
    optimizer, _ = make_optimizer("adam", tuned.param_groups())
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 2
    assert tuned.layers[1].node["non-trainable?"] is True

    bridge.save_network(tuned, tmp_path / "tuned.edn")
    again = bridge.load_network(tmp_path / "tuned.edn")
    assert not again.layer_module("linear-1").weight.requires_grad
    assert again.layer_module("linear-2").weight.requires_grad
    _assert_kept(before, again, ["linear-1"])
    # The network edited is untouched.
    assert net.output_sizes == {"softmax-1": 10}
    _assert_kept(before, net, ["linear-1", "linear-2"])


def test_dissoc_removes_a_layer_and_all_that_depends_on_it():
    net = bridge.load_model("edn_models/two-inputs.edn", seed=0)
    cut = edit.dissoc_layers_from_network(net, ":sum")
    ids = [layer.id for layer in cut.layers]
    assert "sum" not in ids and "both" not in ids and "label" not in ids
    assert {"left", "right", "product"} <= set(ids)
    assert cut.output_ids == ("product",)
    _assert_kept(_trained_values(net), cut, ["left-linear", "right-linear"])


def test_batch_norm_statistics_and_centers_are_kept():
    net = bridge.load_model("edn_models/mnist-conv.edn", seed=0)
    with torch.no_grad():
        for params in net.parameters_by_layer().values():
            for tensor in params.values():
                tensor.add_(torch.rand_like(tensor))
    before = _trained_values(net)
    tuned = edit.add_property_to_layer(net, "linear-1", "learning-attenuation", 0.1)
    _assert_kept(before, tuned, list(before))
    assert tuned.parameter_settings()["linear-1"]["weights"].lr_scale == 0.1


def test_a_center_loss_reading_a_removed_layer_must_come_off_first():
    net = bridge.load_model("edn_models/mnist-conv.edn", seed=0)
    with pytest.raises(bridge.ModelError, match="take the center loss off first"):
        edit.dissoc_layers_from_network(net, "linear-2")
    plain = edit.add_property_to_layer(net, "relu-2", "center-loss", None)
    assert "center-loss" not in plain.layers[8].node
    body = edit.dissoc_layers_from_network(plain, "linear-2")
    assert body.output_ids == ("dropout-1",)


def test_assoc_takes_node_maps_and_needs_one_output():
    net = bridge.load_model("[(input 3) (linear 4)]", seed=0)
    more = edit.assoc_layers_to_network(net, [{"type": "relu"},
                                              {"type": ":linear", "output-size": 2}])
    assert [(layer.type, layer.output_size) for layer in more.layers][-2:] == [
        ("relu", 4), ("linear", 2)]
    two = bridge.load_model("edn_models/two-inputs.edn")
    split = edit.dissoc_layers_from_network(two, "both")
    with pytest.raises(bridge.ModelError, match="one output"):
        edit.assoc_layers_to_network(split, "[(relu)]")


def test_resize_input_keeps_convolution_weights():
    net = bridge.load_model("[(input 8 8 1) (convolutional 3 0 1 4) (relu)]", seed=0)
    big = edit.resize_input(net, 16, 12, 1)
    assert big.layers[1].output_shape == (4, 10, 14)
    _assert_kept(_trained_values(net), big, ["convolutional-1"])
    assert big(torch.zeros(2, 192)).shape == (2, 4 * 10 * 14)


def test_resize_input_refuses_to_change_a_trained_shape_unless_asked():
    net = bridge.load_model("[(input 4) (linear 2) (linear 3)]", seed=0)
    with pytest.raises(bridge.ModelError, match=r":linear-1 :weights \[2, 4\] -> \[2, 6\]"):
        edit.resize_input(net, 6, 1, 1)
    fresh = edit.resize_input(net, 6, 1, 1, reinitialize=True, seed=1)
    assert fresh.parameters_by_layer()["linear-1"]["weights"].shape == (2, 6)
    _assert_kept(_trained_values(net), fresh, ["linear-2"])


def test_unknown_layer_ids_are_model_errors_with_suggestions():
    net = bridge.load_model("[(input 3) (linear 2)]")
    with pytest.raises(bridge.ModelError, match="Did you mean :linear-1"):
        edit.add_property_to_layer(net, "linear-2", "non-trainable?", True)
    with pytest.raises(bridge.ModelError, match=":non-trainable\\? must be true or false"):
        edit.add_property_to_layer(net, "linear-1", "non-trainable?", "yes")


def test_edits_keep_device_and_dtype():
    net = bridge.load_model("[(input 3) (linear 2)]", seed=0, dtype=torch.float64)
    moved = edit.add_property_to_layer(net, "linear-1", "l2-max-constraint", 1.0)
    assert moved.dtype == torch.float64 and moved.has_constraints
    _assert_kept(_trained_values(net), moved, ["linear-1"])


def test_freeze_layers_freezes_every_layer_with_parameters():
    net = edit.freeze_layers(bridge.load_model("[(input 3) (linear 2) (prelu)]", seed=0))
    assert net.param_groups() == []
