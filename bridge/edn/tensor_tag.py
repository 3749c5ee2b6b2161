"""The ``#cortex-bridge/tensor`` literal and the ``:vector`` encoding of parameters.

A tensor literal reads::

    #cortex-bridge/tensor {:dtype :float32 :shape [128 784]
                           :data "<base64 of the little-endian bytes, C order>"
                           :crc32 1234567890}

for dtypes ``:float32 :float64 :float16 :bfloat16 :int64``. ``:crc32`` is zlib's CRC-32
of the raw bytes (``java.util.zip.CRC32`` computes the same number), as an unsigned
integer. Every bit survives, NaN payloads, ``-0.0`` and subnormals included. All four
keys are required and no others are allowed.

Reading checks, in this order and each with its own message: the dtype; the shape (a
vector of non-negative integers); the element count against ``max_elements``; the length
of the base64 text against what the shape needs (so a cut file is "truncated" and a
shape bomb is refused before anything is allocated); the base64 alphabet; the checksum.

What ``:crc32`` does not cover: it is the CRC of the raw bytes, so a damaged ``:dtype``
of the same width (``:bfloat16`` read as ``:float16``) or a ``:shape`` with the same
element count passes it. A saved network's whole-file checksum (``:cortex-bridge/crc32``
in its header, :mod:`bridge.saving.integrity`) covers those bytes too; the layer's own
shape check catches a wrong shape.

The ``:vector`` encoding writes the same values as nested EDN vectors that any reader
takes (floats as the exact double each value equals; NaN payloads are not kept there).

Speed: base64 dominates. Encoding plus decoding costs under twice what ``binascii``'s
base64 alone costs (the rest: bytes → str, the reader's copy of the string, crc32, one
copy into the tensor), and base64 alone is several times ``numpy.save`` + ``numpy.load``
to memory; ``tests/benchmarks/bench_tensor_tag.py`` prints both ratios.
"""

from __future__ import annotations

import binascii
import math
import sys
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from bridge.edn.payloads import Payload
from bridge.edn.types import Keyword, Symbol, Vector, key_name
from bridge.errors import ModelError

try:  # pybase64 (SIMD) is 2-4x faster than binascii, and base64 is most of the cost here
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - a dependency, but the stdlib path still works
    _pybase64 = None  # type: ignore[assignment]


def _b64encode(raw) -> bytes:
    if _pybase64 is not None:
        return _pybase64.b64encode(raw)
    # binascii reads the array's buffer directly: no bytes copy of the data.
    return binascii.b2a_base64(raw, newline=False)


def _b64decode(data: str | memoryview) -> bytes:
    """Strict decoding: characters outside the alphabet or bad padding are errors."""
    if _pybase64 is not None:
        return _pybase64.b64decode(data, validate=True)
    return binascii.a2b_base64(data, strict_mode=True)

__all__ = [
    "TENSOR_TAG",
    "DTYPES",
    "TensorLiteral",
    "encode_tensor",
    "decode_tensor",
    "tensor_readers",
    "vector_encode",
    "vector_decode",
]

TENSOR_TAG = Symbol("cortex-bridge/tensor")
#: dtype keyword name → torch dtype
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
}
_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_KNOWN = " ".join(f":{name}" for name in DTYPES)
_KEYS = ("dtype", "shape", "data", "crc32")
_WHAT = "#cortex-bridge/tensor"
# Bytes of raw data per base64 piece: a multiple of 3, so the pieces concatenate into
# one valid base64 text; small enough to stay in cache between checksum and encoding.
_PIECE = 3 << 20
_B64_PIECE = 4 << 20  # base64 characters per decoded piece (a multiple of 4)


def _little_endian_bytes(tensor: torch.Tensor) -> np.ndarray:
    """The tensor's values as a flat uint8 array (a view where possible), little-endian."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    raw = flat.view(torch.uint8).numpy()
    if sys.byteorder == "big":  # pragma: no cover - no big-endian machine to test on
        raw = raw.view(f">u{flat.element_size()}").byteswap().view(np.uint8)
    return raw


class TensorLiteral:
    """A tensor that :func:`bridge.edn.dumps` writes as a ``#cortex-bridge/tensor``."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: torch.Tensor):
        """Args:
        tensor: any tensor of a dtype in :data:`DTYPES`, on any device.

        Raises:
            TypeError: another dtype, or not a tensor.
        """
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"encode_tensor takes a torch.Tensor, got {type(tensor).__name__}")
        if tensor.dtype not in _NAMES:
            raise TypeError(f"the tensor tag carries {_KNOWN}; got {tensor.dtype}")
        self.tensor = tensor

    def __edn_chunks__(self, column: int | None = None) -> list[bytes]:
        """The literal as ASCII bytes: a head, the base64 text in pieces, a tail.

        The data is encoded a few megabytes at a time, each piece checksummed while it
        is still in cache, and the pieces go to the file as they are (no ``str`` copy
        of the whole text).
        """
        raw = _little_endian_bytes(self.tensor)
        shape = " ".join(str(d) for d in self.tensor.shape)
        pieces, crc = [], 0
        for start in range(0, len(raw), _PIECE):
            piece = raw[start : start + _PIECE]
            crc = zlib.crc32(piece.data, crc)  # .data: the slice's buffer, uncopied
            pieces.append(_b64encode(piece))
        head = (f"#cortex-bridge/tensor {{:dtype :{_NAMES[self.tensor.dtype]} :shape [{shape}] "
                ':data "')
        return [head.encode("ascii"), *pieces, f'" :crc32 {crc}}}'.encode("ascii")]

    def __edn__(self) -> str:
        return b"".join(self.__edn_chunks__()).decode("ascii")

    def __repr__(self) -> str:
        return f"TensorLiteral({self.tensor.dtype}, shape={list(self.tensor.shape)})"


def encode_tensor(tensor: torch.Tensor) -> TensorLiteral:
    """Wrap ``tensor`` so :func:`bridge.edn.dumps` writes it as a tensor literal.

    Args:
        tensor: a float32, float64, float16, bfloat16 or int64 tensor.

    Returns:
        A :class:`TensorLiteral`; its ``__edn__()`` gives the text.

    Raises:
        TypeError: another dtype.
    """
    return TensorLiteral(tensor)


def _field(value: Mapping, name: str):
    for key in (Keyword(name), name):
        if key in value:
            return value[key]
    raise ModelError(f"{_WHAT} needs :{name}; it has {_keys_text(value)}")


def _keys_text(value: Mapping) -> str:
    return " ".join(str(k) if isinstance(k, Keyword) else repr(k) for k in value) or "no keys"


def decode_tensor(value: Any, *, max_elements: int | None = None) -> torch.Tensor:
    """The tensor a literal's map describes (what the tag reader is given).

    Args:
        value: the map ``{:dtype … :shape … :data … :crc32 …}``.
        max_elements: refuse a declared shape with more elements than this, before any
            decoding (``None``: no limit beyond the data actually present).

    Returns:
        A new, writable CPU tensor of that dtype and shape, bit-identical to the one
        encoded.

    Raises:
        ModelError: not a map, missing or unknown keys, an unknown dtype, a malformed
            shape, more elements than ``max_elements``, base64 text of the wrong length
            ("truncated") or with characters outside the alphabet, or a checksum
            mismatch. Each message says what was expected and what was found.
    """
    if not isinstance(value, Mapping):
        raise ModelError(f"{_WHAT} takes a map {{:dtype … :shape … :data … :crc32 …}}, "
                         f"got {type(value).__name__}")
    extra = [k for k in value if (key_name(k) if isinstance(k, Keyword) else k) not in _KEYS]
    if extra:
        raise ModelError(f"{_WHAT} has unknown keys {_keys_text(dict.fromkeys(extra))}; it "
                         "takes :dtype :shape :data :crc32")
    dtype_value = _field(value, "dtype")
    name = key_name(dtype_value) if isinstance(dtype_value, Keyword) else dtype_value
    if not isinstance(name, str) or name not in DTYPES:
        raise ModelError(f"{_WHAT} :dtype must be one of {_KNOWN}. Received: {dtype_value!r}")
    dtype = DTYPES[name]
    shape = _field(value, "shape")
    if not isinstance(shape, list | tuple) or not all(
            type(d) is int and d >= 0 for d in shape):
        raise ModelError(f"{_WHAT} :shape must be a vector of non-negative integers. "
                         f"Received: {_show_shape(shape)}")
    shape = tuple(shape)
    count = math.prod(shape)
    if count >= 2**62:  # (and too long to print: Python caps int printing at 4,300 digits)
        raise ModelError(f"{_WHAT} :shape declares more values than any memory holds")
    if max_elements is not None and count > max_elements:
        raise ModelError(f"{_WHAT} :shape {_show_shape(shape)} declares {count:,} values, "
                         f"over the limit of {max_elements:,}")
    crc = _field(value, "crc32")
    if type(crc) is not int or not 0 <= crc < 2**32:
        raise ModelError(f"{_WHAT} :crc32 must be an unsigned 32-bit integer. "
                         f"Received: {crc!r:.40}")
    data = _field(value, "data")
    if not isinstance(data, str | Payload):
        raise ModelError(f"{_WHAT} :data must be a base64 string, got {type(data).__name__}")
    nbytes = count * dtype.itemsize
    expected = 4 * ((nbytes + 2) // 3)
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "too long"
        raise ModelError(f"{_WHAT} :data is {state}: :shape {_show_shape(shape)} of :{name} "
                         f"needs {nbytes:,} bytes, {expected:,} base64 characters; "
                         f"found {len(data):,}")
    if isinstance(data, Payload):
        data.used = True
        data = data.view
    array, actual = _decode_into(data, nbytes)
    if actual != crc:
        raise ModelError(f"{_WHAT} checksum mismatch: :crc32 says {crc}, the data gives "
                         f"{actual}; the file is damaged")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    if sys.byteorder == "big":  # pragma: no cover - no big-endian machine to test on
        array = array.view(f"<u{dtype.itemsize}").byteswap().view(np.uint8)
    return torch.from_numpy(array).view(dtype).reshape(shape)


def _decode_into(data: str | memoryview, nbytes: int) -> tuple[np.ndarray, int]:
    """Strict base64 → a new array of ``nbytes`` bytes (memory the tensor will own, as
    parameters are trained in place), and the CRC-32 of those bytes.

    Decoded a few megabytes at a time, each piece checksummed and copied while it is in
    cache: no second full-size buffer.
    """
    out = np.empty(nbytes, dtype=np.uint8)
    crc = filled = 0
    try:
        for start in range(0, len(data), _B64_PIECE):
            raw = _b64decode(data[start : start + _B64_PIECE])
            if filled + len(raw) > nbytes:
                raise ValueError("more bytes than the shape holds")
            crc = zlib.crc32(raw, crc)
            out[filled : filled + len(raw)] = np.frombuffer(raw, dtype=np.uint8)
            filled += len(raw)
    except (binascii.Error, ValueError) as error:
        raise ModelError(f"{_WHAT} :data is not valid base64 ({error}); the file is "
                         "damaged") from None
    if filled != nbytes:  # padding in the middle of the text
        raise ModelError(f"{_WHAT} :data is not valid base64 (padding before the end); "
                         "the file is damaged")
    return out, crc


def _show_shape(shape: Any) -> str:
    if isinstance(shape, list | tuple):
        return "[" + " ".join(repr(d) for d in shape) + "]"
    return repr(shape)[:60]


def tensor_readers(**options: Any) -> dict:
    """A ``readers`` map for :func:`bridge.edn.loads` that turns the tag into tensors.

    Args:
        **options: passed to :func:`decode_tensor` (``max_elements=``).

    Returns:
        ``{TENSOR_TAG: reader}``.
    """
    def read_tensor(value: Any) -> torch.Tensor:
        return decode_tensor(value, **options)

    return {TENSOR_TAG: read_tensor}


def vector_encode(tensor: torch.Tensor) -> Vector | int | float | bool:
    """The tensor's values as nested :class:`Vector` s in its shape (the ``:vector``
    encoding), ready for :func:`bridge.edn.dumps`.

    Floating values become the Python float each one equals exactly (float16, bfloat16
    and float32 widen to float64 without rounding), so :func:`vector_decode` restores
    the bits; a 0-d tensor gives its one number.

    Args:
        tensor: a real or boolean tensor on any device.

    Returns:
        Nested vectors of ``float``/``int``/``bool``.

    Raises:
        TypeError: a complex tensor or not a tensor.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"vector_encode takes a torch.Tensor, got {type(tensor).__name__}")
    if tensor.is_complex():
        raise TypeError(f"the :vector encoding has no numbers for {tensor.dtype}")
    tensor = tensor.detach().to("cpu")
    if tensor.is_floating_point():
        tensor = tensor.to(torch.float64)  # exact for every narrower float
    if tensor.dim() == 0:
        return tensor.item()  # the number tolist() gives a 0-d tensor
    return _vectors(tensor.tolist(), tensor.dim())


def _vectors(values: list, depth: int) -> Vector:
    if depth == 1:
        return Vector(values)
    return Vector(_vectors(row, depth - 1) for row in values)


def vector_decode(value: Any, shape: Any = None, dtype: torch.dtype = torch.float32
                  ) -> torch.Tensor:
    """Nested vectors (or lists) of numbers → a tensor.

    Values are read as float64 (int64 for an integer ``dtype``) and then cast, so
    float32 values written by :func:`vector_encode` come back bit for bit.

    Args:
        value: a number or nested sequences of numbers, rectangular.
        shape: the shape wanted; nested values with the same number of elements are
            reshaped to it (Cortex keeps convolution weights as ``[K, C·k·k]``).
        dtype: the tensor's dtype.

    Returns:
        A new tensor.

    Raises:
        ModelError: ragged rows, values that are not numbers, or a count that does not
            match ``shape``.
    """
    integer = not (dtype.is_floating_point or dtype.is_complex) and dtype != torch.bool
    try:
        array = np.array(value)  # always a fresh array: the tensor must not share memory
    except ValueError:
        raise ModelError("the values are not a rectangular array (rows of different "
                         "lengths)") from None
    if array.dtype.kind not in "iuf" or (integer and array.dtype.kind == "f"):
        want = "integers" if integer else "numbers"
        raise ModelError(f"the values must all be {want}; found {_found(array)}")
    array = array.astype(np.int64 if integer else np.float64, copy=False)
    tensor = torch.from_numpy(array).to(dtype)
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if tuple(tensor.shape) != shape:
            if tensor.numel() != math.prod(shape):
                raise ModelError(f"{tensor.numel():,} values do not fill the shape "
                                 f"{list(shape)} ({math.prod(shape):,} values)")
            tensor = tensor.reshape(shape)
    return tensor


def _found(array: np.ndarray) -> str:
    if array.dtype.kind == "b":
        return "booleans"
    if array.dtype.kind == "f":
        return "fractional numbers"
    if array.dtype.kind == "O":
        kinds = sorted({type(v).__name__ for v in array.reshape(-1).tolist()})
        return "values of types " + ", ".join(kinds)
    return f"values of dtype {array.dtype}"
