"""The main job: train the bundled digits MLP on the embedded digits data, write EDN.

``cortex-bridge demo`` (and ``make demo``) runs it. The data is scikit-learn's bundled
8×8 handwritten digits, so it needs no download; the model and its training settings
come from ``edn_models/digits-mlp.edn``.
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["run_demo", "DEMO_MODEL"]

DEMO_MODEL = "digits-mlp.edn"


def _setting(train: dict, name: str, default):
    from bridge.edn.types import Keyword

    return train.get(Keyword(name), train.get(name, default))


def run_demo(*, out: str = "out/digits-mlp-trained.edn", epochs: int | None = None,
             seed: int = 0) -> int:
    """Train, evaluate and save; prints the summary, progress and the test accuracy."""
    import bridge
    from bridge.cli import bundled_models_dir

    model_path = bundled_models_dir() / DEMO_MODEL
    net = bridge.load_model(model_path, seed=seed)
    print(f"model: {model_path}")
    print(net.summary())
    settings = dict(net.header.get("train") or {})
    epochs = epochs or _setting(settings, "epochs", 30)
    batch_size = _setting(settings, "batch-size", 32)
    optimizer = _setting(settings, "optimizer", "adam")
    train_data = bridge.datasets.digits("train")
    test_data = bridge.datasets.digits("test")
    print(f"\ntraining on {len(train_data)} digits, testing on {len(test_data)}; "
          f"{epochs} epochs, batch {batch_size}")
    started = time.perf_counter()
    history = bridge.train(net, train_data, test=test_data, optimizer=optimizer,
                           epochs=epochs, batch_size=batch_size, seed=seed)
    seconds = time.perf_counter() - started
    metrics = bridge.evaluate(net, test_data)
    summary = {"loss": float(metrics["loss"]), "accuracy": float(metrics["accuracy"])}
    bridge.save_network(net, out, history=_plain_history(history), metrics=summary,
                        train={"optimizer": optimizer, "epochs": epochs,
                               "batch-size": batch_size, "seed": seed})
    print(f"\ntest accuracy {summary['accuracy']:.4f}, loss {summary['loss']:.4f} "
          f"({seconds:.1f} s)")
    print(f"wrote {Path(out)}")
    return 0


def _plain_history(history) -> list:
    """History entries as EDN-friendly maps of numbers."""
    entries = getattr(history, "epochs", history)
    plain = []
    for entry in entries or []:
        row = {}
        for key, value in dict(entry).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                row[str(key)] = value
        plain.append(row)
    return plain
