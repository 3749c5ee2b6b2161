"""bridge.evaluate and bridge.predict against hand-computed answers."""

from __future__ import annotations

import math

import pytest
import torch

import bridge
from bridge.training.evaluation import classification_metrics

# Identity weights: the predicted class is the input's largest coordinate.
CLASSIFIER = ("[(input 3 :id :data) (linear 3 :weights [[1 0 0] [0 1 0] [0 0 1]] :bias [0 0 0])"
              " (softmax :id :labels)]")
X = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 5.0, 0], [0, 0, 5.0], [5.0, 0, 0]])
TRUTH = torch.tensor([0, 1, 0, 2, 2])  # right, right, wrong (0→1), right, wrong (2→0)


def test_evaluate_classifier_metrics():
    net = bridge.load_model(CLASSIFIER)
    result = bridge.evaluate(net, {"data": X, "labels": TRUTH})
    assert result["accuracy"] == pytest.approx(3 / 5)
    assert result["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]  # rows true, cols predicted
    assert result["precision"] == pytest.approx([1 / 2, 1 / 2, 1.0])
    assert result["recall"] == pytest.approx([1 / 2, 1.0, 1 / 2])
    p_right = math.exp(5) / (math.exp(5) + 2)
    p_wrong = 1 / (math.exp(5) + 2)
    expected = -(3 * math.log(p_right) + 2 * math.log(p_wrong)) / 5
    assert result["loss"] == pytest.approx(expected, rel=1e-6)


def test_evaluate_accepts_one_hot_labels_and_small_batches():
    net = bridge.load_model(CLASSIFIER)
    one_hot = torch.nn.functional.one_hot(TRUTH, 3).float()
    whole = bridge.evaluate(net, {"data": X, "labels": TRUTH})
    batched = bridge.evaluate(net, [{"data": x, "labels": y} for x, y in zip(X, one_hot,
                                                                              strict=True)],
                              batch_size=2)
    assert batched["confusion"] == whole["confusion"]
    assert batched["loss"] == pytest.approx(whole["loss"])


def test_evaluate_regression_gives_the_loss_only():
    net = bridge.load_model("[(input 1 :id :x) (linear 1 :id :y :weights [[2]] :bias [0])]")
    result = bridge.evaluate(net, ([[1.0], [2.0]], [[1.0], [4.0]]))
    assert result == {"loss": pytest.approx((1 + 0) / 2)}


def test_metrics_for_classes_never_predicted_or_never_seen():
    metrics = classification_metrics(torch.tensor([[0.9, 0.1, 0.0]]), torch.tensor([1]))
    assert metrics["precision"] == [0.0, 0.0, 0.0]
    assert metrics["recall"] == [0.0, 0.0, 0.0]
    assert metrics["confusion"] == [[0, 0, 0], [1, 0, 0], [0, 0, 0]]


def test_predict_returns_probabilities_in_inference_mode():
    net = bridge.load_model("[(input 3 :id :data) (dropout 0.5) (linear 3 :weights "
                            "[[1 0 0] [0 1 0] [0 0 1]] :bias [0 0 0]) (softmax :id :labels)]")
    net.train()
    first = bridge.predict(net, X)
    assert net.training  # the mode it found is restored
    assert torch.equal(first, bridge.predict(net, {"data": X}))  # no dropout
    assert torch.allclose(first, torch.softmax(X, dim=1))
    assert first.shape == (5, 3)
    with_labels = bridge.predict(net, {"data": X, "labels": TRUTH})
    assert torch.equal(with_labels, first)


def test_predict_with_several_outputs_gives_a_map():
    net = bridge.load_model("[(input 2 :id :x) (linear 1 :id :a :parents [:x])"
                            " (linear 3 :id :b :parents [:x])]", seed=0)
    outputs = bridge.predict(net, torch.zeros(4, 2), batch_size=3)
    assert set(outputs) == {"a", "b"}
    assert outputs["a"].shape == (4, 1) and outputs["b"].shape == (4, 3)


def test_evaluate_with_several_classifiers_reports_each():
    net = bridge.load_model("[(input 2 :id :x) (linear 2 :id :l1 :parents [:x]) "
                            "(softmax :id :a :parents [:l1]) (linear 2 :id :l2 :parents [:x]) "
                            "(softmax :id :b :parents [:l2])]", seed=0)
    data = {"x": torch.randn(6, 2, generator=torch.Generator().manual_seed(0)),
            "a": torch.tensor([0, 1, 0, 1, 0, 1]), "b": torch.tensor([1, 1, 1, 0, 0, 0])}
    result = bridge.evaluate(net, data)
    assert set(result["outputs"]) == {"a", "b"}
    assert result["accuracy"] == result["outputs"]["a"]["accuracy"]
