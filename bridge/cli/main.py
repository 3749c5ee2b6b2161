"""The ``cortex-bridge`` command. Each subcommand only wires arguments to library calls."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(handler):
        COMMANDS[name] = handler
        return handler

    return register


def bundled_models_dir() -> Path:
    """``edn_models/`` of the source tree the package runs from, or ``bridge/models``
    where a wheel ships them."""
    package = Path(__file__).resolve().parent
    checkout = package.parent / "edn_models"
    return checkout if checkout.is_dir() else package / "models"


@command("summary")
def _summary(args: argparse.Namespace) -> int:
    from bridge.loading import load_model

    for index, path in enumerate(args.models):
        net = load_model(path, seed=0)
        if index:
            print()
        if len(args.models) > 1:
            print(path)
        print(net.summary())
    return 0


@command("diagram")
def _diagram(args: argparse.Namespace) -> int:
    from bridge.diagram import render
    from bridge.atomic import write_atomically
    from bridge.loading import load_model

    net = load_model(args.model, seed=0)
    fmt = args.format
    if fmt is None:
        suffix = Path(args.output).suffix.lstrip(".") if args.output else ""
        fmt = {"svg": "svg", "png": "png", "dot": "dot", "gv": "dot"}.get(suffix, "mermaid")
    data = render(net, fmt)
    if args.output:
        write_atomically(args.output, data)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


@command("demo")
def _demo(args: argparse.Namespace) -> int:
    from bridge.demo import run_demo

    return run_demo(out=args.out, epochs=args.epochs, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cortex-bridge",
        description="Cortex's EDN network descriptions on PyTorch.",
    )
    from bridge import __version__

    parser.add_argument("--version", action="version", version=f"cortex-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("summary", help="print the layer table of model files")
    p.add_argument("models", nargs="+", metavar="MODEL.edn")

    p = sub.add_parser("diagram", help="draw a network: Mermaid text, DOT, SVG or PNG")
    p.add_argument("model", metavar="MODEL.edn")
    p.add_argument("--format", "-f", choices=("mermaid", "dot", "svg", "png"),
                   help="default: from the output's suffix, else mermaid")
    p.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")

    p = sub.add_parser("demo", help="train the bundled digits MLP on the embedded digits "
                                    "data and write the trained network as EDN")
    p.add_argument("--out", default="out/digits-mlp-trained.edn", metavar="FILE")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)

    for extend in _EXTENSIONS:
        extend(sub)
    return parser


# Subcommands defined next to the code they drive (training, export, the JVM) add
# themselves here, so this module stays a thin list of wires.
_EXTENSIONS: list[Callable] = []


def main(argv: Sequence[str] | None = None) -> int:
    from bridge.errors import BridgeError

    _load_extensions()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args) or 0
    except BridgeError as error:
        print(f"cortex-bridge: error: {error}", file=sys.stderr)
        return 1
    except (RuntimeError, ValueError, OSError) as error:
        print(f"cortex-bridge: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cortex-bridge: interrupted", file=sys.stderr)
        return 130


def _load_extensions() -> None:
    import importlib

    for module in ("bridge.cli_training", "bridge.cli_networks", "bridge.cli_jvm"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise


if __name__ == "__main__":
    sys.exit(main())
