"""cortex.bridge/import-onnx (and import-network) from Clojure, through the hosted JVM."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from torch import nn

pytest.importorskip("onnx")


def test_import_onnx_from_clojure(tmp_path):
    from bridge import jvm

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 1, 4, 4), buffer, dynamo=False,
                          input_names=["data"], output_names=["scores"])
    path = tmp_path / "m.onnx"
    path.write_bytes(buffer.getvalue())
    jvm.start()
    jvm.eval("(require 'cortex.bridge)")
    text = jvm.eval(f'(cortex.bridge/summary (cortex.bridge/import-onnx "{path}"))')
    assert ":data" in text and ":convolutional-1" in text and ":scores" in text
    with pytest.raises(Exception, match="cannot import .txt"):
        jvm.eval(f'(cortex.bridge/import-network "{tmp_path / "m.txt"}")')
