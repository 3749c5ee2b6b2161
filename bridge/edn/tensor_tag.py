"""The ``#cortex-bridge/tensor`` literal and the ``:vector`` encoding of parameters.

A tensor literal reads::

    #cortex-bridge/tensor {:dtype :float32 :shape [128 784]
                           :data "<base64 of the little-endian bytes, C order>"
                           :crc32 1234567890}

for dtypes ``:float32 :float64 :float16 :bfloat16 :int64``. ``:crc32`` is zlib's CRC-32
of the raw bytes (``java.util.zip.CRC32`` gives the same number). Every bit survives,
NaN payloads and ``-0.0`` included. Reading checks the declared size against a limit
*before* decoding, then the byte count, then the checksum.

The ``:vector`` encoding writes the same values as nested EDN vectors any reader takes.
"""

from __future__ import annotations

import base64
import binascii
import math
import sys
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from bridge.edn.types import Keyword, Symbol
from bridge.edn.writer import array_text
from bridge.errors import ModelError

__all__ = [
    "TENSOR_TAG",
    "DTYPES",
    "DEFAULT_MAX_ELEMENTS",
    "TensorLiteral",
    "VectorLiteral",
    "encode_tensor",
    "decode_tensor",
    "tensor_readers",
    "vector_encode",
    "vector_decode",
]

TENSOR_TAG = Symbol("cortex-bridge/tensor")
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
}
_NAMES = {dtype: name for name, dtype in DTYPES.items()}
DEFAULT_MAX_ELEMENTS = 2_000_000_000


def _raw_bytes(tensor: torch.Tensor) -> bytes:
    """The tensor's values as little-endian bytes in C order."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    raw = flat.view(torch.uint8).numpy()
    if sys.byteorder == "big":  # pragma: no cover - no big-endian machine here
        raw = flat.numpy().byteswap().view(np.uint8)
    return raw.tobytes()


class TensorLiteral:
    """A tensor that prints itself as a ``#cortex-bridge/tensor`` literal."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: torch.Tensor):
        if tensor.dtype not in _NAMES:
            known = " ".join(f":{n}" for n in DTYPES)
            raise TypeError(f"the tensor tag carries {known}; got {tensor.dtype}")
        self.tensor = tensor

    def __edn__(self) -> str:
        raw = _raw_bytes(self.tensor)
        shape = " ".join(str(d) for d in self.tensor.shape)
        data = base64.b64encode(raw).decode("ascii")
        return (f"#cortex-bridge/tensor {{:dtype :{_NAMES[self.tensor.dtype]} :shape [{shape}] "
                f':data "{data}" :crc32 {zlib.crc32(raw)}}}')


class VectorLiteral:
    """A tensor that prints itself as nested EDN vectors (the ``:vector`` encoding)."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def __edn__(self) -> str:
        if self.tensor.dim() == 0:
            return array_text(self.tensor.reshape(1))
        return array_text(self.tensor)


def encode_tensor(tensor: torch.Tensor) -> TensorLiteral:
    """Wrap ``tensor`` so :func:`bridge.edn.dumps` writes it as a tensor literal."""
    return TensorLiteral(tensor)


def vector_encode(tensor: torch.Tensor) -> VectorLiteral:
    """Wrap ``tensor`` so :func:`bridge.edn.dumps` writes it as nested vectors."""
    return VectorLiteral(tensor)


def _field(value: Mapping, name: str):
    for key in (Keyword(name), name):
        if key in value:
            return value[key]
    raise ModelError(f"#cortex-bridge/tensor needs :{name}")


def decode_tensor(value: Any, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> torch.Tensor:
    """The tensor a literal's map describes.

    Raises:
        ModelError: an unknown dtype, a malformed shape, a declared size over
            ``max_elements`` (checked before decoding), a byte count that does not match
            the shape (a truncated file), or a checksum mismatch.
    """
    if not isinstance(value, Mapping):
        raise ModelError("#cortex-bridge/tensor takes a map {:dtype … :shape … :data …}")
    dtype_value = _field(value, "dtype")
    dtype_name = dtype_value.full if isinstance(dtype_value, Keyword) else None
    if dtype_name not in DTYPES:
        known = " ".join(f":{n}" for n in DTYPES)
        raise ModelError(f"#cortex-bridge/tensor :dtype must be one of {known}. "
                         f"Received: {dtype_value}")
    shape = _field(value, "shape")
    if not isinstance(shape, list | tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ModelError("#cortex-bridge/tensor :shape must be a vector of non-negative "
                         f"integers. Received: {shape!r}")
    count = math.prod(shape)
    if count > max_elements:
        raise ModelError(f"#cortex-bridge/tensor declares {count:,} values, over the limit of "
                         f"{max_elements:,}")
    data = _field(value, "data")
    if not isinstance(data, str):
        raise ModelError("#cortex-bridge/tensor :data must be a base64 string")
    dtype = DTYPES[dtype_name]
    itemsize = torch.empty((), dtype=dtype).element_size()
    expected_bytes = count * itemsize
    if len(data) > 4 * ((expected_bytes + 2) // 3) + 4:
        raise ModelError(f"#cortex-bridge/tensor :data holds more than the {expected_bytes:,} "
                         f"bytes its :shape {list(shape)} needs")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ModelError("#cortex-bridge/tensor :data is not valid base64 (a damaged or "
                         "truncated file?)") from None
    if len(raw) != expected_bytes:
        raise ModelError(f"#cortex-bridge/tensor :data has {len(raw):,} bytes but :shape "
                         f"{list(shape)} of :{dtype_name} needs {expected_bytes:,} (truncated?)")
    crc = value.get(Keyword("crc32"), value.get("crc32"))
    if crc is not None and zlib.crc32(raw) != crc:
        raise ModelError(f"#cortex-bridge/tensor checksum mismatch: :crc32 says {crc}, the data "
                         f"gives {zlib.crc32(raw)} (the file is damaged)")
    if count == 0:
        return torch.empty(tuple(shape), dtype=dtype)
    buffer = bytearray(raw)  # writable, so the tensor may be trained in place
    tensor = torch.frombuffer(buffer, dtype=dtype)
    if sys.byteorder == "big":  # pragma: no cover
        tensor = torch.from_numpy(tensor.numpy().byteswap())
    return tensor.reshape(tuple(shape))


def tensor_readers(*, max_elements: int = DEFAULT_MAX_ELEMENTS) -> dict:
    """A readers map for :func:`bridge.edn.loads` that turns the tag into tensors."""
    return {TENSOR_TAG: lambda value: decode_tensor(value, max_elements=max_elements)}


def vector_decode(value: Any, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Nested vectors of numbers → a tensor of ``dtype`` (values read as doubles first,
    so float32 values written by :func:`vector_encode` come back bit for bit)."""
    array = np.asarray(value, dtype=np.float64)
    return torch.from_numpy(array).to(dtype)
