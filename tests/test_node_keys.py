"""Nothing silently ignored: unknown node keys warn (errors under strict=True), keys
Cortex acts on that cannot be honoured are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import bridge
from bridge.errors import UnknownKeyWarning
from bridge.layers.registry import LAYER_TYPES, unregister
from bridge.network.keys import accepted_keys

ROOT = Path(__file__).resolve().parent.parent


def test_unknown_key_warns_with_file_line_and_layer(tmp_path):
    path = tmp_path / "typo.edn"
    path.write_text("[(input 3)\n (linear 2 :outptu-size 4)]\n")
    with pytest.warns(UnknownKeyWarning) as caught:
        net = bridge.load_model(path)
    message = str(caught[0].message)
    assert message.startswith(f"{path}:2:2: layer 2 (:linear-1 :linear): ")
    assert ":outptu-size" in message and "Did you mean :output-size?" in message
    assert net.layers[1].output_size == 2


def test_strict_loading_makes_an_unknown_key_an_error():
    with pytest.raises(bridge.ModelError) as caught:
        bridge.load_model("[(input 3) (relu :colour :red)]", strict=True)
    assert caught.value.layer_id == "relu-1"
    assert ":colour" in str(caught.value)


def test_unknown_key_in_a_parameter_map_warns():
    with pytest.warns(UnknownKeyWarning, match=r":initialisation in :weights.*"
                                               r"Did you mean :initialization"):
        bridge.load_model("[(input 3) (linear 2 :weights {:initialisation {:type :relu}})]")


def test_values_for_a_parameter_the_layer_lacks_warn():
    with pytest.warns(UnknownKeyWarning, match="no parameter :weights"):
        bridge.load_model("[(input 3) (relu :weights [[1 2 3]])]")


def test_composite_options_copied_to_the_activation_do_not_warn():
    net = bridge.load_model("[(input 3) (linear->relu 2 :weights [[1 2 3] [4 5 6]] "
                            ":bias {:l2-regularization 0.01})]")
    assert net.parameters_by_layer()["linear-1"]["weights"].tolist() == [[1, 2, 3], [4, 5, 6]]


def test_yolo2_is_refused_even_without_strict():
    with pytest.raises(bridge.ModelError, match=r":yolo2: .*not available"):
        bridge.load_model("[(input 3) (linear 2 :yolo2 {:labels {:stream :y}})]")


def test_buffer_id_references_are_refused():
    with pytest.raises(bridge.ModelError) as caught:
        bridge.load_model("[(input 2) (linear 1 :weights {:buffer-id :linear-1-weights-1})]")
    assert "no buffers to resolve" in str(caught.value)
    assert caught.value.layer_index == 2


def test_a_buffer_id_beside_its_inline_buffer_is_fine():
    net = bridge.load_model("[(input 2) (linear 1 :weights {:buffer-id :w :buffer [[1 2]]})]")
    assert net.parameters_by_layer()["linear-1"]["weights"].tolist() == [[1, 2]]


def test_every_bundled_model_loads_without_warnings():
    # pytest turns warnings into errors (pyproject.toml), so loading is the check.
    for path in sorted((ROOT / "edn_models").glob("*.edn")):
        bridge.load_model(path, strict=True)


def test_accepted_keys_follow_the_registry():
    keys = accepted_keys(LAYER_TYPES["convolutional"])
    assert {"num-kernels", "kernel-dim", "weights", "non-trainable?", "l2-regularization",
            "mse-loss"} <= keys
    assert "output-channels" in accepted_keys(LAYER_TYPES["softmax"])
    assert "probability" not in accepted_keys(LAYER_TYPES["relu"])


def test_a_user_layer_declares_its_optional_keys():
    class Scale(nn.Module):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    bridge.register_layer("test.keys/scaler", lambda ctx: Scale(ctx.node.get("factor", 1)),
                          optional=("factor",))
    try:
        net = bridge.load_model("[(input 2) (test.keys/scaler :factor 3)]")
        assert net(torch.ones(1, 2)).tolist() == [[3.0, 3.0]]
        with pytest.warns(UnknownKeyWarning, match=":fcator"):
            bridge.load_model("[(input 2) (test.keys/scaler :fcator 3)]")
    finally:
        unregister("test.keys/scaler")  # its call forms go with it
