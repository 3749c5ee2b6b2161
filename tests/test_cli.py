"""The cortex-bridge command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.cli import main

MODELS = Path(__file__).resolve().parent.parent / "edn_models"


def run_cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "bridge", *map(str, args)],
                            capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_summary_prints_the_mnist_conv_shapes():
    out = run_cli("summary", MODELS / "mnist-conv.edn").stdout
    rows = [line.split() for line in out.splitlines()]
    assert ["2", ":convolutional-1", ":convolutional", "20x24x24", "520"] in rows
    assert ["6", ":max-pooling-2", ":max-pooling", "50x4x4", "0"] in rows
    assert ["8", ":linear-1", ":linear", "1x1x1000", "801,000"] in rows
    assert out.splitlines()[-1] == "total parameters: 849,780"


def test_summary_of_a_bad_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.edn"
    bad.write_text("[(input 784)\n (linear 0)]")
    result = run_cli("summary", bad, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"cortex-bridge: error: {bad}:2:2: layer 2 (:linear-1 :linear): :output-size must be "
        "a positive integer. Received: :output-size 0")
    assert "Traceback" not in result.stderr


def test_diagram_mermaid_has_one_node_per_layer_and_the_edges(capsys):
    assert main(["diagram", str(MODELS / "two-inputs.edn")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("graph TD;")
    assert text.count('["') == 11
    assert 'L1[":left<br/>:input<br/>1x1x10"];' in text
    assert "L7 --> L9;" in text and "L8 --> L9;" in text  # sum, product → both


def test_diagram_dot_written_to_a_file(tmp_path):
    out = tmp_path / "net.dot"
    assert main(["diagram", str(MODELS / "xor-mlp.edn"), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("digraph network {") and "L1 -> L2;" in text


def test_diagram_svg_through_graphviz(tmp_path):
    out = tmp_path / "net.svg"
    assert main(["diagram", str(MODELS / "mnist-mlp.edn"), "-o", str(out)]) == 0
    assert b"<svg" in out.read_bytes()[:2000]


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2
