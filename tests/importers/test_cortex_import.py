"""Trained Cortex networks (.nippy) imported through the real nippy library on the JVM.

The files are frozen from the test with the same library (Debian's libnippy-clojure), in
the shape Cortex's train-n saves (cortex-spec §2.2, §3.7); the imported network's outputs
are checked against numbers computed here by hand from the inlined buffers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import bridge
from bridge.errors import ModelError
from bridge.jvm.classpath import DEBIAN_DIR, NIPPY_JARS

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (DEBIAN_DIR / NIPPY_JARS[0]).is_file()
    and "nippy" not in os.environ.get("CORTEX_BRIDGE_CLASSPATH", ""),
    reason="libnippy-clojure is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def clj():
    from bridge import jvm

    jvm.start()
    jvm.require("cortex.bridge.nippy")
    return jvm.eval


def doubles(values) -> str:
    return "(double-array [" + " ".join(repr(float(v)) for v in np.ravel(values)) + "])"


def rows(matrix) -> str:
    """Cortex's 2-D buffer: a vector of double[] rows."""
    return "[" + " ".join(doubles(row) for row in np.atleast_2d(matrix)) + "]"


def freeze(clj, path, network_code: str) -> Path:
    clj(f'(cortex.bridge.nippy/freeze-file! "{path}" {network_code})')
    return Path(path)


def linear_network(weights, bias, *, extra_nodes="", extra_edges="", extra_buffers="",
                   weights_code=None) -> str:
    out, width = weights.shape
    return f"""
{{:compute-graph
  {{:nodes {{:in {{:type :input :id :in :output-size {width} :output-width {width}
                 :output-height 1 :output-channels 1 :input {{:stream :in}}}}
           :fc {{:type :linear :id :fc :output-size {out}
                 :weights {{:buffer-id :fc-weights-1}} :bias {{:buffer-id :fc-bias-1}}
                 :input-dimensions [{{:channels 1 :height 1 :width {width}}}]}}
           :mse-loss-1 {{:type :mse-loss :id :mse-loss-1
                        :output {{:type :node-output :node-id :fc}}
                        :labels {{:type :stream :stream :fc}}}}
           {extra_nodes}}}
   :edges [[:in :fc] [:fc :mse-loss-1] {extra_edges}]
   :buffers {{:fc-weights-1 {{:buffer {weights_code or rows(weights)}}}
             :fc-bias-1 {{:buffer {doubles(bias)}}}
             {extra_buffers}}}
   :streams {{:in {{:channels 1 :height 1 :width {width}}}}}}}
 :traversal {{:forward [] :backward [] :buffers nil :type :training}}
 :epoch-count 7 :cv-loss 0.25}}"""


def test_cortex_layer_test_numbers(clj, tmp_path):
    """Cortex's own linear test: W=[[1 2][3 4]], b=[0 10], x=[1 2] → y=[5 21]."""
    path = freeze(clj, tmp_path / "net.nippy",
                  linear_network(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.0, 10.0])))
    net = bridge.import_cortex(path).eval()
    assert [layer.id for layer in net.layers] == ["in", "fc"]  # the mse loss node is gone
    assert net(torch.tensor([[1.0, 2.0]])).tolist() == [[5.0, 21.0]]


def test_linear_output_is_w_x_plus_b_and_regularisers_stay(clj, tmp_path):
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(3, 5)), rng.normal(size=3)
    centers = rng.normal(size=(3, 3))  # [classes (the :fc stream), features]
    code = linear_network(
        weights, bias,
        # double[][] rather than rows: nippy thaws "[[D" only when it is allowed
        weights_code="(into-array [" + " ".join(doubles(r) for r in weights) + "])",
        extra_nodes="""
          :l2-regularization-1 {:type :l2-regularization :id :l2-regularization-1
                                :lambda 0.01
                                :output {:type :node-argument :node-id :fc :argument :weights}}
          :l1-regularization-1 {:type :l1-regularization :id :l1-regularization-1
                                :lambda 0.002 :output {:type :node-output :node-id :fc}}
          :center-loss-1 {:type :center-loss :id :center-loss-1 :alpha 0.9 :lambda 0.05
                          :output {:type :node-output :node-id :fc}
                          :labels {:stream :fc}
                          :centers {:buffer-id :center-loss-1-centers-1}}""",
        extra_edges="[:fc :l2-regularization-1] [:fc :l1-regularization-1] "
                    "[:fc :center-loss-1]",
        extra_buffers=f":center-loss-1-centers-1 {{:buffer {rows(centers)}}}")
    net = bridge.import_cortex(freeze(clj, tmp_path / "net.nippy", code)).eval()
    x = rng.normal(size=(6, 5))
    expected = x @ weights.T + bias
    got = net(torch.tensor(x, dtype=torch.float32)).detach().double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    node = net.layers[1].node
    assert node["l1-regularization"] == 0.002
    assert node["center-loss"]["alpha"] == 0.9 and node["center-loss"]["lambda"] == 0.05
    params = net.parameters_by_layer()["fc"]
    np.testing.assert_allclose(params["centers"].double().numpy(), centers, rtol=1e-6)
    text = bridge.network_to_edn(net, encoding="vector")
    assert ":l2-regularization 0.01" in text  # kept inside the :weights map


CONV = """
{:compute-graph
 {:nodes
  {:input-1 {:type :input :id :input-1 :output-size 50 :output-width 5 :output-height 5
             :output-channels 2 :input {:stream :input-1}}
   :convolutional-1 {:type :convolutional :id :convolutional-1 :kernel-width 3
                     :kernel-height 3 :pad-x 0 :pad-y 0 :stride-x 1 :stride-y 1
                     :num-kernels 3 :dimension-op :floor :kernel-dim 3 :pad 0 :stride 1
                     :weights {:buffer-id :convolutional-1-weights-1}
                     :bias {:buffer-id :convolutional-1-bias-1}}
   :relu-1 {:type :relu :id :relu-1}
   :max-pooling-1 {:type :max-pooling :id :max-pooling-1 :kernel-width 2 :kernel-height 2
                   :pad-x 0 :pad-y 0 :stride-x 2 :stride-y 2 :num-kernels 0
                   :dimension-op :ceil :pool-op :max :kernel-dim 2 :pad 0 :stride 2}
   :linear-1 {:type :linear :id :linear-1 :output-size 400
              :weights {:buffer-id :linear-1-weights-1} :bias {:buffer-id :linear-1-bias-1}}
   :softmax-1 {:type :softmax :id :softmax-1}
   :softmax-loss-1 {:type :softmax-loss :id :softmax-loss-1
                    :output {:type :node-output :node-id :softmax-1}
                    :labels {:type :stream :stream :softmax-1}}}
  :edges [[:input-1 :convolutional-1] [:convolutional-1 :relu-1] [:relu-1 :max-pooling-1]
          [:max-pooling-1 :linear-1] [:linear-1 :softmax-1] [:softmax-1 :softmax-loss-1]]
  :buffers {:convolutional-1-weights-1 {:buffer %s}
            :convolutional-1-bias-1 {:buffer %s}
            :linear-1-weights-1 {:buffer %s}
            :linear-1-bias-1 {:buffer %s}}
  :streams {:input-1 {:channels 2 :height 5 :width 5}}}
 :epoch-count 2 :cv-loss 1.5}"""


def cortex_conv_net(x, conv_w, conv_b, fc_w, fc_b):
    """Cortex's forward pass by hand: planar [C H W], conv rows in (c, ky, kx) order,
    ceil pooling with the overhang skipped, then linear and softmax."""
    c, h, w = x.shape
    k = 3
    conv = np.zeros((conv_w.shape[0], h - k + 1, w - k + 1))
    for y in range(h - k + 1):
        for z in range(w - k + 1):
            patch = x[:, y:y + k, z:z + k].reshape(-1)  # (c, ky, kx)
            conv[:, y, z] = conv_w @ patch + conv_b
    relu = np.maximum(conv, 0)
    size = -(-(relu.shape[1] - 2) // 2) + 1  # ceil((3 − 2)/2) + 1 = 2
    pooled = np.zeros((relu.shape[0], size, size))
    for y in range(size):
        for z in range(size):
            pooled[:, y, z] = relu[:, 2 * y:2 * y + 2, 2 * z:2 * z + 2].max(axis=(1, 2))
    logits = fc_w @ pooled.reshape(-1) + fc_b
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_conv_network_lz4_file(clj, tmp_path):
    rng = np.random.default_rng(1)
    conv_w, conv_b = rng.normal(size=(3, 18)), rng.normal(size=3)
    fc_w, fc_b = rng.normal(size=(400, 12)) * 0.3, rng.normal(size=400)
    path = freeze(clj, tmp_path / "conv.nippy",
                  CONV % (rows(conv_w), doubles(conv_b), rows(fc_w), doubles(fc_b)))
    raw = path.read_bytes()
    assert raw[:4] == b"NPY\x08"  # nippy's header: LZ4 (above 8 KB), no encryption
    net = bridge.import_cortex(path).eval()
    assert [layer.type for layer in net.layers] == [
        "input", "convolutional", "relu", "max-pooling", "linear", "softmax"]
    x = rng.normal(size=(2, 2, 5, 5))
    got = net(torch.tensor(x, dtype=torch.float32)).detach().double().numpy()
    expected = np.stack([cortex_conv_net(sample, conv_w, conv_b, fc_w, fc_b) for sample in x])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_parents_come_from_the_edges_in_order(clj, tmp_path):
    code = """
{:compute-graph
 {:nodes {:a {:type :input :id :a :output-size 2 :output-width 2 :output-height 1
              :output-channels 1}
          :b {:type :input :id :b :output-size 1 :output-width 1 :output-height 1
              :output-channels 1}
          :cat {:type :concatenate :id :cat}
          :bn {:type :batch-normalization :id :bn :mode :elementwise :epsilon 1e-4
               :average-factor 0.9 :scale {:buffer-id :bn-scale-1} :bias {:buffer-id :bn-bias-1}
               :means {:buffer-id :bn-means-1} :variances {:buffer-id :bn-variances-1}}}
  :edges [[:b :cat] [:a :cat] [:cat :bn]]
  :buffers {:bn-scale-1 {:buffer (double-array [1 2 3])}
            :bn-bias-1 {:buffer (double-array [0 0.5 -1])}
            :bn-means-1 {:buffer (double-array [1 1 1])}
            :bn-variances-1 {:buffer (double-array [4 1 0.25])}}}}"""
    net = bridge.import_cortex(freeze(clj, tmp_path / "cat.nippy", code)).eval()
    assert net.layers[2].node["parents"] == ["b", "a"]
    out = net({"a": torch.tensor([[3.0, 5.0]]), "b": torch.tensor([[7.0]])})["bn"]
    cat = np.array([7.0, 3.0, 5.0])  # :b first, as the edges list it
    expected = (cat - 1) / np.sqrt(np.array([4, 1, 0.25]) + 1e-4) * [1, 2, 3] + [0, 0.5, -1]
    np.testing.assert_allclose(out.detach().double().numpy()[0], expected, rtol=1e-5)


def test_cli_writes_an_edn_network_that_reloads(clj, tmp_path):
    from bridge.cli.main import main

    path = freeze(clj, tmp_path / "net.nippy",
                  linear_network(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.0, 10.0])))
    assert main(["import", str(path), "-o", str(tmp_path / "net.edn")]) == 0
    again = bridge.load_network(tmp_path / "net.edn").eval()
    assert again(torch.tensor([[1.0, 2.0]])).tolist() == [[5.0, 21.0]]


def test_clojure_import_cortex(clj, tmp_path):
    path = freeze(clj, tmp_path / "net.nippy",
                  linear_network(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.0, 10.0])))
    clj("(require 'cortex.bridge)")
    text = clj(f'(cortex.bridge/summary (cortex.bridge/import-cortex "{path}"))')
    assert ":fc" in text and ":linear" in text


def test_refusals_name_what_is_wrong(clj, tmp_path):
    not_a_network = freeze(clj, tmp_path / "x.nippy", "{:foo 1}")
    with pytest.raises(ModelError, match="not a Cortex network"):
        bridge.import_cortex(not_a_network)
    missing = freeze(clj, tmp_path / "m.nippy", linear_network(
        np.eye(2), np.zeros(2)).replace(":fc-bias-1 {:buffer", ":other {:buffer"))
    with pytest.raises(ModelError, match=r"fc.*buffer :fc-bias-1 is not in"):
        bridge.import_cortex(missing)
    yolo = freeze(clj, tmp_path / "y.nippy", linear_network(
        np.eye(2), np.zeros(2), extra_nodes=":yolo2-1 {:type :yolo2 :id :yolo2-1 "
        ":output {:type :node-output :node-id :fc}}", extra_edges="[:fc :yolo2-1]"))
    with pytest.raises(ModelError, match="yolo2"):
        bridge.import_cortex(yolo)
    with pytest.raises(ModelError, match="no such Cortex network file"):
        bridge.import_cortex(tmp_path / "absent.nippy")


def test_a_class_nippy_may_not_thaw_is_reported(clj, tmp_path):
    """A buffer of a class outside the allow-list (as vectorz matrices in files from
    before Cortex 0.9.8) comes back quarantined, and the import says so."""
    code = linear_network(np.eye(2), np.zeros(2),
                          weights_code="(java.util.concurrent.Semaphore. 1)")
    with pytest.raises(ModelError, match="could not thaw a java.util.concurrent.Semaphore"):
        bridge.import_cortex(freeze(clj, tmp_path / "q.nippy", code))
    # and [[D needs the allow-list entry: nippy's default list lacks it
    default = clj("""(let [thaw (requiring-resolve 'taoensso.nippy/thaw)
                          freeze (requiring-resolve 'taoensso.nippy/freeze)]
                      (boolean (:nippy/unthawable
                                 (thaw (freeze (into-array [(double-array [1])]))))))""")
    assert default is True


def test_without_nippy_the_error_says_how_to_install(tmp_path):
    """A JVM whose classpath has Clojure but no nippy (run apart: one JVM per process)."""
    from bridge.jvm.classpath import clojure_classpath

    jars = [entry for entry in clojure_classpath() if "nippy" not in entry]
    script = (
        "import pathlib, bridge.jvm.classpath as c\n"
        f"c.DEBIAN_DIR = pathlib.Path({str(tmp_path)!r})\n"
        "import bridge\n"
        "try:\n"
        f"    bridge.import_cortex({str(Path(__file__))!r})\n"
        "except RuntimeError as e:\n"
        "    print('ERROR', e)\n")
    env = {**os.environ, "CORTEX_BRIDGE_CLASSPATH": os.pathsep.join(jars),
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=300, cwd=ROOT)
    assert "ERROR" in result.stdout, result.stdout + result.stderr
    assert "apt-get install -y libnippy-clojure" in result.stdout
