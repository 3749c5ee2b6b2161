"""bridge.train: convergence, reproducibility, resume, interruption, NaN, checkpoints."""

from __future__ import annotations

import re

import pytest
import torch

import bridge
from bridge.errors import DataError, TrainingError
from bridge.training.trainer import History

XOR = "[(input 2 1 1 :id :x) (linear->tanh 10) (linear 1 :id :y)]"
XOR_DATA = [{"x": [0.0, 0.0], "y": [0.0]}, {"x": [0.0, 1.0], "y": [1.0]},
            {"x": [1.0, 0.0], "y": [1.0]}, {"x": [1.0, 1.0], "y": [0.0]}]
MLP = "[(input 8 :id :data) (linear->relu 16) (dropout 0.8) (linear 3) (softmax :id :labels)]"


def blobs(count=240, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 3
    centers = torch.tensor([[2.0] * 8, [-2.0] * 8, [2.0, -2.0] * 4])
    data = centers[labels] + torch.randn(count, 8, generator=generator)
    return {"data": data, "labels": labels}


def weights(net):
    return {f"{layer}/{name}": t.detach().clone()
            for layer, params in net.parameters_by_layer().items() for name, t in params.items()}


def test_xor_converges_with_cortex_data_and_sgd():
    net = bridge.load_model(XOR, seed=1)
    history = bridge.train(net, XOR_DATA, test=XOR_DATA, optimizer="(sgd :learning-rate 0.1)",
                           epochs=300, batch_size=4, seed=0, log=lambda _: None)
    assert isinstance(history, History) and len(history) == 300
    out = bridge.predict(net, XOR_DATA).flatten()
    assert torch.allclose(out, torch.tensor([0.0, 1.0, 1.0, 0.0]), atol=0.15)
    assert history[-1]["test-loss"] < 0.02


def test_classifier_learns_and_history_has_the_fields():
    net = bridge.load_model(MLP, seed=0)
    data = blobs()
    history = bridge.train(net, data, test=blobs(seed=1), epochs=5, batch_size=16, seed=0,
                           optimizer="(adam :alpha 0.01)",
                           log=lambda _: None)
    assert set(history[0]) >= {"epoch", "train-loss", "test-loss", "test-accuracy", "seconds",
                               "samples-per-second"}
    assert history[-1]["test-accuracy"] > 0.95
    assert history[-1]["train-loss"] < history[0]["train-loss"]


def test_seeded_runs_are_identical_and_leave_the_global_rng_alone():
    results = []
    for _ in range(2):
        torch.manual_seed(99)
        expected = torch.rand(1)
        torch.manual_seed(99)
        net = bridge.load_model(MLP, seed=0)
        bridge.train(net, blobs(), epochs=2, batch_size=16, seed=3, log=lambda _: None)
        assert torch.equal(torch.rand(1), expected)
        results.append(weights(net))
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])


def test_resume_gives_exactly_the_uninterrupted_weights(tmp_path):
    data = blobs()
    straight = bridge.load_model(MLP, seed=0)
    bridge.train(straight, data, epochs=4, batch_size=16, seed=5, log=lambda _: None)

    first = bridge.load_model(MLP, seed=0)
    checkpoint = tmp_path / "ckpt.edn"
    bridge.train(first, data, epochs=2, batch_size=16, seed=5, checkpoint=checkpoint,
                 log=lambda _: None)
    resumed = bridge.load_model(MLP, seed=123)  # different start: everything comes back
    history = bridge.train(resumed, data, epochs=4, batch_size=16, seed=5, resume=checkpoint,
                           log=lambda _: None)
    assert [e["epoch"] for e in history] == [1, 2, 3, 4]
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_is_an_edn_network(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"
    bridge.train(net, blobs(), epochs=1, batch_size=16, seed=0, checkpoint=path,
                 log=lambda _: None)
    text = path.read_text()
    assert text.startswith("{:cortex-bridge/format 1") and ":checkpoint" in text
    again = bridge.load_model(path)
    assert all(torch.equal(weights(net)[k], weights(again)[k]) for k in weights(net))


def test_nan_loss_stops_naming_epoch_and_batch_and_keeps_the_checkpoint(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"
    bridge.train(net, blobs(), epochs=1, batch_size=16, seed=0, checkpoint=path,
                 log=lambda _: None)
    saved = path.read_bytes()
    with pytest.raises(TrainingError) as caught:
        bridge.train(net, blobs(), epochs=3, batch_size=16, seed=0, checkpoint=path,
                     optimizer="(sgd :learning-rate 1e30)", log=lambda _: None)
    message = str(caught.value)
    assert re.match(r"the loss became NaN or infinite in epoch 1, batch \d+", message)
    assert path.read_bytes() == saved  # the bad epoch wrote nothing


def test_interrupt_saves_a_checkpoint_then_raises(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"

    def interrupt(epoch, batch):
        if epoch == 2 and batch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bridge.train(net, blobs(), epochs=5, batch_size=16, seed=0, checkpoint=path,
                     on_batch=interrupt, log=lambda _: None)
    saved = bridge.load_model(path)
    assert saved.header["checkpoint"][bridge.edn.Keyword("epoch")] == 1
    assert all(torch.equal(weights(net)[k], weights(saved)[k]) for k in weights(net))


def test_early_stopping_and_keeping_the_best():
    net = bridge.load_model(MLP, seed=0)
    history = bridge.train(net, blobs(), test=blobs(seed=1), epochs=40, batch_size=16, seed=0,
                           patience=2, log=lambda _: None)
    assert len(history) < 40
    best = max(e["test-accuracy"] for e in history)
    assert bridge.evaluate(net, blobs(seed=1))["accuracy"] == pytest.approx(best)


def test_metrics_log_has_one_edn_map_per_epoch(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    log_path = tmp_path / "metrics.edn"
    bridge.train(net, blobs(), epochs=3, batch_size=32, seed=0, metrics_log=log_path,
                 log=lambda _: None)
    lines = log_path.read_text().splitlines()
    assert len(lines) == 3
    entries = [bridge.edn.loads(line) for line in lines]
    assert [e[bridge.edn.Keyword("epoch")] for e in entries] == [1, 2, 3]


def test_plot_is_written(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    bridge.train(net, blobs(), test=blobs(seed=1), epochs=2, batch_size=32, seed=0,
                 plot=tmp_path / "curves.png", log=lambda _: None)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"data": torch.zeros(4, 7), "labels": torch.zeros(4, dtype=torch.long)},
         "stream :data item 0 has 7 values; the input layer :data takes 8"),
        ({"data": torch.zeros(4, 8), "labels": torch.tensor([0, 1, 5, 2])},
         "label stream :labels item 2 is class 5; the output layer :labels has classes 0 to 2"),
        ({"data": torch.tensor([[0.0] * 8, [float("nan")] * 8]), "labels": torch.zeros(2)},
         "stream :data item 1 contains NaN or infinity"),
        ({"data": torch.zeros(0, 8), "labels": torch.zeros(0)}, "the dataset is empty"),
        ({"data": torch.zeros(2, 8), "labels": torch.zeros(2), "extra": torch.zeros(2)},
         "stream :extra matches no layer; inputs are :data and outputs are :labels"),
        ({"data": torch.zeros(2, 8)},
         "the data has no label stream :labels for the output layer :labels"),
        ([], "the dataset is empty"),
        ([{"data": [0.0] * 8, "labels": 1}, {"data": [0.0] * 7, "labels": 1}],
         "stream :data item 1 has 7 values; item 0 has 8"),
        ([{"data": ["a"] * 8, "labels": 1}], "stream :data holds strings where numbers belong"),
    ],
)
def test_bad_data_is_refused_before_training(data, message):
    net = bridge.load_model(MLP, seed=0)
    before = weights(net)
    with pytest.raises(DataError) as caught:
        bridge.train(net, data, epochs=1, log=lambda _: None)
    assert str(caught.value) == message
    assert all(torch.equal(before[k], weights(net)[k]) for k in before)


def test_one_hot_labels_and_keyword_keys_work():
    from bridge.edn import Keyword

    net = bridge.load_model(MLP, seed=0)
    data = blobs()
    one_hot = torch.nn.functional.one_hot(data["labels"], 3).float()
    items = [{Keyword("data"): x.tolist(), Keyword("labels"): y.tolist()}
             for x, y in zip(data["data"], one_hot, strict=True)]
    history = bridge.train(net, items, test=items, epochs=5, batch_size=16, seed=0,
                           optimizer="(adam :alpha 0.01)", log=lambda _: None)
    assert history[-1]["test-accuracy"] > 0.9


def test_incomplete_last_batch_is_used_unless_drop_last():
    seen = []
    net = bridge.load_model(MLP, seed=0)
    bridge.train(net, blobs(count=50), epochs=1, batch_size=16, seed=0,
                 on_batch=lambda e, b: seen.append(b), log=lambda _: None)
    assert seen == [1, 2, 3, 4]
    seen.clear()
    bridge.train(net, blobs(count=50), epochs=1, batch_size=16, seed=0, drop_last=True,
                 on_batch=lambda e, b: seen.append(b), log=lambda _: None)
    assert seen == [1, 2, 3]


def test_bf16_autocast_trains_on_cpu():
    net = bridge.load_model(MLP, seed=0)
    history = bridge.train(net, blobs(), epochs=2, batch_size=16, seed=0, precision="bf16",
                           log=lambda _: None)
    assert history[-1]["train-loss"] < history[0]["train-loss"]


@pytest.mark.cuda
def test_trains_on_cuda():
    net = bridge.load_model(MLP, seed=0)
    history = bridge.train(net, blobs(), test=blobs(seed=1), epochs=3, batch_size=16,
                           device="cuda", seed=0, log=lambda _: None)
    assert history[-1]["test-accuracy"] > 0.9
    assert next(net.parameters()).is_cuda
