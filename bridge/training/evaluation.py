"""``evaluate`` and ``predict``: a network over a whole data set, in inference mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from bridge.training.data import batches, to_streams, validate_streams
from bridge.training.losses import Objective, _class_indices

__all__ = ["evaluate", "predict", "classification_metrics"]


def _device_of(net) -> torch.device:
    return next(iter(net.state_dict().values())).device


@torch.no_grad()
def predict(net, data: Any, *, batch_size: int = 256):
    """The network's outputs for every sample of ``data``.

    Returns ``[N, size]`` for a network with one output, else ``{leaf_id: [N, size]}``.
    """
    streams = validate_streams(to_streams(data, net), net, labels=False)
    device = _device_of(net)
    was_training = net.training
    net.eval()
    collected: dict[str, list] = {leaf: [] for leaf in net.output_ids}
    try:
        generator = torch.Generator()
        for batch in batches(streams.to(device), batch_size, shuffle=False,
                             generator=generator):
            outputs = net({k: batch[k] for k in net.input_ids})
            for leaf in net.output_ids:
                collected[leaf].append(outputs[leaf])
    finally:
        net.train(was_training)
    result = {leaf: torch.cat(parts) for leaf, parts in collected.items()}
    return next(iter(result.values())) if len(result) == 1 else result


def classification_metrics(probabilities: torch.Tensor, labels: torch.Tensor) -> dict:
    """Accuracy, confusion matrix (rows true, columns predicted), precision and recall."""
    classes = probabilities.shape[1]
    truth = _class_indices(labels).to(probabilities.device)
    predicted = probabilities.argmax(dim=1)
    confusion = torch.bincount(truth * classes + predicted, minlength=classes * classes)
    confusion = confusion.reshape(classes, classes).cpu()
    correct = confusion.diag().double()
    predicted_counts = confusion.sum(0).double()
    true_counts = confusion.sum(1).double()
    precision = torch.where(predicted_counts > 0, correct / predicted_counts.clamp_min(1), 0.0)
    recall = torch.where(true_counts > 0, correct / true_counts.clamp_min(1), 0.0)
    return {
        "accuracy": float(correct.sum() / max(1, len(truth))),
        "confusion": confusion.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
    }


@torch.no_grad()
def evaluate(net, data: Any, *, batch_size: int = 256, loss: Any = None) -> dict:
    """Loss, and for a classifier accuracy, confusion matrix, precision and recall.

    Returns:
        ``{"loss": float, "accuracy": …, "confusion": [[…]], "precision": […],
        "recall": […]}`` — the classification entries for the first softmax output;
        with several outputs, ``"outputs"`` holds them per leaf.
    """
    streams = validate_streams(to_streams(data, net), net, labels=True,
                               extra_streams=Objective(net, loss).label_streams)
    objective = Objective(net, loss)
    device = _device_of(net)
    was_training = net.training
    net.eval()
    total, count = torch.zeros((), dtype=torch.float64, device=device), 0
    outputs_by_leaf: dict[str, list] = {leaf: [] for leaf in net.output_ids}
    try:
        for batch in batches(streams.to(device), batch_size, shuffle=False,
                             generator=torch.Generator()):
            outputs = objective.outputs(net, {k: batch[k] for k in net.input_ids})
            size = next(iter(outputs.values())).shape[0]
            total += objective(outputs, batch).double() * size
            count += size
            for leaf in net.output_ids:
                value = outputs[leaf]
                if objective.leaves.get(leaf) == "softmax-loss":
                    value = value.exp()
                outputs_by_leaf[leaf].append(value)
    finally:
        net.train(was_training)
    result: dict[str, Any] = {"loss": float(total / max(1, count))}
    per_leaf: dict[str, Mapping] = {}
    for leaf, kind in objective.leaves.items():
        if kind == "softmax-loss" and objective.groups(leaf) == 1:
            per_leaf[leaf] = classification_metrics(torch.cat(outputs_by_leaf[leaf]),
                                                    streams.columns[leaf])
    if per_leaf:
        result.update(next(iter(per_leaf.values())))
        if len(per_leaf) > 1:
            result["outputs"] = per_leaf
    return result
