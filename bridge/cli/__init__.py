"""The ``cortex-bridge`` command: one module per group of subcommands, each only wiring
arguments to library calls.

- :mod:`bridge.cli.models`: ``summary``, ``diagram`` (model files)
- :mod:`bridge.cli.training`: ``train``, ``evaluate``
- :mod:`bridge.cli.demo`: ``demo``
- :mod:`bridge.cli.networks`: ``inspect``, ``convert``, ``export`` (saved networks)
- :mod:`bridge.cli.jvm`: ``repl``, ``nrepl``, ``run`` (Clojure)
"""

from bridge.cli.main import build_parser, main

__all__ = ["main", "build_parser"]
