"""Training speed: bridge.train against a hand-written PyTorch loop, same data, same run.

    .venv/bin/python tests/benchmarks/bench_training.py [--samples 60000] [--epochs 1]

Trains the tutorial's MLP (784-128-relu-10-softmax) on random MNIST-sized data
(60000 x 784) with SGD (learning rate 0.01, Nesterov momentum 0.9, as Cortex's sgd) at
batch sizes 32 and 128, first with bridge.train and then with an idiomatic loop over the
same tensors (nn.Sequential, CrossEntropyLoss, randperm batches, loss kept on the
device), and prints samples per second for both and their ratio (> 1: bridge is
faster). Absolute numbers depend on the machine; the ratio is the result.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import bridge

MLP = "[(input 784 :id :data) (linear 128) (relu) (linear 10) (softmax :id :labels)]"


def bridge_run(x, y, batch_size, epochs):
    net = bridge.load_model(MLP, seed=0)
    started = time.perf_counter()
    bridge.train(net, {"data": x, "labels": y}, optimizer="(sgd :learning-rate 0.01)",
                 epochs=epochs, batch_size=batch_size, seed=0, progress=False,
                 log=lambda _: None)
    return len(x) * epochs / (time.perf_counter() - started)


def hand_written_run(x, y, batch_size, epochs):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    criterion = nn.CrossEntropyLoss()
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        total = torch.zeros(())
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
            total += loss.detach()
    return len(x) * epochs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(args.samples, 784, generator=generator) - 0.5
    y = torch.randint(0, 10, (args.samples,), generator=generator)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.samples} samples x {args.epochs} epoch(s)")
    print(f"{'batch':>6} {'bridge.train':>14} {'hand-written':>14} {'ratio':>7}")
    for batch_size in (32, 128):
        bridge_run(x[:2048], y[:2048], batch_size, 1)  # warm up both paths
        hand_written_run(x[:2048], y[:2048], batch_size, 1)
        ours, theirs = 0.0, 0.0
        for _ in range(args.repeats):  # alternate, keep each side's best: load comes and goes
            ours = max(ours, bridge_run(x, y, batch_size, args.epochs))
            theirs = max(theirs, hand_written_run(x, y, batch_size, args.epochs))
        print(f"{batch_size:>6} {ours:>12,.0f}/s {theirs:>12,.0f}/s {ours / theirs:>7.2f}")


if __name__ == "__main__":
    main()
