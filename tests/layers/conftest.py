"""The layer conformance harness (STYLE rule 12), shared by ``tests/layers/test_*.py``.

Fixtures:

- ``build_layer(layer_edn, *input_shapes, dtype=torch.float64, device="cpu")``: reads the
  layer through the real description path (constructor, defaults, validation, shape
  inference) as the last node of a small network fed by one input per shape, then builds
  its module straight from the registry with ``BuildContext``. Cortex's initial values
  are written into the parameters. Returns a :class:`Built`.
- ``check_layer(layer_edn, *input_shapes, expected_output_shape, …)``: for one layer,
  that ``infer_shape`` matches a real forward (direct and through a network), that the
  parameters have Cortex's names, layout and count, that ``extra_repr`` shows the Cortex
  keys asked for, and that export to EDN and loading back gives ``torch.equal`` state
  dicts and identical outputs.
- ``model_error(text)``: the ``ModelError`` that loading ``text`` raises.

``layer_edn`` is a call form such as ``"(max-pooling 2 1 1 :pool-op :avg)"``; the harness
adds ``:id :under-test`` and ``:parents`` to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

import bridge
from bridge.description.shapes import Shape
from bridge.layers.initializers import initialize
from bridge.layers.registry import LAYER_TYPES, BuildContext, LayerSpec

LAYER_ID = "under-test"


@dataclass
class Built:
    """A layer read from EDN and built from the registry."""

    spec: LayerSpec
    node: dict[str, Any]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    context: BuildContext
    module: nn.Module

    def inputs(self, batch: int = 3, *, seed: int = 0, requires_grad: bool = False):
        """Standard-normal ``[N, C, H, W]`` inputs, one per parent, in the module's dtype."""
        generator = torch.Generator().manual_seed(seed)
        factory = dict(self.context.factory_kwargs)
        device = factory.pop("device", None) or "cpu"
        tensors = [torch.randn(batch, *shape, generator=generator, **factory).to(device)
                   for shape in self.input_shapes]
        return tuple(t.requires_grad_(requires_grad) for t in tensors)


def network_text(layer_edn: str, input_shapes: tuple[Shape, ...]) -> str:
    """``[(input w h c :id :in-0) … <layer :id :under-test :parents [:in-0 …]>]``."""
    inputs = [f"(input {s.width} {s.height} {s.channels} :id :in-{i} :parents [])"
              for i, s in enumerate(input_shapes)]
    parents = " ".join(f":in-{i}" for i in range(len(input_shapes)))
    layer = layer_edn.strip()
    closing = layer[-1]
    assert closing in ")}", f"not a call or map form: {layer_edn}"
    layer = f"{layer[:-1]} :id :{LAYER_ID} :parents [{parents}]{closing}"
    return "[" + " ".join([*inputs, layer]) + "]"


def load(layer_edn: str, *input_shapes: Shape, seed: int = 0) -> bridge.Network:
    return bridge.load_model(network_text(layer_edn, input_shapes), seed=seed)


def _build(layer_edn: str, *input_shapes: Shape, dtype=torch.float64, device="cpu") -> Built:
    net = load(layer_edn, *input_shapes)
    node = dict(net.layers[-1].node)
    spec = LAYER_TYPES[node["type"]]
    output = spec.infer_shape(node, input_shapes)
    context = BuildContext(node, input_shapes, output, {"dtype": dtype, "device": device})
    module = spec.build(context)
    generator = torch.Generator().manual_seed(0)
    for param in spec.params:  # Cortex's initial values, as the network writes them
        live = param.cortex_view(getattr(module, param.attr))
        with torch.no_grad():
            live.copy_(initialize(param.shape(context), param.init, generator=generator))
    return Built(spec, node, input_shapes, output, context, module)


@pytest.fixture
def build_layer():
    return _build


@pytest.fixture
def model_error():
    def load_failing(text: str) -> bridge.ModelError:
        with pytest.raises(bridge.ModelError) as caught:
            bridge.load_model(text)
        return caught.value

    return load_failing


def _check_layer(
    layer_edn: str,
    *input_shapes: Shape,
    expected_output_shape: Shape,
    expected_param_shapes: dict[str, tuple[int, ...]] | None = None,
    expected_parameter_count: int = 0,
    repr_contains: tuple[str, ...] = (),
) -> Built:
    expected_param_shapes = expected_param_shapes or {}
    built = _build(layer_edn, *input_shapes)
    spec, module, context = built.spec, built.module, built.context

    # Shapes: infer_shape, the planned network, and real forwards agree.
    assert built.output_shape == expected_output_shape
    net = load(layer_edn, *input_shapes)
    layer = net.layers[-1]
    assert layer.output_shape == expected_output_shape
    for training in (True, False):
        module.train(training)
        out = module(*built.inputs(batch=3))
        assert out.shape[0] == 3
        assert out[0].numel() == expected_output_shape.size

    # Parameters: Cortex's names in Cortex's order, Cortex's layout, Cortex's count.
    assert {p.name: tuple(p.shape(context)) for p in spec.params} == expected_param_shapes
    assert [p.name for p in spec.params] == list(expected_param_shapes)
    for param in spec.params:
        live = getattr(module, param.attr)
        assert tuple(param.cortex_view(live).shape) == expected_param_shapes[param.name]
        assert isinstance(live, nn.Parameter) == param.trainable, param.name
    assert layer.parameter_count == expected_parameter_count
    assert sum(live.numel() for live in net.parameters_by_layer().get(LAYER_ID, {}).values()) \
        == expected_parameter_count
    assert {name: tuple(t.shape) for name, t in
            net.parameters_by_layer().get(LAYER_ID, {}).items()} == expected_param_shapes

    # extra_repr speaks Cortex.
    text = module.extra_repr()
    for piece in repr_contains:
        assert piece in text, f"{piece!r} not in extra_repr {text!r}"

    # Export to EDN and back: equal state, identical outputs.
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # values no initialisation would give (BN variances stay > 0)
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
    again = bridge.network_from_edn(bridge.network_to_edn(net))
    before, after = net.state_dict(), again.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert again.layers[-1].node == layer.node
    net.eval()
    again.eval()
    data = {f"in-{i}": torch.randn(4, s.size, generator=generator)
            for i, s in enumerate(input_shapes)}
    ours, theirs = net(data), again(data)
    assert ours[LAYER_ID].shape == (4, expected_output_shape.size)
    assert torch.equal(ours[LAYER_ID], theirs[LAYER_ID])
    return built


@pytest.fixture
def check_layer():
    return _check_layer
