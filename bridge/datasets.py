"""Data sets in Cortex's stream convention: MNIST from IDX files, and the embedded digits.

Both return a :class:`~bridge.training.data.Streams`: named columns of equal length,
``{"data": [N, 784], "labels": [N]}`` (class indices), which ``bridge.train`` and
``bridge.evaluate`` take as they are, and which indexes like Cortex's sequence of maps
(``streams[0] == {"data": …, "labels": …}``).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from bridge.errors import DataError
from bridge.training.data import Streams

__all__ = ["mnist", "digits", "read_idx", "MNIST_FILES"]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
              0x0E: ">f8"}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) into an array of its declared type and shape.

    Raises:
        DataError: a file that is not IDX, or shorter than its header says.
    """
    path = Path(path)
    with _open(path) as stream:
        header = stream.read(4)
        if len(header) != 4 or header[0] != 0 or header[1] != 0 or header[2] not in _IDX_TYPES:
            raise DataError(f"{path} is not an IDX file (bad magic number {header.hex()})")
        dims = header[3]
        shape = struct.unpack(f">{dims}I", stream.read(4 * dims))
        dtype = np.dtype(_IDX_TYPES[header[2]])
        count = int(np.prod(shape)) if shape else 1
        payload = stream.read(count * dtype.itemsize)
    if len(payload) != count * dtype.itemsize:
        raise DataError(f"{path} is truncated: its header declares {shape} values of "
                        f"{dtype} but only {len(payload)} bytes follow")
    return np.frombuffer(payload, dtype=dtype).reshape(shape)


def _find(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"MNIST file {name} (or {name}.gz) is missing from {directory}. Download the four "
        "IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte; gzipped is fine) from an MNIST mirror into that directory")


def mnist(directory: str | os.PathLike | None = None, split: str = "train") -> Streams:
    """MNIST from the standard IDX files in ``directory`` (``$CORTEX_BRIDGE_MNIST`` or
    ``~/.cortex/mnist`` when not given).

    Pixels become ``p/255 − 0.5`` as in Cortex, images flat ``[N, 784]`` in row-major
    order; labels are class indices. Streams are named ``data`` and ``labels``.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if directory is None:
        directory = os.environ.get("CORTEX_BRIDGE_MNIST") or Path.home() / ".cortex" / "mnist"
    directory = Path(directory)
    images_name, labels_name = MNIST_FILES[split]
    images = read_idx(_find(directory, images_name))
    labels = read_idx(_find(directory, labels_name))
    if images.ndim != 3:
        raise DataError(f"{images_name} holds an array of shape {images.shape}, not images")
    if labels.shape != (images.shape[0],):
        raise DataError(f"{labels_name} has {labels.shape[0]} labels for {images.shape[0]} "
                        "images")
    data = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32) / 255 - 0.5)
    return Streams({"data": data, "labels": torch.from_numpy(labels.astype(np.int64))},
                   classes=10)


def digits(split: str = "train") -> Streams:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images; no download).

    Pixels become ``p/16 − 0.5``; a fixed split (seed 0) puts a fifth of every class in
    the test set: 1,442 training and 355 test images. Streams are named ``data`` and ``labels``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.data.astype(np.float32) / 16.0 - 0.5
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    test_mask = np.zeros(len(labels), dtype=bool)
    for digit in range(10):  # stratified: every fifth image of each class is a test image
        members = order[labels[order] == digit]
        test_mask[members[: len(members) // 5]] = True
    chosen = test_mask if split == "test" else ~test_mask
    indices = np.sort(np.nonzero(chosen)[0])
    return Streams({"data": torch.from_numpy(images[indices]),
                    "labels": torch.from_numpy(labels[indices])}, classes=10)
