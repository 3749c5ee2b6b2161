"""Fine-tuning a network trained elsewhere: import an ONNX ResNet-style network, remove
its classifier head, append a new one, freeze the rest, train only the new head, save it
as EDN and reload it frozen.

The "pretrained" network is a small ResNet (a stem, one residual block with batch
normalisation, global average pooling, a linear classifier) trained in plain PyTorch for
a few epochs on scikit-learn's 8x8 digits and exported with ``torch.onnx.export``, as a
model from a model zoo would be. The new task tells even digits from odd ones.

    .venv/bin/python examples/fine_tune_imported.py      # from the repository's root

The same steps from Clojure: ``(cortex.bridge/import-onnx "out/digits-resnet.onnx")``.
"""

import io
import os
import warnings

import torch
from torch import nn

import bridge
from bridge import edit
from bridge.training.data import Streams


class Block(nn.Module):
    """A ResNet basic block: two 3x3 convolutions with batch-norm and a residual join."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)


def small_resnet(width: int = 16) -> nn.Module:
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)),
                         nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                         nn.ReLU(), Block(width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, 10))


def pretrain_and_export(path: str, epochs: int, width: int = 16) -> None:
    """Train in PyTorch, export to ONNX (eval mode, batch-norm kept as nodes)."""
    torch.manual_seed(0)
    model, train = small_resnet(width), bridge.datasets.digits("train")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.as_tensor(train["data"]), torch.as_tensor(train["labels"])
    for _ in range(epochs):
        for batch in torch.randperm(len(y)).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()
    body = model[1:]  # the exported graph takes [N, 1, 8, 8]; Cortex's input flattens too
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(body, torch.zeros(1, 1, 8, 8), buffer, dynamo=False,
                          input_names=["data"], output_names=["logits"],
                          dynamic_axes={"data": {0: "n"}, "logits": {0: "n"}},
                          training=torch.onnx.TrainingMode.PRESERVE)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as out:
        out.write(buffer.getvalue())


def even_or_odd(streams: Streams) -> Streams:
    """The same images, labelled 0 (even digit) or 1 (odd digit)."""
    return Streams({"data": streams["data"], "labels": streams["labels"] % 2}, classes=2)


def main(*, pretrain_epochs=4, epochs=3, width=16, onnx_path="out/digits-resnet.onnx",
         out="out/digits-resnet-even-odd.edn"):
    pretrain_and_export(onnx_path, pretrain_epochs, width)
    net = bridge.import_onnx(onnx_path)               # Cortex layers, weights inline
    test = bridge.datasets.digits("test")
    digit_accuracy = bridge.evaluate(edit.assoc_layers_to_network(net, "[(softmax :id :labels)]"),
                                     test)["accuracy"]
    print(f"imported: digit accuracy {digit_accuracy:.3f}")

    body = edit.dissoc_layers_from_network(net, "logits")        # the head
    tuned = edit.assoc_layers_to_network(body, "[(linear 2) (softmax :id :labels)]", seed=1)
    tuned = edit.freeze_layers(tuned, [layer.id for layer in body.layers])
    print(tuned.summary())
    trainable = [name for name, p in tuned.named_parameters() if p.requires_grad]
    print("trained:", ", ".join(trainable))

    train = even_or_odd(bridge.datasets.digits("train"))
    bridge.train(tuned, train, optimizer="(adam :alpha 0.01)", epochs=epochs, batch_size=32,
                 seed=0)
    result = bridge.evaluate(tuned, even_or_odd(test))
    print(f"fine-tuned: even/odd accuracy {result['accuracy']:.3f}")

    kept = all(torch.equal(tuned.parameters_by_layer()[layer][name], tensor)
               for layer, params in body.parameters_by_layer().items()
               for name, tensor in params.items())
    print("frozen layers unchanged:", kept)
    bridge.save_network(tuned, out)
    again = bridge.load_network(out)  # the frozen flags come back with the network
    frozen = [layer.id for layer in again.layers if layer.node.get("non-trainable?")]
    return {**result, "digit-accuracy": digit_accuracy, "frozen-unchanged": kept,
            "trainable": trainable, "frozen": frozen,
            "body": [layer.id for layer in body.layers]}


if __name__ == "__main__":
    main()
