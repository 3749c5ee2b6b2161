"""Fine-tuning, Cortex's way: take a trained network, remove its classifier head, append
a new one, freeze the rest, and train only the new head.

Cortex's recipe (its mnist and resnet-retrain examples) is ``dissoc-layers-from-network``,
``assoc-layers-to-network`` and ``:non-trainable? true`` on the kept layers; here the
same names live in ``bridge.edit``. The "pretrained" network is the bundled digits MLP,
trained for a few epochs on scikit-learn's 8x8 digits; the new task tells even digits
from odd ones.

    .venv/bin/python examples/fine_tune.py      # from the repository's root
"""

import torch

import bridge
from bridge import edit
from bridge.training.data import Streams


def even_or_odd(streams: Streams) -> Streams:
    """The same images, labelled 0 (even digit) or 1 (odd digit)."""
    return Streams({"data": streams["data"], "labels": streams["labels"] % 2}, classes=2)


def pretrain(epochs: int, out: str) -> None:
    net = bridge.load_model("edn_models/digits-mlp.edn", seed=0)
    train, test = bridge.datasets.digits("train"), bridge.datasets.digits("test")
    bridge.train(net, train, test=test, optimizer="(adam :alpha 0.001)", epochs=epochs,
                 batch_size=32, seed=0)
    print(f"pretrained: digit accuracy {bridge.evaluate(net, test)['accuracy']:.3f}")
    bridge.save_network(net, out)


def main(*, pretrain_epochs=10, epochs=3, out="out/digits-even-odd.edn",
         pretrained="out/digits-pretrained.edn"):
    pretrain(pretrain_epochs, pretrained)
    net = bridge.load_network(pretrained)

    body = edit.dissoc_layers_from_network(net, "linear-3")       # the head: linear-3, :labels
    tuned = edit.assoc_layers_to_network(body, "[(linear 2) (softmax :id :labels)]", seed=1)
    tuned = edit.freeze_layers(tuned, [layer.id for layer in body.layers])
    print(tuned.summary())
    trainable = [name for name, p in tuned.named_parameters() if p.requires_grad]
    print("trained:", ", ".join(trainable))

    train = even_or_odd(bridge.datasets.digits("train"))
    test = even_or_odd(bridge.datasets.digits("test"))
    bridge.train(tuned, train, test=test, optimizer="(adam :alpha 0.01)", epochs=epochs,
                 batch_size=32, seed=0)
    result = bridge.evaluate(tuned, test)
    print(f"fine-tuned: even/odd accuracy {result['accuracy']:.3f}")

    kept = all(torch.equal(tuned.parameters_by_layer()[layer][name], tensor)
               for layer, params in body.parameters_by_layer().items()
               for name, tensor in params.items())
    print("frozen layers unchanged:", kept)
    bridge.save_network(tuned, out)
    again = bridge.load_network(out)  # the frozen flags come back with the network
    assert not again.layer_module("linear-1").weight.requires_grad
    return {**result, "frozen-unchanged": kept, "trainable": trainable}


if __name__ == "__main__":
    main()
