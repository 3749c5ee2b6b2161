"""Networks from elsewhere as Cortex descriptions: :func:`import_onnx` (an ONNX model)
and :func:`import_cortex` (a trained Cortex network frozen by nippy).

Both return a :class:`~bridge.network.Network` whose description holds every parameter
inline, so ``bridge.save_network`` writes it as an EDN file that loads like any other.
"""

from __future__ import annotations

import importlib

__all__ = ["import_onnx", "import_cortex", "import_network", "onnx_description",
           "cortex_description", "IMPORTERS"]

#: File suffix → the importer's name in this package.
IMPORTERS = {".nippy": "import_cortex", ".onnx": "import_onnx"}

_LAZY = {
    "import_onnx": ("bridge.importers.onnx", "import_onnx"),
    "onnx_description": ("bridge.importers.onnx", "onnx_description"),
    "import_cortex": ("bridge.importers.cortex", "import_cortex"),
    "cortex_description": ("bridge.importers.cortex", "cortex_description"),
}


def import_network(path, *, seed=None):
    """:func:`import_cortex` or :func:`import_onnx`, by the file's suffix.

    Raises:
        ModelError: a suffix neither reads, or what the importer raises.
    """
    from pathlib import Path

    from bridge.errors import ModelError

    suffix = Path(str(path)).suffix.lower()
    if suffix not in IMPORTERS:
        raise ModelError(f"cannot import {suffix or 'a file without suffix'}: the importers "
                         f"read {' and '.join(IMPORTERS)} files", source=str(path))
    return __getattr__(IMPORTERS[suffix])(path, seed=seed)


def __getattr__(name: str):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bridge.importers' has no attribute {name!r}")
