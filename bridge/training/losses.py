"""Cortex's losses and regularisers (cortex-spec §2.1, §3.2, §3.4), as one objective.

Each leaf gets its layer's default loss — softmax-loss after a softmax, mse-loss
otherwise — unless its node names another with ``:loss :mse-loss`` (or the ``loss=``
argument of :func:`bridge.train` overrides it). Nodes may also carry

- ``:l1-regularization λ`` / ``:l2-regularization λ`` on their output, and the same keys
  inside a parameter map (``:weights {:l2-regularization 1e-3}``) on that parameter;
- ``:center-loss {:labels {:stream :labels} :alpha 0.9 :lambda 1e-4}``.

Scaling follows Cortex v0.9.22, where parameter gradients are summed over the batch and
divided by its size: a loss on a node's output acts per sample (so its value is averaged
over the batch), while a parameter regulariser's gradient λ·sign(w) or λ·w is divided by
the batch size too (effective strength λ/N).

Values: mse is Σ(v−t)²/D per sample; softmax-loss is −log Σ p·t (cross-entropy for
one-hot or index labels); censor-loss is mse over labels that are not NaN. L2 and center
loss use ‖x‖²/2, whose gradient is the one Cortex applies (Cortex *reported* ‖x‖/2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from bridge.edn.types import Keyword
from bridge.errors import DataError, ModelError

__all__ = ["Objective", "LOSSES", "leaf_losses", "DEFAULT_LAMBDA"]

DEFAULT_LAMBDA = {"l1-regularization": 0.001, "l2-regularization": 0.001,
                  "center-loss": 0.1}
_ALIASES = {"mse": "mse-loss", "softmax": "softmax-loss", "cross-entropy": "softmax-loss",
            "censor": "censor-loss"}


def _mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(output, target)


def _censor(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mask = ~torch.isnan(target)
    difference = torch.where(mask, output - torch.nan_to_num(target), 0.0)
    return (difference * difference).sum() / output.numel()


def _softmax_loss(log_p: torch.Tensor, target: torch.Tensor, groups: int) -> torch.Tensor:
    """−log Σ p·t per group (one group per sample for a plain softmax)."""
    batch = log_p.shape[0]
    if target.dtype == torch.int64:
        if groups == 1:
            return F.nll_loss(log_p, target)
        raise DataError("a grouped softmax needs one-hot label vectors, not class indices")
    log_p = log_p.reshape(batch, -1, groups) if groups > 1 else log_p.reshape(batch, 1, -1)
    target = target.reshape(log_p.shape)
    per_group = -torch.logsumexp(log_p + torch.log(target), dim=-1)
    return per_group.sum(dim=1).mean()


LOSSES: dict[str, Callable] = {"mse-loss": _mse, "censor-loss": _censor,
                               "softmax-loss": _softmax_loss}


def _name(value: Any) -> str:
    if isinstance(value, Keyword):
        return value.full
    return str(value).lstrip(":")


def leaf_losses(net, override: Any = None) -> dict[str, str]:
    """The loss each leaf trains with."""
    chosen = {}
    for layer in net.layers:
        if layer.id not in net.output_ids:
            continue
        kind = layer.node.get("loss")
        spec_default = "softmax-loss" if layer.type == "softmax" else "mse-loss"
        if isinstance(override, Mapping):
            kind = override.get(layer.id, kind)
        elif override is not None and not callable(override):
            kind = override
        kind = _ALIASES.get(_name(kind), _name(kind)) if kind is not None else spec_default
        if kind not in LOSSES:
            raise ModelError(f"unknown loss :{kind} for :{layer.id}; known losses are "
                             + " ".join(f":{k}" for k in LOSSES), layer_id=layer.id)
        if kind == "softmax-loss" and layer.type != "softmax":
            raise ModelError(f"softmax-loss needs a softmax layer; :{layer.id} is a "
                             f":{layer.type}", layer_id=layer.id)
        chosen[layer.id] = kind
    return chosen


def _lambda(value: Any, key: str) -> float | None:
    if value is None or value is False:
        return None
    if value is True:
        return DEFAULT_LAMBDA[key]
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        for name in (Keyword("lambda"), "lambda"):
            if name in value:
                return float(value[name])
        return DEFAULT_LAMBDA[key]
    raise ModelError(f":{key} takes a number (its λ) or an options map. Received: {value!r}")


def _stream(value: Any) -> str | None:
    if isinstance(value, Keyword):
        return value.full
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if _name(key) == "stream":
                return _name(inner)
    return None


@dataclass
class _Center:
    layer: str
    stream: str
    alpha: float
    weight: float


@dataclass
class Objective:
    """The whole training loss of a network: leaf losses plus every regulariser."""

    net: Any
    override: Any = None
    leaves: dict[str, str] = field(init=False)
    node_regularizers: list[tuple[str, str, float]] = field(init=False)
    parameter_regularizers: list[tuple[str, str, str, float]] = field(init=False)
    centers: list[_Center] = field(init=False)

    def __post_init__(self):
        self.custom = self.override if callable(self.override) else None
        self.leaves = leaf_losses(self.net, None if self.custom else self.override)
        self.node_regularizers = []
        self.parameter_regularizers = []
        self.centers = []
        params = self.net.parameters_by_layer()
        for layer in self.net.layers:
            node = layer.node
            for key in ("l1-regularization", "l2-regularization"):
                weight = _lambda(node.get(key), key)
                if weight:
                    self.node_regularizers.append((layer.id, key, weight))
            for name in params.get(layer.id, {}):
                options = node.get(name)
                if isinstance(options, Mapping):
                    for key in ("l1-regularization", "l2-regularization"):
                        weight = _lambda(options.get(key), key)
                        if weight:
                            self.parameter_regularizers.append((layer.id, name, key, weight))
            if isinstance(node.get("center-loss"), Mapping):
                options = {_name(k): v for k, v in node["center-loss"].items()}
                stream = _stream(options.get("labels"))
                self.centers.append(_Center(layer.id, stream, float(options.get("alpha", 0.5)),
                                            float(options.get("lambda", 0.1))))
        self.capture = frozenset([layer for layer, _, _ in self.node_regularizers]
                                 + [c.layer for c in self.centers])
        self._groups = {leaf: self.groups(leaf) for leaf in self.leaves}
        self.label_streams = frozenset(c.stream for c in self.centers)

    def groups(self, leaf: str) -> int:
        module = self.net.layer_module(leaf)
        return getattr(module, "output_channels", 1) if getattr(module, "mode", "") == "groups" \
            else 1

    def outputs(self, model, inputs):
        """Run ``model`` (the network, or its DDP wrapper) for training."""
        return self.net.outputs(inputs, self.capture, log_probabilities=True) \
            if model is self.net else model(inputs, self.capture)

    def __call__(self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
                 ) -> torch.Tensor:
        if self.custom is not None:
            return self.custom(outputs, batch)
        total = None
        for leaf, kind in self.leaves.items():
            target = batch[leaf]
            if kind == "softmax-loss":
                value = _softmax_loss(outputs[leaf], target, self._groups[leaf])
            else:
                value = LOSSES[kind](outputs[leaf], target)
            total = value if total is None else total + value
        for layer, key, weight in self.node_regularizers:
            x = outputs[layer]
            per_sample = x.abs().sum(1) if key == "l1-regularization" else 0.5 * (x * x).sum(1)
            total = total + weight * per_sample.mean()
        if self.parameter_regularizers:
            batch_size = next(iter(outputs.values())).shape[0]
            params = self.net.parameters_by_layer()
            for layer, name, key, weight in self.parameter_regularizers:
                w = params[layer][name]
                value = w.abs().sum() if key == "l1-regularization" else 0.5 * (w * w).sum()
                total = total + (weight / batch_size) * value
        for center in self.centers:
            x = outputs[center.layer]
            labels = _class_indices(batch[center.stream])
            centers = self.net.layer_module(center.layer).centers
            difference = x - centers[labels]
            total = total + center.weight * 0.5 * (difference * difference).sum(1).mean()
        return total

    @torch.no_grad()
    def update_centers(self, outputs, batch) -> None:
        """Cortex's center update: c ← c + (1 − α)·mean over the batch's class members
        of (x − c)."""
        for center in self.centers:
            x = outputs[center.layer].detach()
            labels = _class_indices(batch[center.stream])
            centers = self.net.layer_module(center.layer).centers
            sums = torch.zeros_like(centers).index_add_(0, labels, x - centers[labels])
            counts = torch.bincount(labels, minlength=centers.shape[0]).clamp_min(1)
            centers.add_((1.0 - center.alpha) * sums / counts.unsqueeze(1).to(sums.dtype))


def _class_indices(labels: torch.Tensor) -> torch.Tensor:
    if labels.dtype == torch.int64 and labels.dim() == 1:
        return labels
    # one-hot: argmax, ties to the last maximum as in Cortex (util.cljc)
    flipped = labels.flip(-1).argmax(-1)
    return labels.shape[-1] - 1 - flipped
