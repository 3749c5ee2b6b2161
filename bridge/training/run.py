"""The bookkeeping of one ``train`` call: the history, the best network, patience, and
the checkpoints that let a run continue bit for bit.

:class:`TrainingRun` is what callbacks receive: they read ``run.history``,
``run.improved``, ``run.stale`` … and may set ``run.stop`` to end the run after the
current epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from bridge.training import distributed
from bridge.training.checkpoints import BEST, TrainingState, checkpoint_file, save_checkpoint
from bridge.training.history import History

__all__ = ["TrainingRun", "snapshot", "copy_into", "rng_states", "restore_rng",
           "shared_random_seed", "score"]


class TrainingRun:
    """One call's state beyond the weights.

    Attributes:
        net, optimizer, schedule, device: what trains.
        history: the :class:`History` being written.
        epochs: the epoch count asked for.
        say: where lines go.
        checkpoint: the checkpoint file or directory, or ``None``.
        monitor: ``"validation"`` or ``"train"``: the data the best epoch is chosen on.
        keep_best: end with the best epoch's weights (needs validation data).
        best_score, stale: the best score so far and the epochs since.
        improved: the epoch just finished is the best so far.
        stop: set (to a reason) by a callback to end the run after this epoch.
    """

    def __init__(self, *, net, optimizer, schedule, device, history: History, epochs: int,
                 say: Callable[[str], None], checkpoint, monitor: str, keep_best: bool):
        self.net, self.optimizer, self.schedule, self.device = net, optimizer, schedule, device
        self.history, self.epochs, self.say = history, epochs, say
        self.checkpoint, self.monitor, self.keep_best = checkpoint, monitor, keep_best
        self.best_score: float | None = None
        self.best_params: dict | None = None
        self.stale = 0
        self.improved = False
        self.stop: str | None = None
        self.seed = 0

    def restore(self, state: TrainingState, resume) -> None:
        """Take over the best score, patience and best network of a resumed run."""
        best = state.best or {}
        self.best_score, self.stale = best.get("score"), int(best.get("stale", 0))
        self.history.best_epoch = best.get("epoch")
        self.seed = state.seed
        if self.keep_best:
            self.best_params = _resumed_best(resume, self.net, state, self.history.best_epoch)

    def score(self, entry: Mapping[str, Any]) -> bool:
        """Record ``entry``'s score; whether it is the best so far."""
        value = score(entry)
        self.improved = self.best_score is None or value > self.best_score
        if self.improved:
            self.best_score, self.stale = value, 0
            self.history.best_epoch = entry["epoch"]
            if self.keep_best:
                self.best_params = snapshot(self.net)
        else:
            self.stale += 1
        return self.improved

    def keep_best_network(self) -> None:
        """End with the best epoch's weights (Cortex's ``train-n``), when asked for."""
        history = self.history
        if self.best_params is None or not history:
            return
        history.kept_epoch = history.best_epoch
        if history.best_epoch != history[-1]["epoch"]:
            copy_into(self.net, self.best_params)
            self.say(f"kept the network of epoch {history.best_epoch}, the best on the "
                     "validation data")

    def save(self, *, epoch: int, batch: int = 0, partial: dict | None = None,
             collective: bool = True) -> None:
        """Checkpoint the run; only rank 0 writes. ``collective``: every rank calls this
        (their random states are gathered); else only this rank's are recorded."""
        best = None if self.best_score is None else {
            "epoch": self.history.best_epoch, "score": self.best_score, "stale": self.stale}
        # The best network rides along unless it is the checkpoint's own weights, so a
        # resumed run ends with the same network as an uninterrupted one.
        own = batch == 0 and self.history.best_epoch == epoch
        state = TrainingState(
            epoch=epoch, batch=batch, seed=self.seed, history=list(self.history),
            rng=rng_states(self.device, collective=collective),
            schedule=self.schedule.state_dict() if self.schedule is not None else None,
            partial=partial, best=best,
            best_weights=None if own or not self.keep_best else self.best_params)
        if distributed.is_rank_zero():
            written = save_checkpoint(self.checkpoint, self.net, self.optimizer, state)
            self.history.checkpoint = str(written)

    def interrupted(self, epoch: int, done: int, losses, partial_sum: float,
                    partial_samples: int, *, known_bad: int | None = None) -> None:
        """Ctrl-C inside an epoch after ``done`` batches: checkpoint that position (unless
        the loss went bad since the last look, so the last good checkpoint stays)."""
        self.history.interrupted = True
        if self.checkpoint is None:
            return
        bad = known_bad if known_bad is not None else losses.check()
        if bad is not None:
            self.say(f"interrupted in epoch {epoch}; the loss became NaN or infinite in batch "
                     f"{bad}, so no checkpoint was written")
            return
        partial = {"loss-sum": partial_sum, "samples": partial_samples} if done else None
        # Ctrl-C may reach one rank only: no exchange with the others here.
        self.save(epoch=epoch - 1, batch=done, partial=partial, collective=False)
        self.say(f"interrupted in epoch {epoch} after batch {done}; checkpoint saved to "
                 f"{self.history.checkpoint}")


def score(entry: Mapping[str, Any]) -> float:
    """Higher is better: validation accuracy, else minus the validation loss, else minus
    the train loss. The test data never chooses."""
    if "validation-accuracy" in entry:
        return entry["validation-accuracy"]
    if "validation-loss" in entry:
        return -entry["validation-loss"]
    return -entry["train-loss"]


def snapshot(net) -> dict:
    return {layer: {name: t.detach().clone() for name, t in params.items()}
            for layer, params in net.parameters_by_layer().items()}


def copy_into(net, weights: Mapping) -> None:
    with torch.no_grad():
        for layer, params in net.parameters_by_layer().items():
            for name, tensor in params.items():
                tensor.copy_(weights[layer][name])


def _resumed_best(resume, net, state: TrainingState, best_epoch) -> dict | None:
    """The best network of a resumed run: carried in the checkpoint, the checkpoint's own
    weights, or ``best.edn`` beside a checkpoint directory's ``last.edn``."""
    if resume is None or best_epoch is None:
        return None
    if state.best_weights is not None:
        return {layer: {name: t.to(net.device) for name, t in params.items()}
                for layer, params in state.best_weights.items()}
    if best_epoch == state.epoch and state.batch == 0:
        return snapshot(net)
    best = checkpoint_file(resume, best=True)
    if best.name == BEST and best.is_file():
        from bridge.saving.load import load_model

        return snapshot(load_model(best).to(net.device))
    return None


def shared_random_seed(device: torch.device) -> int:
    """A seed drawn from the global generator, the same on every rank (rank 0's)."""
    seed = torch.randint(0, 2**62, (), dtype=torch.int64)
    if distributed.is_distributed():
        seed = distributed.gather(seed.to(device).reshape(1))[0].cpu()
    return int(seed)


def rng_states(device: torch.device, *, collective: bool = True) -> dict:
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


def restore_rng(rng: Mapping[str, Any]) -> None:
    rank = distributed.rank()
    torch_states = rng.get("torch") or []
    if torch_states:
        torch.set_rng_state(torch_states[rank if rank < len(torch_states) else 0])
    cuda_states = rng.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda_states[rank if rank < len(cuda_states) else 0])
