"""ONNX operators in Cortex's vocabulary, one function each (see :mod:`bridge.importers.onnx`).

Each function gets the converter, the ONNX node and its attributes, emits Cortex nodes
through ``cv.emit`` (or names an existing value with ``cv.alias``) and raises
:class:`~bridge.importers.onnx_graph.Unsupported` for anything Cortex would compute
differently. Parameter layouts are Cortex's (cortex-spec §1.3-1.9): linear ``[out in]``,
convolution ``[K C·kh·kw]`` in (c, ky, kx) order, batch-norm vectors per channel.
"""

from __future__ import annotations

import math

import numpy as np

from bridge.description.shapes import Shape, window_output_size
from bridge.importers.onnx_graph import Tensor, Unsupported
from bridge.importers.onnx_shapes import reshape_target

__all__ = ["OPERATORS"]

#: Cortex refuses batch-norm epsilons up to 1e-5 (cortex-spec §1.9).
_MIN_EPSILON = 1e-5
_SELU = {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805}


def _same_pads(auto_pad: str, sizes, kernel, strides) -> list[int]:
    """``pads`` for ``auto_pad`` SAME_UPPER/SAME_LOWER: output ⌈in/stride⌉, the padding
    split with the odd cell at the end (UPPER) or the start (LOWER)."""
    begin, end = [], []
    for size, k, stride in zip(sizes, kernel, strides, strict=True):
        total = max((-(-size // stride) - 1) * stride + k - size, 0)
        small = total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else total - small)
        end.append(total - begin[-1])
    return begin + end


def _pairs(node, attrs, sizes, kernel) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((pad-y, pad-x), (stride-y, stride-x))`` from ``pads`` (or ``auto_pad``) and
    ``strides``, for an input of ``sizes`` (height, width) and a ``kernel``."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise Unsupported(f"auto_pad {auto_pad}")
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise Unsupported("dilated windows have no Cortex counterpart")
    strides = tuple(attrs.get("strides", [1, 1]))
    pads = attrs.get("pads", [0, 0, 0, 0])
    if auto_pad.startswith("SAME"):
        pads = _same_pads(auto_pad, sizes, kernel, strides)
    top, left, bottom, right = pads
    if (top, left) != (bottom, right):
        raise Unsupported(f"asymmetric padding {list(pads)}; Cortex pads both sides alike")
    return (top, left), strides


def _window_keys(kernel, pad, stride) -> dict:
    return {"kernel-width": kernel[1], "kernel-height": kernel[0], "pad-x": pad[1],
            "pad-y": pad[0], "stride-x": stride[1], "stride-y": stride[0]}


def conv(cv, node, attrs):
    x = cv.tensor(node.input[0])
    channels, height, width = x.spatial("Conv")
    weights = cv.constant(node, 1, "weights")
    if attrs.get("group", 1) != 1:
        raise Unsupported(f"grouped convolution (group {attrs['group']})")
    if weights.ndim != 4 or weights.shape[1] != channels:
        raise Unsupported(f"weights of shape {list(weights.shape)} for {channels} channels")
    kernels, _, kh, kw = weights.shape
    pad, stride = _pairs(node, attrs, (height, width), (kh, kw))
    out = Shape(kernels, window_output_size(height, kh, pad[0], stride[0], "floor"),
                window_output_size(width, kw, pad[1], stride[1], "floor"))
    bias = cv.optional_constant(node, 2)
    cv.emit(node, "convolutional", [x], out, **_window_keys((kh, kw), pad, stride),
            **{"num-kernels": kernels, "dimension-op": "floor",
               "weights": weights.reshape(kernels, -1),
               "bias": np.zeros(kernels) if bias is None else bias.reshape(kernels)})


def _onnx_pool_size(size, kernel, pad, stride, ceil_mode) -> int:
    """ONNX's (and PyTorch's) output size: ceil drops a last window starting in the
    right padding."""
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool(cv, node, attrs, pool_op):
    x = cv.tensor(node.input[0])
    channels, height, width = x.spatial(node.op_type)
    kernel = tuple(attrs["kernel_shape"])
    pad, stride = _pairs(node, attrs, (height, width), kernel)
    if attrs.get("storage_order", 0) != 0 or len(node.output) > 1:
        raise Unsupported("pooling indices have no Cortex counterpart")
    if pad[0] >= kernel[0] or pad[1] >= kernel[1]:
        raise Unsupported(f"padding {pad} not smaller than the window {kernel}")
    ceil_mode = bool(attrs.get("ceil_mode", 0))
    sizes = [(_onnx_pool_size(n, k, p, s, ceil_mode), window_output_size(n, k, p, s, "ceil"),
              window_output_size(n, k, p, s, "floor"))
             for n, k, p, s in zip((height, width), kernel, pad, stride, strict=True)]
    if not ceil_mode:
        rounding = "floor"
    elif all(onnx == ceil for onnx, ceil, _ in sizes) and (
            pool_op == "max" or all(ceil == floor for _, ceil, floor in sizes)):
        rounding = "ceil"  # the same windows; an average also divides alike
    else:
        raise Unsupported(f"ceil_mode windows Cortex cannot place alike: ONNX gives "
                          f"{[s[0] for s in sizes]}, Cortex's ceil sizing "
                          f"{[s[1] for s in sizes]} (or a cropped average window)")
    out = Shape(channels, *(onnx for onnx, _, _ in sizes))
    cv.emit(node, "max-pooling", [x], out, **_window_keys(kernel, pad, stride),
            **{"pool-op": pool_op, "dimension-op": rounding, "num-kernels": 0})


def max_pool(cv, node, attrs):
    _pool(cv, node, attrs, "max")


def average_pool(cv, node, attrs):
    _pool(cv, node, attrs, "avg" if attrs.get("count_include_pad", 0) else "avg-exc-pad")


def _global_pool(cv, node, pool_op):
    x = cv.tensor(node.input[0])
    channels, height, width = x.spatial(node.op_type)
    cv.emit(node, "max-pooling", [x], Shape(channels, 1, 1),
            **_window_keys((height, width), (0, 0), (1, 1)),
            **{"pool-op": pool_op, "dimension-op": "floor", "num-kernels": 0})


def batch_normalization(cv, node, attrs):
    x = cv.tensor(node.input[0])
    if attrs.get("training_mode", 0) or len(node.output) > 1:
        raise Unsupported("batch normalisation in training mode (export in eval mode)")
    if len(x.shape) == 3:
        x.spatial("BatchNormalization")
        mode, count = "spatial", x.shape[0]
    elif len(x.shape) == 1:
        mode, count = "elementwise", x.shape[0]  # one set per feature, as Cortex's default
    else:
        raise Unsupported(f"batch normalisation of an [N, {x.shape}] tensor")
    scale, bias, means, variances = (cv.constant(node, i, name).astype(np.float64).reshape(count)
                                     for i, name in ((1, "scale"), (2, "bias"), (3, "mean"),
                                                     (4, "variance")))
    epsilon = float(attrs.get("epsilon", 1e-5))
    if epsilon <= _MIN_EPSILON:
        # Cortex wants epsilon > 1e-5; var + eps is all the formula reads, so move the
        # difference into the running variances (below float32's resolution for 1e-5).
        wanted, epsilon = epsilon, math.nextafter(_MIN_EPSILON, 1.0)
        variances = variances + (wanted - epsilon)
    cv.emit(node, "batch-normalization", [x], x.dims, mode=mode, epsilon=epsilon,
            **{"average-factor": 1.0 - float(attrs.get("momentum", 0.9)), "scale": scale,
               "bias": bias, "means": means, "variances": variances})


def _activation(type_name):
    def convert(cv, node, attrs):
        x = cv.tensor(node.input[0])
        cv.emit(node, type_name, [x], x.dims, shape=x.shape)
    return convert


def selu(cv, node, attrs):
    for name, value in _SELU.items():
        if not math.isclose(attrs.get(name, value), value, rel_tol=1e-6):
            raise Unsupported(f"Selu with {name} {attrs[name]}; Cortex's is {value}")
    _activation("selu")(cv, node, attrs)


def prelu(cv, node, attrs):
    x = cv.tensor(node.input[0])
    slopes = cv.constant(node, 1, "slope")
    per_channel = x.dims.channels > 1
    count = x.dims.channels if per_channel else x.dims.size
    if slopes.size == 1:
        slopes = np.full(count, float(slopes.reshape(())))
    elif per_channel and len(x.shape) == 3:
        x.spatial("PRelu")
        if slopes.size != count or (slopes.ndim > 1 and slopes.shape[1:] != (1, 1)):
            raise Unsupported(f"slopes of shape {list(slopes.shape)}; Cortex keeps one per "
                              f"channel ({count}) for a {x.dims} input")
    elif slopes.size != count:
        raise Unsupported(f"{slopes.size} slopes; Cortex keeps {count} for a {x.dims} input")
    cv.emit(node, "prelu", [x], x.dims, shape=x.shape, **{"neg-scale": slopes.reshape(count)})


def softmax(cv, node, attrs):
    x = cv.tensor(node.input[0])
    rank = len(x.shape) + 1
    old = cv.opset < 13  # before opset 13 Softmax flattened from `axis` on (default 1)
    axis = attrs.get("axis", 1 if old else -1)
    axis = axis + rank if axis < 0 else axis
    whole = rank == 2 or (old and axis == 1)
    if whole and axis == 1 and (x.dims.channels == 1 or x.dims.height * x.dims.width == 1):
        cv.emit(node, "softmax", [x], x.dims, shape=x.shape)  # over the whole vector
    elif rank == 4 and axis == 1 and not old and x.spatial("Softmax").channels > 1:
        cv.emit(node, "softmax", [x], x.dims, shape=x.shape)  # per pixel across channels
    else:
        raise Unsupported(f"softmax over axis {attrs.get('axis')} of a rank-{rank} tensor "
                          f"with Cortex shape {x.dims}")


def _join(cv, node, operation):
    left, right = (cv.value(name) for name in node.input)
    if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
        constant, name = ((left, node.input[1]) if isinstance(left, np.ndarray)
                          else (right, node.input[0]))
        if operation == "+" and not isinstance(cv.value(name), np.ndarray) \
                and cv.fold_bias(node, name, constant):
            return
        raise Unsupported(f"{node.op_type} with a constant; Cortex has it only as a "
                          "linear or convolution bias")
    if left.shape != right.shape:
        raise Unsupported(f"broadcasting {list(left.shape)} with {list(right.shape)}")
    dims = left.dims if left.dims == right.dims else Shape.flat(left.size)
    cv.emit(node, "join", [left, right], dims, shape=left.shape, operation=operation)


def add(cv, node, attrs):
    _join(cv, node, "+")


def mul(cv, node, attrs):
    _join(cv, node, "*")


def concat(cv, node, attrs):
    parts = [cv.tensor(name) for name in node.input]
    rank = len(parts[0].shape) + 1
    axis = attrs["axis"] + rank if attrs["axis"] < 0 else attrs["axis"]
    if axis != 1 or any(p.shape[1:] != parts[0].shape[1:] for p in parts):
        raise Unsupported(f"concatenation along axis {attrs['axis']}; Cortex concatenates "
                          "flattened samples, i.e. along the channels only")
    shape = (sum(p.shape[0] for p in parts), *parts[0].shape[1:])
    cv.emit(node, "concatenate", parts, Shape.flat(math.prod(shape)), shape=shape)


def _flatten_to_vector(cv, node, x: Tensor):
    """A flat view of ``x``: planar CHW is already the flat order, so only a node that
    still reads ``(C, H, W)`` as an image needs Cortex's flat ``1x1xn`` shape."""
    if x.dims.channels > 1 and x.dims.height * x.dims.width > 1:
        flat = cv.emit(node, "concatenate", [x], Shape.flat(x.size), shape=(x.size,))
        cv.flattening.add(flat.ref)  # dropped again if only linear layers read it
    else:
        cv.alias(node.output[0], Tensor(x.ref, (x.size,), x.dims))


def flatten(cv, node, attrs):
    if attrs.get("axis", 1) != 1:
        raise Unsupported(f"Flatten at axis {attrs['axis']}; Cortex's samples flatten at 1")
    _flatten_to_vector(cv, node, cv.tensor(node.input[0]))


def _reshape_inner(cv, x: Tensor, target: list[int]) -> tuple[int, ...]:
    """The per-sample shape a reshape gives ``x``: 0 copies, one -1 is inferred; the
    first entry must keep the batch (0, -1 with the rest fixed, or the graph's own
    fixed batch size)."""
    first, inner = target[0], [x.shape[i] if v == 0 and i < len(x.shape) else v
                               for i, v in enumerate(target[1:])]
    if not (first == 0 or (first == -1 and -1 not in inner) or first == cv.static_batch):
        raise Unsupported(f"reshape to {target} does not keep the batch axis first")
    if -1 in inner:
        known = math.prod(v for v in inner if v != -1)
        inner[inner.index(-1)] = x.size // known if known else 0
    if math.prod(inner) != x.size:
        raise Unsupported(f"reshape of [N, {', '.join(map(str, x.shape))}] to {target}")
    return tuple(inner)


def reshape(cv, node, attrs):
    x = cv.tensor(node.input[0])
    if not cv.is_constant(node.input[1]):
        raise Unsupported("reshape to a shape the network computes")
    inner = _reshape_inner(cv, x, reshape_target(cv, node.input[1]))
    if len(inner) == 1:
        _flatten_to_vector(cv, node, x)
    elif inner == x.shape:
        cv.alias(node.output[0], x)
    elif len(inner) == 3 and cv.reshape_input(node, x, inner):
        pass  # a flat graph input read as an image: the input layer takes that shape
    else:
        raise Unsupported(f"reshape of [N, {', '.join(map(str, x.shape))}] to "
                          f"[N, {', '.join(map(str, inner))}] (Cortex reshapes only by "
                          "flattening)")


def gemm(cv, node, attrs):
    x = cv.tensor(node.input[0])
    if attrs.get("transA", 0):
        raise Unsupported("Gemm with transA")
    weights = cv.constant(node, 1, "B").astype(np.float64)
    weights = weights if attrs.get("transB", 0) else weights.T
    _linear(cv, node, x, weights * attrs.get("alpha", 1.0),
            cv.optional_constant(node, 2), attrs.get("beta", 1.0))


def matmul(cv, node, attrs):
    x = cv.tensor(node.input[0])
    weights = cv.constant(node, 1, "B")
    if weights.ndim != 2:
        raise Unsupported(f"MatMul with a {weights.ndim}-D constant")
    _linear(cv, node, x, weights.T.astype(np.float64), None, 1.0)


def _linear(cv, node, x: Tensor, weights: np.ndarray, bias, beta: float):
    if len(x.shape) != 1 or weights.ndim != 2 or weights.shape[1] != x.size:
        raise Unsupported(f"weights {list(weights.shape)} for an input of shape {list(x.shape)}")
    out = weights.shape[0]
    values = np.zeros(out) if bias is None else np.broadcast_to(
        np.asarray(bias, dtype=np.float64).reshape(-1) * beta, (out,))
    cv.emit(node, "linear", [x], Shape.flat(out), shape=(out,),
            **{"output-size": out, "weights": weights, "bias": np.array(values)})


def dropout(cv, node, attrs):
    x = cv.tensor(node.input[0])
    ratio = attrs.get("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        ratio = float(cv.constant(node, 1, "ratio"))
    training = cv.optional_constant(node, 2)
    if (training is not None and bool(training)) or (len(node.output) > 1 and node.output[1]):
        raise Unsupported("dropout in training mode or with its mask read")
    if ratio == 0:
        cv.alias(node.output[0], x)
        return
    # Cortex's :probability is the chance to KEEP a value (cortex-spec §1.6).
    cv.emit(node, "dropout", [x], x.dims, shape=x.shape, distribution="bernoulli",
            probability=1.0 - float(ratio))


def lrn(cv, node, attrs):
    x = cv.tensor(node.input[0])
    x.spatial("LRN")
    # ONNX's window, [c − ⌊(n−1)/2⌋, c + ⌈(n−1)/2⌉] and alpha/n, is Cortex's (spec §1.10).
    cv.emit(node, "local-response-normalization", [x], x.dims, shape=x.shape,
            n=int(attrs["size"]), k=float(attrs.get("bias", 1.0)),
            alpha=float(attrs.get("alpha", 1e-4)), beta=float(attrs.get("beta", 0.75)))


def identity(cv, node, attrs):
    value = cv.value(node.input[0])
    if isinstance(value, np.ndarray):
        cv.constants[node.output[0]] = value
        if node.input[0] in cv.batch_masks:
            cv.batch_masks[node.output[0]] = cv.batch_masks[node.input[0]]
    else:
        cv.alias(node.output[0], value)


OPERATORS = {
    "Conv": conv, "MaxPool": max_pool, "AveragePool": average_pool,
    "GlobalAveragePool": lambda cv, node, attrs: _global_pool(cv, node, "avg"),
    "GlobalMaxPool": lambda cv, node, attrs: _global_pool(cv, node, "max"),
    "BatchNormalization": batch_normalization,
    "Relu": _activation("relu"), "Sigmoid": _activation("logistic"),
    "Tanh": _activation("tanh"), "Selu": selu, "PRelu": prelu, "Softmax": softmax,
    # (Concat, Gather, Shape … of constants are folded first: onnx_shapes)
    "Add": add, "Mul": mul, "Concat": concat, "Flatten": flatten, "Reshape": reshape,
    "Gemm": gemm, "MatMul": matmul, "Dropout": dropout, "LRN": lrn,
    "Identity": identity, "Constant": lambda cv, node, attrs: None,
}
