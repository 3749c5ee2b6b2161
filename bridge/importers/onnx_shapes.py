"""Shape arithmetic in an ONNX graph, folded into constants before Cortex sees it.

Exporters with a dynamic batch axis compute reshape targets at run time:
``Shape → Gather → Unsqueeze → Concat → Reshape`` for ``x.view(x.size(0), -1)``. Every
such value is evaluated here, with the batch size standing in as 0 and a mask saying
which entries *are* the batch size; :func:`batch_free` lets a consumer refuse a value
built from the batch size anywhere but where a reshape copies it (position 0). Only
structural operators are folded (no arithmetic), so a masked entry can only move, never
change.
"""

from __future__ import annotations

import numpy as np

from bridge.importers.onnx_graph import Tensor, Unsupported

__all__ = ["FOLDED", "fold", "batch_free", "reshape_target"]


def _ints(cv, name: str | None) -> list[int] | None:
    if not name:
        return None
    return [int(v) for v in np.ravel(cv.value_of_constant(name))]


def _axes(cv, node, attrs, index: int) -> list[int] | None:
    """``axes`` as an attribute (older opsets) or as input ``index`` (opset 13 on)."""
    if "axes" in attrs:
        return list(attrs["axes"])
    return _ints(cv, node.input[index] if len(node.input) > index else None)


def _shape(cv, node, attrs):
    x = cv.value(node.input[0])
    if isinstance(x, np.ndarray):
        value, mask = np.array(x.shape, dtype=np.int64), np.zeros(x.ndim, dtype=bool)
    else:
        value = np.array([0, *x.shape], dtype=np.int64)
        mask = np.array([True] + [False] * len(x.shape))
    start, end = attrs.get("start", 0), attrs.get("end")
    return value[start:end], mask[start:end]


def _gather(cv, node, attrs):
    data, mask = cv.folded(node.input[0])
    indices = cv.value_of_constant(node.input[1]).astype(np.int64)
    axis = attrs.get("axis", 0)
    return np.take(data, indices, axis=axis), np.take(mask, indices, axis=axis)


def _unsqueeze(cv, node, attrs):
    data, mask = cv.folded(node.input[0])
    for axis in sorted(_axes(cv, node, attrs, 1) or []):
        axis = axis if axis >= 0 else axis + data.ndim + 1
        data, mask = np.expand_dims(data, axis), np.expand_dims(mask, axis)
    return data, mask


def _squeeze(cv, node, attrs):
    data, mask = cv.folded(node.input[0])
    axes = _axes(cv, node, attrs, 1)
    axes = None if axes is None else tuple(a if a >= 0 else a + data.ndim for a in axes)
    return np.squeeze(data, axis=axes), np.squeeze(mask, axis=axes)


def _concat(cv, node, attrs):
    parts = [cv.folded(name) for name in node.input]
    axis = attrs["axis"]
    return (np.concatenate([p[0] for p in parts], axis=axis),
            np.concatenate([p[1] for p in parts], axis=axis))


def _cast(cv, node, attrs):
    from onnx import helper

    data, mask = cv.folded(node.input[0])
    return data.astype(helper.tensor_dtype_to_np_dtype(attrs["to"])), mask


def _slice(cv, node, attrs):
    data, mask = cv.folded(node.input[0])
    starts, ends = _ints(cv, node.input[1]), _ints(cv, node.input[2])
    axes = _ints(cv, node.input[3] if len(node.input) > 3 else None) or list(range(len(starts)))
    steps = _ints(cv, node.input[4] if len(node.input) > 4 else None) or [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[axis] = slice(start, end, step)
    return data[tuple(index)], mask[tuple(index)]


FOLDED = {"Shape": _shape, "Gather": _gather, "Unsqueeze": _unsqueeze, "Squeeze": _squeeze,
          "Concat": _concat, "Cast": _cast, "Slice": _slice}


def fold(cv, node, attrs) -> bool:
    """Evaluate ``node`` into a constant when it is shape arithmetic; ``False`` when it
    computes on the network's values (then it is a layer, or refused)."""
    if node.op_type not in FOLDED:
        return False
    inputs = [name for name in node.input if name]
    if node.op_type == "Shape":
        inputs = inputs[1:]  # Shape reads only the shape of its input, never its values
    if not all(cv.is_constant(name) for name in inputs):
        if node.op_type == "Concat":
            return False
        if node.op_type == "Slice" and _whole_slice(cv, node):
            cv.alias(node.output[0], cv.tensor(node.input[0]))
            return True
        raise Unsupported(f"{node.op_type} on the network's values has no Cortex counterpart")
    value, mask = FOLDED[node.op_type](cv, node, attrs)
    cv.constants[node.output[0]] = np.asarray(value)
    if mask.any():
        cv.batch_masks[node.output[0]] = np.asarray(mask)
    return True


def _whole_slice(cv, node) -> bool:
    """A Slice of a computed value that keeps all of it (exporters crop to a size the
    value already has)."""
    x = cv.value(node.input[0])
    if not isinstance(x, Tensor) or not all(cv.is_constant(n) for n in node.input[1:] if n):
        return False
    starts, ends = _ints(cv, node.input[1]), _ints(cv, node.input[2])
    if starts is None or ends is None:
        return False  # a Slice without its required starts/ends: refused by the caller
    axes = _ints(cv, node.input[3] if len(node.input) > 3 else None) or list(range(len(starts)))
    steps = _ints(cv, node.input[4] if len(node.input) > 4 else None) or [1] * len(starts)
    full = (2**62, *x.shape)  # the batch axis's length is unknown: kept whole only
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = axis if axis >= 0 else axis + len(full)
        if step != 1 or start != 0:
            return False
        if end < full[axis]:
            return False
    return True


def batch_free(cv, name: str, what: str) -> None:
    """Refuse a constant computed from the batch size (Cortex's layers are per sample)."""
    if name in cv.batch_masks:
        raise Unsupported(f"its {what} is computed from the batch size")


def reshape_target(cv, name: str) -> list[int]:
    """A reshape's target, the batch size allowed only as its first entry (copied)."""
    target = [int(v) for v in np.ravel(cv.constants[name])]
    mask = cv.batch_masks.get(name)
    if mask is not None:
        mask = list(np.ravel(mask))
        if mask != [True] + [False] * (len(mask) - 1):
            raise Unsupported("its target shape moves the batch size off the first axis")
        target[0] = 0  # "copy the input's first axis", which is the batch
    return target

