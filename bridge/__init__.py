"""cortex-bridge: Cortex's EDN network descriptions on PyTorch.

    >>> import bridge
    >>> net = bridge.load_model("(nn/sequential [(nn/input 4) (nn/dense 3) (nn/softmax)])")
    >>> [layer.id for layer in net.layers]
    ['input-1', 'linear-1', 'softmax-1']
"""

from __future__ import annotations

import importlib
import importlib.metadata

from bridge import layers as _layers  # noqa: F401  (registers the built-in layer types)
from bridge.errors import ClojureError, DataError, Interrupted, ModelError, TrainingError
from bridge.loading import load_model
from bridge.network import Layer, Network
from bridge.registration import register_layer

try:
    __version__ = importlib.metadata.version("cortex-bridge")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "load_model",
    "Network",
    "Layer",
    "ModelError",
    "DataError",
    "TrainingError",
    "ClojureError",
    "Interrupted",
    "History",
    "register_layer",
    "train",
    "evaluate",
    "predict",
    "save_network",
    "load_network",
    "network_to_edn",
    "network_from_edn",
    "datasets",
    "jvm",
]

# Heavier parts load on first use, so `import bridge` stays quick and needs no Java.
_LAZY = {
    "train": ("bridge.training", "train"),
    "evaluate": ("bridge.training", "evaluate"),
    "predict": ("bridge.training", "predict"),
    "History": ("bridge.training.trainer", "History"),
    "save_network": ("bridge.export", "save_network"),
    "load_network": ("bridge.export", "load_network"),
    "network_to_edn": ("bridge.export", "network_to_edn"),
    "network_from_edn": ("bridge.export", "network_from_edn"),
    "datasets": ("bridge.datasets", None),
    "jvm": ("bridge.jvm", None),
}


def __getattr__(name: str):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
