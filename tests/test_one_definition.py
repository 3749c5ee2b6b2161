"""A layer type is defined once, in its LayerSpec: EDN maps, Python call forms and the
composites all follow from one registration (issue 12)."""

from __future__ import annotations

import subprocess
import sys

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
