"""A layer type is defined once, in its LayerSpec: EDN maps, Python call forms and the
composites all follow from one registration (issue 12)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

import bridge
from bridge.description.constructors import CONSTRUCTORS
from bridge.layers.registry import LAYER_TYPES, unregister

GELU_MODELS = (
    "[(input 4) (linear 3) (gelu)]",
    "[(input 4) (linear->gelu 3)]",
    "[(input 4) {:type :linear :output-size 3} {:type :gelu}]",
)


def test_one_register_layer_call_gives_the_map_the_call_form_and_the_composite():
    before = set(CONSTRUCTORS)
    bridge.register_layer("gelu", lambda ctx: nn.GELU(), linear_composite=True,
                          init_activation="relu")
    try:
        nets = [bridge.load_model(text, seed=3) for text in GELU_MODELS]
        x = torch.linspace(-2, 2, 8).reshape(2, 4)
        for net in nets:
            assert [(layer.id, layer.type) for layer in net.layers] == [
                ("input-1", "input"), ("linear-1", "linear"), ("gelu-1", "gelu")]
            assert [dict(layer.node) for layer in net.layers] == \
                [dict(layer.node) for layer in nets[0].layers]
            assert isinstance(net.layer_module("gelu-1"), nn.GELU)
            assert torch.equal(net(x), nets[0](x))
    finally:
        unregister("gelu")
    assert set(CONSTRUCTORS) == before  # (gelu) and (linear->gelu) went with it
    assert "gelu" not in LAYER_TYPES


def test_every_call_form_of_a_layer_type_belongs_to_a_registered_type():
    for name, form in CONSTRUCTORS.items():
        assert form.name == name
        assert form.layer_type is None or form.layer_type in LAYER_TYPES, name
        # every form a layer type has shows at least one example call
        assert form.layer_type is None or form.call_examples(), name


def test_the_description_package_imports_no_torch():
    # The package facades (bridge/__init__, bridge/edn/__init__) load the layers and the
    # tensor tag, so they are bypassed: this checks the modules' own imports.
    code = """
import sys, types, pathlib
root = pathlib.Path(sys.argv[1])
for name in ("bridge", "bridge.edn", "bridge.description"):
    package = types.ModuleType(name)
    package.__path__ = [str(root.joinpath(*name.split(".")))]
    sys.modules[name] = package
import bridge.description.constructors, bridge.description.normalize
import bridge.description.shapes, bridge.description.ids
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("bridge.layers")))
"""
    root = str(__import__("pathlib").Path(bridge.__file__).resolve().parents[1])
    result = subprocess.run([sys.executable, "-c", code, root], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


def _scaled(form, args, kvs):
    if len(args) != 1:
        raise ValueError("(scaled …) takes a factor")
    return [{"type": form.layer_type, "factor": args[0], **form.defaults, **kvs}]


class Scaled(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def test_register_layer_takes_call_forms_with_positional_arguments():
    from bridge.description.constructors import CallForm

    bridge.register_layer(
        "test.forms/scaled", lambda ctx: Scaled(ctx.node["factor"]),
        required=("factor",), defaults={"bias?": False}, optional=("bias?",),
        call_forms=[CallForm("scaled", _scaled, examples=("(scaled 3)",))])
    try:
        net = bridge.load_model("[(input 2) (test.forms/scaled 3 :id :s)]")
        assert dict(net.layers[1].node) == {"type": "test.forms/scaled", "factor": 3,
                                            "bias?": False, "id": "s", "parents": ["input-1"]}
        assert net(torch.ones(1, 2)).tolist() == [[3.0, 3.0]]
        with pytest.raises(ValueError, match=r"\(scaled …\) of :test.forms/other belongs to "
                                             r":test.forms/scaled"):
            bridge.register_layer("test.forms/other", lambda ctx: nn.Identity(),
                                  call_forms=[CallForm("scaled")])
        assert "test.forms/other" not in LAYER_TYPES
    finally:
        unregister("test.forms/scaled")
    assert "scaled" not in CONSTRUCTORS


def test_a_user_type_s_short_name_never_takes_a_built_in_form():
    bridge.register_layer("test.forms/relu", lambda ctx: nn.ReLU())
    try:
        assert CONSTRUCTORS["relu"].layer_type == "relu"
        assert CONSTRUCTORS["test.forms/relu"].layer_type == "test.forms/relu"
    finally:
        unregister("test.forms/relu")
    assert CONSTRUCTORS["relu"].layer_type == "relu"
