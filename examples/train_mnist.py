"""The tutorial's steps in Python: load MNIST, define the MLP, train with SGD (learning
rate 0.01, 10 epochs, batch 32), evaluate, save as EDN.

    .venv/bin/python examples/train_mnist.py [MNIST_DIR]      # from the repository's root

MNIST_DIR holds the four IDX files (default: $CORTEX_BRIDGE_MNIST or ~/.cortex/mnist).
"""

import sys

import bridge


def main(directory=None, *, epochs=10, out="out/mnist-mlp-trained.edn"):
    train = bridge.datasets.mnist(directory, "train")
    test = bridge.datasets.mnist(directory, "test")
    net = bridge.load_model("edn_models/mnist-mlp.edn", seed=0)
    # The tutorial's data streams are :data and :labels; the MLP's layers are
    # :input-1 and :softmax-1, so name the columns after the layers.
    rename = {"data": net.input_ids[0], "labels": net.output_ids[0]}
    train = {rename[k]: v for k, v in train.columns.items()}
    test = {rename[k]: v for k, v in test.columns.items()}
    history = bridge.train(net, train, test=test, optimizer="(sgd :learning-rate 0.01)",
                           epochs=epochs, batch_size=32, seed=0)
    result = bridge.evaluate(net, test)
    print("Test Accuracy:", result["accuracy"])
    bridge.save_network(net, out, history=[dict(e) for e in history],
                        metrics={"accuracy": result["accuracy"], "loss": result["loss"]})
    return result


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
