"""bridge.training.data: every form of data, validation before training, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bridge
from bridge.edn import Keyword
from bridge.errors import DataError
from bridge.training.data import (
    LabelSpec,
    Streams,
    batches,
    epoch_order,
    one_hot,
    to_streams,
    validate_streams,
)

MLP = "[(input 4 :id :data) (linear 3) (softmax :id :labels)]"
REGRESSION = "[(input 2 :id :x) (linear 1 :id :y)]"


@pytest.fixture(scope="module")
def net():
    return bridge.load_model(MLP, seed=0)


@pytest.fixture(scope="module")
def regression():
    return bridge.load_model(REGRESSION, seed=0)


X = torch.arange(24, dtype=torch.float32).reshape(6, 4)
Y = torch.tensor([0, 1, 2, 0, 1, 2])


def ready(data, net, labels=True):
    return validate_streams(to_streams(data, net), net, labels=labels)


# --- forms -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["data", ":data", Keyword("data")])
def test_cortex_sequence_of_maps_with_any_key_spelling(net, key):
    label_key = {"data": "labels", ":data": ":labels"}.get(key, Keyword("labels"))
    items = [{key: x.tolist(), label_key: int(y)} for x, y in zip(X, Y, strict=True)]
    streams = ready(items, net)
    assert torch.equal(streams["data"], X)
    assert streams["labels"].dtype == torch.int64 and torch.equal(streams["labels"], Y)


def test_one_hot_labels_stay_vectors_and_index_labels_become_int64(net):
    streams = ready({"data": X, "labels": one_hot(Y, 3)}, net)
    assert streams["labels"].shape == (6, 3) and streams["labels"].dtype == torch.float32
    streams = ready({"data": X, "labels": Y.float()}, net)
    assert torch.equal(streams["labels"], Y)


@pytest.mark.parametrize("form", ["pair", "list-pair", "numpy", "columns", "streams",
                                  "tensor-dataset", "map-dataset", "loader"])
def test_every_form_gives_the_same_streams(net, form):
    data = {
        "pair": (X, Y),
        "list-pair": [X, Y],
        "numpy": (X.numpy(), Y.numpy()),
        "columns": {"data": X, "labels": Y},
        "streams": Streams({"data": X, "labels": Y}),
        "tensor-dataset": torch.utils.data.TensorDataset(X, Y),
        "map-dataset": [{"data": x, "labels": y} for x, y in zip(X, Y, strict=True)],
        "loader": torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y),
                                              batch_size=4),
    }[form]
    streams = ready(data, net)
    assert torch.equal(streams["data"], X)
    assert torch.equal(streams["labels"], Y)


def test_images_are_flattened_in_chw_order():
    net = bridge.load_model("[(input 2 2 3 :id :image) (linear 1 :id :y)]", seed=0)
    images = torch.arange(24.0).reshape(2, 3, 2, 2)  # [N, C, H, W]
    streams = ready({"image": images, "y": torch.zeros(2, 1)}, net)
    assert torch.equal(streams["image"], images.reshape(2, 12))


def test_bare_inputs_for_prediction(net):
    streams = validate_streams(to_streams(X, net), net, labels=False)
    assert list(streams.keys()) == ["data"]


def test_streams_index_like_cortex_maps():
    streams = Streams({"data": X, "labels": Y}, classes=3)
    assert len(streams) == 6 and streams.classes == 3
    assert torch.equal(streams[1]["data"], X[1]) and int(streams[1]["labels"]) == 1
    assert len(streams[2:4]) == 2 and torch.equal(streams[Keyword("labels")], Y)
    assert repr(streams) == "Streams(6 samples; :data [6, 4], :labels [6])"


def test_one_hot_helper():
    assert one_hot([2, 0], 3).tolist() == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    with pytest.raises(DataError, match=r"^label 1 is class 3; classes are 0 to 2$"):
        one_hot([0, 3], 3)


# --- validation: the stream and the first offending item --------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"data": torch.zeros(3, 5), "labels": Y[:3]},
         "stream :data item 0 has 5 values; the input layer :data takes 4"),
        ({"data": X, "labels": torch.tensor([0, 1, 2, 3, 0, 1])},
         "label stream :labels item 3 is class 3; the output layer :labels has classes 0 to 2"),
        ({"data": X, "labels": torch.tensor([0, -1, 2, 0, 1, 2])},
         "label stream :labels item 1 is class -1; the output layer :labels has classes 0 to 2"),
        ({"data": X, "labels": torch.tensor([0.0, 1.5, 2, 0, 1, 2])},
         "label stream :labels item 1 is 1.5; give class indices or one-hot vectors of 3"),
        ({"data": X, "labels": torch.zeros(6, 4)},
         "label stream :labels item 0 has 4 values; the output layer :labels produces 3"),
        ({"data": torch.cat([X[:4], torch.tensor([[0.0, float("nan"), 0, 0]]), X[5:]]),
          "labels": Y}, "stream :data item 4 contains NaN or infinity"),
        ({"data": torch.cat([X[:2], torch.tensor([[float("inf"), 0, 0, 0]]), X[3:]]),
          "labels": Y}, "stream :data item 2 contains NaN or infinity"),
        ({"data": torch.full((2, 4), 3e38), "labels": Y[:2]}, None),  # overflowing sums
        ({"data": torch.zeros(0, 4), "labels": torch.zeros(0)}, "the dataset is empty"),
        ([], "the dataset is empty"),
        (torch.utils.data.TensorDataset(torch.zeros(0, 4), torch.zeros(0)),
         "the dataset is empty"),
        ({"data": X, "labels": Y, "label": Y},
         "stream :label matches no layer; inputs are :data and outputs are :labels"),
        ({"data": X}, "the data has no label stream :labels for the output layer :labels"),
        ({"image": X, "labels": Y},
         "stream :image matches no layer; inputs are :data and outputs are :labels"),
        ([{"data": [0.0] * 4, "labels": 1}, {"data": [0.0] * 3, "labels": 1}],
         "stream :data item 1 has 3 values; item 0 has 4"),
        ([{"data": [0.0] * 4, "labels": 1}, {"data": [0.0] * 4}],
         "dataset item 1 has different streams from item 0; missing :labels"),
        ([{"data": ["a"] * 4, "labels": 1}], "stream :data holds strings where numbers belong"),
        ([[0.0] * 4, [1.0] * 4, [2.0] * 4], "dataset item 0 is a list, not a map of streams"),
        ({"data": X, "labels": Y[:5]}, "streams have different lengths: :data 6, :labels 5"),
        ("data.csv", "cannot train on a str; give a sequence of maps, (X, y), a map of "
                     "streams, a Dataset or a DataLoader"),
    ],
)
def test_bad_data_names_the_stream_and_the_first_item(net, data, message):
    if message is None:
        ready(data, net)  # large finite values are not mistaken for infinity
        return
    with pytest.raises(DataError) as caught:
        ready(data, net)
    assert str(caught.value) == message


def test_regression_labels_must_be_finite_unless_censored(regression):
    data = {"x": torch.zeros(3, 2), "y": torch.tensor([[0.0], [float("nan")], [1.0]])}
    with pytest.raises(DataError, match=r"^label stream :y item 1 contains NaN or infinity$"):
        ready(data, regression)
    censored = {"y": LabelSpec("y", "y", 1, None, nan_ok=True)}
    streams = validate_streams(to_streams(data, regression), regression, labels=True,
                               specs=censored)
    assert torch.isnan(streams["y"][1, 0])
    data["y"][2, 0] = float("inf")
    with pytest.raises(DataError, match=r"^label stream :y item 2 contains infinity$"):
        validate_streams(to_streams(data, regression), regression, labels=True,
                         specs=censored)


def test_pairs_need_one_input_and_one_output():
    two = bridge.load_model("[(input 2 :id :a) (input 2 :id :b) (concatenate :parents [:a :b])"
                            " (linear 1 :id :y)]", seed=0)
    with pytest.raises(DataError, match=r"^\(X, y\) pairs need a network with one input and "
                                        r"one output; this one has inputs :a :b"):
        to_streams((torch.zeros(2, 2), torch.zeros(2)), two)


def test_uint8_and_float64_inputs_become_float(net):
    streams = ready({"data": np.ones((2, 4), dtype=np.uint8), "labels": [0, 1]}, net)
    assert streams["data"].dtype == torch.float32
    streams = ready({"data": np.ones((2, 4), dtype=np.float64), "labels": [0, 1]}, net)
    assert streams["data"].dtype == torch.float32


# --- order and batches -----------------------------------------------------------------


def test_epoch_order_is_a_pure_function_and_matches_distributed_sampler():
    first = epoch_order(50, shuffle=True, seed=7, epoch=3)
    assert torch.equal(first, epoch_order(50, shuffle=True, seed=7, epoch=3))
    assert not torch.equal(first, epoch_order(50, shuffle=True, seed=7, epoch=4))
    assert sorted(first.tolist()) == list(range(50))
    sampler = torch.utils.data.DistributedSampler(range(50), num_replicas=1, rank=0,
                                                  shuffle=True, seed=7)
    sampler.set_epoch(3)
    assert list(sampler) == first.tolist()
    assert epoch_order(5, shuffle=False, seed=7, epoch=3).tolist() == [0, 1, 2, 3, 4]


def test_batches_cover_each_sample_once_and_keep_the_incomplete_last_batch():
    streams = Streams({"data": torch.arange(10.0).reshape(10, 1), "labels": torch.arange(10)})
    order = epoch_order(10, shuffle=True, seed=0, epoch=1)
    got = list(batches(streams, order, 4))
    assert [len(b["labels"]) for b in got] == [4, 4, 2]
    assert torch.equal(torch.cat([b["labels"] for b in got]), order)
    assert all(torch.equal(b["data"].flatten(), b["labels"].float()) for b in got)
    assert [len(b["labels"]) for b in batches(streams, order, 4, drop_last=True)] == [4, 4]
    skipped = list(batches(streams, order, 4, skip=2))
    assert len(skipped) == 1 and torch.equal(skipped[0]["labels"], order[8:])


def test_unshuffled_batches_are_views():
    column = torch.arange(12.0).reshape(6, 2)
    streams = Streams({"data": column})
    first = next(batches(streams, torch.arange(6), 4))
    assert first["data"].data_ptr() == column.data_ptr()
