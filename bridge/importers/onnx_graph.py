"""Reading an ONNX graph for :mod:`bridge.importers.onnx`: constants, attributes, the
shapes ONNX infers, and the record kept for every tensor on the way.

A tensor that reaches Cortex has two shapes: its ONNX shape without the batch axis, and
the ``(C, H, W)`` Cortex gives the node producing it. They agree except where Cortex
flattens (``:linear`` gives ``1x1xn``, ``:concatenate`` ``1x1xΣ``); operations that read
the spatial layout check that they agree before they use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bridge.description.shapes import Shape
from bridge.errors import UnsupportedOnnxNode as Unsupported

__all__ = ["Tensor", "Unsupported", "attributes", "read_constants", "inferred_shapes",
           "cortex_shape"]


@dataclass(frozen=True)
class Tensor:
    """A value computed by the imported network.

    Attributes:
        ref: the id of the Cortex node whose output this is.
        shape: the ONNX shape, batch axis left out.
        dims: Cortex's ``(C, H, W)`` of that node's output.
    """

    ref: str
    shape: tuple[int, ...]
    dims: Shape

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def spatial(self, what: str) -> Shape:
        """``(C, H, W)`` for an operation that reads the image layout; refuses a tensor
        that is not 4-D or whose Cortex shape has been flattened."""
        if len(self.shape) != 3:
            raise Unsupported(f"{what} needs an [N, C, H, W] input; this one is "
                              f"[N, {', '.join(map(str, self.shape))}]")
        if tuple(self.dims) != self.shape:
            raise Unsupported(f"{what} reads the image layout, but Cortex's node "
                              f":{self.ref} gives a flat {self.dims} output (Cortex "
                              "flattens after :linear and :concatenate)")
        return self.dims


def cortex_shape(shape: tuple[int, ...]) -> Shape:
    """The ``(C, H, W)`` Cortex gives an ONNX shape without batch axis: ``[D]`` is
    ``1x1xD``, ``[C, H, W]`` itself."""
    if len(shape) == 1:
        return Shape.flat(shape[0])
    if len(shape) == 3:
        return Shape(*shape)
    raise Unsupported(f"Cortex holds flat vectors and [C, H, W] images; a tensor of "
                      f"shape [N, {', '.join(map(str, shape))}] has no Cortex layout")


def attributes(node) -> dict:
    from onnx import helper

    values = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        values[attribute.name] = value.decode() if isinstance(value, bytes) else value
    return values


def read_constants(graph) -> dict[str, np.ndarray]:
    """Initializers and the outputs of ``Constant`` nodes, by name."""
    from onnx import numpy_helper

    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            attrs = {a.name: a for a in node.attribute}
            if "value" not in attrs:
                raise Unsupported(f"Constant node {node.name!r} without a tensor value")
            constants[node.output[0]] = numpy_helper.to_array(attrs["value"].t)
    return constants


def inferred_shapes(model) -> dict[str, tuple]:
    """Every value's shape as ONNX's shape inference gives it (``None`` for a
    symbolic axis), batch axis included."""
    from onnx import shape_inference

    graph = shape_inference.infer_shapes(model).graph
    shapes = {}
    for info in [*graph.value_info, *graph.output, *graph.input]:
        kind = info.type.tensor_type
        if kind.HasField("shape"):
            shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None
                                      for d in kind.shape.dim)
    return shapes
