"""``cortex-bridge train`` and ``evaluate``; the shared train-and-save step (also the demo's)."""

from __future__ import annotations

import argparse
import sys

from bridge.edn.types import key_name

__all__ = ["add_commands", "load_data", "train_and_save", "training_settings"]


def load_data(spec: str, split: str):
    """``digits``, ``mnist:DIR`` (or ``mnist`` for ``$CORTEX_BRIDGE_MNIST``), or an EDN
    file holding a vector of stream maps."""
    import bridge.datasets as datasets

    if spec == "digits":
        return datasets.digits(split)
    if spec == "mnist" or spec.startswith("mnist:"):
        directory = spec.partition(":")[2] or None
        return datasets.mnist(directory, split)
    if spec.endswith(".edn"):
        from pathlib import Path

        from bridge.edn import loads
        from bridge.edn.types import Keyword

        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"no such data file: {path}")
        data = loads(path.read_text(encoding="utf-8"), source=str(path))
        if hasattr(data, "get") and data.get(Keyword(split)) is not None:
            return data[Keyword(split)]
        return data
    raise ValueError(f"--data must be digits, mnist:DIR or FILE.edn; got {spec!r}")


def training_settings(net) -> dict:
    """The model file's ``:train`` map with str keys (``"epochs"``, ``"batch-size"`` …)."""
    return {key_name(k): v for k, v in dict(net.header.get("train") or {}).items()}


def train_and_save(net, train_data, test_data, *, out, epochs: int, batch_size: int,
                   optimizer, seed: int | None, encoding: str = "tensor",
                   **train_options) -> dict | None:
    """Train (choosing the best epoch on validation data when ``validation_split`` or
    ``validation`` is among the options), evaluate on the test data and write the
    trained network with its history, metrics and settings: what ``train`` and ``demo``
    both do. Only rank 0 evaluates and
    writes under ``torchrun``. Returns the test metrics (``loss``, ``accuracy``), or
    ``None`` without test data or off rank 0."""
    from bridge.saving.save import save_network
    from bridge.training import distributed
    from bridge.training.evaluation import evaluate
    from bridge.training.trainer import train

    history = train(net, train_data, test=test_data, optimizer=optimizer, epochs=epochs,
                    batch_size=batch_size, seed=seed, **train_options)
    if not distributed.is_rank_zero():
        return None
    metrics = None
    if test_data is not None:
        result = evaluate(net, test_data)
        metrics = {k: float(result[k]) for k in ("loss", "accuracy") if k in result}
    save_network(net, out, encoding=encoding, history=history.plain(), metrics=metrics,
                 train={"optimizer": history.optimizer if history.optimizer is not None
                        else optimizer,
                        "epochs": epochs, "batch-size": batch_size, "seed": seed})
    return metrics


def _train(args: argparse.Namespace) -> int:
    from bridge.saving.load import load_model
    from bridge.training import distributed

    distributed.setup()
    net = load_model(args.model, seed=args.seed)
    settings = training_settings(net)
    train_data = load_data(args.data, "train")
    test_data = None if args.no_test else load_data(args.data, "test")
    try:
        train_and_save(net, train_data, test_data, out=args.out,
                       epochs=args.epochs or settings.get("epochs", 10),
                       batch_size=args.batch_size or settings.get("batch-size", 32),
                       optimizer=args.optimizer or settings.get("optimizer"),
                       seed=args.seed, encoding=args.encoding, device=args.device,
                       checkpoint=args.checkpoint, checkpoint_dir=args.checkpoint_dir,
                       resume=args.resume, metrics_log=args.metrics_log, plot=args.plot,
                       patience=args.patience, precision=args.precision,
                       validation_split=args.validation_split or None,
                       tensorboard=args.tensorboard)
    except KeyboardInterrupt:
        print("cortex-bridge: interrupted", file=sys.stderr)
        return 130
    if distributed.is_rank_zero():
        print(f"wrote {args.out}", file=sys.stderr)
    distributed.teardown()
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from bridge.saving.load import load_model
    from bridge.training.evaluation import evaluate

    net = load_model(args.network)
    result = evaluate(net, load_data(args.data, args.split))
    print(f"loss      {result['loss']:.6f}")
    if "accuracy" in result:
        print(f"accuracy  {result['accuracy']:.4f}")
        print("confusion (rows: true class, columns: predicted)")
        for row in result["confusion"]:
            print("  " + " ".join(f"{v:5d}" for v in row))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train a model file and write the trained network")
    p.add_argument("model", metavar="MODEL.edn")
    p.add_argument("--data", default="digits", help="digits (default), mnist:DIR or FILE.edn")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", help='e.g. "(sgd :learning-rate 0.01)" or adam')
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="trained.edn", metavar="FILE")
    p.add_argument("--encoding", choices=("tensor", "vector"), default="tensor")
    checkpoints = p.add_mutually_exclusive_group()
    checkpoints.add_argument("--checkpoint", metavar="FILE",
                             help="rewrite this checkpoint at the end of each epoch")
    checkpoints.add_argument("--checkpoint-dir", metavar="DIR",
                             help="keep last.edn and best.edn (best validation score) here")
    p.add_argument("--resume", metavar="FILE")
    p.add_argument("--metrics-log", metavar="FILE")
    p.add_argument("--plot", metavar="FILE.png")
    p.add_argument("--patience", type=int,
                   help="stop after N epochs without a better validation score")
    p.add_argument("--validation-split", type=float, default=0.1, metavar="FRACTION",
                   help="hold out this fraction of the training data (seeded by --seed) to "
                        "choose the best epoch and for --patience; 0 for none (default 0.1)")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="write TensorBoard scalars and the graph here")
    p.add_argument("--precision", choices=("bf16", "fp16"))
    p.add_argument("--no-test", action="store_true",
                   help="skip the per-epoch test evaluation (the test data only ever reports)")
    p.set_defaults(run=_train)

    p = sub.add_parser("evaluate", help="loss, accuracy and confusion matrix of a network")
    p.add_argument("network", metavar="NETWORK.edn")
    p.add_argument("--data", default="digits")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.set_defaults(run=_evaluate)
