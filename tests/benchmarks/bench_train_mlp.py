"""Training speed: ``bridge.train`` against a hand-written PyTorch loop, same data, one run.

    .venv/bin/python tests/benchmarks/bench_train_mlp.py [--samples 60000] [--repeats 3]
                                                         [--device cpu|cuda] [--threads N]

Trains the tutorial's MLP (784-128-relu-10-softmax) on random MNIST-sized data
(60000 × 784, 10 classes) for one epoch at batch sizes 32 and 128:

- ``bridge.train`` with Cortex's SGD (learning rate 0.01, Nesterov momentum 0.9);
- an idiomatic hand-written loop over the same tensors: ``nn.Sequential``,
  ``CrossEntropyLoss``, ``torch.optim.SGD`` with its default arguments, one ``randperm``
  per epoch and one indexing per batch, the loss summed on the device (no ``.item()``
  per step);
- the same loop with ``fused=True`` (what ``bridge.train`` uses), for reference.

It prints samples per second for each and the ratio bridge / hand-written (≥ 1: bridge
is at least as fast). Each side runs ``--repeats`` times, alternating, and keeps its
best, so load from other processes disturbs the ratio less. Absolute figures depend on
the machine; the ratio is the result. Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import bridge

MLP = "[(input 784 :id :data) (linear 128) (relu) (linear 10) (softmax :id :labels)]"


def bridge_run(x, y, batch_size: int, device: str) -> float:
    net = bridge.load_model(MLP, seed=0)
    started = time.perf_counter()
    bridge.train(net, {"data": x, "labels": y}, optimizer="(sgd :learning-rate 0.01)",
                 epochs=1, batch_size=batch_size, seed=0, device=device, progress=False,
                 log=lambda _: None)
    _sync(device)
    return len(x) / (time.perf_counter() - started)


def hand_written_run(x, y, batch_size: int, device: str, *, fused: bool = False) -> float:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
    extra = {"fused": True} if fused else {}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                                **extra)
    criterion = nn.CrossEntropyLoss()
    started = time.perf_counter()
    x, y = x.to(device), y.to(device)
    model.train()
    total = torch.zeros((), device=device)
    order = torch.randperm(len(x), device=device)
    for start in range(0, len(x), batch_size):
        index = order[start:start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x[index]), y[index])
        loss.backward()
        optimizer.step()
        total += loss.detach()
    float(total)  # the epoch's one look at the loss
    _sync(device)
    return len(x) / (time.perf_counter() - started)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(args.samples, 784, generator=generator) - 0.5
    y = torch.randint(0, 10, (args.samples,), generator=generator)
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} "
          f"threads, {args.samples} samples, 1 epoch, best of {args.repeats}")
    print(f"{'batch':>6} {'bridge.train':>14} {'hand-written':>14} {'ratio':>6} "
          f"{'hand, fused':>14} {'ratio':>6}")
    for batch_size in (32, 128):
        warm = slice(0, 4096)  # warm up every path once
        bridge_run(x[warm], y[warm], batch_size, args.device)
        hand_written_run(x[warm], y[warm], batch_size, args.device)
        hand_written_run(x[warm], y[warm], batch_size, args.device, fused=True)
        ours = theirs = fused = 0.0
        for _ in range(args.repeats):
            ours = max(ours, bridge_run(x, y, batch_size, args.device))
            theirs = max(theirs, hand_written_run(x, y, batch_size, args.device))
            fused = max(fused, hand_written_run(x, y, batch_size, args.device, fused=True))
        print(f"{batch_size:>6} {ours:>12,.0f}/s {theirs:>12,.0f}/s {ours / theirs:>6.2f} "
              f"{fused:>12,.0f}/s {ours / fused:>6.2f}")


if __name__ == "__main__":
    main()
