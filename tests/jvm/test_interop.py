"""Clojure and Python meeting in practice: saved networks read by a plain Clojure
process, Clojure-printed EDN read by Python, the seed's program, the REPL and nREPL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import bridge
from bridge.jvm import classpath

ROOT = Path(__file__).resolve().parents[2]


def plain_clojure(code: str, *, timeout=180) -> str:
    """Run Clojure code in a plain JVM: no Python, no JPype."""
    cp = os.pathsep.join([str(classpath.project_sources()), *classpath.clojure_classpath()])
    result = subprocess.run(["java", "-cp", cp, "clojure.main", "-e", code],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("encoding", ["tensor", "vector"])
def test_a_plain_clojure_process_reads_saved_networks_bit_for_bit(tmp_path, encoding):
    net = bridge.load_model(ROOT / "edn_models" / "mnist-mlp.edn", seed=0)
    with torch.no_grad():
        net.parameters_by_layer()["linear-2"]["bias"][:3] = torch.tensor([-0.0, 1e-45, 0.1])
    path = tmp_path / "net.edn"
    bridge.save_network(net, path, encoding=encoding)
    code = f"""
      (require '[cortex.bridge.edn :as e])
      (let [net (e/read-network "{path}")
            layers (:description net)
            bits (fn [v] (cond (map? v) (map #(Float/floatToRawIntBits %) (:data v))
                               :else (map #(Float/floatToRawIntBits (float %)) (flatten v))))]
        (doseq [layer layers :when (:weights layer)]
          (println (name (:id layer)) (reduce + (map long (bits (:weights layer))))
                   (reduce + (map long (bits (:bias layer)))))))"""
    lines = plain_clojure(code).split("\n")
    expected = []
    for layer, params in net.parameters_by_layer().items():
        sums = [int(params[n].detach().view(torch.int32).to(torch.int64).sum())
                for n in ("weights", "bias")]
        expected.append(f"{layer} {sums[0]} {sums[1]}")
    assert [line for line in lines if line] == expected


def test_clojure_printed_edn_reads_back_in_python():
    text = plain_clojure("""
      (binding [*print-namespace-maps* true]
        (prn {:layer/type :dense :layer/units 3 :xs '(1 2 3) :big 12345678901234567890N
              :dec 1.5M :nan ##NaN :inf ##-Inf :f (float 0.1) :ratio 22/7}))""")
    from fractions import Fraction

    from bridge.edn import Keyword, loads

    value = loads(text)
    assert value[Keyword("layer/type")] == Keyword("dense")
    assert value[Keyword("layer/units")] == 3
    assert tuple(value[Keyword("xs")]) == (1, 2, 3)
    assert value[Keyword("big")] == 12345678901234567890
    assert value[Keyword("ratio")] == Fraction(22, 7)
    assert value[Keyword("nan")] != value[Keyword("nan")]
    assert torch.tensor(value[Keyword("f")], dtype=torch.float32).item() == torch.tensor(
        0.1, dtype=torch.float32).item()


def test_the_seed_program_runs_as_written_on_idx_files(tmp_path, make_mnist):
    make_mnist(tmp_path, count=64)
    env = {**os.environ, "CORTEX_BRIDGE_MNIST": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "bridge", "run",
                             str(ROOT / "examples" / "mnist.clj")], capture_output=True,
                            text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = [line for line in result.stdout.splitlines() if line.startswith("Test Accuracy:")]
    assert len(accuracy) == 1
    assert 0.0 <= float(accuracy[0].split()[-1]) <= 1.0
    seed = (ROOT.parent / "shared" / "seed")
    if seed.is_dir():  # the example holds the tutorial's code verbatim
        tutorial = next(seed.iterdir()).read_text()
        example = (ROOT / "examples" / "mnist.clj").read_text()
        for form in ("(defn create-model []", "(nn/dense 128)", "(optim/sgd :learning-rate 0.01)",
                     "(nn/evaluate model test-data)", "(ds/load-mnist :train)"):
            assert form in tutorial and form in example


def test_missing_mnist_is_a_clear_clojure_error(tmp_path):
    env = {**os.environ, "CORTEX_BRIDGE_MNIST": str(tmp_path / "nowhere")}
    result = subprocess.run([sys.executable, "-m", "bridge", "run",
                             str(ROOT / "examples" / "mnist.clj")], capture_output=True,
                            text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "MNIST file train-images-idx3-ubyte" in result.stderr
    assert "Traceback" not in result.stderr


# --- nREPL ---------------------------------------------------------------------------------


def bencode(value) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in sorted(value.items())) + b"e"
    raise TypeError(value)


def bdecode(stream):
    kind = stream.read(1)
    if kind == b"i":
        digits = b""
        while (c := stream.read(1)) != b"e":
            digits += c
        return int(digits)
    if kind == b"l":
        items = []
        while stream.peek(1)[:1] != b"e":
            items.append(bdecode(stream))
        stream.read(1)
        return items
    if kind == b"d":
        result = {}
        while stream.peek(1)[:1] != b"e":
            key = bdecode(stream)
            result[key] = bdecode(stream)
        stream.read(1)
        return result
    length = kind
    while (c := stream.read(1)) != b":":
        length += c
    return stream.read(int(length)).decode()


def nrepl_eval(port: int, code: str, timeout=300) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(bencode({"op": "eval", "code": code, "id": "1"}))
        with sock.makefile("rb") as stream:
            values, out, err = [], "", ""
            while True:
                message = bdecode(stream)
                values += [message["value"]] if "value" in message else []
                out += message.get("out", "")
                err += message.get("err", "") + message.get("ex", "")
                if "done" in message.get("status", []):
                    return {"values": values, "out": out, "err": err}


def test_nrepl_round_trip_trains_and_reads_weights(tmp_path):
    server = subprocess.Popen([sys.executable, "-m", "bridge", "nrepl"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port_file = tmp_path / ".nrepl-port"
        deadline = time.time() + 120
        while not port_file.exists() and time.time() < deadline and server.poll() is None:
            time.sleep(0.2)
        assert port_file.exists(), "the nREPL server wrote no .nrepl-port"
        port = int(port_file.read_text())
        reply = nrepl_eval(port, """
            (require '[cortex.bridge :as b] '[cortex.nn.layers :as layers])
            (def net (b/load-model [(layers/input 2 1 1 :id :x) (layers/linear 1 :id :y)]
                                   {:seed 0}))
            (b/train! net [{:x [1 2] :y [3]} {:x [2 1] :y [0]}]
                      {:epochs 5 :batch-size 2 :optimizer {:type :sgd :learning-rate 0.01}})
            (get-in (b/weights net {:as :vectors}) [:y :weights])""")
        assert reply["err"] == ""
        weights = bridge.edn.loads(reply["values"][-1])
        assert len(weights) == 1 and len(weights[0]) == 2
        assert "epoch   5/5" in reply["out"]  # progress reaches the editor's *out*
        with socket.create_connection(("127.0.0.1", port)) as probe:
            assert probe.getsockname()[0] == "127.0.0.1"
        server.terminate()  # SIGTERM, as `kill` sends: a clean stop
        server.communicate(timeout=60)
        assert server.returncode == 0
        assert not port_file.exists(), "the server left its .nrepl-port behind"
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=30)


def test_repl_answers_on_the_terminal():
    result = subprocess.run([sys.executable, "-m", "bridge", "repl"],
                            input="(+ 20 22)\n(cortex.nn.layers/relu :id :r)\n",
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "user=> 42" in result.stdout
    assert "[{:type :relu, :id :r}]" in result.stdout


def test_the_repl_starts_its_jvm_with_the_interactive_options(monkeypatch):
    from bridge.jvm.repl import INTERACTIVE_JVM_OPTIONS, jvm_options

    code = ("(println (vec (.getInputArguments "
            "(java.lang.management.ManagementFactory/getRuntimeMXBean))))\n")
    result = subprocess.run([sys.executable, "-m", "bridge", "repl"], input=code,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(option in result.stdout for option in INTERACTIVE_JVM_OPTIONS)
    monkeypatch.setenv("CORTEX_BRIDGE_JVM_OPTS", " -Xmx1g  -Dx=y ")
    assert jvm_options(interactive=True) == jvm_options(interactive=False) == ("-Xmx1g", "-Dx=y")
    monkeypatch.delenv("CORTEX_BRIDGE_JVM_OPTS")
    assert jvm_options(interactive=False) == ()


def test_weights_written_by_clojure_load_bit_for_bit_in_python(tmp_path):
    path = tmp_path / "from-clojure.edn"
    plain_clojure(f"""
      (require '[cortex.bridge.tensor :as t])
      (let [w (float-array [1.5 -0.0 1.0E-45 3.4028235E38 0.1 -2.25])
            b (float-array [0.5 -0.5])]
        (spit "{path}"
              (str "[(layers/input 3 1 1 :id :x) (layers/linear 2 :id :y :weights "
                   (t/tensor->edn w [2 3]) " :bias " (t/tensor->edn b [2]) ")]")))""")
    net = bridge.load_model(path)
    weights = net.parameters_by_layer()["y"]["weights"].detach()
    expected = torch.tensor([[1.5, -0.0, 1e-45], [3.4028235e38, 0.1, -2.25]],
                            dtype=torch.float32)
    assert torch.equal(weights.view(torch.int32), expected.view(torch.int32))
