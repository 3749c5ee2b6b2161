"""Data sets in Cortex's stream convention: MNIST from IDX files, and the embedded digits.

Both return a :class:`~bridge.training.data.Streams`, named columns of equal length::

    >>> train = bridge.datasets.digits("train")
    >>> train
    Streams(1442 samples; :data [1442, 64], :labels [1442])
    >>> train["data"].shape, train["labels"][:3]      # columns
    >>> train[0]                                      # one sample, as Cortex's map

``data`` holds the images flat (``[N, H·W]``, row-major, float32) and ``labels`` class
indices (int64); :func:`one_hot` gives Cortex's one-hot label vectors. ``bridge.train``,
``bridge.evaluate`` and ``bridge.predict`` take a ``Streams`` as it is, for a network
whose input layer has the id ``:data`` and whose softmax has the id ``:labels``.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from bridge.errors import DataError
from bridge.training.data import Streams, one_hot

__all__ = ["mnist", "digits", "read_idx", "one_hot", "MNIST_FILES", "MNIST_MIRRORS"]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_MIRRORS = (
    "https://yann.lecun.com/exdb/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # 0x00000803: ubyte, 3 dims; 0x00000801: 1 dim
_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
              0x0E: ">f8"}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | os.PathLike, *, magic: int | None = None) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) into an array of its declared type and shape.

    **Arguments:**

    - path: the file.
    - magic: the magic number it must carry (2051 for MNIST images, 2049 for labels).

    Raises:
        DataError: a file that is not IDX, carries another magic number, or is shorter
            than its header says.
    """
    path = Path(path)
    try:
        with _open(path) as stream:
            header = stream.read(4)
            if (len(header) != 4 or header[0] != 0 or header[1] != 0
                    or header[2] not in _IDX_TYPES):
                raise DataError(f"{path} is not an IDX file (bad magic number "
                                f"0x{header.hex()})")
            found = struct.unpack(">I", header)[0]
            if magic is not None and found != magic:
                raise DataError(f"{path} has the magic number {found}; expected {magic} "
                                f"({'images' if magic == IMAGES_MAGIC else 'labels'})")
            dims = header[3]
            shape = struct.unpack(f">{dims}I", stream.read(4 * dims))
            dtype = np.dtype(_IDX_TYPES[header[2]])
            count = int(np.prod(shape)) if shape else 1
            payload = stream.read(count * dtype.itemsize)
    except (OSError, EOFError, struct.error) as error:
        if isinstance(error, gzip.BadGzipFile | EOFError | struct.error):
            raise DataError(f"{path} is truncated or not a valid IDX file: {error}") from None
        raise
    if len(payload) != count * dtype.itemsize:
        raise DataError(f"{path} is truncated: its header declares {list(shape)} values of "
                        f"{dtype} but only {len(payload)} bytes follow")
    return np.frombuffer(payload, dtype=dtype).reshape(shape)


def _find(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    files = " ".join(f"{n}.gz" for pair in MNIST_FILES.values() for n in pair)
    raise DataError(
        f"MNIST file {name} (or {name}.gz) is missing from {directory}. Download the four "
        f"IDX files ({files}) from {MNIST_MIRRORS[0]} or a mirror such as "
        f"{MNIST_MIRRORS[1]} into that directory (gzipped or not), or set "
        "CORTEX_BRIDGE_MNIST to the directory that holds them")


def mnist(directory: str | os.PathLike | None = None, split: str = "train") -> Streams:
    """MNIST (or a data set in its format, such as Fashion-MNIST) from the four standard
    IDX files.

    **Arguments:**

    - directory: where the files are (plain or ``.gz``); default
      ``$CORTEX_BRIDGE_MNIST``, else ``~/.cortex/mnist`` (where Cortex kept them).
    - split: ``"train"`` (``train-*`` files) or ``"test"`` (``t10k-*`` files).

    **Returns:**

    :class:`Streams` ``{"data": [N, 784] float32, "labels": [N] int64}``: pixels
    ``p/255 − 0.5`` as in Cortex (``cortex.datasets.mnist``), row-major; labels class
    indices (Cortex used one-hot vectors; :func:`one_hot` makes them).

    Raises:
        DataError: a missing file (naming it and where to get it), a wrong magic number,
            a truncated file, or image and label counts that differ.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"`split` must be 'train' or 'test'. Received: split={split!r}")
    if directory is None:
        directory = os.environ.get("CORTEX_BRIDGE_MNIST") or Path.home() / ".cortex" / "mnist"
    directory = Path(directory).expanduser()
    images_name, labels_name = MNIST_FILES[split]
    images = read_idx(_find(directory, images_name), magic=IMAGES_MAGIC)
    labels = read_idx(_find(directory, labels_name), magic=LABELS_MAGIC)
    if labels.shape != (images.shape[0],):
        raise DataError(f"{labels_name} has {labels.shape[0]} labels for {images.shape[0]} "
                        f"images in {images_name}")
    if images.dtype != np.uint8:
        raise DataError(f"{images_name} holds {images.dtype} values; MNIST images are bytes")
    # p/255 − 0.5 computed in double and rounded once, through a table of the 256 values
    table = (np.arange(256, dtype=np.float64) / 255.0 - 0.5).astype(np.float32)
    data = torch.from_numpy(table[images.reshape(images.shape[0], -1)])
    classes = int(labels.max()) + 1 if len(labels) else 10
    return Streams({"data": data, "labels": torch.from_numpy(labels.astype(np.int64))},
                   classes=max(10, classes))


def digits(split: str = "train") -> Streams:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images; no download).

    **Arguments:**

    - split: ``"train"`` or ``"test"``: a fixed, stratified split (seed 0) that puts a
      fifth of every class in the test set — 1,442 training and 355 test images.

    **Returns:**

    :class:`Streams` ``{"data": [N, 64] float32, "labels": [N] int64}``, pixels
    ``p/16 − 0.5`` (the images hold 0 … 16), the same centring as MNIST's.
    """
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test'. Received: split={split!r}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.data / 16.0 - 0.5).astype(np.float32)
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    test_mask = np.zeros(len(labels), dtype=bool)
    for digit in range(10):  # stratified: a fifth of each class, drawn once with seed 0
        members = order[labels[order] == digit]
        test_mask[members[: len(members) // 5]] = True
    chosen = np.sort(np.nonzero(test_mask if split == "test" else ~test_mask)[0])
    return Streams({"data": torch.from_numpy(images[chosen]),
                    "labels": torch.from_numpy(labels[chosen])}, classes=10)
