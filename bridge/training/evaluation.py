"""``evaluate`` and ``predict``: a network over a whole data set, in inference mode.

Both take data in every form :func:`bridge.training.data.to_streams` accepts (and
``predict`` also a bare input tensor), run in batches without gradients on the
network's device, and leave the network in the training mode they found it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from bridge.errors import Interrupted
from bridge.training.data import (
    Streams,
    batches,
    epoch_order,
    place,
    to_streams,
    validate_streams,
)
from bridge.training.losses import Objective, class_indices

__all__ = ["evaluate", "predict", "classification_metrics"]


def _device_of(net) -> torch.device:
    for tensor in net.state_dict().values():
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def predict(net, data: Any, *, batch_size: int = 256, cancel: Any = None):
    """The network's outputs for every sample of ``data`` (inference mode: no dropout).

    **Arguments:**

    - net: a :class:`bridge.Network`.
    - data: inputs — ``[N, size]`` or ``[N, C, H, W]`` for a network with one input, or
      any form of data set (label streams, if present, are ignored).
    - batch_size: samples per forward pass.
    - cancel: a ``threading.Event``; set from another thread, it stops the run before
      the next batch with :class:`bridge.errors.Interrupted`.

    **Returns:**

    ``[N, size]`` for a network with one output, else ``{leaf_id: [N, size]}``;
    probabilities for a softmax, as Cortex's ``run``.
    """
    streams = validate_streams(to_streams(data, net), net, labels=False)
    device = _device_of(net)
    streams = place(streams, device)
    was_training = net.training
    net.eval()
    collected: dict[str, list] = {leaf: [] for leaf in net.output_ids}
    try:
        order = epoch_order(len(streams), shuffle=False, seed=0, epoch=0)
        for batch in batches(streams, order, batch_size, device=device):
            _check_cancel(cancel)
            outputs = net({k: batch[k] for k in net.input_ids})
            for leaf in net.output_ids:
                collected[leaf].append(outputs[leaf])
    finally:
        net.train(was_training)
    result = {leaf: torch.cat(parts) for leaf, parts in collected.items()}
    return next(iter(result.values())) if len(result) == 1 else result


def _check_cancel(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise Interrupted("evaluation interrupted")


def classification_metrics(probabilities: torch.Tensor, labels: torch.Tensor) -> dict:
    """Accuracy, the confusion matrix (rows: true class, columns: predicted) and per-class
    precision and recall (0 where a class was never predicted or never occurs).

    Ties in an argmax go to the last maximum, as in Cortex (``util.cljc:60-67``).
    """
    classes = probabilities.shape[1]
    truth = class_indices(labels).to(probabilities.device)
    predicted = class_indices(probabilities)
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
def evaluate(net, data: Any, *, batch_size: int = 256, loss: Any = None,
             cancel: Any = None) -> dict:
    """The loss on ``data``, and for a classifier its accuracy, confusion matrix,
    precision and recall.

    **Arguments:**

    - net: a :class:`bridge.Network`.
    - data: any form of data set with its label streams.
    - batch_size: samples per forward pass.
    - loss: as in :func:`bridge.train` (``None``: the description's losses).
    - cancel: as in :func:`predict`.

    **Returns:**

    ``{"loss": float, "accuracy": float, "confusion": [[int]], "precision": [float],
    "recall": [float]}``; the classification entries (for the first softmax leaf trained
    with softmax-loss) only for a classifier. With several such leaves ``"outputs"``
    holds them per leaf.
    """
    objective = Objective(net, loss)
    streams = validate_streams(to_streams(data, net), net, labels=True,
                               specs=objective.label_specs())
    return evaluate_streams(net, place(streams, _device_of(net)), objective,
                            batch_size=batch_size, cancel=cancel)


@torch.no_grad()
def evaluate_streams(net, streams: Streams, objective: Objective, *,
                     batch_size: int = 256, cancel: Any = None) -> dict:
    """:func:`evaluate` on data already checked and placed (the trainer's test set)."""
    device = _device_of(net)
    was_training = net.training
    net.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    classifiers = [t.layer for t in objective.terms
                   if t.spec.name == "softmax-loss" and t.layer in net.output_ids
                   and getattr(net.layer_module(t.layer), "mode", "vector") == "vector"]
    collected: dict[str, list] = {leaf: [] for leaf in classifiers}
    try:
        order = epoch_order(len(streams), shuffle=False, seed=0, epoch=0)
        for batch in batches(streams, order, batch_size, device=device):
            _check_cancel(cancel)
            outputs = objective.forward(net, {k: batch[k] for k in net.input_ids})
            size = batch[net.input_ids[0]].shape[0]
            total += objective(outputs, batch).double() * size
            for leaf in classifiers:
                value = outputs[leaf]
                collected[leaf].append(value.exp() if leaf in objective.log_leaves else value)
    finally:
        net.train(was_training)
    result: dict[str, Any] = {"loss": float(total) / max(1, len(streams))}
    per_leaf: dict[str, Mapping] = {}
    for leaf in classifiers:
        stream = next(t.stream for t in objective.terms if t.layer == leaf)
        per_leaf[leaf] = classification_metrics(torch.cat(collected[leaf]),
                                                streams.columns[stream])
    if per_leaf:
        result.update(next(iter(per_leaf.values())))
        if len(per_leaf) > 1:
            result["outputs"] = per_leaf
    return result
