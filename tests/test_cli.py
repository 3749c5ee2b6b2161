"""The cortex-bridge command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

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


def test_train_evaluate_inspect_convert(tmp_path):
    out = tmp_path / "trained.edn"
    run_cli("train", MODELS / "digits-mlp.edn", "--epochs", "2", "--out", out,
            "--metrics-log", tmp_path / "m.edn")
    text = out.read_text()
    assert ":history" in text and ":metrics" in text
    evaluated = run_cli("evaluate", out).stdout
    assert evaluated.splitlines()[1].startswith("accuracy  0.")
    inspected = run_cli("inspect", out).stdout
    assert "name:                   \"digits-mlp\"" in inspected
    assert ":linear-1 :weights    [128 64]" in inspected and "crc32" in inspected
    plain = tmp_path / "plain.edn"
    run_cli("convert", out, plain, "--encoding", "vector")
    assert "#cortex-bridge/tensor" not in plain.read_text()
    import bridge

    a = bridge.load_network(out).parameters_by_layer()["linear-1"]["weights"]
    b = bridge.load_network(plain).parameters_by_layer()["linear-1"]["weights"]
    assert torch.equal(a, b)


def test_checkpoint_dir_keeps_last_and_best_and_resume_continues(tmp_path):
    import bridge

    folder = tmp_path / "runs"
    run_cli("train", MODELS / "digits-mlp.edn", "--epochs", "2", "--checkpoint-dir", folder,
            "--out", tmp_path / "a.edn")
    last, best = folder / "last.edn", folder / "best.edn"
    assert last.exists() and best.exists()
    assert bridge.load_model(last).header["checkpoint"][bridge.edn.Keyword("epoch")] == 2
    run_cli("train", MODELS / "digits-mlp.edn", "--epochs", "3", "--resume", last,
            "--out", tmp_path / "b.edn")
    history = bridge.load_network(tmp_path / "b.edn").header["history"]
    assert [entry[bridge.edn.Keyword("epoch")] for entry in history] == [1, 2, 3]
    both = run_cli("train", MODELS / "digits-mlp.edn", "--checkpoint", tmp_path / "c.edn",
                   "--checkpoint-dir", folder, check=False)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_the_tutorial_mlp_trains_on_mnist_files_from_the_command_line(tmp_path, make_mnist):
    # mnist-mlp.edn's streams are :input-1 and :softmax-1 (Cortex's default ids); the
    # MNIST loader names them data and labels, and the command maps one onto the other.
    make_mnist(tmp_path / "mnist", count=40)
    out = tmp_path / "mlp.edn"
    run_cli("train", MODELS / "mnist-mlp.edn", "--data", f"mnist:{tmp_path / 'mnist'}",
            "--epochs", "1", "--batch-size", "8", "--out", out)
    evaluated = run_cli("evaluate", out, "--data", f"mnist:{tmp_path / 'mnist'}").stdout
    assert evaluated.splitlines()[1].startswith("accuracy  ")


def test_a_deps_edn_is_read_only_with_the_real_clojure_cli(tmp_path, monkeypatch):
    from bridge.cli import jvm as cli_jvm
    from bridge.jvm import classpath

    (tmp_path / "deps.edn").write_text('{:paths ["src"]}')
    monkeypatch.setattr(classpath, "clojure_cli", lambda: None)  # Debian's wrapper only
    assert cli_jvm.project_classpath(tmp_path) == []
    fake = tmp_path / "clojure"
    fake.write_text('#!/bin/sh\n[ "$1" = -Spath ] && echo "src:/lib/a.jar"\n')
    fake.chmod(0o755)
    monkeypatch.setattr(classpath, "clojure_cli", lambda: str(fake))
    assert cli_jvm.project_classpath(tmp_path) == ["src", "/lib/a.jar"]


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    import signal
    import time

    checkpoint = tmp_path / "c.edn"
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "train", str(MODELS / "digits-mlp.edn"),
         "--epochs", "100000", "--checkpoint", str(checkpoint), "--no-test",
         "--out", str(tmp_path / "never.edn")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "checkpoint saved to" in stderr and "Traceback" not in stderr
    import bridge

    saved = bridge.load_model(checkpoint)
    assert saved.header["checkpoint"][bridge.edn.Keyword("epoch")] >= 1
