"""``import_onnx``: an ONNX model as a Cortex network, weights inline.

    >>> net = bridge.import_onnx("resnet.onnx")          # doctest: +SKIP
    >>> bridge.save_network(net, "resnet.edn")           # doctest: +SKIP

The graph's operators become Cortex's layers (:mod:`bridge.importers.onnx_ops`): Gemm and
MatMul (+ Add) → ``:linear``, Conv → ``:convolutional``, MaxPool/AveragePool/Global… →
``:max-pooling`` (``:pool-op :max :avg :avg-exc-pad``, ``:dimension-op`` matching ONNX's
rounding), BatchNormalization → ``:batch-normalization`` (``:mode :spatial`` on images),
Relu/Sigmoid/Tanh/PRelu/Selu, Softmax, Add/Mul of two values → ``:join``, Concat →
``:concatenate``, Flatten/Reshape to a vector (a no-op in Cortex's planar layout, or a
one-parent ``:concatenate`` where the flat shape matters), Dropout → ``:dropout`` with
Cortex's keep probability, LRN → ``:local-response-normalization``. A value read by
several nodes gets a ``:split``, as in Cortex's own graphs.

Anything Cortex would compute differently is refused, naming the first such node:
grouped or dilated convolutions, asymmetric padding, pooling windows Cortex's sizing
cannot place alike, broadcasting, reshapes other than flattening, any other operator.
One exception is documented rather than refused: Cortex requires a batch-norm epsilon
above 1e-5, so a smaller one (PyTorch's default is 1e-5) becomes the next double above
1e-5 and the running variances absorb the difference (``var + eps`` is unchanged).

Inputs are named after the graph's inputs (a batch axis first, then ``[C, H, W]`` or
``[D]``); the node computing each graph output is named after it. Shape arithmetic that
exporters emit for a dynamic batch (``x.view(x.size(0), -1)``) is folded into constants
(:mod:`bridge.importers.onnx_shapes`); a flat graph input reshaped to an image becomes
an image input.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from bridge.description.shapes import Shape
from bridge.edn.types import Keyword, Vector
from bridge.errors import ModelError
from bridge.importers.description import IdMaker, clean_id, finish
from bridge.importers.onnx_graph import (
    Tensor,
    Unsupported,
    attributes,
    cortex_shape,
    inferred_shapes,
    read_constants,
)
from bridge.importers.onnx_ops import OPERATORS
from bridge.importers.onnx_shapes import batch_free, fold

__all__ = ["import_onnx", "onnx_description"]


class _Converter:
    """The state of one import: the values computed so far and the nodes emitted."""

    def __init__(self, model) -> None:
        self.graph = model.graph
        self.opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                         default=13)
        self.constants = read_constants(self.graph)
        self.shapes = inferred_shapes(model)
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[dict] = []
        self.by_id: dict[str, dict] = {}
        self.made: dict[str, str] = {}  # Cortex id -> the ONNX value it computes
        self.batch_masks: dict[str, np.ndarray] = {}  # see onnx_shapes
        self.static_batch: int | None = None  # the graph inputs' batch size, when fixed
        self.flattening: set[str] = set()  # one-parent :concatenate nodes that flatten
        self.ids = IdMaker()
        # who reads each value (a Shape node reads only its shape, which never changes)
        self.readers = Counter(name for node in self.graph.node if node.op_type != "Shape"
                               for name in node.input if name)
        self.readers.update(output.name for output in self.graph.output)

    # -- values --------------------------------------------------------------------
    def value(self, name: str) -> Tensor | np.ndarray:
        if name in self.constants:
            return self.constants[name]
        if name not in self.tensors:
            raise Unsupported(f"its input {name!r} is computed by nothing the importer read")
        return self.tensors[name]

    def tensor(self, name: str) -> Tensor:
        value = self.value(name)
        if isinstance(value, np.ndarray):
            raise Unsupported(f"a constant input {name!r} where Cortex needs a computed one")
        return value

    def constant(self, node, index: int, what: str) -> np.ndarray:
        if index >= len(node.input) or node.input[index] not in self.constants:
            raise Unsupported(f"its {what} (input {index}) is not a constant; Cortex keeps "
                              "parameters, not computed weights")
        batch_free(self, node.input[index], what)
        return self.constants[node.input[index]]

    def is_constant(self, name: str) -> bool:
        return name in self.constants

    def value_of_constant(self, name: str) -> np.ndarray:
        if name not in self.constants:
            raise Unsupported(f"{name!r} is computed by the network, not a constant")
        return self.constants[name]

    def folded(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A constant and its batch mask (see :mod:`bridge.importers.onnx_shapes`)."""
        value = np.asarray(self.value_of_constant(name))
        return value, self.batch_masks.get(name, np.zeros(value.shape, dtype=bool))

    def reshape_input(self, node, x: Tensor, inner: tuple[int, ...]) -> bool:
        """A graph input read only by this reshape takes the reshaped ``(C, H, W)``
        itself (Cortex's input layers take flat data anyway)."""
        cortex = self.by_id.get(x.ref)
        name = self.made.get(x.ref)
        if cortex is None or name is None or cortex["type"] != "input" or self.readers[name] != 1 \
                or self.tensors.get(name) != x:
            return False
        c, h, w = inner
        cortex.update({"output-width": w, "output-height": h, "output-channels": c})
        self.tensors[node.output[0]] = Tensor(x.ref, inner, Shape(c, h, w))
        return True

    def optional_constant(self, node, index: int) -> np.ndarray | None:
        if index >= len(node.input) or not node.input[index]:
            return None
        return self.constant(node, index, f"input {index}")

    def alias(self, name: str, tensor: Tensor) -> None:
        self.tensors[name] = tensor

    # -- nodes ---------------------------------------------------------------------
    def emit(self, node, type_name: str, parents: list[Tensor], dims: Shape, *,
             shape: tuple[int, ...] | None = None, **keys) -> Tensor:
        """Add a Cortex node computing ``node.output[0]``; numpy parameters become
        float32 tensors."""
        params = {key: torch.from_numpy(np.array(value, dtype=np.float32))
                  if isinstance(value, np.ndarray) else value for key, value in keys.items()}
        node_id = self.ids.make(type_name)
        cortex = {"type": type_name, "id": node_id, "parents": [p.ref for p in parents],
                  **params}
        self.nodes.append(cortex)
        self.by_id[node_id] = cortex
        self.made[node_id] = node.output[0]
        result = Tensor(node_id, tuple(dims) if shape is None else tuple(shape), dims)
        self.tensors[node.output[0]] = result
        return result

    def fold_bias(self, node, name: str, constant: np.ndarray) -> bool:
        """``x + c`` where ``x`` is a linear's own output, read only here: ``c`` joins
        its bias."""
        x = self.tensors.get(name)
        if x is None:
            return False
        producer = self.by_id.get(x.ref)
        if producer is None or producer["type"] != "linear" or self.made[x.ref] != name:
            return False
        if self.readers[name] != 1 or constant.size not in (1, x.shape[0]):
            return False
        extra = np.broadcast_to(constant.reshape(-1).astype(np.float32), x.shape)
        producer["bias"] = producer["bias"] + torch.from_numpy(np.array(extra))
        self.tensors[node.output[0]] = x
        return True

    # -- the graph -----------------------------------------------------------------
    def add_inputs(self) -> None:
        for value in self.graph.input:
            if value.name in self.constants:
                continue  # an initializer listed as an input (old exporters)
            dims = [d.dim_value if d.HasField("dim_value") else None
                    for d in value.type.tensor_type.shape.dim]
            if len(dims) < 2 or any(d is None or d < 1 for d in dims[1:]):
                raise Unsupported(f"graph input {value.name!r} of shape {dims}: Cortex needs "
                                  "a batch axis and fixed [C, H, W] or [D] after it")
            shape = tuple(d for d in dims[1:] if d is not None)  # all of them, checked above
            c, h, w = cortex_shape(shape)
            node_id = self.ids.claim(clean_id(value.name, "input"))
            cortex = {"type": "input", "id": node_id, "parents": [], "output-size": c * h * w,
                      "output-width": w, "output-height": h, "output-channels": c}
            self.nodes.append(cortex)
            self.by_id[node_id], self.made[node_id] = cortex, value.name
            self.tensors[value.name] = Tensor(node_id, shape, Shape(c, h, w))
            self.static_batch = dims[0]

    def convert(self, index: int, node) -> None:
        attrs = attributes(node)
        if fold(self, node, attrs):
            return
        convert = OPERATORS.get(node.op_type)
        if convert is None:
            raise Unsupported(f"Cortex has no counterpart of the ONNX operator {node.op_type}")
        convert(self, node, attrs)
        for name in node.output[:1]:
            expected = self.shapes.get(name)
            got = self.tensors.get(name)
            if got is not None and expected and None not in expected[1:] \
                    and tuple(expected[1:]) != got.shape:
                raise Unsupported(f"Cortex's layer gives [N, {', '.join(map(str, got.shape))}]"
                                  f" where ONNX gives {list(expected)}")

    def drop_needless_flattening(self) -> None:
        """A flattening node that only linear layers read goes: they flatten anyway."""
        for flat_id in self.flattening:
            children = [n for n in self.nodes if flat_id in n["parents"]]
            if not children or any(child["type"] != "linear" for child in children):
                continue
            source = self.by_id[flat_id]["parents"][0]
            for child in children:
                child["parents"] = [source if p == flat_id else p for p in child["parents"]]
            self.nodes.remove(self.by_id.pop(flat_id))

    def name_outputs(self) -> None:
        """The node computing each graph output takes the output's name."""
        for output in self.graph.output:
            tensor = self.tensors.get(output.name)
            if tensor is None:
                raise Unsupported(f"graph output {output.name!r} is a constant")
            node = self.by_id.get(tensor.ref)
            if any(tensor.ref in other["parents"] for other in self.nodes):
                raise Unsupported(f"graph output {output.name!r} is also read inside the "
                                  "graph; a Cortex network's outputs are its last layers")
            if node is None or node["type"] == "input":
                continue  # an input passed through
            wanted = clean_id(output.name, "output")
            if wanted in self.ids.taken:
                continue
            self.ids.claim(wanted)
            for other in self.nodes:
                other["parents"] = [wanted if p == node["id"] else p for p in other["parents"]]
            node["id"] = wanted


def _where(path, index: int, node) -> str:
    name = f" {node.name!r}" if node.name else ""
    return f"ONNX node {index + 1}{name} ({node.op_type}): "


def onnx_description(path: str | os.PathLike) -> Vector:
    """The Cortex description (EDN data, parameters inline as tensors) of an ONNX model.

    Raises:
        ModelError: unreadable file, or the first node Cortex cannot express, by number,
            name and operator.
        RuntimeError: the ``onnx`` package is missing.
    """
    try:
        import onnx
    except ImportError:
        raise RuntimeError("importing ONNX needs the onnx package: pip install onnx") from None
    source = str(path)
    try:
        model = onnx.load(source)
    except Exception as error:  # OSError, protobuf's DecodeError …
        raise ModelError(f"cannot read the ONNX model: {error}", source=source) from None
    try:
        converter = _Converter(model)
        converter.add_inputs()
    except Unsupported as error:
        raise ModelError(str(error), source=source) from None
    for index, node in enumerate(model.graph.node):
        try:
            converter.convert(index, node)
        except Unsupported as error:
            raise ModelError(_where(source, index, node) + str(error), source=source) from None
    try:
        converter.drop_needless_flattening()
        converter.name_outputs()
    except Unsupported as error:
        raise ModelError(str(error), source=source) from None
    return finish(converter.nodes, converter.ids)


def import_onnx(path: str | os.PathLike, *, seed: int | None = None):
    """An ONNX model as a :class:`~bridge.network.Network` (see the module docstring).

    Raises:
        ModelError: as :func:`onnx_description`, or the description does not build.
    """
    from bridge.saving.load import load_model

    description = onnx_description(path)
    try:
        return load_model({Keyword("name"): Path(str(path)).stem,
                           Keyword("description"): description}, seed=seed)
    except ModelError as error:
        raise error.with_context(source=str(path)) from None
