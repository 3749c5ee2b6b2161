"""``train``: Cortex's training on PyTorch, with what a long run needs.

One call runs several epochs (Cortex's ``train-n``): per batch a forward pass, the
objective of :mod:`bridge.training.losses`, a backward pass and an optimizer step; per
epoch an evaluation on the test data, a history entry, an EDN metrics line, a
checkpoint, the best network kept, and early stopping when asked.

The loop never waits on the device inside an epoch: losses accumulate on the device,
NaN checks are batched, and data is indexed in bulk. Under ``torchrun`` the same call
trains with DistributedDataParallel (see :mod:`bridge.training.distributed`).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Mapping

from typing import Any

import torch

from bridge.errors import TrainingError
from bridge.training import distributed
from bridge.training.checkpoints import load_checkpoint, save_checkpoint
from bridge.training.data import batches, to_streams, validate_streams
from bridge.training.evaluation import evaluate
from bridge.training.losses import Objective
from bridge.training.optimizers import make_optimizer, make_schedule, optimizer_edn

__all__ = ["train", "History", "choose_device"]

# How many steps pass between checks of the loss for NaN (each check waits on the device).
NAN_CHECK_EVERY = 50


class History(list):
    """Per-epoch entries (dicts with ``epoch``, ``train-loss``, ``test-loss``,
    ``test-accuracy``, ``seconds``, ``samples-per-second``), plus ``best_epoch`` and
    ``interrupted``."""

    best_epoch: int | None = None
    interrupted: bool = False
    checkpoint: str | None = None


def choose_device(device: Any) -> torch.device:
    """``"auto"`` takes CUDA when present, else the CPU."""
    if device in (None, "auto"):
        if distributed.is_distributed() and torch.cuda.is_available():
            return torch.device("cuda", distributed.local_rank())
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class _TrainingForward(torch.nn.Module):
    """The objective's forward pass as a module, so DDP can wrap it."""

    def __init__(self, net, capture):
        super().__init__()
        self.net = net
        self.capture = capture

    def forward(self, inputs):
        return self.net.outputs(inputs, self.capture, log_probabilities=True)


def _progress(enabled: bool | None, total: int, epoch: int, epochs: int):
    if enabled is None:
        enabled = sys.stderr.isatty() and distributed.is_rank_zero()
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                        transient=False)
    return progress


def _log_line(path: str | os.PathLike, entry: Mapping[str, Any]) -> None:
    from bridge.edn import dumps
    from bridge.edn.types import Keyword

    line = dumps({Keyword(k): v for k, v in entry.items()}) + "\n"
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line)
        stream.flush()


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
    resume: str | os.PathLike | None = None,
    metrics_log: str | os.PathLike | None = None,
    plot: str | os.PathLike | None = None,
    patience: int | None = None,
    keep_best: bool = True,
    on_epoch: Callable[[Mapping[str, Any]], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> History:
    """Train ``net`` in place and return its history.

    Args:
        net: a :class:`bridge.Network`.
        train: training data in any form :func:`bridge.training.data.to_streams` takes.
        test: data evaluated after every epoch (loss, accuracy); chooses the best epoch.
        optimizer: ``(sgd :learning-rate 0.01)``, ``{:type :adam}``, ``"adam"``, a dict,
            a ``torch.optim.Optimizer`` or ``params -> Optimizer``; default Adam.
        loss: ``None`` for Cortex's default per leaf, a loss name, ``{leaf: name}``, or
            ``fn(outputs, batch) -> scalar``.
        epochs, batch_size: as in Cortex's ``train-n`` (batch size per process under
            torchrun).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"`` …
        seed: seeds shuffling and dropout; with it a CPU run is exactly repeatable. The
            caller's global random state is left as it was.
        shuffle, drop_last: batch order, and whether to drop an incomplete last batch
            (Cortex dropped it; here it is used unless asked).
        precision: ``None``, ``"bf16"`` or ``"fp16"`` (autocast; fp16 with loss scaling).
        progress: a progress bar; ``None`` shows one only on a terminal.
        checkpoint: a file rewritten atomically after every epoch (EDN).
        resume: a checkpoint to continue from; the rest of the run then gives exactly the
            weights of an uninterrupted one (CPU, same seed).
        metrics_log: a file receiving one EDN map per epoch.
        plot: a PNG of the loss and accuracy curves, redrawn after every epoch.
        patience: stop after this many epochs without a better test score.
        keep_best: with ``test``, end with the weights of the best epoch (Cortex's
            ``train-n`` keeps the best network).
        on_epoch, on_batch: callbacks (``on_batch(epoch, batch)``).
        log: where progress lines go (default: print to stderr on rank 0).

    Raises:
        DataError: bad data, found before training starts.
        TrainingError: a NaN or infinite loss (naming epoch and batch); the checkpoint of
            the last good epoch is kept.
        KeyboardInterrupt: after saving a checkpoint, when interrupted.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1; got {epochs}, {batch_size}")
    say = log or (lambda text: print(text, file=sys.stderr) if distributed.is_rank_zero()
                  else None)
    device = choose_device(device)
    net.to(device)
    objective = Objective(net, loss)
    extra_streams = objective.label_streams
    train_streams = validate_streams(to_streams(train, net), net, labels=True,
                                     extra_streams=extra_streams)
    test_data = None
    if test is not None:
        test_data = validate_streams(to_streams(test, net), net, labels=True,
                                     extra_streams=extra_streams)
    train_streams = train_streams.to(device, non_blocking=True)

    trainable = [p for p in net.parameters() if p.requires_grad]
    torch_optimizer, options = make_optimizer(optimizer, trainable)
    schedule = make_schedule(options, torch_optimizer, epochs)
    if distributed.is_distributed():
        forward = distributed.wrap(_TrainingForward(net, objective.capture), device)
    else:
        capture = objective.capture

        def forward(inputs):
            return net.outputs(inputs, capture, log_probabilities=True)

    autocast, scaler = _precision(precision, device)

    shuffle_generator = torch.Generator()
    shuffle_generator.manual_seed(seed if seed is not None else torch.seed() % 2**63)
    history = History()
    first_epoch = 1
    best_score, best_state, stale = None, None, 0
    with torch.random.fork_rng(devices=_cuda_devices(device)):
        if seed is not None:
            torch.manual_seed(seed)
        if resume is not None:
            restored = load_checkpoint(resume, net, torch_optimizer, shuffle_generator)
            first_epoch = int(restored["epoch"]) + 1
            history.extend(restored.get("history") or [])
            if schedule is not None:
                for _ in range(first_epoch - 1):
                    schedule.step()
            say(f"resuming after epoch {first_epoch - 1} from {resume}")
        for epoch in range(first_epoch, epochs + 1):
            net.train()
            started = time.perf_counter()
            first_bad = None
            seen = 0
            indices = distributed.shard_indices(len(train_streams))
            count = len(indices) if indices is not None else len(train_streams)
            steps = _count_steps(count, batch_size, drop_last)
            # Per-batch losses stay on the device; they are looked at every
            # NAN_CHECK_EVERY steps, so the loop never waits on the device in between.
            window: list[torch.Tensor] = []  # this stretch's batch losses, still on the device
            checked_losses: list[torch.Tensor] = []
            checked = 0
            step = 0
            with _progress(progress, steps, epoch, epochs) as bar:
                task = bar.add_task("train", total=steps, status="") if bar else None
                try:
                    for step, batch in enumerate(batches(
                            train_streams, batch_size, shuffle=shuffle,
                            generator=shuffle_generator, drop_last=drop_last,
                            indices=indices), start=1):
                        inputs = {k: batch[k] for k in net.input_ids}
                        if autocast is None:
                            outputs = forward(inputs)
                            value = objective(outputs, batch)
                        else:
                            with autocast():
                                outputs = forward(inputs)
                                value = objective(outputs, batch)
                        torch_optimizer.zero_grad(set_to_none=True)
                        if scaler is not None:
                            scaler.scale(value).backward()
                            scaler.step(torch_optimizer)
                            scaler.update()
                        else:
                            value.backward()
                            torch_optimizer.step()
                        if objective.centers:
                            objective.update_centers(outputs, batch)
                        window.append(value.detach())
                        seen += len(batch[net.input_ids[0]])
                        if step % NAN_CHECK_EVERY == 0 or step == steps:
                            stretch = torch.stack(window)
                            window = []
                            first_bad = _first_bad(stretch, checked)
                            checked = step
                            checked_losses.append(stretch)
                            if first_bad is not None:
                                break
                            if bar is not None:
                                bar.update(task, completed=step, status=f"loss "
                                           f"{float(stretch.mean()):.4f}")
                        if on_batch is not None:
                            on_batch(epoch, step)
                    if first_bad is None and window:
                        stretch = torch.stack(window)
                        first_bad = _first_bad(stretch, checked)
                        checked_losses.append(stretch)
                except KeyboardInterrupt:
                    history.interrupted = True
                    if checkpoint is not None and distributed.is_rank_zero():
                        save_checkpoint(checkpoint, net, torch_optimizer, epoch=epoch - 1,
                                        history=_history_edn(history),
                                        shuffle_generator=shuffle_generator)
                        history.checkpoint = str(checkpoint)
                        say(f"interrupted in epoch {epoch}; checkpoint saved to {checkpoint}")
                    raise
            losses = torch.cat(checked_losses) if checked_losses else torch.zeros(0)
            total = _weighted_total(losses, batch_size, seen)
            if first_bad is not None:
                kept = f"; the checkpoint of epoch {epoch - 1} in {checkpoint} is kept" if (
                    checkpoint is not None and epoch > first_epoch) else ""
                raise TrainingError(f"the loss became NaN or infinite in epoch {epoch}, batch "
                                    f"{first_bad}{kept}. Try a lower learning rate, or check "
                                    "the data")
            seconds = time.perf_counter() - started
            train_loss = distributed.average(total / max(seen, 1), device)
            entry: dict[str, Any] = {"epoch": epoch, "train-loss": train_loss,
                                     "seconds": round(seconds, 4),
                                     "samples-per-second": round(seen / max(seconds, 1e-9), 1)}
            if test_data is not None:
                metrics = evaluate(net, test_data, loss=loss)
                entry["test-loss"] = metrics["loss"]
                if "accuracy" in metrics:
                    entry["test-accuracy"] = metrics["accuracy"]
            if schedule is not None:
                schedule.step()
                entry["learning-rate"] = schedule.get_last_lr()[0]
            history.append(entry)
            say(_describe(entry, epochs))
            score = _score(entry)
            improved = score is not None and (best_score is None or score > best_score)
            if improved:
                best_score, stale = score, 0
                history.best_epoch = epoch
                if keep_best and test_data is not None:
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            elif score is not None:
                stale += 1
            if distributed.is_rank_zero():
                if metrics_log is not None:
                    _log_line(metrics_log, entry)
                if checkpoint is not None:
                    save_checkpoint(checkpoint, net, torch_optimizer, epoch=epoch,
                                    history=_history_edn(history),
                                    shuffle_generator=shuffle_generator)
                    history.checkpoint = str(checkpoint)
                if plot is not None:
                    from bridge.training.plots import plot_history

                    plot_history(history, plot)
            if on_epoch is not None:
                on_epoch(entry)
            if patience is not None and stale >= patience:
                say(f"stopping early: no better test score for {patience} epochs")
                break
    if best_state is not None and history.best_epoch != history[-1]["epoch"]:
        net.load_state_dict(best_state)
        say(f"kept the network of epoch {history.best_epoch}, the best on the test data")
    if options is not None:
        history.optimizer = optimizer_edn(options)
    return history


def _cuda_devices(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []


def _precision(precision: str | None, device: torch.device):
    if precision in (None, "fp32", "float32"):
        return None, None
    dtypes = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
              "float16": torch.float16}
    if precision not in dtypes:
        raise ValueError(f"precision must be None, 'bf16' or 'fp16'; got {precision!r}")
    dtype = dtypes[precision]

    def autocast():
        return torch.autocast(device_type=device.type, dtype=dtype)

    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    return autocast, scaler


def _count_steps(count: int, batch_size: int, drop_last: bool) -> int:
    return count // batch_size if drop_last else math.ceil(count / batch_size)


def _first_bad(stretch: torch.Tensor, before: int) -> int | None:
    """The 1-based number of the first batch of ``stretch`` (which follows batch
    ``before``) whose loss is NaN or infinite, else ``None`` (one wait on the device)."""
    if math.isfinite(float(stretch.sum())):  # one reduction; NaN or ±inf spoil the sum
        return None
    finite = torch.isfinite(stretch)
    return before + 1 + int((~finite).nonzero()[0, 0])


def _weighted_total(losses: torch.Tensor, batch_size: int, seen: int) -> float:
    """Σ batch-mean loss × batch size (the last batch may be smaller)."""
    if len(losses) == 0:
        return 0.0
    full = float(losses[:-1].double().sum()) * batch_size
    return full + float(losses[-1]) * (seen - batch_size * (len(losses) - 1))


def _score(entry: Mapping[str, Any]) -> float | None:
    if "test-accuracy" in entry:
        return entry["test-accuracy"]
    if "test-loss" in entry:
        return -entry["test-loss"]
    return None


def _describe(entry: Mapping[str, Any], epochs: int) -> str:
    text = f"epoch {entry['epoch']:>3}/{epochs}  train loss {entry['train-loss']:.4f}"
    if "test-loss" in entry:
        text += f"  test loss {entry['test-loss']:.4f}"
    if "test-accuracy" in entry:
        text += f"  accuracy {entry['test-accuracy']:.4f}"
    return text + f"  {entry['samples-per-second']:,.0f} samples/s"


def _history_edn(history: list) -> list:
    return [dict(entry) for entry in history]


