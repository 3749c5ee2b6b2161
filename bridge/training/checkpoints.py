"""Training checkpoints: everything needed to continue a run exactly, as EDN.

A checkpoint is an ordinary saved network (:func:`bridge.save_network`: the description
with every parameter inline as bit-exact ``#cortex-bridge/tensor`` literals, so
:func:`bridge.load_model` opens it) whose header carries one more entry,
``:checkpoint``::

    {:epoch 3                ; epochs completed
     :batch 0                ; batches completed in the next epoch (an interrupted run)
     :seed 1234              ; the epoch orders are drawn from seed + epoch
     :optimizer {:state [...] :param-groups [...]}   ; torch's state_dict, as EDN
     :schedule {...}         ; the learning-rate schedule's state_dict, or nil
     :rng {:torch [<state of rank 0> …] :cuda [...]} ; dropout's random streams
     :partial {:loss-sum 12.5 :samples 640}          ; the interrupted epoch so far
     :best {:epoch 2 :score 0.97 :stale 1}           ; train-n's best network, patience
     :best-weights {:linear-1 {:weights #cortex-bridge/tensor …} …}}
                             ; the best epoch's weights, when they are not the file's own

The file is written atomically (a temporary file in the same directory, flushed,
fsynced, then ``os.replace``), so a crash leaves the previous checkpoint whole. Nothing
is pickled and nothing goes through ``torch.load``. Only :func:`save_checkpoint` and
:func:`load_checkpoint` know the format.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bridge.edn.tensor_tag import encode_tensor
from bridge.edn.types import Keyword, key_name
from bridge.errors import TrainingError

__all__ = ["TrainingState", "save_checkpoint", "load_checkpoint", "checkpoint_file",
           "optimizer_state_to_edn", "optimizer_state_from_edn"]

LAST, BEST = "last.edn", "best.edn"


@dataclass
class TrainingState:
    """Where a run stands, beyond the weights and the optimizer.

    Attributes:
        epoch: epochs completed.
        batch: batches completed in epoch ``epoch + 1`` (non-zero only when interrupted).
        seed: the base of the epoch orders (:func:`bridge.training.data.epoch_order`).
        history: the per-epoch entries so far.
        rng: ``{"torch": [state per rank], "cuda": [state per rank] or None}`` (uint8).
        schedule: the learning-rate schedule's ``state_dict()``, or ``None``.
        partial: ``{"loss-sum": float, "samples": int}`` of an interrupted epoch.
        best: ``{"epoch": int, "score": float, "stale": int}`` or ``None``.
        best_weights: ``{layer: {param: tensor}}`` of the best epoch when the run keeps
            it and it differs from the checkpoint's own weights, else ``None``.
    """

    epoch: int = 0
    batch: int = 0
    seed: int = 0
    history: list = field(default_factory=list)
    rng: dict = field(default_factory=dict)
    schedule: dict | None = None
    partial: dict | None = None
    best: dict | None = None
    best_weights: dict | None = None


def checkpoint_file(path: str | os.PathLike, *, best: bool = False) -> Path:
    """The file a checkpoint path means: a directory holds ``last.edn`` (and
    ``best.edn``); anything else is the file itself."""
    path = Path(path)
    if path.is_dir() or str(path).endswith(os.sep):
        return path / (BEST if best else LAST)
    return path


def _plain(value: Any) -> Any:
    """EDN data from a checkpoint → Python with str keys (tensors stay tensors)."""
    if isinstance(value, Mapping):
        return {key_name(k) if isinstance(k, Keyword | str) else k: _plain(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Keyword):
        return value.full
    return value


def _encode(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().to("cpu")
        if tensor.dtype in (torch.uint8, torch.int32, torch.int16, torch.int8, torch.bool):
            tensor = tensor.to(torch.int64)
        return encode_tensor(tensor)
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _bytes_to_edn(state: torch.Tensor) -> dict:
    """A byte tensor (a generator's state) packed 8 bytes to an int64, exactly."""
    raw = state.detach().to("cpu", torch.uint8).reshape(-1)
    padded = torch.cat([raw, raw.new_zeros(-len(raw) % 8)])
    return {"bytes": len(raw), "words": encode_tensor(padded.view(torch.int64))}


def _bytes_from_edn(value: Mapping) -> torch.Tensor:
    return value["words"].contiguous().view(torch.uint8)[: int(value["bytes"])].clone()


def optimizer_state_to_edn(optimizer: torch.optim.Optimizer) -> dict:
    state = optimizer.state_dict()
    return {
        "state": [{"index": index, "values": {name: _encode(v) for name, v in values.items()}}
                  for index, values in state["state"].items()],
        "param-groups": [{name: _encode(v) for name, v in group.items()}
                         for group in state["param_groups"]],
    }


def optimizer_state_from_edn(data: Mapping) -> dict:
    data = _plain(data)
    groups = []
    for group in data["param-groups"]:
        group = dict(group)
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    state = {int(entry["index"]): dict(entry["values"]) for entry in data["state"]}
    return {"state": state, "param_groups": groups}


def save_checkpoint(path: str | os.PathLike, net, optimizer: torch.optim.Optimizer,
                    state: TrainingState) -> Path:
    """Write ``net``, ``optimizer`` and ``state`` to ``path`` atomically; returns the file
    written (``path/last.edn`` when ``path`` is a directory)."""
    from bridge.saving.save import save_network

    target = checkpoint_file(path)
    entry = {
        "epoch": state.epoch,
        "batch": state.batch,
        "seed": state.seed,
        "optimizer": optimizer_state_to_edn(optimizer),
        "schedule": _encode(state.schedule) if state.schedule is not None else None,
        "rng": {name: ([_bytes_to_edn(s) for s in states] if states is not None else None)
                for name, states in state.rng.items()},
        "partial": state.partial,
        "best": state.best,
    }
    if state.best_weights is not None:
        entry["best-weights"] = _encode(state.best_weights)
    save_network(net, target, history=[dict(e) for e in state.history],
                 extra={"checkpoint": entry})
    return target


def load_checkpoint(path: str | os.PathLike, net, optimizer: torch.optim.Optimizer
                    ) -> TrainingState:
    """Restore ``net``'s parameters and ``optimizer`` from the checkpoint at ``path``
    (a file, or a directory holding ``last.edn``) and return the rest of the state.

    Raises:
        TrainingError: no such file, a saved network that is not a checkpoint, or a
            checkpoint of a different network.
    """
    from bridge.saving.load import load_model

    target = checkpoint_file(path)
    if not target.is_file():
        raise TrainingError(f"cannot resume: there is no checkpoint at {target}")
    saved = load_model(target)
    if "checkpoint" not in saved.header:
        raise TrainingError(f"{target} is a saved network but not a training checkpoint")
    copy_parameters(saved, net, what=f"the checkpoint {target}")
    entries = _plain(saved.header["checkpoint"])
    device = next(iter(net.state_dict().values())).device
    restored = optimizer_state_from_edn(entries["optimizer"])
    for values in restored["state"].values():
        for name, value in values.items():
            if isinstance(value, torch.Tensor) and name != "step":
                values[name] = value.to(device)
    try:
        optimizer.load_state_dict(restored)
    except (ValueError, KeyError) as error:
        raise TrainingError(f"the optimizer state in {target} does not fit this optimizer: "
                            f"{error}") from None
    rng = {name: ([_bytes_from_edn(s) for s in states] if states is not None else None)
           for name, states in (entries.get("rng") or {}).items()}
    return TrainingState(
        epoch=int(entries["epoch"]), batch=int(entries.get("batch") or 0),
        seed=int(entries.get("seed") or 0),
        history=_plain(saved.header.get("history") or []), rng=rng,
        schedule=entries.get("schedule"), partial=entries.get("partial"),
        best=entries.get("best"), best_weights=entries.get("best-weights"))


def copy_parameters(source, net, *, what: str) -> None:
    """Copy every parameter (and running statistic, and center) of ``source`` into
    ``net``.

    Raises:
        TrainingError: the two networks' parameters differ in names or shapes.
    """
    mine, theirs = net.parameters_by_layer(), source.parameters_by_layer()
    shapes = {k: {n: tuple(t.shape) for n, t in v.items()} for k, v in mine.items()}
    if shapes != {k: {n: tuple(t.shape) for n, t in v.items()} for k, v in theirs.items()}:
        raise TrainingError(f"{what} holds a different network")
    with torch.no_grad():
        for layer, params in mine.items():
            for name, tensor in params.items():
                tensor.copy_(theirs[layer][name])
