"""``cortex-bridge summary`` and ``diagram``: model files on the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_commands"]


def _summary(args: argparse.Namespace) -> int:
    from bridge.saving.load import load_model

    for index, path in enumerate(args.models):
        net = load_model(path, seed=0)
        if index:
            print()
        if len(args.models) > 1:
            print(path)
        print(net.summary())
    return 0


def _diagram(args: argparse.Namespace) -> int:
    from bridge.atomic import write_atomically
    from bridge.diagram import render
    from bridge.saving.load import load_model

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


def add_commands(sub) -> None:
    p = sub.add_parser("summary", help="print the layer table of model files")
    p.add_argument("models", nargs="+", metavar="MODEL.edn")
    p.set_defaults(run=_summary)

    p = sub.add_parser("diagram", help="draw a network: Mermaid text, DOT, SVG or PNG")
    p.add_argument("model", metavar="MODEL.edn")
    p.add_argument("--format", "-f", choices=("mermaid", "dot", "svg", "png"),
                   help="default: from the output's suffix, else mermaid")
    p.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(run=_diagram)
