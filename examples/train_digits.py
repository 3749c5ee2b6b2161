"""Train the bundled digits MLP on scikit-learn's embedded 8x8 digits (under a minute),
then save it as EDN and read it back.

    .venv/bin/python examples/train_digits.py      # from the repository's root
"""

import bridge


def main(*, epochs=20, out="out/digits-example.edn"):
    net = bridge.load_model("edn_models/digits-mlp.edn", seed=0)
    print(net.summary())
    train, test = bridge.datasets.digits("train"), bridge.datasets.digits("test")
    history = bridge.train(net, train, test=test, optimizer="(adam :alpha 0.001)",
                           epochs=epochs, batch_size=32, seed=0)
    result = bridge.evaluate(net, test)
    print(f"test accuracy {result['accuracy']:.4f}")
    bridge.save_network(net, out, history=[dict(e) for e in history])
    again = bridge.load_network(out)
    assert bridge.evaluate(again, test)["accuracy"] == result["accuracy"]
    return result


if __name__ == "__main__":
    main()
