"""User layer types registered from Python work from EDN files like built-in ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import bridge
from bridge.layers.registry import LAYER_TYPES, unregister


class Scale(nn.Module):
    def __init__(self, size, factor):
        super().__init__()
        self.factor = factor
        self.weight = nn.Parameter(torch.empty(size))

    def forward(self, x):
        return x.flatten(1) * self.weight * self.factor


@pytest.fixture
def scale_layer():
    bridge.register_layer(
        "my.ns/scale", lambda ctx: Scale(ctx.input_shape.size, ctx.node.get("factor", 1)),
        params=[("gains", "weight")], defaults={"factor": 1})
    yield
    unregister("my.ns/scale")


def test_registered_layer_is_usable_from_edn(scale_layer):
    net = bridge.load_model("[(input 3) {:type :my.ns/scale :factor 2 :gains [1 2 3]}]")
    assert net(torch.ones(1, 3)).tolist() == [[2.0, 4.0, 6.0]]
    assert net.layers[1].id == "scale-1"
    assert net.layers[1].parameter_count == 3


def test_registered_layer_has_a_call_form_and_seeded_init(scale_layer):
    first = bridge.load_model("[(input 3) (my.ns/scale :factor 3)]", seed=1)
    second = bridge.load_model("[(input 3) (scale)]", seed=1)
    assert first.layers[1].node["factor"] == 3
    gains = first.parameters_by_layer()["scale-1"]["gains"]
    assert gains.tolist() == [0.0, 0.0, 0.0]  # vectors start at zero, like Cortex's biases
    assert torch.equal(gains, second.parameters_by_layer()["scale-1"]["gains"])


def test_registering_twice_is_an_error(scale_layer):
    with pytest.raises(ValueError, match="already registered"):
        bridge.register_layer("my.ns/scale", lambda ctx: nn.Identity())


def test_builtin_types_live_in_the_same_registry():
    for name in ("input", "linear", "convolutional", "relu", "prelu"):
        assert name in LAYER_TYPES


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="without the colon"):
        bridge.register_layer(":oops", lambda ctx: nn.Identity())
