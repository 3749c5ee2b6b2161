"""Fixtures shared by the whole suite."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from bridge import datasets


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def edn_file(tmp_path):
    """Write EDN text to a file under tmp_path and return its path."""

    def write(text: str, name: str = "model.edn"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


# --- small MNIST IDX files (real MNIST cannot be downloaded here) ----------------------

def _write_idx(path, array, *, compress=False, magic=None):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape)
    if magic is not None:
        header = struct.pack(">I", magic) + header[4:]
    data = header + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _make_mnist(directory, count=5, *, compress=False):
    """The four MNIST IDX files in ``directory`` (made if needed): ``count`` random
    28x28 images and labels, the same for both splits; returns (images, labels)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[0, 0, :3] = [0, 255, 128]
    labels = rng.integers(0, 10, size=count, dtype=np.uint8)
    for split in ("train", "test"):
        image_name, label_name = datasets.MNIST_FILES[split]
        _write_idx(directory / image_name, images, compress=compress)
        _write_idx(directory / label_name, labels, compress=compress)
    return images, labels


@pytest.fixture
def write_idx():
    """``write_idx(path, array, *, compress=False, magic=None)``: one IDX file."""
    return _write_idx


@pytest.fixture
def make_mnist():
    """``make_mnist(directory, count=5, *, compress=False)``: the four MNIST files."""
    return _make_mnist
