"""Cortex's freezing and constraint keys: :non-trainable?, :learning-attenuation,
:l2-max-constraint — read from the node, kept through save and load."""

from __future__ import annotations

import pytest
import torch

import bridge
from bridge.training.optimizers import make_optimizer

MIXED = """
[(input 4 :id :x)
 (linear 3 :id :a :learning-attenuation 0.5 :bias {:learning-attenuation 2.0})
 (relu)
 (linear 3 :id :b :non-trainable? true)
 (linear 3 :id :c :weights {:learning-attenuation 0})
 (linear 2 :id :d :l2-max-constraint 0.1)]
"""


def _grad_flags(net):
    return {layer: {name: tensor.requires_grad for name, tensor in params.items()}
            for layer, params in net.parameters_by_layer().items()}


def test_non_trainable_and_zero_attenuation_freeze_parameters():
    net = bridge.load_model(MIXED, seed=0)
    flags = _grad_flags(net)
    assert flags["b"] == {"weights": False, "bias": False}
    assert flags["c"] == {"weights": False, "bias": True}
    assert flags["a"] == {"weights": True, "bias": True}
    in_groups = {id(p) for g in net.param_groups() for p in g["params"]}
    params = net.parameters_by_layer()
    assert id(net.layer_module("b").weight) not in in_groups
    assert id(net.layer_module("c").weight) not in in_groups
    assert id(net.layer_module("c").bias) in in_groups
    assert params["a"]["weights"].data_ptr() in {p.data_ptr() for g in net.param_groups()
                                                for p in g["params"]}


def test_parameter_attenuation_overrides_the_node_and_scales_the_learning_rate():
    net = bridge.load_model(MIXED, seed=0)
    settings = net.parameter_settings()
    assert settings["a"]["weights"].lr_scale == 0.5
    assert settings["a"]["bias"].lr_scale == 2.0
    optimizer, _ = make_optimizer("(sgd :learning-rate 0.1 :momentum 0)", net.param_groups())
    by_tensor = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    assert by_tensor[id(net.layer_module("a").weight)] == pytest.approx(0.05)
    assert by_tensor[id(net.layer_module("a").bias)] == pytest.approx(0.2)
    assert by_tensor[id(net.layer_module("d").weight)] == pytest.approx(0.1)
    # One plain SGD step moves each parameter by its own scaled rate.
    before = net.layer_module("a").weight.detach().clone()
    net(torch.randn(5, 4)).sum().backward()
    grad = net.layer_module("a").weight.grad.clone()
    optimizer.step()
    assert torch.allclose(net.layer_module("a").weight.detach(), before - 0.05 * grad)


def test_base_lr_gives_each_group_its_learning_rate():
    groups = bridge.load_model(MIXED, seed=0).param_groups(base_lr=0.01)
    assert sorted(g["lr"] for g in groups) == pytest.approx([0.005, 0.01, 0.02])


def test_frozen_layers_run_their_inference_path_while_training():
    net = bridge.load_model("[(input 50) (dropout 0.5 :non-trainable? true)]", seed=0)
    net.train()
    x = torch.ones(4, 50)
    assert torch.equal(net(x), x)  # no dropout: the node runs as in inference
    live = bridge.load_model("[(input 50) (dropout 0.5)]", seed=0).train()
    assert not torch.equal(live(x), x)


def test_l2_max_constraint_renormalises_long_rows_only():
    net = bridge.load_model(
        "[(input 3) (linear 2 :l2-max-constraint 1.0 :weights [[3 4 0] [0.3 0.4 0]])]")
    assert net.has_constraints
    net.apply_constraints()
    weights = net.parameters_by_layer()["linear-1"]["weights"].detach()
    assert torch.allclose(weights[0], torch.tensor([0.6, 0.8, 0.0]))
    assert torch.equal(weights[1], torch.tensor([0.3, 0.4, 0.0]))  # under the limit: untouched


def test_l2_max_constraint_on_conv_kernels_in_cortex_layout():
    net = bridge.load_model("[(input 4 4 2) (convolutional 3 0 1 3 :weights "
                            "{:l2-max-constraint 0.5})]", seed=1)
    with torch.no_grad():
        net.layer_module("convolutional-1").weight.mul_(10)
    net.apply_constraints()
    kernels = net.parameters_by_layer()["convolutional-1"]["weights"]
    assert kernels.shape == (3, 18)
    assert torch.allclose(kernels.norm(dim=1), torch.full((3,), 0.5))


def test_apply_constraints_is_a_no_op_without_constraints():
    net = bridge.load_model("[(input 3) (linear 2)]", seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert not net.has_constraints
    net.apply_constraints()
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("text, fragment", [
    ("(linear 2 :non-trainable? 1)", ":non-trainable? must be true or false"),
    ("(linear 2 :learning-attenuation -1)", ":learning-attenuation must be a number >= 0"),
    ("(linear 2 :weights {:l2-max-constraint :big})", ":weights :l2-max-constraint must be"),
    ("(linear 2 :bias {:l2-max-constraint 1.0})", ":bias is a vector"),
    ("(batch-normalization :means {:learning-attenuation 0.5})", ":means holds running"),
])
def test_bad_settings_are_model_errors_naming_the_key(text, fragment):
    with pytest.raises(bridge.ModelError) as caught:
        bridge.load_model(f"[(input 3) {text}]")
    assert fragment in str(caught.value)
    assert caught.value.layer_index == 2


def test_settings_on_a_layer_without_parameters_are_accepted():
    net = bridge.load_model("[(input 3) (linear->relu 2 :learning-attenuation 0.5)]")
    assert net.parameter_settings()["linear-1"]["weights"].lr_scale == 0.5


@pytest.mark.parametrize("encoding", ["tensor", "vector"])
def test_flags_survive_save_and_load(tmp_path, encoding):
    net = bridge.load_model(MIXED, seed=0)
    path = tmp_path / "net.edn"
    bridge.save_network(net, path, encoding=encoding)
    again = bridge.load_network(path)
    assert again.parameter_settings() == net.parameter_settings()
    assert _grad_flags(again) == _grad_flags(net)
    assert again.layers[3].node["non-trainable?"] is True
    assert again.has_constraints
    for layer, params in net.parameters_by_layer().items():
        for name, tensor in params.items():
            assert torch.equal(again.parameters_by_layer()[layer][name], tensor)


def test_training_leaves_frozen_layers_bit_exact():
    net = bridge.load_model("[(input 4 :id :data) (linear 8 :non-trainable? true) (relu)"
                            " (linear 3) (softmax :id :labels)]", seed=0)
    frozen = net.layer_module("linear-1").weight.detach().clone()
    head = net.layer_module("linear-2").weight.detach().clone()
    data = {"data": torch.randn(40, 4), "labels": torch.randint(0, 3, (40,))}
    bridge.train(net, (data["data"], data["labels"]), epochs=2, batch_size=8, seed=0,
                 progress=False, log=lambda *_: None)
    assert torch.equal(net.layer_module("linear-1").weight.detach(), frozen)
    assert not torch.equal(net.layer_module("linear-2").weight.detach(), head)


def test_training_honours_the_max_norm_after_every_step():
    net = bridge.load_model("[(input 4 :id :data) (linear 6 :l2-max-constraint 0.5) (relu)"
                            " (linear 3) (softmax :id :labels)]", seed=0)
    data = (torch.randn(64, 4) * 5, torch.randint(0, 3, (64,)))
    norms = []

    def look(epoch, step):
        norms.append(float(net.layer_module("linear-1").weight.detach().norm(dim=1).max()))

    bridge.train(net, data, epochs=2, batch_size=8, seed=0, on_batch=look,
                 optimizer="(sgd :learning-rate 1.0)", progress=False, log=lambda *_: None)
    assert len(norms) == 16 and max(norms) <= 0.5 + 1e-6
    unconstrained = net.layer_module("linear-2").weight.detach().norm(dim=1).max()
    assert unconstrained > 0.5  # the other layer is free to grow


def test_learning_attenuation_scales_the_step_in_training():
    text = ("[(input 4 :id :data) (linear 3 :id :a :learning-attenuation {scale})"
            " (softmax :id :labels)]")
    data = (torch.randn(16, 4), torch.randint(0, 3, (16,)))
    moved = {}
    for scale in (1.0, 0.25):
        net = bridge.load_model(text.format(scale=scale), seed=0)
        before = net.layer_module("a").weight.detach().clone()
        bridge.train(net, data, epochs=1, batch_size=16, seed=0, shuffle=False,
                     optimizer="(sgd :learning-rate 0.1)", progress=False, log=lambda *_: None)
        moved[scale] = net.layer_module("a").weight.detach() - before
    assert torch.allclose(moved[0.25], moved[1.0] * 0.25, atol=1e-7)


def test_training_a_fully_frozen_network_is_refused():
    net = bridge.load_model("[(input 4 :id :data) (linear 3 :non-trainable? true)"
                            " (softmax :id :labels)]", seed=0)
    with pytest.raises(bridge.TrainingError, match="every parameter of the network is frozen"):
        bridge.train(net, (torch.randn(8, 4), torch.randint(0, 3, (8,))), progress=False,
                     log=lambda *_: None)
