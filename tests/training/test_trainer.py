"""bridge.train: convergence, reproducibility, resume, Ctrl-C, NaN, checkpoints, logs."""

from __future__ import annotations

import os
import re
import signal
import threading

import pytest
import torch

import bridge
from bridge.edn import Keyword
from bridge.errors import DataError, Interrupted, TrainingError
from bridge.training.trainer import History

QUIET = {"log": lambda _: None, "progress": False}
XOR = "[(input 2 1 1 :id :x) (linear->tanh 10) (linear 1 :id :y)]"  # cortex-spec §4.2
XOR_DATA = [{"x": [0.0, 0.0], "y": [0.0]}, {"x": [0.0, 1.0], "y": [1.0]},
            {"x": [1.0, 0.0], "y": [1.0]}, {"x": [1.0, 1.0], "y": [0.0]}]
MLP = "[(input 8 :id :data) (linear->relu 16) (dropout 0.8) (linear 3) (softmax :id :labels)]"


def blobs(count=240, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 3
    centers = torch.tensor([[2.0] * 8, [-2.0] * 8, [2.0, -2.0] * 4])
    data = centers[labels] + torch.randn(count, 8, generator=generator)
    return {"data": data, "labels": labels}


def hard_blobs(seed=0):
    """Overlapping classes: the validation score goes up and down, so the best epoch is
    not the last."""
    data = blobs(seed=seed)
    noise = torch.randn(240, 8, generator=torch.Generator().manual_seed(seed + 100))
    return {"data": data["data"] * 0.25 + noise, "labels": data["labels"]}


def weights(net):
    return {f"{layer}/{name}": t.detach().clone()
            for layer, params in net.parameters_by_layer().items() for name, t in params.items()}


def identical(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- learning ------------------------------------------------------------------------------


def test_xor_converges_with_cortex_data_and_sgd():
    net = bridge.load_model(XOR, seed=1)
    history = bridge.train(net, XOR_DATA, test=XOR_DATA, optimizer="(sgd :learning-rate 0.1)",
                           epochs=300, batch_size=4, seed=0, **QUIET)
    assert isinstance(history, History) and len(history) == 300
    out = bridge.predict(net, XOR_DATA).flatten()
    assert torch.allclose(out, torch.tensor([0.0, 1.0, 1.0, 0.0]), atol=0.15)
    assert history[-1]["test-loss"] < 0.02


def test_classifier_learns_and_history_has_the_fields():
    net = bridge.load_model(MLP, seed=0)
    seen = []
    history = bridge.train(net, blobs(), test=blobs(seed=1), epochs=5, batch_size=16, seed=0,
                           optimizer="(adam :alpha 0.01)", on_epoch=seen.append, **QUIET)
    assert set(history[0]) == {"epoch", "train-loss", "test-loss", "test-accuracy", "seconds",
                               "samples-per-second"}
    assert [e["epoch"] for e in history] == [1, 2, 3, 4, 5] and seen == list(history)
    assert history[-1]["test-accuracy"] > 0.95
    assert history[-1]["train-loss"] < history[0]["train-loss"]
    assert history.optimizer[Keyword("type")] == Keyword("adam")


def test_train_loss_is_the_sample_weighted_mean_of_the_batches():
    net = bridge.load_model("[(input 1 :id :x) (linear 1 :id :y :weights [[0]] :bias [0])]")
    data = {"x": torch.zeros(5, 1), "y": torch.tensor([[1.0], [1.0], [1.0], [1.0], [3.0]])}
    history = bridge.train(net, data, optimizer="(sgd :learning-rate 0)", epochs=1,
                           batch_size=2, shuffle=False, **QUIET)
    assert history[0]["train-loss"] == pytest.approx((1 + 1 + 1 + 1 + 9) / 5)


def test_two_inputs_and_a_schedule():
    net = bridge.load_model("[(input 2 :id :a) (input 2 :id :b) (concatenate :parents [:a :b])"
                            " (linear 1 :id :y)]", seed=0)
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 2, generator=generator), torch.randn(64, 2, generator=generator)
    data = {"a": a, "b": b, "y": (a.sum(1) - b.sum(1)).unsqueeze(1)}
    history = bridge.train(net, data, epochs=30, batch_size=8, seed=0, **QUIET,
                           optimizer="(sgd :learning-rate 0.05 :schedule {:type :step "
                                     ":step-size 10 :gamma 0.5})")
    assert history[-1]["train-loss"] < 1e-3
    assert [history[i]["learning-rate"] for i in (8, 9, 19)] == [0.05, 0.025, 0.0125]


def test_center_loss_moves_the_centers_while_training():
    net = bridge.load_model("[(input 8 :id :data) (linear 4) (relu :id :features :center-loss"
                            " {:labels {:stream :labels} :alpha 0.5 :lambda 0.01})"
                            " (linear 3) (softmax :id :labels)]", seed=0)
    history = bridge.train(net, blobs(), epochs=2, batch_size=16, seed=0, **QUIET)
    assert net.layer_module("features").centers.abs().sum() > 0
    assert all(torch.isfinite(torch.tensor(e["train-loss"])) for e in history)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_trains_on_cpu(precision):
    net = bridge.load_model(MLP, seed=0)
    history = bridge.train(net, blobs(), epochs=2, batch_size=16, seed=0, precision=precision,
                           optimizer="(adam :alpha 0.01)", **QUIET)
    assert history[-1]["train-loss"] < history[0]["train-loss"]
    assert next(net.parameters()).dtype == torch.float32


# --- reproducibility and resume ------------------------------------------------------------


def test_seeded_runs_are_identical_and_leave_the_global_rng_alone():
    results = []
    for _ in range(2):
        torch.manual_seed(99)
        expected = torch.rand(1)
        torch.manual_seed(99)
        net = bridge.load_model(MLP, seed=0)
        bridge.train(net, blobs(), epochs=2, batch_size=16, seed=3, **QUIET)
        assert torch.equal(torch.rand(1), expected)
        results.append(weights(net))
    assert identical(*results)


def test_without_a_seed_torch_manual_seed_governs_the_run():
    results = []
    for _ in range(2):
        torch.manual_seed(5)
        net = bridge.load_model(MLP, seed=0)
        bridge.train(net, blobs(), epochs=1, batch_size=16, **QUIET)
        results.append(weights(net))
    assert identical(*results)


SCHEDULED = "(adam :alpha 0.01 :schedule {:type :exponential :gamma 0.7})"


def test_resume_gives_exactly_the_uninterrupted_weights(tmp_path):
    data = blobs()
    straight = bridge.load_model(MLP, seed=0)
    full = bridge.train(straight, data, epochs=4, batch_size=16, seed=5, optimizer=SCHEDULED,
                        **QUIET)

    first = bridge.load_model(MLP, seed=0)
    checkpoint = tmp_path / "ckpt.edn"
    bridge.train(first, data, epochs=2, batch_size=16, seed=5, optimizer=SCHEDULED,
                 checkpoint=checkpoint, **QUIET)
    resumed = bridge.load_model(MLP, seed=123)  # a different start: everything comes back
    history = bridge.train(resumed, data, epochs=4, batch_size=16, seed=5, optimizer=SCHEDULED,
                           resume=checkpoint, **QUIET)
    assert [e["epoch"] for e in history] == [1, 2, 3, 4]
    assert [e["learning-rate"] for e in history] == [e["learning-rate"] for e in full]
    assert [e["train-loss"] for e in history] == [e["train-loss"] for e in full]
    assert identical(weights(straight), weights(resumed))


def test_interrupt_mid_epoch_then_resume_gives_the_same_weights(tmp_path):
    data = blobs()
    straight = bridge.load_model(MLP, seed=0)
    full = bridge.train(straight, data, epochs=3, batch_size=16, seed=2, **QUIET)

    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"

    def interrupt(epoch, batch):
        if (epoch, batch) == (2, 6):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bridge.train(net, data, epochs=3, batch_size=16, seed=2, checkpoint=path,
                     on_batch=interrupt, **QUIET)
    saved = bridge.load_model(path).header["checkpoint"]
    assert (saved[Keyword("epoch")], saved[Keyword("batch")]) == (1, 6)
    resumed = bridge.load_model(MLP, seed=9)
    history = bridge.train(resumed, data, epochs=3, batch_size=16, seed=2, resume=path,
                           **QUIET)
    assert identical(weights(straight), weights(resumed))
    assert history[1]["train-loss"] == pytest.approx(full[1]["train-loss"], rel=1e-6)


def test_ctrl_c_signal_stops_after_the_step_and_saves(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"
    steps = []

    def press_ctrl_c(epoch, batch):
        steps.append((epoch, batch))
        if (epoch, batch) == (1, 4):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        bridge.train(net, blobs(), epochs=3, batch_size=16, seed=0, checkpoint=path,
                     on_batch=press_ctrl_c, **QUIET)
    assert steps[-1] == (1, 4)  # the request is honoured at the end of the step
    saved = bridge.load_model(path)
    assert saved.header["checkpoint"][Keyword("batch")] == 4
    assert identical(weights(net), weights(saved))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_cancel_from_another_thread_stops_like_ctrl_c_and_resumes_exactly(tmp_path):
    data = blobs()
    straight = bridge.load_model(MLP, seed=0)
    bridge.train(straight, data, epochs=3, batch_size=16, seed=2, **QUIET)

    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"
    cancel = threading.Event()
    steps = []

    def cancel_at(epoch, batch):  # stands for another thread setting the token
        steps.append((epoch, batch))
        if (epoch, batch) == (2, 3):
            threading.Thread(target=cancel.set).start()
            while not cancel.is_set():
                pass

    with pytest.raises(Interrupted) as raised:
        bridge.train(net, data, epochs=3, batch_size=16, seed=2, checkpoint=path,
                     on_batch=cancel_at, cancel=cancel, **QUIET)
    assert steps[-1] == (2, 3)
    assert raised.value.history.interrupted and raised.value.checkpoint == str(path)
    assert identical(weights(net), weights(bridge.load_model(path)))
    resumed = bridge.load_model(MLP, seed=9)
    bridge.train(resumed, data, epochs=3, batch_size=16, seed=2, resume=path, **QUIET)
    assert identical(weights(straight), weights(resumed))


# Ten interrupt points, epoch boundaries among them (15 batches an epoch), on a run that
# keeps its best epoch (chosen on validation data) in a single checkpoint file.
@pytest.mark.parametrize("point", [(1, 1), (1, 15), (2, 7), (2, 15), (3, 1), (3, 8),
                                   (4, 15), (5, 2), (5, 15), (6, 14)])
def test_any_interrupt_point_resumes_bit_exactly_with_the_best_network(tmp_path, point):
    options = dict(validation=hard_blobs(seed=1), epochs=6, batch_size=16, seed=4,
                   optimizer="(sgd :learning-rate 0.2)", **QUIET)
    straight = bridge.load_model(MLP, seed=0)
    full = bridge.train(straight, hard_blobs(), **options)

    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"

    def press_ctrl_c(epoch, batch):
        if (epoch, batch) == point:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        bridge.train(net, hard_blobs(), checkpoint=path, on_batch=press_ctrl_c, **options)
    resumed = bridge.load_model(MLP, seed=9)
    history = bridge.train(resumed, hard_blobs(), resume=path, **options)
    assert (history.best_epoch, history.kept_epoch) == (full.best_epoch, full.kept_epoch)
    assert [e["validation-loss"] for e in history] == [e["validation-loss"] for e in full]
    assert identical(weights(straight), weights(resumed))


def test_a_run_whose_best_epoch_is_not_the_last_resumes_to_the_best(tmp_path):
    # the case the single-file checkpoint lost: the best network rides in the checkpoint
    options = dict(validation=hard_blobs(seed=1), batch_size=16, seed=4,
                   optimizer="(sgd :learning-rate 0.2)", **QUIET)
    straight = bridge.load_model(MLP, seed=0)
    full = bridge.train(straight, hard_blobs(), epochs=6, **options)
    assert full.kept_epoch < 6, "the data should make an earlier epoch the best"
    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"
    bridge.train(net, hard_blobs(), epochs=full.kept_epoch + 1, checkpoint=path, **options)
    assert ":best-weights" in path.read_text()
    resumed = bridge.load_model(MLP, seed=9)
    bridge.train(resumed, hard_blobs(), epochs=6, resume=path, **options)
    assert identical(weights(straight), weights(resumed))


def test_a_second_ctrl_c_waits_for_the_checkpoint_write_and_says_so(tmp_path, monkeypatch):
    from bridge.training import run as run_module

    lines, path = [], tmp_path / "c.edn"
    net = bridge.load_model(MLP, seed=0)
    bridge.train(net, blobs(), epochs=1, batch_size=16, seed=0, checkpoint=path, **QUIET)
    real_save = run_module.save_checkpoint

    def save_while_pressed(*args, **kwargs):  # Ctrl-C again in the middle of the write
        os.kill(os.getpid(), signal.SIGINT)
        return real_save(*args, **kwargs)

    def press(epoch, batch):
        if (epoch, batch) == (2, 3):
            monkeypatch.setattr(run_module, "save_checkpoint", save_while_pressed)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        bridge.train(net, blobs(), epochs=3, batch_size=16, seed=0, checkpoint=path,
                     on_batch=press, resume=path, log=lines.append, progress=False)
    assert any("finishing the current step and writing the checkpoint" in x for x in lines)
    saved = bridge.load_model(path)  # whole, and at the position reached
    assert saved.header["checkpoint"][Keyword("batch")] == 3
    assert identical(weights(net), weights(saved))


def test_a_third_ctrl_c_stops_at_once_and_keeps_the_previous_checkpoint(tmp_path):
    lines, path = [], tmp_path / "c.edn"
    net = bridge.load_model(MLP, seed=0)
    bridge.train(net, blobs(), epochs=1, batch_size=16, seed=0, checkpoint=path, **QUIET)
    before = path.read_bytes()

    def press_three_times(epoch, batch):
        if (epoch, batch) == (2, 3):
            for _ in range(3):
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        bridge.train(net, blobs(), epochs=3, batch_size=16, seed=0, checkpoint=path,
                     on_batch=press_three_times, resume=path, log=lines.append,
                     progress=False)
    assert path.read_bytes() == before
    assert any("stopped without writing a checkpoint" in x for x in lines)


def test_cancel_stops_evaluate_and_predict_before_the_next_batch():
    net = bridge.load_model(MLP, seed=0)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Interrupted):
        bridge.evaluate(net, blobs(), cancel=cancel)
    with pytest.raises(Interrupted):
        bridge.predict(net, blobs(), cancel=cancel)
    assert bridge.predict(net, blobs(), cancel=threading.Event()).shape == (240, 3)


def test_interrupt_without_a_checkpoint_just_stops():
    net = bridge.load_model(MLP, seed=0)

    def interrupt(epoch, batch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bridge.train(net, blobs(), epochs=2, batch_size=16, seed=0, on_batch=interrupt, **QUIET)


# --- checkpoints ---------------------------------------------------------------------------


def test_checkpoint_is_an_edn_network(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"
    history = bridge.train(net, blobs(), epochs=1, batch_size=16, seed=0, checkpoint=path,
                           optimizer="sgd", **QUIET)
    text = path.read_text()
    assert text.startswith("{:cortex-bridge/format 1") and ":checkpoint" in text
    assert history.checkpoint == str(path)
    again = bridge.load_model(path)
    assert identical(weights(net), weights(again))
    assert [p.name for p in tmp_path.iterdir()] == ["c.edn"]  # no temporary files left


def test_checkpoint_dir_keeps_the_last_and_the_best(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    test = blobs(seed=1)
    accuracies = {}

    def remember(entry):
        accuracies[entry["epoch"]] = weights(net)

    history = bridge.train(net, blobs(), test=test, epochs=4, batch_size=16, seed=0,
                           checkpoint_dir=tmp_path / "run", on_epoch=remember,
                           optimizer="(sgd :learning-rate 0.5)", keep_best=False, **QUIET)
    best = bridge.load_model(tmp_path / "run" / "best.edn")
    last = bridge.load_model(tmp_path / "run" / "last.edn")
    assert identical(weights(best), accuracies[history.best_epoch])
    assert identical(weights(last), accuracies[4])
    assert last.header["checkpoint"][Keyword("epoch")] == 4


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"
    bridge.train(net, blobs(), epochs=1, batch_size=16, seed=0, checkpoint=path, **QUIET)
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)  # the write dies before the rename
    with pytest.raises(OSError, match="disk full"):
        bridge.train(net, blobs(), epochs=1, batch_size=16, seed=1, checkpoint=path, **QUIET)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.edn"]


def test_resume_refuses_what_is_not_a_checkpoint(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    bridge.save_network(net, tmp_path / "plain.edn")
    with pytest.raises(TrainingError, match="is a saved network but not a training checkpoint"):
        bridge.train(net, blobs(), epochs=1, resume=tmp_path / "plain.edn", **QUIET)
    with pytest.raises(TrainingError, match="cannot resume: there is no checkpoint at"):
        bridge.train(net, blobs(), epochs=1, resume=tmp_path / "missing.edn", **QUIET)
    other = bridge.load_model("[(input 8 :id :data) (linear 3) (softmax :id :labels)]")
    bridge.train(other, blobs(), epochs=1, checkpoint=tmp_path / "other.edn", **QUIET)
    with pytest.raises(TrainingError, match="holds a different network"):
        bridge.train(net, blobs(), epochs=2, resume=tmp_path / "other.edn", **QUIET)


# --- NaN -----------------------------------------------------------------------------------


def test_nan_loss_stops_naming_epoch_and_batch_and_keeps_the_checkpoint(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    path = tmp_path / "c.edn"
    calls = []

    def loss(outputs, batch):  # the 7th batch of epoch 2 (15 batches an epoch) goes bad
        calls.append(1)
        value = torch.nn.functional.nll_loss(outputs["labels"].log(), batch["labels"])
        return value * float("nan") if len(calls) == 15 + 7 else value

    bridge.train(net, blobs(), epochs=1, batch_size=16, seed=0, checkpoint=path, **QUIET)
    with pytest.raises(TrainingError) as caught:
        bridge.train(net, blobs(), epochs=3, batch_size=16, seed=0, checkpoint=path, loss=loss,
                     **QUIET)
    assert str(caught.value) == (
        f"the loss became NaN or infinite in epoch 2, batch 7; the last good checkpoint, "
        f"{path}, is kept. Try a lower learning rate, or check the data")
    checkpoint = bridge.load_model(path).header["checkpoint"]
    assert checkpoint[Keyword("epoch")] == 1  # epoch 1 of the second run; epoch 2 wrote nothing


def test_exploding_weights_are_caught():
    net = bridge.load_model(MLP, seed=0)
    with pytest.raises(TrainingError, match=r"^the loss became NaN or infinite in epoch 1, "
                                            r"batch \d+\. Try a lower learning rate"):
        bridge.train(net, blobs(), epochs=2, batch_size=16, seed=0,
                     optimizer="(sgd :learning-rate 1e30)", **QUIET)


# --- model selection -------------------------------------------------------------------------


def test_early_stopping_keeps_the_best_epoch_chosen_on_validation_data():
    net = bridge.load_model(MLP, seed=0)
    history = bridge.train(net, blobs(), validation=blobs(seed=1), test=blobs(seed=2),
                           epochs=40, batch_size=16, seed=0, patience=2,
                           optimizer="(sgd :learning-rate 0.5)", **QUIET)
    assert len(history) < 40 and history.stopped_early
    scores = [e["validation-accuracy"] for e in history]
    assert history.best_epoch == scores.index(max(scores)) + 1  # the first best one
    assert history.kept_epoch == history.best_epoch
    assert bridge.evaluate(net, blobs(seed=1))["accuracy"] == pytest.approx(max(scores))
    kept = history[history.kept_epoch - 1]
    assert bridge.evaluate(net, blobs(seed=2))["accuracy"] == pytest.approx(kept["test-accuracy"])


def test_the_test_data_never_chooses_the_network():
    net = bridge.load_model(MLP, seed=0)
    chosen = []

    def remember(entry):
        chosen.append(weights(net))

    history = bridge.train(net, blobs(), test=blobs(seed=1), epochs=6, batch_size=16, seed=0,
                           optimizer="(sgd :learning-rate 0.5)", on_epoch=remember, **QUIET)
    assert history.kept_epoch is None  # no validation data: the last epoch's network
    assert identical(weights(net), chosen[-1])
    assert all("validation-loss" not in e and "test-accuracy" in e for e in history)


def test_validation_split_holds_out_the_same_samples_for_a_seed():
    runs = []
    for _ in range(2):
        net = bridge.load_model(MLP, seed=0)
        history = bridge.train(net, blobs(), validation_split=0.25, epochs=2, batch_size=16,
                               seed=3, **QUIET)
        runs.append((history, weights(net)))
    (first, w1), (second, w2) = runs
    assert [e["validation-loss"] for e in first] == [e["validation-loss"] for e in second]
    assert identical(w1, w2)
    from bridge.training.data import Streams, split_off

    rest, held = split_off(Streams(blobs()), 0.25, seed=3)
    assert (len(rest), len(held)) == (180, 60)
    both = torch.cat([rest["data"], held["data"]])
    assert sorted(map(tuple, both.tolist())) == sorted(map(tuple, blobs()["data"].tolist()))


@pytest.mark.parametrize("options, message", [
    ({"validation_split": 1.0}, "between 0 and 1"),
    ({"validation_split": 0.001}, "leaves no validation sample"),
    ({"validation_split": 0.2, "validation": {"data": torch.zeros(1, 8)}}, "not both"),
])
def test_bad_validation_arguments_are_refused(options, message):
    net = bridge.load_model(MLP, seed=0)
    with pytest.raises(ValueError, match=message):
        bridge.train(net, blobs(), epochs=1, **options, **QUIET)


def test_patience_without_test_data_watches_the_train_loss():
    net = bridge.load_model("[(input 1 :id :x) (linear 1 :id :y)]", seed=0)
    history = bridge.train(net, {"x": torch.zeros(8, 1), "y": torch.zeros(8, 1)}, epochs=50,
                           optimizer="(sgd :learning-rate 0)", patience=3, **QUIET)
    assert len(history) == 4 and history.best_epoch == 1


# --- callbacks ---------------------------------------------------------------------------


def test_user_callbacks_see_every_hook_and_can_stop_the_run():
    class Recorder(bridge.Callback):
        def __init__(self):
            self.calls = []

        def on_train_begin(self, run):
            self.calls.append("begin")

        def on_batch_end(self, run, epoch, step):
            self.calls.append(("batch", epoch, step))

        def on_epoch_end(self, run, entry):
            self.calls.append(("epoch", entry["epoch"]))
            if entry["epoch"] == 2:
                run.stop = "enough"

        def on_train_end(self, run):
            self.calls.append("end")

    recorder, lines = Recorder(), []
    net = bridge.load_model(MLP, seed=0)
    history = bridge.train(net, blobs(count=48), epochs=5, batch_size=16, seed=0,
                           callbacks=[recorder], log=lines.append, progress=False)
    assert len(history) == 2 and lines[-1] == "enough"
    assert recorder.calls == ["begin", ("batch", 1, 1), ("batch", 1, 2), ("batch", 1, 3),
                              ("epoch", 1), ("batch", 2, 1), ("batch", 2, 2),
                              ("batch", 2, 3), ("epoch", 2), "end"]


def test_only_callbacks_that_override_the_batch_hook_run_per_step():
    from bridge.training.callbacks import EpochLog, batch_hooks

    class PerBatch(bridge.Callback):
        def on_batch_end(self, run, epoch, step):
            pass

    per_batch = PerBatch()
    assert batch_hooks([EpochLog(), bridge.Callback(), per_batch]) == [per_batch.on_batch_end]
    with pytest.raises(TypeError, match="bridge.Callback instances"):
        bridge.train(bridge.load_model(MLP), blobs(), callbacks=[print], **QUIET)


def test_tensorboard_writes_scalars_and_the_graph(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    net = bridge.load_model(MLP, seed=0)
    bridge.train(net, blobs(), validation=blobs(seed=1), epochs=2, batch_size=16, seed=0,
                 optimizer="(sgd :learning-rate 0.1 :schedule {:type :exponential :gamma 0.7})",
                 tensorboard=tmp_path / "runs", **QUIET)
    events = EventAccumulator(str(tmp_path / "runs"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    for tag in ("train-loss", "validation-loss", "validation-accuracy", "learning-rate"):
        assert tag in scalars
    assert [e.step for e in events.Scalars("train-loss")] == [1, 2]
    assert events.Tags()["graph"]


def test_tensorboard_missing_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(TrainingError, match=r"pip install 'cortex-bridge\[tensorboard\]'"):
        bridge.train(bridge.load_model(MLP), blobs(), tensorboard="runs", **QUIET)


def test_gradients_by_layer_are_in_cortex_layout_without_a_warning():
    import warnings

    net = bridge.load_model("[(input 6 6 2 :id :x) (convolutional 3 0 1 4) (linear 2 :id :y)]",
                            seed=0)
    net({"x": torch.randn(5, 72)})["y"].sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grads = net.gradients_by_layer()
    params = net.parameters_by_layer()
    for layer, named in params.items():
        for name, tensor in named.items():
            assert grads[layer][name].shape == tensor.shape
    conv = net.layer_module("convolutional-1").weight
    assert torch.equal(grads["convolutional-1"]["weights"], conv.grad.reshape(4, -1))


# --- logs, progress, data ---------------------------------------------------------------------


def test_metrics_log_has_one_edn_map_per_epoch(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    log_path = tmp_path / "logs" / "metrics.edn"
    bridge.train(net, blobs(), epochs=3, batch_size=32, seed=0, metrics_log=log_path, **QUIET)
    entries = [bridge.edn.loads(line) for line in log_path.read_text().splitlines()]
    assert [e[Keyword("epoch")] for e in entries] == [1, 2, 3]
    assert all(Keyword("train-loss") in e for e in entries)


def test_plot_is_written(tmp_path):
    net = bridge.load_model(MLP, seed=0)
    bridge.train(net, blobs(), test=blobs(seed=1), epochs=2, batch_size=32, seed=0,
                 plot=tmp_path / "curves.png", **QUIET)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quiet_off_a_terminal_and_a_bar_when_asked(capfd):
    net = bridge.load_model(MLP, seed=0)
    bridge.train(net, blobs(), epochs=2, batch_size=32, seed=0)  # stderr is not a terminal
    out, err = capfd.readouterr()
    assert out == ""
    assert re.fullmatch(r"(epoch +\d/2  train loss \d\.\d{4}  [\d,]+ samples/s  [\d.]+ s\n){2}",
                        err)
    bridge.train(net, blobs(), epochs=1, batch_size=32, seed=0, progress=True,
                 log=lambda _: None)
    assert "epoch 1/1" in capfd.readouterr().err


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
    ],
)
def test_bad_data_is_refused_before_training(data, message):
    net = bridge.load_model(MLP, seed=0)
    before = weights(net)
    with pytest.raises(DataError) as caught:
        bridge.train(net, data, epochs=1, **QUIET)
    assert str(caught.value) == message
    assert identical(before, weights(net))


def test_bad_test_data_is_refused_too():
    with pytest.raises(DataError, match="the dataset is empty"):
        bridge.train(bridge.load_model(MLP, seed=0), blobs(), test=[], **QUIET)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"epochs": -1}, "`epochs` must be a whole number >= 0. Received: epochs=-1"),
    ({"batch_size": 0}, "`batch_size` must be a whole number >= 1. Received: batch_size=0"),
    ({"precision": "fp8"}, "`precision` must be None, 'bf16' or 'fp16'. Received: "
                           "precision='fp8'"),
    ({"checkpoint": "a.edn", "checkpoint_dir": "b"},
     "give `checkpoint` (a file) or `checkpoint_dir` (a directory), not both"),
])
def test_bad_arguments(arguments, message):
    with pytest.raises(ValueError) as caught:
        bridge.train(bridge.load_model(MLP, seed=0), blobs(), **QUIET, **arguments)
    assert str(caught.value) == message


def test_one_hot_labels_and_keyword_keys_work():
    net = bridge.load_model(MLP, seed=0)
    data = blobs()
    one_hot = torch.nn.functional.one_hot(data["labels"], 3).float()
    items = [{Keyword("data"): x.tolist(), Keyword("labels"): y.tolist()}
             for x, y in zip(data["data"], one_hot, strict=True)]
    history = bridge.train(net, items, test=items, epochs=5, batch_size=16, seed=0,
                           optimizer="(adam :alpha 0.01)", **QUIET)
    assert history[-1]["test-accuracy"] > 0.9


def test_incomplete_last_batch_is_used_unless_drop_last():
    seen = []
    net = bridge.load_model(MLP, seed=0)
    bridge.train(net, blobs(count=50), epochs=1, batch_size=16, seed=0,
                 on_batch=lambda e, b: seen.append(b), **QUIET)
    assert seen == [1, 2, 3, 4]
    seen.clear()
    bridge.train(net, blobs(count=50), epochs=1, batch_size=16, seed=0, drop_last=True,
                 on_batch=lambda e, b: seen.append(b), **QUIET)
    assert seen == [1, 2, 3]
    with pytest.raises(DataError, match=r"^drop_last leaves no batch: 50 samples per process "
                                        r"and a batch size of 64$"):
        bridge.train(net, blobs(count=50), batch_size=64, drop_last=True, **QUIET)


@pytest.mark.cuda
def test_trains_on_cuda():
    net = bridge.load_model(MLP, seed=0)
    history = bridge.train(net, blobs(), test=blobs(seed=1), epochs=3, batch_size=16,
                           device="cuda", seed=0, precision="bf16", **QUIET)
    assert history[-1]["test-accuracy"] > 0.9
    assert next(net.parameters()).is_cuda


@pytest.mark.cuda
def test_resume_on_cuda_is_exact(tmp_path):
    data = blobs()
    straight = bridge.load_model(MLP, seed=0)
    bridge.train(straight, data, epochs=3, batch_size=16, seed=5, device="cuda", **QUIET)
    first = bridge.load_model(MLP, seed=0)
    bridge.train(first, data, epochs=2, batch_size=16, seed=5, device="cuda",
                 checkpoint=tmp_path / "c.edn", **QUIET)
    resumed = bridge.load_model(MLP, seed=1)
    bridge.train(resumed, data, epochs=3, batch_size=16, seed=5, device="cuda",
                 resume=tmp_path / "c.edn", **QUIET)
    assert identical(weights(straight), weights(resumed))
