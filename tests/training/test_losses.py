"""Cortex's losses and regularisers (cortex-spec §3.4) with v0.9.22's scaling (§3.2):
values and the gradients they produce, computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

import bridge
from bridge.errors import DataError, ModelError
from bridge.training.losses import Objective, class_indices


def loss_and_grads(net, inputs, batch, override=None):
    """The objective's value and the gradient of every parameter, from one batch."""
    objective = Objective(net, override)
    net.zero_grad(set_to_none=True)
    value = objective(objective.forward(net, inputs), batch)
    value.backward()
    grads = {f"{layer}/{name}": (t.grad.clone() if t.grad is not None else None)
             for layer, params in net.parameters_by_layer().items() for name, t in params.items()}
    return value.item(), grads


IDENTITY = "[(input 2 :id :x) (linear 2 :id :y :weights [[1 0] [0 1]] :bias [0 0])]"


def test_mse_is_mean_squared_error_with_cortex_gradient():
    net = bridge.load_model(IDENTITY)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    t = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    value, grads = loss_and_grads(net, {"x": x}, {"y": t})
    # per sample Σ(v−t)²/D, averaged over N = 2
    assert value == pytest.approx(((1 + 4) / 2 + (4 + 4) / 2) / 2)
    # output gradient (2/D)(v−t) per sample, parameter gradients summed then ÷ N
    dv = (2 / 2) * (x - t) / 2
    assert torch.allclose(grads["y/bias"], dv.sum(0))
    assert torch.allclose(grads["y/weights"], dv.T @ x)


SOFTMAX = ("[(input 2 :id :x) (linear 2 :weights [[1 0] [0 1]] :bias [0 0])"
           " (softmax :id :y)]")


def test_softmax_loss_with_indices_one_hot_and_soft_labels():
    net = bridge.load_model(SOFTMAX)
    x = torch.tensor([[0.0, math.log(3.0)]])  # p = [0.25, 0.75]
    assert loss_and_grads(net, {"x": x}, {"y": torch.tensor([1])})[0] == \
        pytest.approx(-math.log(0.75))
    assert loss_and_grads(net, {"x": x}, {"y": torch.tensor([[0.0, 1.0]])})[0] == \
        pytest.approx(-math.log(0.75))
    # soft labels: −log Σ p·t (Cortex), not −Σ t·log p
    soft = torch.tensor([[0.5, 0.5]])
    assert loss_and_grads(net, {"x": x}, {"y": soft})[0] == \
        pytest.approx(-math.log(0.5 * 0.25 + 0.5 * 0.75))


def test_softmax_loss_gradient_is_p_minus_t_over_n():
    net = bridge.load_model(SOFTMAX)
    x = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    _, grads = loss_and_grads(net, {"x": x}, {"y": t})
    p = torch.softmax(x, dim=1)
    assert torch.allclose(grads["linear-1/bias"], ((p - t) / 2).sum(0))
    assert torch.allclose(grads["linear-1/weights"], ((p - t) / 2).T @ x)


def test_softmax_loss_stays_finite_where_p_underflows():
    net = bridge.load_model(SOFTMAX)
    value, grads = loss_and_grads(net, {"x": torch.tensor([[0.0, 200.0]])},
                                  {"y": torch.tensor([0])})
    assert value == pytest.approx(200.0)
    assert all(torch.isfinite(g).all() for g in grads.values() if g is not None)


def test_multi_channel_softmax_sums_the_per_pixel_losses():
    net = bridge.load_model("[(input 2 1 2 :id :x) (softmax :id :y)]")  # 2 channels, 2 pixels
    x = torch.tensor([[0.0, 1.0, math.log(3.0), 1.0]])  # planar: channel 0 then channel 1
    t = torch.tensor([[0.0, 1.0, 1.0, 0.0]])  # pixel 0 → class 1, pixel 1 → class 0
    objective = Objective(net)
    value = objective(objective.forward(net, {"x": x}), {"y": t})
    assert value.item() == pytest.approx(-math.log(0.75) - math.log(0.5))
    with pytest.raises(DataError, match="needs one-hot label vectors"):
        objective(objective.forward(net, {"x": x}), {"y": torch.tensor([1])})


def test_censor_loss_ignores_nan_labels():
    net = bridge.load_model("[(input 2 :id :x) (linear 2 :id :y :weights [[1 0] [0 1]] "
                            ":bias [0 0] :censor-loss {:labels {:stream :y}})]")
    objective = Objective(net)
    assert objective.leaves == {"y": "censor-loss"}
    assert objective.label_specs()["y"].nan_ok
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    t = torch.tensor([[0.0, float("nan")], [float("nan"), 2.0]])
    value, grads = loss_and_grads(net, {"x": x}, {"y": t})
    assert value == pytest.approx(((1 / 2) + (4 / 2)) / 2)
    assert torch.allclose(grads["y/bias"], torch.tensor([1.0 / 2, 2.0 / 2]))


def test_node_l1_is_per_sample_with_cortex_sign_at_zero():
    net = bridge.load_model("[(input 2 :id :x) (linear 2 :id :h :weights [[1 0] [0 1]]"
                            " :bias [0 0] :l1-regularization 0.1) (linear 1 :id :y "
                            ":weights [[0 0]] :bias [0])]")
    x = torch.tensor([[1.0, -2.0], [0.0, 0.0]])
    value, grads = loss_and_grads(net, {"x": x}, {"y": torch.zeros(2, 1)})
    assert value == pytest.approx(0.1 * (3 + 0) / 2)  # mse 0, λ·mean Σ|h|
    # d/dh = λ·sign(h)/N with sign(0) = +1 (regularization.clj)
    expected = 0.1 * torch.tensor([[1.0, -1.0], [1.0, 1.0]]) / 2
    assert torch.allclose(grads["h/bias"], expected.sum(0))


def test_node_l2_is_half_squared_norm_per_sample():
    net = bridge.load_model("[(input 2 :id :x) (linear 2 :id :y :weights [[1 0] [0 1]]"
                            " :bias [0 0] :l2-regularization 0.5)]")
    x = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    value, grads = loss_and_grads(net, {"x": x}, {"y": x})  # mse 0
    assert value == pytest.approx(0.5 * (0.5 * 5 + 0.5 * 9) / 2)
    assert torch.allclose(grads["y/bias"], 0.5 * x.sum(0) / 2)


def test_parameter_regularisers_act_with_strength_lambda_over_n():
    net = bridge.load_model("[(input 1 :id :x) (linear 2 :id :y :weights {:buffer [[2] [0]]"
                            " :l2-regularization 0.5} :bias {:buffer [-3 0] "
                            ":l1-regularization 0.25})]")
    x, t = torch.zeros(4, 1), torch.zeros(4, 2)
    value, grads = loss_and_grads(net, {"x": x}, {"y": t})
    mse = (9 / 2)  # bias −3 on every sample
    assert value == pytest.approx(mse + 0.5 / 4 * 0.5 * 4 + 0.25 / 4 * 3)
    assert torch.allclose(grads["y/weights"], torch.tensor([[0.5 * 2 / 4], [0.0]]))
    mse_grad = torch.tensor([-3.0, 0.0])  # (2/D)(v−t) summed over 4 samples, ÷ 4
    assert torch.allclose(grads["y/bias"], mse_grad + 0.25 / 4 * torch.tensor([-1.0, 1.0]))


CENTER = ("[(input 2 :id :x) (relu :id :r :center-loss {:labels {:stream :y} :alpha 0.75"
          " :lambda 0.5}) (linear 2 :weights [[0 0] [0 0]] :bias [0 0]) (softmax :id :y)]")


def test_center_loss_value_and_gradient():
    net = bridge.load_model(CENTER, seed=0)
    net.layer_module("r").centers.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    objective = Objective(net)
    assert objective.capture == {"r"}
    x = torch.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    batch = {"y": torch.tensor([0, 1])}
    outputs = objective.forward(net, {"x": x})
    value = objective(outputs, batch)
    softmax = math.log(2.0)  # zero weights: p = [0.5, 0.5]
    centers = 0.5 * (0.5 * (0 + 1) + 0.5 * (9 + 25)) / 2
    assert value.item() == pytest.approx(softmax + centers)
    value.backward()
    assert torch.allclose(x.grad, 0.5 * torch.tensor([[0.0, 1.0], [3.0, 5.0]]) / 2)


def test_center_update_follows_cortex_rule():
    net = bridge.load_model(CENTER, seed=0)
    objective = Objective(net)
    batch = {"x": torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]]),
             "y": torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])}  # one-hot
    outputs = objective.forward(net, {"x": batch["x"]})
    objective.update_centers(outputs, batch)
    # c ← c + (1 − α)·mean over the class's members of (x − c); class 0 once, class 1 twice
    assert net.layer_module("r").centers.tolist() == [[1.25, 0.0], [0.5, 0.75]]


def test_default_losses_and_overrides():
    net = bridge.load_model("[(input 2 :id :x) (linear 2) (softmax :id :y)]")
    assert Objective(net).leaves == {"y": "softmax-loss"}
    assert Objective(net, "mse").leaves == {"y": "mse-loss"}
    assert Objective(net, {"y": "mse-loss"}).leaves == {"y": "mse-loss"}
    keyed = bridge.load_model("[(input 2 :id :x) (linear 2) (softmax :id :y :loss :mse-loss)]")
    assert Objective(keyed).leaves == {"y": "mse-loss"}
    regression = bridge.load_model("[(input 2 :id :x) (linear 1 :id :y)]")
    assert Objective(regression).leaves == {"y": "mse-loss"}


def test_the_default_loss_comes_from_the_layer_spec():
    from bridge.layers.registry import unregister
    from bridge.layers.softmax import CortexSoftmax

    # A user type that is a softmax underneath (it has log_forward) and says so.
    bridge.register_layer("test.loss/probs", lambda ctx: CortexSoftmax(ctx.input_shape),
                          default_loss="softmax-loss")
    bridge.register_layer("test.loss/plain", lambda ctx: CortexSoftmax(ctx.input_shape))
    try:
        net = bridge.load_model("[(input 2 :id :x) (linear 2) (test.loss/probs :id :y)]")
        assert Objective(net).leaves == {"y": "softmax-loss"}
        plain = bridge.load_model("[(input 2 :id :x) (linear 2) (test.loss/plain :id :y)]")
        assert Objective(plain).leaves == {"y": "mse-loss"}
    finally:
        unregister("test.loss/probs")
        unregister("test.loss/plain")


def test_mse_on_a_softmax_compares_probabilities():
    net = bridge.load_model(SOFTMAX.replace("(softmax :id :y)", "(softmax :id :y :loss "
                                            "{:type :mse-loss :lambda 2})"))
    x = torch.tensor([[0.0, math.log(3.0)]])
    value, _ = loss_and_grads(net, {"x": x}, {"y": torch.tensor([[0.0, 1.0]])})
    assert value == pytest.approx(2 * (0.25 ** 2 + 0.25 ** 2) / 2)


def test_a_function_replaces_the_leaf_losses_and_sees_probabilities():
    net = bridge.load_model(SOFTMAX)
    seen = {}

    def first_probability(outputs, batch):
        seen.update(outputs)
        return outputs["y"][:, 0].mean()

    value, _ = loss_and_grads(net, {"x": torch.tensor([[0.0, math.log(3.0)]])},
                              {"y": torch.tensor([1])}, override=first_probability)
    assert value == pytest.approx(0.25)
    assert torch.allclose(seen["y"].sum(1), torch.ones(1))


def test_a_regulariser_on_the_leaf_keeps_its_default_loss():
    # In Cortex the L2 loss node became the leaf and swallowed the default loss (§2.1).
    net = bridge.load_model("[(input 2 :id :x) (linear 2) (softmax :id :y "
                            ":l2-regularization 0.01)]")
    objective = Objective(net)
    assert objective.leaves == {"y": "softmax-loss"}
    assert [(r.kind, r.layer) for r in objective.regularizers] == [("l2-regularization", "y")]


@pytest.mark.parametrize(("model", "override", "message"), [
    ("[(input 2 :id :x) (linear 2 :id :y :loss :hinge)]", None,
     "layer :y: unknown loss :hinge; known losses are :mse-loss :softmax-loss :censor-loss"),
    ("[(input 2 :id :x) (linear 2 :id :y)]", "softmax-loss",
     "layer :y: softmax-loss needs a softmax layer; :y is a :linear"),
    ("[(input 2 :id :x) (linear 2 :id :y :l2-regularization \"lots\")]", None,
     "layer :y: :l2-regularization takes a number (its λ) or an options map. Received: "
     ":l2-regularization 'lots'"),
])
def test_loss_errors_name_the_layer(model, override, message):
    net = bridge.load_model(model)
    with pytest.raises(ModelError) as caught:
        Objective(net, override)
    assert caught.value.reason == message


def test_class_indices_break_ties_toward_the_last_maximum():
    assert class_indices(torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])).tolist() == [1, 1]
    assert class_indices(torch.tensor([2, 0])).tolist() == [2, 0]


def test_two_softmax_leaves_with_different_losses():
    net = bridge.load_model("[(input 2 :id :x) (linear 2 :id :l1 :parents [:x] :weights "
                            "[[1 0] [0 1]] :bias [0 0]) (softmax :id :a :parents [:l1]) "
                            "(linear 2 :id :l2 :parents [:x] :weights [[1 0] [0 1]] :bias [0 0])"
                            " (softmax :id :b :parents [:l2] :loss :mse-loss)]")
    objective = Objective(net)
    assert objective.leaves == {"a": "softmax-loss", "b": "mse-loss"}
    x = torch.tensor([[0.0, math.log(3.0)]])
    value = objective(objective.forward(net, {"x": x}),
                      {"a": torch.tensor([1]), "b": torch.tensor([[0.0, 1.0]])})
    assert value.item() == pytest.approx(-math.log(0.75) + (0.25 ** 2 + 0.25 ** 2) / 2)
