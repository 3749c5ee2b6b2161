"""bridge.datasets: MNIST from IDX files (written here, gzipped and plain), the embedded
digits, one-hot labels."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

import bridge
from bridge import datasets
from bridge.errors import DataError


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_idx_with_cortex_normalisation(tmp_path, compress, make_mnist):
    images, labels = make_mnist(tmp_path, compress=compress)
    data = datasets.mnist(tmp_path, "train")
    assert len(data) == 5 and data.classes == 10
    assert data["data"].shape == (5, 784) and data["data"].dtype == torch.float32
    expected = torch.from_numpy((images.reshape(5, -1) / 255.0 - 0.5).astype(np.float32))
    assert torch.equal(data["data"], expected)  # p/255 − 0.5, row-major
    assert data["data"][0, :3].tolist() == [-0.5, 0.5, pytest.approx(128 / 255 - 0.5)]
    assert data["labels"].dtype == torch.int64 and data["labels"].tolist() == labels.tolist()
    assert data[0]["labels"].item() == labels[0]


def test_mnist_trains_with_the_tutorial_stream_names(tmp_path, make_mnist):
    make_mnist(tmp_path, count=8)
    net = bridge.load_model("[(input 28 28 1 :id :data) (linear 10) (softmax :id :labels)]",
                            seed=0)
    history = bridge.train(net, datasets.mnist(tmp_path, "train"),
                           test=datasets.mnist(tmp_path, "test"), epochs=1, progress=False,
                           log=lambda _: None)
    assert "test-accuracy" in history[0]


def test_the_tutorial_model_file_trains_on_mnist_from_python_as_it_is(tmp_path, make_mnist):
    # mnist-mlp.edn's layers are :input-1 … :softmax-1; the data's streams :data and
    # :labels map onto a one-input, one-output model by the one rule in training/data.py
    make_mnist(tmp_path, count=8)
    net = bridge.load_model("edn_models/mnist-mlp.edn", seed=0)
    assert (net.input_ids, net.output_ids) != (["data"], ["labels"])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    history = bridge.train(net, datasets.mnist(tmp_path, "train"), epochs=1, batch_size=4,
                           progress=False, log=lambda _: None)
    assert len(history) == 1
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert bridge.evaluate(net, datasets.mnist(tmp_path, "test"))["accuracy"] >= 0.0
    assert bridge.predict(net, datasets.mnist(tmp_path, "test")).shape == (8, 10)


def test_conventional_names_do_not_override_streams_named_for_the_network():
    from bridge.training.data import Streams, conventional_streams

    net = bridge.load_model("[(input 4 :id :x) (linear 2) (softmax :id :y)]", seed=0)
    named = Streams({"x": torch.zeros(3, 4), "y": torch.zeros(3, dtype=torch.int64)})
    assert conventional_streams(named, net) is named
    plain = Streams({"data": torch.zeros(3, 4), "labels": torch.zeros(3, dtype=torch.int64)})
    assert sorted(conventional_streams(plain, net).keys()) == ["x", "y"]
    two = bridge.load_model("[(input 4 :id :a) (input 4 :id :b) (join :parents [:a :b]) "
                            "(linear 2) (softmax :id :y)]", seed=0)
    assert conventional_streams(plain, two) is plain  # two inputs: no guessing


def test_missing_mnist_file_names_it_and_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError) as caught:
        datasets.mnist(tmp_path, "test")
    message = str(caught.value)
    assert message.startswith(f"MNIST file t10k-images-idx3-ubyte (or "
                              f"t10k-images-idx3-ubyte.gz) is missing from {tmp_path}. ")
    assert "https://yann.lecun.com/exdb/mnist/" in message
    assert "CORTEX_BRIDGE_MNIST" in message
    assert "train-labels-idx1-ubyte.gz" in message


def test_mnist_directory_from_the_environment(tmp_path, monkeypatch, make_mnist):
    make_mnist(tmp_path, count=3)
    monkeypatch.setenv("CORTEX_BRIDGE_MNIST", str(tmp_path))
    assert len(datasets.mnist(split="test")) == 3


def test_magic_numbers_are_checked(tmp_path, make_mnist, write_idx):
    make_mnist(tmp_path)
    name = datasets.MNIST_FILES["train"][0]
    write_idx(tmp_path / name, np.zeros((5, 28, 28), dtype=np.uint8), magic=2049)
    with pytest.raises(DataError, match=rf"{name} has the magic number 2049; expected 2051 "
                                        r"\(images\)"):
        datasets.mnist(tmp_path, "train")
    (tmp_path / name).write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match=r"is not an IDX file \(bad magic number 0x504b0304\)"):
        datasets.mnist(tmp_path, "train")


def test_truncated_files_and_mismatched_counts_are_refused(tmp_path, make_mnist, write_idx):
    make_mnist(tmp_path)
    name = datasets.MNIST_FILES["train"][0]
    full = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(full[:-10])
    with pytest.raises(DataError, match=r"is truncated: its header declares \[5, 28, 28\] "
                                        r"values of uint8 but only 3910 bytes follow"):
        datasets.mnist(tmp_path, "train")
    (tmp_path / name).unlink()
    (tmp_path / f"{name}.gz").write_bytes(gzip.compress(full)[:-30])
    with pytest.raises(DataError, match="is truncated"):
        datasets.mnist(tmp_path, "train")
    (tmp_path / f"{name}.gz").unlink()
    write_idx(tmp_path / name, np.zeros((4, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte has 5 labels for 4 images"):
        datasets.mnist(tmp_path, "train")


def test_bad_split():
    with pytest.raises(ValueError, match=r"`split` must be 'train' or 'test'. Received: "
                                         r"split='validation'"):
        datasets.digits("validation")


def test_digits_split_is_fixed_stratified_and_disjoint():
    train, test = datasets.digits("train"), datasets.digits("test")
    assert (len(train), len(test)) == (1442, 355)
    assert train["data"].shape == (1442, 64) and train["data"].dtype == torch.float32
    assert float(train["data"].min()) == -0.5 and float(train["data"].max()) == 0.5
    assert torch.equal(datasets.digits("test")["data"], test["data"])
    counts = torch.bincount(test["labels"], minlength=10)
    all_counts = counts + torch.bincount(train["labels"], minlength=10)
    assert counts.tolist() == (all_counts // 5).tolist()  # a fifth of every class
    rows = {tuple(r) for r in train["data"].tolist()}
    overlap = sum(tuple(r) in rows for r in test["data"].tolist())
    assert overlap < 5  # a few digits are pixel-identical in the source data


def test_one_hot_gives_cortex_label_vectors():
    labels = datasets.one_hot(torch.tensor([3, 0]), 10)
    assert labels.shape == (2, 10) and labels[0, 3] == 1 and labels.sum() == 2
