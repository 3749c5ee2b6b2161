"""ONNX export: onnxruntime gives the network's outputs on random inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import bridge
from bridge.cli import main
from bridge.saving.onnx import export_onnx

onnxruntime = pytest.importorskip("onnxruntime")  # installed by the test extras
MODELS = Path(__file__).resolve().parent.parent / "edn_models"


@pytest.mark.parametrize("name", ["mnist-conv.edn", "two-inputs.edn", "xor-mlp.edn"])
def test_onnx_outputs_match_the_network(tmp_path, name):
    net = bridge.load_model(MODELS / name, seed=0)
    net.eval()
    path = tmp_path / "model.onnx"
    export_onnx(net, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    inputs = {i: torch.randn(5, size, generator=generator) for i, size in net.input_sizes.items()}
    expected = net(inputs)
    got = session.run(list(net.output_ids), {k: v.numpy() for k, v in inputs.items()})
    for leaf, value in zip(net.output_ids, got, strict=True):
        np.testing.assert_allclose(value, expected[leaf].detach().numpy(), rtol=1e-4, atol=1e-5)


def test_export_command_writes_a_file(tmp_path):
    saved = tmp_path / "net.edn"
    bridge.save_network(bridge.load_model(MODELS / "xor-mlp.edn", seed=0), saved)
    out = tmp_path / "net.onnx"
    assert main(["export", str(saved), "--onnx", str(out)]) == 0
    assert out.stat().st_size > 100
