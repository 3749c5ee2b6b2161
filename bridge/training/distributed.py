"""Training on several processes with ``torch.distributed``: ``torchrun`` sets the
environment, :func:`bridge.train` notices it.

Each process trains on its own shard of every epoch (the same seeded permutation, cut
by rank), DistributedDataParallel averages the gradients, so every rank ends with the
same weights; gloo on CPU, NCCL on CUDA. Only rank 0 prints and writes files.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "rank", "world_size", "local_rank", "is_rank_zero", "setup",
           "teardown", "wrap", "shard_indices", "average"]


def _env_wants_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def setup(backend: str | None = None) -> bool:
    """Join the process group ``torchrun`` describes (once); ``False`` when not under it."""
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
    """Leave the process group cleanly: wait for every rank, then destroy it (a rank that
    exits while another still talks to it dies with SIGABRT in gloo)."""
    if dist.is_available() and dist.is_initialized():
        import gc

        gc.collect()  # DDP wrappers hold the group; let them go first
        dist.barrier()
        dist.destroy_process_group()


def is_distributed() -> bool:
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
    return rank() == 0


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` inside DistributedDataParallel on ``device``."""
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        return DistributedDataParallel(module, device_ids=[device.index or 0])
    return DistributedDataParallel(module)


def shard_indices(count: int) -> torch.Tensor | None:
    """This rank's sample indices (``None`` when training alone: all of them).

    Every rank gets the same number of samples — DDP needs the same number of steps on
    each — by wrapping around to the start, as ``DistributedSampler`` does.
    """
    if not is_distributed():
        return None
    per_rank = -(-count // world_size())
    wrapped = torch.arange(per_rank * world_size()) % count
    return wrapped[rank()::world_size()]


def average(value: float, device: torch.device) -> float:
    """The mean of ``value`` over all ranks."""
    if not is_distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / world_size()
