"""MNIST from IDX files (written here, gzipped and plain) and the embedded digits."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from bridge import datasets
from bridge.errors import DataError


def write_idx(path, array, *, compress=False):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def make_mnist(directory, count=5, *, compress=False):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count, dtype=np.uint8)
    for split in ("train", "test"):
        image_name, label_name = datasets.MNIST_FILES[split]
        write_idx(directory / image_name, images, compress=compress)
        write_idx(directory / label_name, labels, compress=compress)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_idx_with_cortex_normalisation(tmp_path, compress):
    images, labels = make_mnist(tmp_path, compress=compress)
    data = datasets.mnist(tmp_path, "train")
    assert len(data) == 5
    assert data.columns["data"].shape == (5, 784)
    expected = torch.from_numpy(images.reshape(5, -1).astype(np.float32) / 255 - 0.5)
    assert torch.equal(data.columns["data"], expected)
    assert data.columns["labels"].tolist() == labels.tolist()
    assert data[0]["labels"].item() == labels[0]


def test_missing_mnist_file_names_it_and_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match=r"MNIST file train-images-idx3-ubyte \(or "
                                        r"train-images-idx3-ubyte.gz\) is missing from"):
        datasets.mnist(tmp_path, "train")


def test_mnist_directory_from_the_environment(tmp_path, monkeypatch):
    make_mnist(tmp_path, count=3)
    monkeypatch.setenv("CORTEX_BRIDGE_MNIST", str(tmp_path))
    assert len(datasets.mnist(split="test")) == 3


def test_truncated_and_foreign_files_are_refused(tmp_path):
    make_mnist(tmp_path)
    name = datasets.MNIST_FILES["train"][0]
    (tmp_path / name).write_bytes((tmp_path / name).read_bytes()[:-10])
    with pytest.raises(DataError, match="is truncated"):
        datasets.mnist(tmp_path, "train")
    (tmp_path / name).write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="is not an IDX file"):
        datasets.mnist(tmp_path, "train")


def test_digits_split_is_fixed_and_disjoint():
    train, test = datasets.digits("train"), datasets.digits("test")
    assert (len(train), len(test)) == (1442, 355)
    assert train.columns["data"].shape == (1442, 64)
    assert float(train.columns["data"].min()) == -0.5 and float(train.columns["data"].max()) == 0.5
    assert torch.equal(datasets.digits("test").columns["data"], test.columns["data"])
    assert sorted(set(test.columns["labels"].tolist())) == list(range(10))
    rows = {tuple(r) for r in train.columns["data"].tolist()}
    overlap = sum(tuple(r) in rows for r in test.columns["data"].tolist())
    assert overlap < 5  # a few digits are pixel-identical in the source data
