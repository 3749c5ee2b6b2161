"""``cortex-bridge train`` and ``evaluate``."""

from __future__ import annotations

import argparse
import sys

from bridge.cli import _EXTENSIONS, command

__all__ = ["load_data"]


def load_data(spec: str, split: str):
    """``digits``, ``mnist:DIR`` (or ``mnist`` for ``$CORTEX_BRIDGE_MNIST``), or an EDN
    file holding a vector of stream maps."""
    from bridge import datasets

    if spec == "digits":
        return datasets.digits(split)
    if spec == "mnist" or spec.startswith("mnist:"):
        directory = spec.partition(":")[2] or None
        return datasets.mnist(directory, split)
    if spec.endswith(".edn"):
        from pathlib import Path

        from bridge.edn import loads

        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"no such data file: {path}")
        data = loads(path.read_text(encoding="utf-8"), source=str(path))
        if hasattr(data, "get") and data.get(_kw(split)) is not None:
            return data[_kw(split)]
        return data
    raise ValueError(f"--data must be digits, mnist:DIR or FILE.edn; got {spec!r}")


def for_model(net, data, spec: str):
    """The built-in data sets name their streams ``data`` and ``labels``; a model with
    one input and one output gets them under its own ids (as ``cortex.nn/train`` does
    for Clojure), so ``mnist-mlp.edn``'s ``:input-1`` and ``:softmax-1`` train on
    ``--data mnist:DIR``. Other data is used as it is."""
    builtin = spec == "digits" or spec == "mnist" or spec.startswith("mnist:")
    if not builtin or len(net.input_ids) != 1 or len(net.output_ids) != 1:
        return data
    return data.renamed({"data": net.input_ids[0], "labels": net.output_ids[0]})


def _kw(name: str):
    from bridge.edn.types import Keyword

    return Keyword(name)


@command("train")
def _train(args: argparse.Namespace) -> int:
    import bridge
    from bridge.training import distributed

    distributed.setup()
    net = bridge.load_model(args.model, seed=args.seed)
    settings = {(k.full if hasattr(k, "full") else k): v
                for k, v in dict(net.header.get("train") or {}).items()}
    epochs = args.epochs or settings.get("epochs", 10)
    batch_size = args.batch_size or settings.get("batch-size", 32)
    optimizer = args.optimizer or settings.get("optimizer")
    train_data = for_model(net, load_data(args.data, "train"), args.data)
    test_data = None if args.no_test else for_model(net, load_data(args.data, "test"),
                                                    args.data)
    try:
        history = bridge.train(net, train_data, test=test_data, optimizer=optimizer,
                               epochs=epochs, batch_size=batch_size, device=args.device,
                               seed=args.seed, checkpoint=args.checkpoint,
                               checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                               metrics_log=args.metrics_log, plot=args.plot,
                               patience=args.patience, precision=args.precision)
    except KeyboardInterrupt:
        print("cortex-bridge: interrupted", file=sys.stderr)
        return 130
    if distributed.is_rank_zero():
        metrics = None
        if test_data is not None:
            result = bridge.evaluate(net, test_data)
            metrics = {k: result[k] for k in ("loss", "accuracy") if k in result}
        from bridge.demo import _plain_history

        bridge.save_network(net, args.out, encoding=args.encoding,
                            history=_plain_history(history), metrics=metrics,
                            train={"optimizer": getattr(history, "optimizer", None),
                                   "epochs": epochs, "batch-size": batch_size,
                                   "seed": args.seed})
        print(f"wrote {args.out}", file=sys.stderr)
    distributed.teardown()
    return 0


@command("evaluate")
def _evaluate(args: argparse.Namespace) -> int:
    import bridge

    net = bridge.load_model(args.network)
    result = bridge.evaluate(net, for_model(net, load_data(args.data, args.split), args.data))
    print(f"loss      {result['loss']:.6f}")
    if "accuracy" in result:
        print(f"accuracy  {result['accuracy']:.4f}")
        print("confusion (rows: true class, columns: predicted)")
        for row in result["confusion"]:
            print("  " + " ".join(f"{v:5d}" for v in row))
    return 0


def _add_commands(sub) -> None:
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
                             help="keep last.edn and best.edn (best test score) here")
    p.add_argument("--resume", metavar="FILE")
    p.add_argument("--metrics-log", metavar="FILE")
    p.add_argument("--plot", metavar="FILE.png")
    p.add_argument("--patience", type=int)
    p.add_argument("--precision", choices=("bf16", "fp16"))
    p.add_argument("--no-test", action="store_true", help="skip the per-epoch test evaluation")

    p = sub.add_parser("evaluate", help="loss, accuracy and confusion matrix of a network")
    p.add_argument("network", metavar="NETWORK.edn")
    p.add_argument("--data", default="digits")
    p.add_argument("--split", default="test", choices=("train", "test"))


_EXTENSIONS.append(_add_commands)
