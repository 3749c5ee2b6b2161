"""Every script in examples/ runs, on tiny inputs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import bridge

ROOT = Path(__file__).resolve().parent.parent


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_digits_example(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = load_example("train_digits").main(epochs=3, out=str(tmp_path / "d.edn"))
    assert result["accuracy"] > 0.8
    assert bridge.load_network(tmp_path / "d.edn").header["history"]


def test_fine_tune_example_trains_only_the_new_head(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = load_example("fine_tune").main(pretrain_epochs=3, epochs=2,
                                            out=str(tmp_path / "tuned.edn"),
                                            pretrained=str(tmp_path / "pre.edn"))
    assert result["frozen-unchanged"]
    assert sorted(result["trainable"]) == ["layer_modules.linear-3.bias",
                                           "layer_modules.linear-3.weight"]
    assert result["accuracy"] > 0.75
    again = bridge.load_network(tmp_path / "tuned.edn")
    assert again.layers[1].node["non-trainable?"] is True


def test_train_mnist_example_on_small_idx_files(tmp_path, monkeypatch, make_mnist):
    make_mnist(tmp_path, count=100)
    monkeypatch.chdir(ROOT)
    result = load_example("train_mnist").main(str(tmp_path), epochs=2,
                                              out=str(tmp_path / "m.edn"))
    assert 0.0 <= result["accuracy"] <= 1.0
    assert (tmp_path / "m.edn").read_text().startswith("{:cortex-bridge/format 1")


def test_xor_clojure_example(tmp_path):
    (tmp_path / "out").mkdir()
    result = subprocess.run([sys.executable, "-m", "bridge", "run",
                             str(ROOT / "examples" / "xor.clj")], capture_output=True,
                            text=True, timeout=600, cwd=tmp_path, env={**os.environ})
    assert result.returncode == 0, result.stderr[-3000:]
    line = [x for x in result.stdout.splitlines() if x.startswith("XOR after training:")][0]
    values = [float(v) for v in line.split("[")[1].rstrip("]").split()]
    assert [round(v) for v in values] == [0, 1, 1, 0]
    assert (tmp_path / "out" / "xor-trained.edn").exists()


def test_fine_tune_imported_onnx_example(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = load_example("fine_tune_imported").main(
        pretrain_epochs=2, epochs=2, width=16, onnx_path=str(tmp_path / "resnet.onnx"),
        out=str(tmp_path / "tuned.edn"))
    assert result["digit-accuracy"] > 0.6  # the imported network classifies digits
    assert result["frozen-unchanged"]
    assert sorted(result["trainable"]) == ["layer_modules.linear-1.bias",
                                           "layer_modules.linear-1.weight"]
    assert result["frozen"] == result["body"]  # reloaded from EDN, still frozen
    assert result["accuracy"] > 0.7
