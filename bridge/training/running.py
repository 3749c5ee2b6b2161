"""An epoch's running totals: the batch losses kept on the device (looked at for NaN
every :data:`CHECK_EVERY` steps), the training accuracy shown by the progress bar, and
the size of each batch."""

from __future__ import annotations

import math

import torch

from bridge.training import distributed
from bridge.training.losses import Objective, class_indices

__all__ = ["CHECK_EVERY", "BatchLosses", "RunningAccuracy", "batch_sizes", "first_bad_of_all"]

#: Steps between looks at the batch losses (each look waits for the device once).
CHECK_EVERY = 50


class BatchLosses:
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


def first_bad_of_all(first_bad: int | None, device: torch.device) -> int | None:
    """The earliest bad batch any rank saw, so every rank stops together."""
    value = torch.tensor([first_bad if first_bad is not None else 2**62], device=device)
    smallest = int(min(int(v) for v in distributed.gather(value)))
    return None if smallest == 2**62 else smallest


class RunningAccuracy:
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


def batch_sizes(count: int, batch_size: int, steps: int) -> torch.Tensor:
    """The size of each of an epoch's ``steps`` batches over ``count`` samples (the last
    may be smaller), as float64 on the host."""
    sizes = torch.full((max(steps, 1),), float(batch_size), dtype=torch.float64)
    if steps:
        sizes[steps - 1] = min(batch_size, count - batch_size * (steps - 1))
    else:
        sizes[0] = 0.0
    return sizes
