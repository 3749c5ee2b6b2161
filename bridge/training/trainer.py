"""``train``: Cortex's training on PyTorch, with what a long run needs.

One call runs several epochs, as Cortex's ``train-n`` (cortex-spec §3.5): per batch a
forward pass, the objective of :mod:`bridge.training.losses`, a backward pass and an
optimizer step (:func:`make_train_step`); per epoch an evaluation on the validation and
test data and a history entry, then the callbacks (:mod:`bridge.training.callbacks`):
the epoch line, the checkpoint, the metrics log, the best network, the plot,
TensorBoard, early stopping and the user's own.

The pieces, in the manner of Keras's ``fit``: :func:`train` checks its arguments and
sets up (:func:`_prepare_data`, :func:`_setup_callbacks`, :func:`_begin`), the epoch
loop runs :func:`_train_epoch` (the steps) and :func:`_end_epoch` (evaluation, history,
callbacks); :class:`~bridge.training.run.TrainingRun` keeps the best score, patience and
checkpoints.

The loop never waits on the device inside an epoch: batch losses stay on the device and
are looked at every :data:`CHECK_EVERY` steps (for NaN, and for the progress bar), data
is gathered with one ``index_select`` per stream, the optimizer step is fused. Under
``torchrun`` the same call trains with DistributedDataParallel
(:mod:`bridge.training.distributed`).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bridge.errors import AbandonedRun, DataError, Interrupted, TrainingError
from bridge.training import distributed
from bridge.training.callbacks import (
    BatchFunction,
    BestNetworkFile,
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochFunction,
    EpochLog,
    MetricsLog,
    Plot,
    TensorBoard,
    batch_hooks,
)
from bridge.training.checkpoints import TrainingState, checkpoint_file, load_checkpoint
from bridge.training.data import (
    Streams,
    batches,
    epoch_order,
    place,
    split_off,
    to_streams,
    validate_streams,
)
from bridge.training.evaluation import evaluate_streams
from bridge.training.history import History
from bridge.training.interrupts import InterruptGuard
from bridge.training.losses import Objective
from bridge.training.optimizers import make_optimizer, make_schedule, optimizer_edn
from bridge.training.progress import bar_status, epoch_bar, stderr_printer
from bridge.training.run import TrainingRun, restore_rng, shared_random_seed
from bridge.training.running import (
    CHECK_EVERY,
    BatchLosses,
    RunningAccuracy,
    batch_sizes,
    first_bad_of_all,
)

__all__ = ["train", "History", "choose_device", "make_train_step", "CHECK_EVERY"]


def choose_device(device: Any) -> torch.device:
    """``"auto"`` (or ``None``) takes CUDA when present — under ``torchrun`` the GPU of
    this process's ``LOCAL_RANK`` — else the CPU."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            if distributed.is_distributed():
                return torch.device("cuda", distributed.local_rank())
            return torch.device("cuda")
        return torch.device("cpu")
    return torch.device(device)


class _TrainingForward(torch.nn.Module):
    """The objective's forward pass as a module, so DDP can wrap it."""

    def __init__(self, net, capture, log_probabilities: bool):
        super().__init__()
        self.net = net
        self.capture = capture
        self.log_probabilities = log_probabilities

    def forward(self, inputs):
        return self.net.outputs(inputs, self.capture, log_probabilities=self.log_probabilities)


def train(
    net,
    train: Any,
    *,
    validation: Any = None,
    validation_split: float | None = None,
    test: Any = None,
    optimizer: Any = None,
    loss: Any = None,
    epochs: int = 1,
    batch_size: int = 32,
    device: Any = "auto",
    seed: int | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
    precision: str | None = None,
    progress: bool | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    metrics_log: str | os.PathLike | None = None,
    plot: str | os.PathLike | None = None,
    tensorboard: str | os.PathLike | None = None,
    patience: int | None = None,
    keep_best: bool = True,
    callbacks: Sequence[Callback] = (),
    on_epoch: Callable[[Mapping[str, Any]], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    cancel: Any = None,
) -> History:
    """Train ``net`` in place and return its history.

    **Arguments:**

    - net: a :class:`bridge.Network`.
    - train: training data: Cortex's sequence of maps keyed by stream name, ``(X, y)``,
      a map of columns, a :class:`~bridge.training.data.Streams`, a ``Dataset`` or a
      ``DataLoader`` (:mod:`bridge.training.data`). Checked before anything runs.
    - validation: data evaluated after every epoch; its score (accuracy, else loss)
      chooses the best epoch and drives ``patience``.
    - validation_split: instead of ``validation``, hold out this fraction of ``train``
      (the same samples for the same ``seed``; seed 0 without one).
    - test: data evaluated after every epoch (loss, accuracy) and reported; it never
      chooses anything.
    - optimizer: ``"(sgd :learning-rate 0.01)"``, ``{:type :adam}``, ``"adam"``, a dict,
      a ``torch.optim.Optimizer`` or ``params -> Optimizer``; default Adam, as Cortex
      (:mod:`bridge.training.optimizers`).
    - loss: ``None`` for the description's losses, a loss name, ``{leaf: name}``, or
      ``fn(outputs, batch) -> scalar`` (:mod:`bridge.training.losses`).
    - epochs: how many passes over ``train`` (in all, counting those a resumed run did).
    - batch_size: samples per step (per process under ``torchrun``).
    - device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"`` …
    - seed: seeds the batch order and dropout; with it a CPU run is exactly repeatable
      and the caller's global random state is left as it was. Without it the order is
      drawn from the global generator, so ``torch.manual_seed`` governs the run.
    - shuffle: a new random order every epoch.
    - drop_last: drop an incomplete last batch (Cortex did; here it is used by default).
    - precision: ``None``, ``"bf16"`` or ``"fp16"``: autocast (fp16 with loss scaling).
    - progress: a progress bar on stderr; ``None`` shows one only on a terminal.
    - checkpoint: a file rewritten atomically after every epoch and on Ctrl-C.
    - checkpoint_dir: a directory receiving ``last.edn`` (as ``checkpoint``) and
      ``best.edn`` (the best network so far, as Cortex's ``train-n`` saves it).
    - resume: a checkpoint file or directory to continue from. On CPU with a seed the
      rest of the run gives bit for bit the weights of an uninterrupted one — also from
      a checkpoint taken by Ctrl-C in the middle of an epoch. A second Ctrl-C waits
      for the step and the checkpoint write; a third stops at once and writes nothing.
    - metrics_log: a file receiving one EDN map per epoch.
    - plot: a PNG of the loss and accuracy curves, redrawn after every epoch.
    - tensorboard: a directory receiving TensorBoard scalars and the graph (needs the
      ``tensorboard`` package).
    - patience: stop after this many epochs without a better validation score (train
      loss when there is no validation data).
    - keep_best: with validation data, end with the weights of the best epoch
      (``train-n``); ``History.kept_epoch`` says which.
    - callbacks: :class:`bridge.Callback` instances, run after the built-in ones.
    - on_epoch: called with each history entry.
    - on_batch: called as ``on_batch(epoch, batch)`` after each step (1-based).
    - log: where the per-epoch lines go (default: stderr, rank 0 only).
    - cancel: a ``threading.Event`` (anything with ``is_set()``); when another thread
      sets it, the run stops after the current step as on Ctrl-C.

    **Returns:**

    The :class:`History`.

    **Raises:**

    - DataError: bad data, found before training starts.
    - TrainingError: a NaN or infinite loss, naming the epoch and batch; the
      checkpoint of the last good epoch is kept, the bad epoch writes nothing.
    - Interrupted: on Ctrl-C or ``cancel``, after the current step and a checkpoint
      (a ``KeyboardInterrupt``; ``.history`` holds the history so far).
    """
    _check_arguments(epochs=epochs, batch_size=batch_size, patience=patience,
                     checkpoint=checkpoint, checkpoint_dir=checkpoint_dir,
                     validation=validation, validation_split=validation_split,
                     callbacks=callbacks)
    say = log or stderr_printer()
    device = choose_device(device)
    objective = Objective(net, loss)
    data = _prepare_data(net, objective, train, validation=validation,
                         validation_split=validation_split, test=test, seed=seed,
                         device=device)
    groups = net.param_groups()  # frozen layers left out, :learning-attenuation applied
    if not groups:
        raise TrainingError("nothing to train: every parameter of the network is frozen "
                            "(:non-trainable? or :learning-attenuation 0)")
    torch_optimizer, options = make_optimizer(optimizer, groups)
    schedule = make_schedule(options, torch_optimizer, epochs)
    if checkpoint_dir is not None:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        checkpoint = Path(checkpoint_dir)
    history = History()
    history.optimizer = optimizer_edn(options)
    run = TrainingRun(net=net, optimizer=torch_optimizer, schedule=schedule, device=device,
                      history=history, epochs=epochs, say=say, checkpoint=checkpoint,
                      monitor="validation" if data.validation is not None else "train",
                      keep_best=keep_best and data.validation is not None)
    hooks = _setup_callbacks(
        checkpoint=checkpoint, best_file=checkpoint_file(checkpoint_dir, best=True)
        if checkpoint_dir is not None else None, metrics_log=metrics_log, plot=plot,
        tensorboard=tensorboard, patience=patience, on_epoch=on_epoch, on_batch=on_batch,
        user=callbacks)
    step = make_train_step(net, objective, torch_optimizer, precision=precision,
                           device=device)
    loop = _Loop(run=run, data=data, step=step, objective=objective, batch_size=batch_size,
                 shuffle=shuffle, drop_last=drop_last, progress=progress, callbacks=hooks,
                 on_batch=batch_hooks(hooks))
    fork = torch.random.fork_rng(devices=_cuda_devices(device)) if seed is not None else \
        contextlib.nullcontext()
    with fork, InterruptGuard(cancel, protects_checkpoint=checkpoint is not None,
                              say=say) as guard:
        state = _begin(run, seed=seed, resume=resume)
        for hook in hooks:
            hook.on_train_begin(run)
        try:
            for epoch in range(state.epoch + 1, epochs + 1):
                resumed = state if epoch == state.epoch + 1 else TrainingState(seed=state.seed)
                seconds, seen, train_loss = _train_epoch(loop, epoch, resumed, guard)
                _end_epoch(loop, epoch, seconds, seen, train_loss)
                if guard.requested:
                    history.interrupted = True
                    say(f"interrupted after epoch {epoch}"
                        + (f"; checkpoint saved to {history.checkpoint}" if checkpoint else ""))
                    raise Interrupted(history=history)
                if run.stop is not None:
                    say(run.stop)
                    break
        finally:
            for hook in hooks:
                hook.on_train_end(run)
    run.keep_best_network()
    if distributed.is_distributed():
        distributed.barrier()
    return history


def _check_arguments(*, epochs, batch_size, patience, checkpoint, checkpoint_dir,
                     validation, validation_split, callbacks) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"`epochs` must be a whole number >= 0. Received: epochs={epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError("`batch_size` must be a whole number >= 1. Received: "
                         f"batch_size={batch_size!r}")
    if patience is not None:
        EarlyStopping(patience)  # checks it
    if checkpoint is not None and checkpoint_dir is not None:
        raise ValueError("give `checkpoint` (a file) or `checkpoint_dir` (a directory), "
                         "not both")
    if validation is not None and validation_split is not None:
        raise ValueError("give `validation` (data) or `validation_split` (a fraction of "
                         "the training data), not both")
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError("`callbacks` takes bridge.Callback instances; received a "
                            f"{type(callback).__name__}")


@dataclass
class _Data:
    """The checked data of a run, on the device."""

    train: Streams
    validation: Streams | None
    test: Streams | None


def _prepare_data(net, objective: Objective, train, *, validation, validation_split,
                  test, seed: int | None, device: torch.device) -> _Data:
    """Every data set checked against the network before any work, labels in the
    network's precision, placed on the device; a validation split held out from
    ``train`` (drawn from ``seed``, or 0)."""
    specs = objective.label_specs()

    def checked(data) -> Streams:
        return validate_streams(to_streams(data, net), net, labels=True, specs=specs)

    train_streams = checked(train)
    validation_streams = checked(validation) if validation is not None else None
    if validation_split is not None:
        train_streams, validation_streams = split_off(
            train_streams, validation_split, seed=seed if seed is not None else 0)
    test_streams = checked(test) if test is not None else None
    net.to(device)

    def ready(streams: Streams) -> Streams:
        return place(_labels_as(streams, net.dtype), device)

    return _Data(ready(train_streams),
                 None if validation_streams is None else ready(validation_streams),
                 None if test_streams is None else ready(test_streams))


def _setup_callbacks(*, checkpoint, best_file, metrics_log, plot, tensorboard, patience,
                     on_epoch, on_batch, user: Sequence[Callback]) -> list[Callback]:
    """The built-in callbacks the arguments ask for, in the order they run, then the
    user's. Early stopping comes last, so every callback sees the epoch that stops."""
    hooks: list[Callback] = [EpochLog()]
    if checkpoint is not None:
        hooks.append(Checkpoint())
    if metrics_log is not None:
        hooks.append(MetricsLog(metrics_log))
    if best_file is not None:
        hooks.append(BestNetworkFile(best_file))
    if plot is not None:
        hooks.append(Plot(plot))
    if tensorboard is not None:
        hooks.append(TensorBoard(tensorboard))
    if on_epoch is not None:
        hooks.append(EpochFunction(on_epoch))
    if on_batch is not None:
        hooks.append(BatchFunction(on_batch))
    hooks.extend(user)
    if patience is not None:
        hooks.append(EarlyStopping(patience))
    return hooks


def make_train_step(net, objective: Objective, optimizer: torch.optim.Optimizer, *,
                    precision: str | None, device: torch.device):
    """``step(batch) -> (outputs, loss)``: one forward pass, backward pass and optimizer
    step, then Cortex's max-norm constraints and the center-loss update. Built once per
    run with every choice (DDP, autocast, loss scaling) taken here, so the step itself
    branches on nothing."""
    log_probabilities = bool(objective.log_leaves)
    capture = objective.capture
    input_ids = tuple(net.input_ids)
    forward: Callable[[Any], Any]
    if distributed.is_distributed():
        forward = distributed.wrap(_TrainingForward(net, capture, log_probabilities), device)
    else:
        def plain_forward(inputs):
            return net.outputs(inputs, capture, log_probabilities=log_probabilities)

        forward = plain_forward
    stepped = [p for group in optimizer.param_groups for p in group["params"]]
    autocast, scaler = _precision(precision, device)
    centers = objective.update_centers if objective.centers else None
    constrain = net.apply_constraints if net.has_constraints else None  # :l2-max-constraint

    def clear_gradients() -> None:
        for parameter in stepped:  # zero_grad(set_to_none=True), minus its per-call
            parameter.grad = None  # profiling overhead

    if autocast is None:
        def step(batch):
            outputs = forward({k: batch[k] for k in input_ids})
            value = objective(outputs, batch)
            clear_gradients()
            value.backward()
            optimizer.step()
            if constrain is not None:
                constrain()
            if centers is not None:
                centers(outputs, batch)
            return outputs, value
    else:
        def step(batch):
            with autocast():
                outputs = forward({k: batch[k] for k in input_ids})
                value = objective(outputs, batch)
            clear_gradients()
            if scaler is None:
                value.backward()
                optimizer.step()
            else:
                scaler.scale(value).backward()
                scaler.step(optimizer)
                scaler.update()
            if constrain is not None:
                constrain()
            if centers is not None:
                centers(outputs, batch)
            return outputs, value
    return step


@dataclass
class _Loop:
    """What the epochs of one call share."""

    run: TrainingRun
    data: _Data
    step: Callable
    objective: Objective
    batch_size: int
    shuffle: bool
    drop_last: bool
    progress: bool | None
    callbacks: list[Callback]
    on_batch: list[Callable]


def _begin(run: TrainingRun, *, seed: int | None, resume) -> TrainingState:
    """The state the first epoch starts from: a fresh one, or a checkpoint's."""
    if seed is not None:
        torch.manual_seed(seed + distributed.rank())
        state = TrainingState(seed=int(seed))
    else:
        state = TrainingState(seed=shared_random_seed(run.device))
    if resume is not None:
        state = load_checkpoint(resume, run.net, run.optimizer)
        if run.schedule is not None and state.schedule is not None:
            run.schedule.load_state_dict(state.schedule)
        restore_rng(state.rng)
        run.history.extend(state.history)
        run.say(f"resuming {'in' if state.batch else 'after'} epoch "
                f"{state.epoch + 1 if state.batch else state.epoch} from "
                f"{checkpoint_file(resume)}")
    run.restore(state, resume)
    return state


def _train_epoch(loop: _Loop, epoch: int, resumed: TrainingState,
                 guard: InterruptGuard) -> tuple[float, int, float]:
    """The steps of one epoch (from batch ``resumed.batch`` on); returns the seconds,
    the samples seen here and the epoch's mean train loss.

    Raises:
        TrainingError: a NaN or infinite loss.
        Interrupted: Ctrl-C or ``cancel``, after the current step and a checkpoint.
    """
    run, data, net = loop.run, loop.data, loop.run.net
    skip = resumed.batch
    partial = (resumed.partial or {}) if skip else {}
    net.train()
    started = time.perf_counter()
    order = distributed.shard(epoch_order(len(data.train), shuffle=loop.shuffle,
                                          seed=run.seed, epoch=epoch),
                              drop_last=loop.drop_last)
    batch_size = loop.batch_size
    steps = len(order) // batch_size if loop.drop_last else math.ceil(len(order) / batch_size)
    if steps == 0:
        raise DataError(f"drop_last leaves no batch: {len(order)} samples per process and a "
                        f"batch size of {batch_size}")
    losses = BatchLosses(first_step=skip + 1)
    sizes = batch_sizes(len(order), batch_size, steps)
    parallel = distributed.is_distributed()
    done, first_bad = skip, None
    with epoch_bar(loop.progress, epoch, run.epochs) as bar:
        accuracy = RunningAccuracy(loop.objective, net, run.device)
        task = bar.add_task("train", total=steps, completed=skip, status="") \
            if bar is not None else None
        try:
            for index, batch in enumerate(batches(data.train, order, batch_size,
                                                  device=run.device, drop_last=loop.drop_last,
                                                  skip=skip), start=skip + 1):
                outputs, value = loop.step(batch)
                done = index
                losses.add(value)
                if bar is not None:
                    accuracy.add(outputs, batch)
                if index % CHECK_EVERY == 0 or index == steps:
                    bad = losses.check()
                    first_bad = bad if first_bad is None else first_bad
                    if first_bad is not None and not parallel:
                        break  # (under DDP every rank must finish the epoch)
                    if bar is not None:
                        bar.update(task, completed=index,
                                   status=bar_status(losses, accuracy, sizes[skip:index],
                                                     started))
                for hook in loop.on_batch:
                    hook(run, epoch, index)
                if guard.requested:
                    raise Interrupted(history=run.history)
        except KeyboardInterrupt as error:
            _interrupted(loop, error, epoch, done, skip, losses, sizes, partial, first_bad)
    if first_bad is None:
        first_bad = losses.check()
    if parallel:
        first_bad = first_bad_of_all(first_bad, run.device)
    if first_bad is not None:
        _refuse_bad_loss(run, epoch, first_bad)
    seconds = time.perf_counter() - started
    seen = int(sizes[skip:done].sum())
    loss_sum = losses.weighted_sum(sizes[skip:done]) + float(partial.get("loss-sum", 0.0))
    seen_all = seen + int(partial.get("samples", 0))
    return seconds, seen, distributed.average(loss_sum / max(seen_all, 1), run.device)


def _interrupted(loop: _Loop, error: KeyboardInterrupt, epoch: int, done: int, skip: int,
                 losses: BatchLosses, sizes, partial: Mapping, first_bad) -> None:
    """Ctrl-C inside an epoch: checkpoint the position reached, then raise
    :class:`Interrupted`. A third Ctrl-C (:class:`AbandonedRun`) writes nothing."""
    run = loop.run
    if isinstance(error, AbandonedRun):
        run.history.interrupted = True
        kept = checkpoint_file(run.checkpoint) if run.checkpoint is not None else None
        run.say("stopped without writing a checkpoint"
                + (f"; {kept} is the last one" if kept is not None and kept.is_file() else ""))
        raise Interrupted(history=run.history) from None
    run.interrupted(epoch, done, losses,
                    losses.weighted_sum(sizes[skip:done]) + float(partial.get("loss-sum", 0.0)),
                    int(sizes[skip:done].sum()) + int(partial.get("samples", 0)),
                    known_bad=first_bad)
    if isinstance(error, Interrupted):
        raise error
    raise Interrupted(history=run.history) from None


def _refuse_bad_loss(run: TrainingRun, epoch: int, batch: int) -> None:
    kept = ""
    if run.checkpoint is not None and checkpoint_file(run.checkpoint).is_file():
        kept = f"; the last good checkpoint, {checkpoint_file(run.checkpoint)}, is kept"
    raise TrainingError(f"the loss became NaN or infinite in epoch {epoch}, batch {batch}"
                        f"{kept}. Try a lower learning rate, or check the data")


def _end_epoch(loop: _Loop, epoch: int, seconds: float, seen: int, train_loss: float) -> None:
    """Evaluate, step the schedule, append the history entry, score it, run the
    callbacks."""
    run, data = loop.run, loop.data
    entry: dict[str, Any] = {
        "epoch": epoch, "train-loss": train_loss, "seconds": round(seconds, 4),
        "samples-per-second": round(seen * distributed.world_size() / max(seconds, 1e-9), 1)}
    for split, streams in (("validation", data.validation), ("test", data.test)):
        if streams is not None:
            metrics = evaluate_streams(run.net, streams, loop.objective,
                                       batch_size=max(loop.batch_size, 256))
            entry[f"{split}-loss"] = metrics["loss"]
            if "accuracy" in metrics:
                entry[f"{split}-accuracy"] = metrics["accuracy"]
    if run.schedule is not None:
        run.schedule.step()
        entry["learning-rate"] = run.schedule.get_last_lr()[0]
    run.history.append(entry)
    run.score(entry)
    for hook in loop.callbacks:
        hook.on_epoch_end(run, entry)


def _labels_as(streams: Streams, dtype: torch.dtype) -> Streams:
    """Float label columns in the network's precision (inputs are cast by the network)."""
    columns = {k: (v.to(dtype) if v.is_floating_point() and v.dtype != dtype else v)
               for k, v in streams.columns.items()}
    return Streams._of(columns, streams.classes)


def _cuda_devices(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []


def _precision(precision: str | None, device: torch.device):
    if precision in (None, "fp32", "float32"):
        return None, None
    dtypes = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
              "float16": torch.float16}
    if precision not in dtypes:
        raise ValueError("`precision` must be None, 'bf16' or 'fp16'. Received: "
                         f"precision={precision!r}")
    dtype = dtypes[precision]

    def autocast():
        return torch.autocast(device_type=device.type, dtype=dtype)

    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    return autocast, scaler
