"""ONNX models imported as Cortex networks: ResNet-style graphs exported by
torch.onnx.export, and hand-built graphs for the other operators; outputs compared with
PyTorch and onnxruntime."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import bridge
from bridge.errors import ModelError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def export(model: nn.Module, example: torch.Tensor, path, **options) -> None:
    """Eval-mode export that keeps BatchNormalization nodes (EVAL would fold them into
    the convolutions)."""
    model.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, buffer, dynamo=False, input_names=["image"],
                          output_names=["logits"], training=torch.onnx.TrainingMode.PRESERVE,
                          dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}}, **options)
    path.write_bytes(buffer.getvalue())


def onnx_run(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x.astype(np.float32)})[0]


def calibrate(model: nn.Module, example: torch.Tensor) -> None:
    """Running statistics from one batch (momentum 1), so that activations stay O(1)."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 1.0
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.2, 0.2)
    model.train()
    with torch.no_grad():
        model(example)
    model.eval()


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


def resnet(widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), classes=10) -> nn.Module:
    """ResNet-18's architecture (torchvision's layer for layer) with random weights."""
    layers = [nn.Conv2d(3, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]),
              nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = widths[0]
    for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
        for i in range(count):
            layers.append(BasicBlock(cin, width, 2 if stage > 0 and i == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def check_import(model, example, path, *, tolerance=1e-5):
    export(model, example, path)
    net = bridge.import_onnx(path).eval()
    with torch.no_grad():
        expected = model(example).numpy()
        got = net(example).numpy()
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(got, onnx_run(path, example.numpy()), rtol=tolerance,
                               atol=tolerance)
    return net


def test_resnet18_imports_with_equal_outputs(tmp_path):
    torch.manual_seed(0)
    model, example = resnet(), torch.randn(2, 3, 64, 64)
    calibrate(model, example)
    net = check_import(model, example, tmp_path / "resnet18.onnx")
    types = [layer.type for layer in net.layers]
    assert types.count("convolutional") == 20 and types.count("batch-normalization") == 20
    assert types.count("join") == 8 and types.count("split") == 8  # residual joins
    assert net.layers[-1].id == "logits" and net.layers[0].id == "image"
    assert all(layer.node["mode"].name == "spatial" and layer.node["epsilon"] > 1e-5
               for layer in net.layers if layer.type == "batch-normalization")
    # every parameter imported (11.2 M), plus the zero bias every Cortex convolution has
    zero_biases = sum(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d))
    assert sum(p.numel() for p in net.parameters()) == sum(
        p.numel() for p in model.parameters()) + zero_biases


def test_small_resnet_saves_as_edn_and_reloads(tmp_path):
    torch.manual_seed(1)
    model, example = resnet(widths=(8, 16), blocks=(1, 1)), torch.randn(3, 3, 32, 32)
    calibrate(model, example)
    net = check_import(model, example, tmp_path / "small.onnx")
    from bridge.cli.main import main

    assert main(["import", str(tmp_path / "small.onnx"), "-o", str(tmp_path / "s.edn")]) == 0
    again = bridge.load_network(tmp_path / "s.edn").eval()
    with torch.no_grad():
        assert torch.equal(again(example), net(example))


class Mixed(nn.Module):
    """PRelu, Selu, Sigmoid, Tanh, average pooling both ways, a channel Concat, Mul, a
    flatten of an image, MatMul + Add, Softmax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.prelu = nn.PReLU(4)
        self.left = nn.Conv2d(4, 3, 1)
        self.right = nn.Conv2d(4, 3, (3, 1), padding=(1, 0))
        self.pool_in = nn.AvgPool2d(2, 2, padding=1, count_include_pad=True)
        self.pool_ex = nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)
        self.weight = nn.Parameter(torch.randn(6 * 4 * 4, 5) * 0.1)
        self.bias = nn.Parameter(torch.randn(5))

    def forward(self, x):
        y = self.prelu(self.conv(x))
        a = torch.sigmoid(self.left(y)) * torch.tanh(self.right(y))
        b = nn.functional.selu(self.right(y))
        # a channel Concat: Cortex's :concatenate is flat, so only vector layers follow
        z = torch.cat([self.pool_in(self.pool_ex(a)), self.pool_in(b)], dim=1)  # [N, 6, 4, 4]
        z = torch.flatten(z, 1)
        return torch.softmax(z @ self.weight + self.bias, dim=1)


def test_other_operators_match(tmp_path):
    torch.manual_seed(2)
    model = Mixed()
    with torch.no_grad():
        model.prelu.weight.uniform_(-0.5, 0.5)
    net = check_import(model, torch.randn(4, 2, 6, 6), tmp_path / "mixed.onnx")
    types = {layer.type for layer in net.layers}
    assert {"prelu", "selu", "logistic", "tanh", "join", "concatenate", "linear",
            "softmax", "max-pooling"} <= types
    pools = [layer.node["pool-op"].name for layer in net.layers if layer.type == "max-pooling"]
    assert sorted(pools) == ["avg", "avg", "avg-exc-pad"]


def graph_model(nodes, inputs, outputs, initializers=(), opset=13):
    graph = helper.make_graph(nodes, "g", inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v, dtype=np.float32), n)
                               for n, v in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def image(name, c, h, w):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", c, h, w])


def test_dropout_lrn_flatten_softmax(tmp_path):
    """Hand-built: LRN (ONNX's window is Cortex's), Dropout (ratio → keep probability),
    Flatten of a 3x2x2 image (Cortex needs a flat node before softmax there)."""
    nodes = [helper.make_node("LRN", ["x"], ["l"], size=3, alpha=0.3, beta=0.7, bias=1.5),
             helper.make_node("Dropout", ["l", "ratio"], ["d"]),
             helper.make_node("Flatten", ["d"], ["f"]),
             helper.make_node("Softmax", ["f"], ["y"], axis=1)]
    model = graph_model(nodes, [image("x", 3, 2, 2)],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 12])],
                        [("ratio", np.array(0.25))])
    path = tmp_path / "g.onnx"
    onnx.save(model, path)
    net = bridge.import_onnx(path).eval()
    x = np.random.default_rng(3).normal(size=(2, 3, 2, 2)).astype(np.float32)
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, onnx_run(path, x), rtol=1e-5, atol=1e-6)
    dropout = next(layer for layer in net.layers if layer.type == "dropout")
    assert dropout.node["probability"] == 0.75
    assert [layer.type for layer in net.layers][-2:] == ["concatenate", "softmax"]


class Concatenated(nn.Module):
    def forward(self, x):
        return nn.functional.max_pool2d(torch.cat([x, torch.relu(x)], dim=1), 2)


def test_refusals_name_the_node(tmp_path):
    def refused(model: nn.Module, example, pattern):
        path = tmp_path / "m.onnx"
        export(model, example, path)
        with pytest.raises(ModelError, match=pattern):
            bridge.import_onnx(path)

    x = torch.randn(1, 4, 5, 5)
    refused(nn.Conv2d(4, 4, 3, groups=2), x, r"ONNX node 1 .*\(Conv\): grouped convolution")
    # torch drops a last window that starts in the padding; Cortex's ceil sizing has it
    refused(nn.MaxPool2d(2, 2, 1, ceil_mode=True), x, r"MaxPool.*ceil_mode")
    refused(nn.Sequential(nn.Conv2d(4, 2, 1), nn.LeakyReLU()), x,
            r"ONNX node 2 .*\(LeakyRelu\): Cortex has no counterpart")
    refused(Concatenated(), x, r"\(MaxPool\): MaxPool reads the image layout, but "
            r"Cortex's node :concatenate-1 gives a flat 1x1x200 output")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], pads=[0, 0, 1, 1])
    model = graph_model([conv], [image("x", 1, 3, 3)], [image("y", 1, 2, 2)],
                        [("w", np.ones((1, 1, 2, 2)))])
    onnx.save(model, tmp_path / "pad.onnx")
    with pytest.raises(ModelError, match="asymmetric padding"):
        bridge.import_onnx(tmp_path / "pad.onnx")


def test_ceil_mode_is_kept_where_cortex_places_the_same_windows(tmp_path):
    torch.manual_seed(4)
    model = nn.Sequential(nn.MaxPool2d(2, 2, 0, ceil_mode=True), nn.Flatten())
    net = check_import(model, torch.randn(2, 3, 5, 5), tmp_path / "ceil.onnx")
    assert net.layers[1].node["dimension-op"].name == "ceil"
    assert net.layers[1].output_shape == (3, 3, 3)


class ViewFlatten(nn.Module):
    """``x.view(x.size(0), -1)``: with a dynamic batch the exporter computes the target
    shape (Shape → Gather → Unsqueeze → Concat → Reshape), which is folded."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 3, 3), nn.Linear(3 * 4 * 4, 4)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.fc(y.view(y.size(0), -1))


def test_computed_reshape_targets_are_folded(tmp_path):
    torch.manual_seed(5)
    net = check_import(ViewFlatten(), torch.randn(3, 1, 6, 6), tmp_path / "view.onnx")
    assert [layer.type for layer in net.layers] == ["input", "convolutional", "relu",
                                                    "linear"]


@pytest.mark.parametrize("description", [
    "[(input 64) (linear 32) (relu) (dropout 0.8) (linear 10) (softmax)]",
    "[(input 8 8 1) (convolutional 3 1 1 4) (batch-normalization :mode :spatial) (relu)"
    " (max-pooling 2 0 2) (linear 10) (softmax)]",
])
def test_our_own_onnx_export_comes_back(tmp_path, description):
    """export --onnx and import are inverses where the export has no padding tricks (a
    flat input reshaped to an image, a crop that keeps everything)."""
    from bridge.saving.onnx import export_onnx

    net = bridge.load_model(description, seed=0).eval()
    with torch.no_grad():  # trained-looking running statistics
        for layer in net.layers:
            if layer.type == "batch-normalization":
                net.parameters_by_layer()[layer.id]["variances"].uniform_(0.5, 2)
    export_onnx(net, tmp_path / "net.onnx")
    back = bridge.import_onnx(tmp_path / "net.onnx").eval()
    # the export leaves dropout out and folds batch-norm into the convolution
    assert [layer.type for layer in back.layers] == [
        layer.type for layer in net.layers if layer.type not in ("dropout",
                                                                 "batch-normalization")]
    x = torch.randn(5, net.layers[0].output_shape.size)
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x), rtol=1e-5, atol=1e-6)


def test_same_padding_when_it_splits_evenly(tmp_path):
    """auto_pad SAME_UPPER (Keras-style exports): 3x3 stride 1 pads 1 each side; a 2x2
    kernel would pad one side only, which Cortex cannot."""
    rng = np.random.default_rng(6)
    weights = rng.normal(size=(2, 1, 3, 3))
    conv = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER")
    model = graph_model([conv], [image("x", 1, 5, 5)], [image("y", 2, 5, 5)],
                        [("w", weights)])
    onnx.save(model, tmp_path / "same.onnx")
    net = bridge.import_onnx(tmp_path / "same.onnx").eval()
    assert net.layers[1].node["pad-x"] == 1
    x = rng.normal(size=(2, 1, 5, 5)).astype(np.float32)
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, onnx_run(tmp_path / "same.onnx", x).reshape(2, -1),
                               rtol=1e-5, atol=1e-6)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER")
    model = graph_model([conv], [image("x", 1, 5, 5)], [image("y", 1, 5, 5)],
                        [("w", np.ones((1, 1, 2, 2)))])
    onnx.save(model, tmp_path / "odd.onnx")
    with pytest.raises(ModelError, match="asymmetric padding"):
        bridge.import_onnx(tmp_path / "odd.onnx")


def test_cli_names_the_suffixes_it_reads(tmp_path, capsys):
    from bridge.cli.main import main

    (tmp_path / "m.pb").write_bytes(b"")
    assert main(["import", str(tmp_path / "m.pb"), "-o", str(tmp_path / "m.edn")]) == 1
    assert "the importers read .nippy and .onnx files" in capsys.readouterr().err
    assert not (tmp_path / "m.edn").exists()
