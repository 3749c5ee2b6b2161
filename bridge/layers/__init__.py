"""The built-in layer types. Importing this package registers every one of them.

Each module registers its spec in its last lines; the list below is the whole set
(no plugin discovery). User types go through :func:`bridge.register_layer`.
"""

from bridge.layers import (  # noqa: F401
    activations,
    convolutional,
    dropout,
    input,
    joins,
    linear,
    normalization,
    pooling,
    softmax,
)
from bridge.layers.registry import LAYER_TYPES, LayerSpec, ParamSpec, get_spec, register

__all__ = ["LAYER_TYPES", "LayerSpec", "ParamSpec", "get_spec", "register"]
