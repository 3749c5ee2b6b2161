"""Training on several processes with ``torch.distributed``: ``torchrun`` sets the
environment, :func:`bridge.train` notices it.

    torchrun --nproc-per-node 4 -m bridge train model.edn --data digits

Every rank draws the same permutation of the data each epoch and keeps its own slice of
it, exactly as ``torch.utils.data.DistributedSampler`` does (padded by wrapping around, so
every rank takes the same number of steps); DistributedDataParallel averages the
gradients, so every rank ends each step with the same weights. gloo on CPU, NCCL on
CUDA (one GPU per process, chosen by ``LOCAL_RANK``). Only rank 0 prints and writes
files: guard such code with :func:`is_rank_zero`.
"""

from __future__ import annotations

import gc
import os

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "rank", "world_size", "local_rank", "is_rank_zero", "setup",
           "teardown", "wrap", "shard", "average", "sum_over_ranks", "gather", "barrier"]


def _env_wants_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def setup(backend: str | None = None) -> bool:
    """Join the process group ``torchrun`` describes (once). Returns whether this process
    is part of one; ``False`` when not started by ``torchrun``.

    **Arguments:**

    - backend: ``"gloo"`` or ``"nccl"``; by default NCCL when CUDA is present, else gloo.
    """
    if dist.is_available() and dist.is_initialized():
        return True
    if not (dist.is_available() and _env_wants_distributed()):
        return False
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend)
    return True


def teardown() -> None:
    """Leave the process group cleanly: wait for every rank, then destroy it.

    Without the barrier a rank that leaves while another still finishes DDP's last
    exchange can be aborted inside gloo ("terminate called without an active
    exception"); the DDP wrappers are collected first because they hold the group.
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def is_distributed() -> bool:
    """Whether this process trains together with others (joining under ``torchrun``)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    return setup() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_rank_zero() -> bool:
    """True in the one process that prints and writes files (also when alone)."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` inside DistributedDataParallel on ``device`` (buffers such as
    batch-norm statistics are broadcast from rank 0 at every forward)."""
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        return DistributedDataParallel(module, device_ids=[device.index or 0],
                                       gradient_as_bucket_view=True)
    return DistributedDataParallel(module, gradient_as_bucket_view=True)


def shard(order: torch.Tensor, *, drop_last: bool = False) -> torch.Tensor:
    """This rank's part of an epoch's sample ``order``, as ``DistributedSampler`` cuts it:
    padded by wrapping around to a multiple of the world size (or cut down to one with
    ``drop_last``), then every ``world_size``-th sample from this rank's position.
    Alone, ``order`` itself."""
    replicas = world_size()
    if replicas == 1:
        return order
    count = len(order)
    if drop_last and count % replicas:
        per_rank = count // replicas
    else:
        per_rank = -(-count // replicas)
    total = per_rank * replicas
    if total > count:
        repeats = -(-(total - count) // count)
        order = torch.cat([order, order.repeat(repeats)[: total - count]])
    return order[:total][rank():total:replicas]


def average(value: float, device: torch.device) -> float:
    """The mean of ``value`` over all ranks (one exchange)."""
    if not is_distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / world_size()


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over all ranks (itself when alone)."""
    if not is_distributed():
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor)
    return tensor


def gather(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``tensor`` (all the same shape), in rank order, on every rank."""
    if not is_distributed():
        return [tensor]
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return parts
