"""The installed distribution's version (``0+unknown`` in a source tree without one)."""

import importlib.metadata

try:
    __version__ = importlib.metadata.version("cortex-bridge")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"
