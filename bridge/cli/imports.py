"""``cortex-bridge import``: a network from elsewhere (a trained Cortex ``.nippy`` file or
an ONNX model) as an EDN network file."""

from __future__ import annotations

import argparse

__all__ = ["add_commands"]


def _import(args: argparse.Namespace) -> int:
    from bridge.importers import import_network
    from bridge.saving.save import save_network

    net = import_network(args.source, seed=args.seed)
    save_network(net, args.output, encoding=args.encoding)
    print(f"imported {args.source}: {len(net.layers)} layers, "
          f"{sum(layer.parameter_count for layer in net.layers):,} parameters -> {args.output}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("import", help="turn a trained Cortex network (.nippy) or an ONNX "
                                      "model (.onnx) into an EDN network file")
    p.add_argument("source", metavar="SOURCE", help="a .nippy or .onnx file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.edn")
    p.add_argument("--encoding", choices=("tensor", "vector"), default="tensor",
                   help="how parameters are written (default: tensor)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for anything initialised rather than imported")
    p.set_defaults(run=_import)
