"""The parser and the entry point; the subcommands live in the modules beside this one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bridge.cli import demo, imports, jvm, models, networks, training
from bridge.errors import BridgeError
from bridge.version import __version__

__all__ = ["main", "build_parser"]

#: Each module adds its subcommands; a subcommand's parser carries its handler as ``run``.
COMMAND_GROUPS = (models, training, demo, networks, imports, jvm)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cortex-bridge",
        description="Cortex's EDN network descriptions on PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"cortex-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (BridgeError, RuntimeError, ValueError, OSError) as error:
        print(f"cortex-bridge: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cortex-bridge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
