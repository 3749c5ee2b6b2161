"""``train``: Cortex's training on PyTorch, with what a long run needs.

One call runs several epochs, as Cortex's ``train-n`` (cortex-spec §3.5): per batch a
forward pass, the objective of :mod:`bridge.training.losses`, a backward pass and an
optimizer step; per epoch an evaluation on the test data, a history entry, an EDN
metrics line, a checkpoint, the best network kept, and early stopping when asked.

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
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from bridge.errors import DataError, Interrupted, TrainingError
from bridge.training import distributed
from bridge.training.checkpoints import (
    BEST,
    TrainingState,
    checkpoint_file,
    load_checkpoint,
    save_checkpoint,
)
from bridge.training.data import (
    Streams,
    batches,
    epoch_order,
    place,
    to_streams,
    validate_streams,
)
from bridge.training.evaluation import evaluate_streams
from bridge.training.losses import Objective, class_indices
from bridge.training.optimizers import make_optimizer, make_schedule, optimizer_edn

__all__ = ["train", "History", "choose_device", "CHECK_EVERY"]

#: Steps between looks at the batch losses (each look waits for the device once).
CHECK_EVERY = 50


class History(list):
    """The per-epoch entries of a run, oldest first: dicts with ``"epoch"``,
    ``"train-loss"``, ``"seconds"``, ``"samples-per-second"``, and with test data
    ``"test-loss"`` (and ``"test-accuracy"`` for a classifier), with a schedule
    ``"learning-rate"``.

    Attributes:
        best_epoch: the epoch with the best test score (accuracy, else loss), or ``None``.
        interrupted: the run was stopped by Ctrl-C.
        stopped_early: patience ran out.
        checkpoint: the last checkpoint file written, or ``None``.
        optimizer: the optimizer's options as EDN data (``None`` for one given ready-made).
    """

    best_epoch: int | None = None
    interrupted: bool = False
    stopped_early: bool = False
    checkpoint: str | None = None
    optimizer: Any = None

    def plain(self) -> list[dict[str, float]]:
        """The entries as maps of their numbers only, for a saved network's header."""
        return [{str(k): v for k, v in entry.items()
                 if isinstance(v, int | float) and not isinstance(v, bool)} for entry in self]


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


class _InterruptGuard:
    """Turns Ctrl-C, or a ``cancel`` token set from another thread, into a request the
    loop honours between steps, so a checkpoint is never taken half-way through an
    optimizer step. A second Ctrl-C interrupts at once. The signal handler goes in only
    in the main thread, and only over Python's default handler."""

    def __init__(self, cancel=None):
        self._signalled = False
        self._cancel = cancel
        self._previous = None

    @property
    def requested(self) -> bool:
        return self._signalled or (self._cancel is not None and self._cancel.is_set())

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self._signalled:
            raise KeyboardInterrupt
        self._signalled = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def train(
    net,
    train: Any,
    *,
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
    patience: int | None = None,
    keep_best: bool = True,
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
    - test: data evaluated after every epoch (loss, accuracy); picks the best epoch.
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
      ``best.edn`` (the best network by test score, as Cortex's ``train-n`` saves it).
    - resume: a checkpoint file or directory to continue from. On CPU with a seed the
      rest of the run gives bit for bit the weights of an uninterrupted one — also from
      a checkpoint taken by Ctrl-C in the middle of an epoch.
    - metrics_log: a file receiving one EDN map per epoch.
    - plot: a PNG of the loss and accuracy curves, redrawn after every epoch.
    - patience: stop after this many epochs without a better test score (train loss
      when there is no test data).
    - keep_best: with ``test``, end with the weights of the best epoch (``train-n``).
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
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"`epochs` must be a whole number >= 0. Received: epochs={epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError("`batch_size` must be a whole number >= 1. Received: "
                         f"batch_size={batch_size!r}")
    if patience is not None and patience < 1:
        raise ValueError(f"`patience` must be >= 1. Received: patience={patience!r}")
    if checkpoint is not None and checkpoint_dir is not None:
        raise ValueError("give `checkpoint` (a file) or `checkpoint_dir` (a directory), "
                         "not both")
    say = log or (lambda text: print(text, file=sys.stderr, flush=True)
                  if distributed.is_rank_zero() else None)
    parallel = distributed.is_distributed()
    device = choose_device(device)

    objective = Objective(net, loss)
    specs = objective.label_specs()
    train_streams = validate_streams(to_streams(train, net), net, labels=True, specs=specs)
    test_streams = None
    if test is not None:
        test_streams = validate_streams(to_streams(test, net), net, labels=True, specs=specs)

    net.to(device)
    dtype = net.dtype
    train_streams = place(_labels_as(train_streams, dtype), device)
    if test_streams is not None:
        test_streams = place(_labels_as(test_streams, dtype), device)
    trainable = [p for p in net.parameters() if p.requires_grad]
    torch_optimizer, options = make_optimizer(optimizer, trainable)
    schedule = make_schedule(options, torch_optimizer, epochs)
    stepped = [p for group in torch_optimizer.param_groups for p in group["params"]]
    log_probabilities = bool(objective.log_leaves)
    if parallel:
        model = distributed.wrap(_TrainingForward(net, objective.capture, log_probabilities),
                                 device)
        forward = model
    else:
        capture = objective.capture

        def forward(inputs):
            return net.outputs(inputs, capture, log_probabilities=log_probabilities)

    autocast, scaler = _precision(precision, device)

    if checkpoint_dir is not None:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        checkpoint = Path(checkpoint_dir)
    best_file = checkpoint_file(checkpoint_dir, best=True) if checkpoint_dir else None

    history = History()
    history.optimizer = optimizer_edn(options)
    run = _Run(net=net, optimizer=torch_optimizer, schedule=schedule, device=device,
               checkpoint=checkpoint, history=history, say=say)
    seeded = seed is not None
    fork = torch.random.fork_rng(devices=_cuda_devices(device)) if seeded else \
        contextlib.nullcontext()
    with fork, _InterruptGuard(cancel) as guard:
        if seeded:
            torch.manual_seed(seed + distributed.rank())
            state = TrainingState(seed=int(seed))
        else:
            state = TrainingState(seed=_shared_random_seed(device))
        if resume is not None:
            state = load_checkpoint(resume, net, torch_optimizer)
            if schedule is not None and state.schedule is not None:
                schedule.load_state_dict(state.schedule)
            _restore_rng(state.rng)
            history.extend(state.history)
            say(f"resuming {'in' if state.batch else 'after'} epoch "
                f"{state.epoch + 1 if state.batch else state.epoch} from "
                f"{checkpoint_file(resume)}")
        best = state.best or {}
        run.best_score, run.stale = best.get("score"), int(best.get("stale", 0))
        history.best_epoch = best.get("epoch")
        if keep_best and test_streams is not None:
            run.best_params = _resumed_best(resume, net, history.best_epoch, state.epoch)
        run.seed = state.seed

        for epoch in range(state.epoch + 1, epochs + 1):
            skip = state.batch if epoch == state.epoch + 1 else 0
            partial = (state.partial or {}) if skip else {}
            net.train()
            started = time.perf_counter()
            order = distributed.shard(
                epoch_order(len(train_streams), shuffle=shuffle, seed=state.seed, epoch=epoch),
                drop_last=drop_last)
            steps = math.ceil(len(order) / batch_size) if not drop_last else \
                len(order) // batch_size
            if steps == 0:
                raise DataError(f"drop_last leaves no batch: {len(order)} samples per "
                                f"process and a batch size of {batch_size}")
            losses = _BatchLosses(first_step=skip + 1)
            sizes = _batch_sizes(len(order), batch_size, steps)
            accuracy = _RunningAccuracy(objective, net, device)
            done, first_bad = skip, None
            with _progress(progress, steps, epoch, epochs) as bar:
                task = bar.add_task("train", total=steps, completed=skip, status="") \
                    if bar is not None else None
                try:
                    for step, batch in enumerate(
                            batches(train_streams, order, batch_size, device=device,
                                    drop_last=drop_last, skip=skip), start=skip + 1):
                        inputs = {k: batch[k] for k in net.input_ids}
                        if autocast is None:
                            outputs = forward(inputs)
                            value = objective(outputs, batch)
                        else:
                            with autocast():
                                outputs = forward(inputs)
                                value = objective(outputs, batch)
                        for parameter in stepped:  # zero_grad(set_to_none=True), minus
                            parameter.grad = None  # its per-call profiling overhead
                        if scaler is None:
                            value.backward()
                            torch_optimizer.step()
                        else:
                            scaler.scale(value).backward()
                            scaler.step(torch_optimizer)
                            scaler.update()
                        if objective.centers:
                            objective.update_centers(outputs, batch)
                        done = step
                        losses.add(value)
                        if bar is not None:
                            accuracy.add(outputs, batch)
                        if step % CHECK_EVERY == 0 or step == steps:
                            bad = losses.check()
                            first_bad = bad if first_bad is None else first_bad
                            if first_bad is not None and not parallel:
                                break  # (under DDP every rank must finish the epoch)
                            if bar is not None:
                                bar.update(task, completed=step, status=_status(
                                    losses, accuracy, sizes[skip:step], started))
                        if on_batch is not None:
                            on_batch(epoch, step)
                        if guard.requested:
                            raise Interrupted(history=history)
                except KeyboardInterrupt as error:
                    run.interrupted(epoch, done, skip, losses, sizes, partial, state.seed,
                                    known_bad=first_bad)
                    if isinstance(error, Interrupted):
                        raise
                    raise Interrupted(history=history) from None
            if first_bad is None:
                first_bad = losses.check()
            first_bad = distributed_first_bad(first_bad, device) if parallel else first_bad
            if first_bad is not None:
                kept = ""
                if checkpoint is not None and checkpoint_file(checkpoint).is_file():
                    kept = f"; the last good checkpoint, {checkpoint_file(checkpoint)}, is kept"
                raise TrainingError(f"the loss became NaN or infinite in epoch {epoch}, batch "
                                    f"{first_bad}{kept}. Try a lower learning rate, or check "
                                    "the data")
            seconds = time.perf_counter() - started
            loss_sum = losses.weighted_sum(sizes[skip:done])
            seen = int(sizes[skip:done].sum())
            loss_sum += float(partial.get("loss-sum", 0.0))
            seen_all = seen + int(partial.get("samples", 0))
            train_loss = distributed.average(loss_sum / max(seen_all, 1), device)
            entry: dict[str, Any] = {
                "epoch": epoch, "train-loss": train_loss, "seconds": round(seconds, 4),
                "samples-per-second": round(seen * distributed.world_size()
                                            / max(seconds, 1e-9), 1)}
            if test_streams is not None:
                metrics = evaluate_streams(net, test_streams, objective,
                                           batch_size=max(batch_size, 256))
                entry["test-loss"] = metrics["loss"]
                if "accuracy" in metrics:
                    entry["test-accuracy"] = metrics["accuracy"]
            if schedule is not None:
                schedule.step()
                entry["learning-rate"] = schedule.get_last_lr()[0]
            history.append(entry)
            say(_describe(entry, epochs))
            improved = run.score(entry, keep=keep_best and test_streams is not None)
            state = TrainingState(epoch=epoch, seed=state.seed)
            if checkpoint is not None:
                run.save(epoch=epoch)  # every rank: the random states are gathered
            if distributed.is_rank_zero():
                if metrics_log is not None:
                    _log_line(metrics_log, entry)
                if improved and best_file is not None:
                    from bridge.saving.save import save_network

                    save_network(net, best_file, history=[dict(e) for e in history])
                if plot is not None:
                    from bridge.training.plots import plot_history

                    plot_history(history, plot)
            if on_epoch is not None:
                on_epoch(entry)
            if guard.requested:
                history.interrupted = True
                say(f"interrupted after epoch {epoch}"
                    + (f"; checkpoint saved to {history.checkpoint}" if checkpoint else ""))
                raise Interrupted(history=history)
            if patience is not None and run.stale >= patience:
                history.stopped_early = True
                say(f"stopping early: no better "
                    f"{'test score' if test_streams is not None else 'train loss'} "
                    f"for {patience} epochs")
                break
    if run.best_params is not None and history and history.best_epoch != history[-1]["epoch"]:
        _copy_into(net, run.best_params)
        say(f"kept the network of epoch {history.best_epoch}, the best on the test data")
    if parallel:
        distributed.barrier()
    return history


class _Run:
    """The bookkeeping of one call: best score, patience, checkpoints."""

    def __init__(self, *, net, optimizer, schedule, device, checkpoint, history, say):
        self.net, self.optimizer, self.schedule = net, optimizer, schedule
        self.device, self.checkpoint, self.history, self.say = device, checkpoint, history, say
        self.best_score: float | None = None
        self.best_params: dict | None = None
        self.stale = 0
        self.seed = 0

    def score(self, entry: Mapping[str, Any], *, keep: bool) -> bool:
        """Record ``entry``'s score; whether it is the best so far."""
        score = _score(entry)
        if self.best_score is None or score > self.best_score:
            self.best_score, self.stale = score, 0
            self.history.best_epoch = entry["epoch"]
            if keep:
                self.best_params = _snapshot(self.net)
            return True
        self.stale += 1
        return False

    def save(self, *, epoch: int, batch: int = 0, partial: dict | None = None,
             collective: bool = True) -> None:
        """Checkpoint the run; only rank 0 writes. ``collective``: every rank calls this
        (their random states are gathered); else only this rank's are recorded."""
        best = None if self.best_score is None else {
            "epoch": self.history.best_epoch, "score": self.best_score, "stale": self.stale}
        state = TrainingState(
            epoch=epoch, batch=batch, seed=self.seed, history=list(self.history),
            rng=_rng_states(self.device, collective=collective),
            schedule=self.schedule.state_dict() if self.schedule is not None else None,
            partial=partial, best=best)
        if distributed.is_rank_zero():
            written = save_checkpoint(self.checkpoint, self.net, self.optimizer, state)
            self.history.checkpoint = str(written)

    def interrupted(self, epoch, done, skip, losses, sizes, partial, seed, *,
                    known_bad: int | None = None) -> None:
        """Ctrl-C inside an epoch: checkpoint the position reached (unless the loss went
        bad since the last look, so the last good checkpoint stays)."""
        self.history.interrupted = True
        self.seed = seed
        if self.checkpoint is None:
            return
        bad = known_bad if known_bad is not None else losses.check()
        if bad is not None:
            self.say(f"interrupted in epoch {epoch}; the loss became NaN or infinite in batch "
                     f"{bad}, so no checkpoint was written")
            return
        loss_sum = losses.weighted_sum(sizes[skip:done])
        partial = {"loss-sum": loss_sum + float(partial.get("loss-sum", 0.0)),
                   "samples": int(sizes[skip:done].sum()) + int(partial.get("samples", 0))}
        if done == 0:
            partial = None
        # Ctrl-C may reach one rank only: no exchange with the others here.
        self.save(epoch=epoch - 1, batch=done, partial=partial, collective=False)
        self.say(f"interrupted in epoch {epoch} after batch {done}; checkpoint saved to "
                 f"{self.history.checkpoint}")


class _RunningAccuracy:
    """Training accuracy of the first classifier leaf, counted on the device (only while
    a progress bar shows it)."""

    def __init__(self, objective: Objective, net, device):
        self.term = next((t for t in objective.terms if t.spec.name == "softmax-loss"
                          and t.layer in net.output_ids
                          and getattr(net.layer_module(t.layer), "mode", "") == "vector"),
                         None)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.count = 0

    def add(self, outputs, batch) -> None:
        if self.term is None:
            return
        predicted = outputs[self.term.layer].detach().argmax(dim=1)
        truth = class_indices(batch[self.term.stream])
        self.correct += (predicted == truth).sum()
        self.count += len(truth)

    def value(self) -> float | None:
        return float(self.correct) / self.count if self.term is not None and self.count \
            else None


def _status(losses: _BatchLosses, accuracy: _RunningAccuracy, sizes, started: float) -> str:
    seen = int(sizes.sum())
    text = f"loss {losses.weighted_sum(sizes) / max(seen, 1):.4f}"
    value = accuracy.value()
    if value is not None:
        text += f"  acc {value:.3f}"
    return text + f"  {seen / max(time.perf_counter() - started, 1e-9):,.0f} samples/s"


def _progress(enabled: bool | None, total: int, epoch: int, epochs: int):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or not distributed.is_rank_zero():
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    # On a terminal the bar goes away when the epoch's summary line is printed; asked for
    # elsewhere (a log file), it is drawn once, when the epoch ends.
    return Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=console.is_terminal)


def _log_line(path: str | os.PathLike, entry: Mapping[str, Any]) -> None:
    from bridge.edn import dumps
    from bridge.edn.types import Keyword

    line = dumps({Keyword(k): v for k, v in entry.items()}) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line)
        stream.flush()


def _labels_as(streams: Streams, dtype: torch.dtype) -> Streams:
    """Float label columns in the network's precision (inputs are cast by the network)."""
    columns = {k: (v.to(dtype) if v.is_floating_point() and v.dtype != dtype else v)
               for k, v in streams.columns.items()}
    return Streams._of(columns, streams.classes)


def _batch_sizes(count: int, batch_size: int, steps: int) -> torch.Tensor:
    """The size of each of an epoch's ``steps`` batches over ``count`` samples (the last
    may be smaller), as float64 on the host."""
    sizes = torch.full((max(steps, 1),), float(batch_size), dtype=torch.float64)
    if steps:
        sizes[steps - 1] = min(batch_size, count - batch_size * (steps - 1))
    else:
        sizes[0] = 0.0
    return sizes


def _cuda_devices(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []


def _shared_random_seed(device: torch.device) -> int:
    """A seed drawn from the global generator, the same on every rank (rank 0's)."""
    seed = torch.randint(0, 2**62, (), dtype=torch.int64)
    if distributed.is_distributed():
        seed = distributed.gather(seed.to(device).reshape(1))[0].cpu()
    return int(seed)


def _rng_states(device: torch.device, *, collective: bool = True) -> dict:
    """This run's random streams (dropout draws from them): every rank's when
    ``collective`` (all ranks must call it then), else this rank's."""

    def every_rank(state: torch.Tensor) -> list[torch.Tensor]:
        if not collective:
            return [state]
        return [s.cpu() for s in distributed.gather(_to_comm(state, device))]

    states = {"torch": every_rank(torch.get_rng_state()), "cuda": None}
    if device.type == "cuda":
        states["cuda"] = every_rank(torch.cuda.get_rng_state(device))
    return states


def _to_comm(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    # NCCL exchanges CUDA tensors only; gloo takes CPU tensors.
    return tensor.to(device) if distributed.is_distributed() and device.type == "cuda" \
        else tensor


def _restore_rng(rng: Mapping[str, Any]) -> None:
    rank = distributed.rank()
    torch_states = rng.get("torch") or []
    if torch_states:
        torch.set_rng_state(torch_states[rank if rank < len(torch_states) else 0])
    cuda_states = rng.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda_states[rank if rank < len(cuda_states) else 0])


def _snapshot(net) -> dict:
    return {layer: {name: t.detach().clone() for name, t in params.items()}
            for layer, params in net.parameters_by_layer().items()}


def _copy_into(net, snapshot: Mapping) -> None:
    with torch.no_grad():
        for layer, params in net.parameters_by_layer().items():
            for name, tensor in params.items():
                tensor.copy_(snapshot[layer][name])


def _resumed_best(resume, net, best_epoch, epoch) -> dict | None:
    """The best network of a resumed run: its weights when it is the checkpoint itself,
    or from ``best.edn`` beside a checkpoint directory's ``last.edn``."""
    if resume is None or best_epoch is None:
        return None
    if best_epoch == epoch:
        return _snapshot(net)
    best = checkpoint_file(resume, best=True)
    if best.name == BEST and best.is_file():
        from bridge.saving.load import load_model

        return _snapshot(load_model(best))
    return None


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


class _BatchLosses:
    """An epoch's batch losses, kept on the device: one ``detach`` per step, and every
    :data:`CHECK_EVERY` steps one stack and one look for NaN or infinity."""

    def __init__(self, first_step: int):
        self.first_step = first_step
        self.pending: list[torch.Tensor] = []
        self.windows: list[torch.Tensor] = []
        self.checked = 0

    def add(self, value: torch.Tensor) -> None:
        self.pending.append(value.detach())

    def check(self) -> int | None:
        """The step number of the first bad loss since the last check, else ``None``."""
        if not self.pending:
            return None
        window = torch.stack(self.pending).float()
        self.pending = []
        start, self.checked = self.checked, self.checked + len(window)
        self.windows.append(window)
        if math.isfinite(float(window.double().sum())):  # one reduction: NaN, ±inf spoil it
            return None
        finite = torch.isfinite(window)
        if bool(finite.all()):
            return None
        return self.first_step + start + int((~finite).nonzero()[0, 0])

    def weighted_sum(self, sizes: torch.Tensor) -> float:
        """Σ batch loss × batch size over the steps recorded (``sizes`` per step)."""
        parts = self.windows + ([torch.stack(self.pending).float()] if self.pending else [])
        if not parts:
            return 0.0
        values = torch.cat(parts).double()
        return float((values * sizes[: len(values)].to(values.device)).sum())


def distributed_first_bad(first_bad: int | None, device: torch.device) -> int | None:
    """The earliest bad batch any rank saw, so every rank stops together."""
    value = torch.tensor([first_bad if first_bad is not None else 2**62], device=device)
    smallest = int(min(int(v) for v in distributed.gather(value)))
    return None if smallest == 2**62 else smallest


def _score(entry: Mapping[str, Any]) -> float:
    if "test-accuracy" in entry:
        return entry["test-accuracy"]
    if "test-loss" in entry:
        return -entry["test-loss"]
    return -entry["train-loss"]


def _describe(entry: Mapping[str, Any], epochs: int) -> str:
    text = f"epoch {entry['epoch']:>3}/{epochs}  train loss {entry['train-loss']:.4f}"
    if "test-loss" in entry:
        text += f"  test loss {entry['test-loss']:.4f}"
    if "test-accuracy" in entry:
        text += f"  accuracy {entry['test-accuracy']:.4f}"
    return text + f"  {entry['samples-per-second']:,.0f} samples/s  {entry['seconds']:.2f} s"
