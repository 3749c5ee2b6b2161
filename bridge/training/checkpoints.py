"""Training checkpoints as EDN: the network with every parameter inline, plus the
optimizer's state, the random number generators and the epoch, in the header under
``:checkpoint``. Written atomically; never pickled, never ``torch.load``-ed.

A checkpoint is also an ordinary saved network: ``bridge.load_model`` opens it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from bridge.edn.tensor_tag import encode_tensor
from bridge.edn.types import Keyword
from bridge.errors import TrainingError

__all__ = ["save_checkpoint", "load_checkpoint", "optimizer_state_to_edn",
           "optimizer_state_from_edn"]


def _plain(value: Any) -> Any:
    """EDN data from a checkpoint → Python with str keys (tensors stay tensors)."""
    if isinstance(value, Mapping):
        return {(k.full if isinstance(k, Keyword) else k): _plain(v) for k, v in value.items()}
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
        return list(value)
    return value


def optimizer_state_to_edn(optimizer: torch.optim.Optimizer) -> dict:
    state = optimizer.state_dict()
    return {
        "state": [{"index": index, "values": {name: _encode(v) for name, v in values.items()}}
                  for index, values in state["state"].items()],
        "param-groups": [{name: _encode(v) for name, v in group.items()}
                         for group in state["param_groups"]],
    }


def optimizer_state_from_edn(data: Mapping, device) -> dict:
    data = _plain(data)
    groups = []
    for group in data["param-groups"]:
        group = dict(group)
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    state = {}
    for entry in data["state"]:
        values = {}
        for name, value in entry["values"].items():
            values[name] = value.to(device) if isinstance(value, torch.Tensor) and name != "step" \
                else value
        state[int(entry["index"])] = values
    return {"state": state, "param_groups": groups}


def save_checkpoint(path: str | os.PathLike, net, optimizer, *, epoch: int,
                    history: list, shuffle_generator: torch.Generator,
                    extra: Mapping[str, Any] | None = None) -> None:
    """Write the network and everything needed to continue training exactly."""
    from bridge.export import save_network

    checkpoint = {
        "epoch": epoch,
        "optimizer": optimizer_state_to_edn(optimizer),
        "rng": {"torch": _encode(torch.get_rng_state()),
                "shuffle": _encode(shuffle_generator.get_state())},
        **(extra or {}),
    }
    save_network(net, path, history=history, extra={"checkpoint": checkpoint})


def load_checkpoint(path: str | os.PathLike, net, optimizer,
                    shuffle_generator: torch.Generator) -> dict:
    """Restore ``net``, ``optimizer`` and the generators from ``path``; returns the
    checkpoint's header entries (``epoch``, ``history`` …) as plain Python.

    Raises:
        TrainingError: the file is not a checkpoint of this network.
    """
    from bridge.loading import load_model

    saved = load_model(path)
    if "checkpoint" not in saved.header:
        raise TrainingError(f"{path} is a saved network but not a training checkpoint")
    mine, theirs = net.parameters_by_layer(), saved.parameters_by_layer()
    if {k: {n: tuple(t.shape) for n, t in v.items()} for k, v in mine.items()} != \
            {k: {n: tuple(t.shape) for n, t in v.items()} for k, v in theirs.items()}:
        raise TrainingError(f"the checkpoint {path} holds a different network")
    with torch.no_grad():
        for layer, params in mine.items():
            for name, tensor in params.items():
                tensor.copy_(theirs[layer][name])
    checkpoint = saved.header["checkpoint"]
    entries = _plain(checkpoint)
    device = next(iter(net.state_dict().values())).device
    optimizer.load_state_dict(optimizer_state_from_edn(checkpoint[Keyword("optimizer")],
                                                       device))
    rng = entries["rng"]
    torch.set_rng_state(rng["torch"].to(torch.uint8))
    shuffle_generator.set_state(rng["shuffle"].to(torch.uint8))
    entries["history"] = _plain(saved.header.get("history", []))
    return entries
