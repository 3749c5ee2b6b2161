"""The main job: train the bundled digits MLP on the embedded digits data, write EDN.

``cortex-bridge demo`` (and ``make demo``) runs it. The data is scikit-learn's bundled
8×8 handwritten digits, so it needs no download; the model and its training settings
come from ``edn_models/digits-mlp.edn``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bridge.cli.training import train_and_save, training_settings

__all__ = ["run_demo", "DEMO_MODEL", "bundled_models_dir", "add_commands"]

DEMO_MODEL = "digits-mlp.edn"


def bundled_models_dir() -> Path:
    """``edn_models/`` of the source tree the package runs from, or ``bridge/models``
    where a wheel ships them."""
    package = Path(__file__).resolve().parent.parent
    checkout = package.parent / "edn_models"
    return checkout if checkout.is_dir() else package / "models"


def run_demo(*, out: str = "out/digits-mlp-trained.edn", epochs: int | None = None,
             seed: int = 0, validation_split: float | None = 0.1) -> int:
    """Train (the best epoch chosen on a held-out part of the training data), evaluate
    on the test data and save; prints the summary, progress and the test accuracy of
    the network kept."""
    from bridge.datasets import digits
    from bridge.saving.load import load_model

    model_path = bundled_models_dir() / DEMO_MODEL
    net = load_model(model_path, seed=seed)
    print(f"model: {model_path}")
    print(net.summary())
    settings = training_settings(net)
    epochs = epochs or settings.get("epochs", 30)
    batch_size = settings.get("batch-size", 32)
    train_data, test_data = digits("train"), digits("test")
    held = round(len(train_data) * validation_split) if validation_split else 0
    print(f"\ntraining on {len(train_data) - held} digits, choosing the best epoch on "
          f"{held} held out, testing on {len(test_data)}; {epochs} epochs, batch {batch_size}"
          if held else f"\ntraining on {len(train_data)} digits, testing on "
          f"{len(test_data)}; {epochs} epochs, batch {batch_size}")
    started = time.perf_counter()
    metrics = train_and_save(net, train_data, test_data, out=out, epochs=epochs,
                             batch_size=batch_size,
                             optimizer=settings.get("optimizer", "adam"), seed=seed,
                             validation_split=validation_split)
    seconds = time.perf_counter() - started
    assert metrics is not None  # one process, with test data
    print(f"\ntest accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f} "
          f"({seconds:.1f} s)")
    print(f"wrote {Path(out)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    return run_demo(out=args.out, epochs=args.epochs, seed=args.seed,
                    validation_split=args.validation_split or None)


def add_commands(sub) -> None:
    p = sub.add_parser("demo", help="train the bundled digits MLP on the embedded digits "
                                    "data and write the trained network as EDN")
    p.add_argument("--out", default="out/digits-mlp-trained.edn", metavar="FILE")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation-split", type=float, default=0.1, metavar="FRACTION",
                   help="held out to choose the best epoch (default 0.1; 0 for none)")
    p.set_defaults(run=_demo)
