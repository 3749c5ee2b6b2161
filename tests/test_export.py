"""Saved networks: EDN with every parameter inline, bit-exact, atomic."""

from __future__ import annotations

import math
from pathlib import Path

import edn_format
import pytest
import torch

import bridge
from bridge.edn import loads
from bridge.saving.save import network_to_edn, save_network

MODELS = Path(__file__).resolve().parent.parent / "edn_models"


def perturbed_mnist_conv():
    """mnist-conv with every kind of parameter holding distinctive values."""
    net = bridge.load_model(MODELS / "mnist-conv.edn", seed=0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for params in net.parameters_by_layer().values():
            for tensor in params.values():
                tensor.copy_(torch.randn(tensor.shape, generator=generator))
        weights = net.parameters_by_layer()["linear-2"]["weights"]
        weights[0, :4] = torch.tensor([-0.0, math.inf, -math.inf, 1e-45])  # signed zero,
        weights[1, 0] = torch.finfo(torch.float32).tiny / 4  # infinities and subnormals
    return net


def assert_same_bits(first, second):
    a, b = first.parameters_by_layer(), second.parameters_by_layer()
    assert a.keys() == b.keys()
    for layer in a:
        assert a[layer].keys() == b[layer].keys()
        for name in a[layer]:
            x, y = a[layer][name].detach(), b[layer][name].detach()
            assert x.shape == y.shape and x.dtype == y.dtype, (layer, name)
            assert torch.equal(x.view(torch.int32), y.view(torch.int32)), (layer, name)


@pytest.mark.parametrize("encoding", ["tensor", "vector"])
def test_round_trip_is_bit_exact(tmp_path, encoding):
    net = perturbed_mnist_conv()
    path = tmp_path / f"net-{encoding}.edn"
    save_network(net, path, encoding=encoding)
    again = bridge.load_network(path)
    assert_same_bits(net, again)
    assert [layer.node for layer in again.layers] == [layer.node for layer in net.layers]
    net.eval(), again.eval()
    x = torch.randn(3, 784)
    torch.testing.assert_close(net(x), again(x), rtol=0, atol=0, equal_nan=True)


def test_nan_values_survive_both_encodings():
    net = bridge.load_model("[(input 3) (linear 2)]", seed=0)
    with torch.no_grad():
        net.parameters_by_layer()["linear-1"]["bias"][0] = math.nan
    for encoding in ("tensor", "vector"):
        again = bridge.network_from_edn(network_to_edn(net, encoding=encoding))
        assert math.isnan(again.parameters_by_layer()["linear-1"]["bias"][0].item())


def test_header_records_versions_history_and_metrics():
    net = bridge.load_model(MODELS / "digits-mlp.edn", seed=0)
    text = network_to_edn(net, history=[{"epoch": 1, "loss": 0.5}], metrics={"accuracy": 0.9})
    data = loads(text, readers={"cortex-bridge/tensor": lambda value: value})
    keys = [key.full for key in data]
    assert keys[:5] == ["cortex-bridge/format", "cortex-bridge/version", "torch/version",
                        "created", "name"]
    assert keys[-1] == "description"
    again = bridge.network_from_edn(text)
    assert again.header["metrics"] == {bridge.edn.Keyword("accuracy"): 0.9}
    assert again.header["history"][0][bridge.edn.Keyword("loss")] == 0.5
    assert again.header["name"] == "digits-mlp"


def test_vector_encoding_is_plain_edn_in_cortex_layout():
    net = bridge.load_model("[(input 2 2 1) (convolutional 2 0 1 3) (linear 2)]", seed=0)
    text = network_to_edn(net, encoding="vector")
    assert "#cortex-bridge/tensor" not in text
    data = edn_format.loads(text)  # any EDN reader takes it
    conv = data[edn_format.Keyword("description")][1]
    weights = conv[edn_format.Keyword("weights")]
    assert len(weights) == 3 and len(weights[0]) == 4  # [K, C·k·k]


def test_tensor_encoding_is_compact():
    net = bridge.load_model(MODELS / "mnist-mlp.edn", seed=0)
    size = len(network_to_edn(net, encoding="tensor"))
    assert size < 101_770 * 4 * 1.4  # base64 of the float32 bytes plus a little structure


def test_crash_while_saving_keeps_the_old_file(tmp_path, monkeypatch):
    net = bridge.load_model("[(input 3) (linear 2)]", seed=0)
    path = tmp_path / "net.edn"
    save_network(net, path)
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("bridge.atomic.os.fsync", explode)
    with pytest.raises(OSError, match="disk full"):
        save_network(bridge.load_model("[(input 3) (linear 2)]", seed=5), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.edn"]  # no temporary left behind


def test_saved_file_loads_with_load_model_too(tmp_path):
    net = bridge.load_model(MODELS / "two-inputs.edn", seed=0)
    save_network(net, tmp_path / "g.edn")
    again = bridge.load_model(tmp_path / "g.edn")
    assert again.input_ids == net.input_ids and again.output_ids == net.output_ids
    assert_same_bits(net, again)


def test_unknown_encoding_is_refused():
    net = bridge.load_model("[(input 3) (linear 2)]", seed=0)
    with pytest.raises(ValueError, match="encoding must be one of tensor, vector"):
        network_to_edn(net, encoding="pickle")
