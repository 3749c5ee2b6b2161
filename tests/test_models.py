"""Every bundled model in edn_models/ builds, with the shapes and counts Cortex gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import bridge
from bridge.description.shapes import Shape

MODELS = Path(__file__).resolve().parent.parent / "edn_models"


def load(name: str):
    return bridge.load_model(MODELS / name, seed=0)


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.edn")), ids=lambda p: p.name)
def test_every_bundled_model_builds_and_runs(path):
    net = bridge.load_model(path, seed=0)
    net.eval()
    inputs = {i: torch.randn(3, size) for i, size in net.input_sizes.items()}
    out = net(inputs)
    assert set(out) == set(net.output_ids)
    for leaf, tensor in out.items():
        assert tensor.shape == (3, net.output_sizes[leaf])
        assert torch.isfinite(tensor).all()


def test_mnist_conv_matches_cortex_spec_4_1():
    net = load("mnist-conv.edn")
    table = [(layer.id, layer.type, tuple(layer.output_shape), layer.parameter_count)
             for layer in net.layers]
    assert table == [
        ("data", "input", (1, 28, 28), 0),
        ("convolutional-1", "convolutional", (20, 24, 24), 520),
        ("max-pooling-1", "max-pooling", (20, 12, 12), 0),
        ("relu-1", "relu", (20, 12, 12), 0),
        ("convolutional-2", "convolutional", (50, 8, 8), 25_050),
        ("max-pooling-2", "max-pooling", (50, 4, 4), 0),
        ("batch-normalization-1", "batch-normalization", (50, 4, 4), 3_200),
        ("linear-1", "linear", (1, 1, 1000), 801_000),
        ("relu-2", "relu", (1, 1, 1000), 10_000),  # the center-loss centers [10 1000]
        ("dropout-1", "dropout", (1, 1, 1000), 0),
        ("linear-2", "linear", (1, 1, 10), 10_010),
        ("labels", "softmax", (1, 1, 10), 0),
    ]
    assert net.parameter_count == 849_780
    params = net.parameters_by_layer()
    assert params["convolutional-2"]["weights"].shape == (50, 500)
    assert {k: tuple(v.shape) for k, v in params["batch-normalization-1"].items()} == {
        "scale": (800,), "bias": (800,), "means": (800,), "variances": (800,)}
    assert params["relu-2"]["centers"].shape == (10, 1000)


def test_mnist_conv_second_conv_gets_he_initialisation():
    # the first activation downstream of :convolutional-2 is the relu after linear-1
    weights = load("mnist-conv.edn").parameters_by_layer()["convolutional-2"]["weights"]
    variance = weights.double().var(dim=1, unbiased=False) * 500
    assert torch.allclose(variance, torch.full_like(variance, 2.0), atol=1e-6)


def test_tutorial_mlp_is_the_tutorial_text():
    text = (MODELS / "mnist-mlp.edn").read_text()
    assert "(nn/sequential" in text and "(nn/dense 128)" in text
    net = load("mnist-mlp.edn")
    assert [(layer.id, layer.output_shape.size) for layer in net.layers] == [
        ("input-1", 784), ("linear-1", 128), ("relu-1", 128), ("linear-2", 10),
        ("softmax-1", 10)]
    assert net.parameter_count == 101_770


def test_xor_streams_line_up_with_ids():
    net = load("xor-mlp.edn")
    assert net.input_ids == ("x",) and net.output_ids == ("y",)
    assert [layer.type for layer in net.layers] == ["input", "linear", "tanh", "linear"]


def test_two_inputs_graph():
    net = load("two-inputs.edn")
    assert net.input_ids == ("left", "right")
    assert net.output_ids == ("label",)
    shapes = {layer.id: layer.output_shape for layer in net.layers}
    assert shapes["sum"] == Shape(1, 1, 8) and shapes["both"] == Shape(1, 1, 16)


def test_digits_mlp_header():
    net = load("digits-mlp.edn")
    assert net.header["name"] == "digits-mlp"
    assert net.input_sizes == {"data": 64} and net.output_sizes == {"labels": 10}
