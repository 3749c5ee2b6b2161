"""Cortex's losses and regularisers with their v0.9.22 scaling."""

from __future__ import annotations

import math

import pytest
import torch

import bridge
from bridge.training.losses import Objective


def test_mse_is_mean_squared_error():
    net = bridge.load_model("[(input 2 :id :x) (linear 2 :id :y :weights [[1 0] [0 1]])]")
    objective = Objective(net)
    outputs = objective.outputs(net, {"x": torch.tensor([[1.0, 2.0]])})
    value = objective(outputs, {"y": torch.tensor([[0.0, 0.0]])})
    assert value.item() == pytest.approx((1 + 4) / 2)


def test_softmax_loss_with_indices_and_one_hot():
    net = bridge.load_model("[(input 2 :id :x) (linear 2 :weights [[1 0] [0 1]])"
                            " (softmax :id :y)]")
    objective = Objective(net)
    outputs = objective.outputs(net, {"x": torch.tensor([[0.0, math.log(3.0)]])})
    expected = -math.log(0.75)
    assert objective(outputs, {"y": torch.tensor([1])}).item() == pytest.approx(expected)
    assert objective(outputs, {"y": torch.tensor([[0.0, 1.0]])}).item() == pytest.approx(expected)


def test_parameter_l2_is_scaled_by_the_batch():
    net = bridge.load_model("[(input 1 :id :x) (linear 1 :id :y :weights {:buffer [[2]]"
                            " :l2-regularization 0.5} :bias [0])]")
    objective = Objective(net)
    x = torch.zeros(4, 1)
    outputs = objective.outputs(net, {"x": x})
    value = objective(outputs, {"y": torch.zeros(4, 1)})
    assert value.item() == pytest.approx(0.5 / 4 * 0.5 * 4)  # (λ/N)·‖w‖²/2


def test_node_l1_on_outputs_is_per_sample():
    net = bridge.load_model("[(input 2 :id :x) (linear 2 :id :y :weights [[1 0] [0 1]]"
                            " :l1-regularization 0.1)]")
    objective = Objective(net)
    x = torch.tensor([[1.0, -2.0], [3.0, 0.0]])
    outputs = objective.outputs(net, {"x": x})
    value = objective(outputs, {"y": x})  # mse 0, so only the regulariser
    assert value.item() == pytest.approx(0.1 * (3 + 3) / 2)


def test_center_loss_moves_centers_by_cortex_rule():
    net = bridge.load_model("[(input 2 :id :x) (relu :id :r :center-loss {:labels {:stream :y}"
                            " :alpha 0.75 :lambda 1.0}) (linear 2) (softmax :id :y)]", seed=0)
    objective = Objective(net)
    batch = {"x": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "y": torch.tensor([1, 1])}
    outputs = objective.outputs(net, {"x": batch["x"]})
    objective.update_centers(outputs, batch)
    centers = net.layer_module("r").centers
    # c1 ← 0 + (1 − 0.75)·mean(x − 0) = 0.25·[2, 3]
    assert centers.tolist() == [[0.0, 0.0], [0.5, 0.75]]


def test_loss_key_on_a_node_overrides_the_default():
    net = bridge.load_model("[(input 2 :id :x) (linear 2) (softmax :id :y :loss :mse-loss)]")
    assert Objective(net).leaves == {"y": "mse-loss"}
