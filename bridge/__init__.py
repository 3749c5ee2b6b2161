"""cortex-bridge: Cortex's EDN network descriptions on PyTorch.

    >>> import bridge
    >>> net = bridge.load_model("(nn/sequential [(nn/input 4) (nn/dense 3) (nn/softmax)])")
    >>> [layer.id for layer in net.layers]
    ['input-1', 'linear-1', 'softmax-1']
"""

from __future__ import annotations

import importlib

from bridge import layers as _layers  # noqa: F401  (registers the built-in layer types)
from bridge.errors import (
    ClojureError,
    DataError,
    Interrupted,
    ModelError,
    TrainingError,
    UnknownKeyWarning,
)
from bridge.network import Layer, Network
from bridge.registration import register_layer
from bridge.saving.load import load_model
from bridge.version import __version__ as __version__  # public, not in __all__

__all__ = [
    "load_model",
    "Network",
    "Layer",
    "ModelError",
    "DataError",
    "TrainingError",
    "ClojureError",
    "Interrupted",
    "UnknownKeyWarning",
    "History",
    "Callback",
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
    "edit",
    "dissoc_layers_from_network",
    "assoc_layers_to_network",
    "resize_input",
    "add_property_to_layer",
    "freeze_layers",
    "import_onnx",
    "import_cortex",
]

# Heavier parts load on first use, so `import bridge` stays quick and needs no Java.
_LAZY = {
    "train": ("bridge.training", "train"),
    "evaluate": ("bridge.training", "evaluate"),
    "predict": ("bridge.training", "predict"),
    "History": ("bridge.training.history", "History"),
    "Callback": ("bridge.training.callbacks", "Callback"),
    "save_network": ("bridge.saving.save", "save_network"),
    "load_network": ("bridge.saving.load", "load_network"),
    "network_to_edn": ("bridge.saving.save", "network_to_edn"),
    "network_from_edn": ("bridge.saving.load", "network_from_edn"),
    "datasets": ("bridge.datasets", None),
    "jvm": ("bridge.jvm", None),
    "edit": ("bridge.edit", None),
    "dissoc_layers_from_network": ("bridge.edit", "dissoc_layers_from_network"),
    "assoc_layers_to_network": ("bridge.edit", "assoc_layers_to_network"),
    "resize_input": ("bridge.edit", "resize_input"),
    "add_property_to_layer": ("bridge.edit", "add_property_to_layer"),
    "freeze_layers": ("bridge.edit", "freeze_layers"),
    "import_onnx": ("bridge.importers.onnx", "import_onnx"),
    "import_cortex": ("bridge.importers.cortex", "import_cortex"),
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
