"""``:dropout``, Bernoulli or Gaussian (cortex-spec §1.6, ``layers.clj:285-323``).

EDN spellings: ``(dropout 0.8)`` — **0.8 is the probability of keeping** a value —
``(dropout {:probability 0.8})``, ``(multiplicative-dropout 0.1)`` (Gaussian noise of
*variance* 0.1), and expanded maps ``{:type :dropout :distribution :bernoulli
:probability 0.8}``.

Bernoulli: while training, each value is kept with probability p and scaled by 1/p
(inverted dropout; PyTorch's ``nn.Dropout(1 − p)``). Gaussian: each value is multiplied
by a draw from N(1, variance), with no rescaling. Both are the identity in evaluation
(Cortex runs dropout only in its training pass). Shape: unchanged. No parameters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bridge.edn.types import Keyword
from bridge.layers._checks import keyword_name, number_in, one_of
from bridge.layers.registry import LayerSpec, register


class CortexDropout(nn.Module):
    """Bernoulli dropout with a keep probability, or multiplicative Gaussian noise."""

    def __init__(self, distribution: str, probability: float = 1.0, variance: float = 0.0):
        super().__init__()
        self.distribution = distribution
        self.probability = float(probability)
        self.variance = float(variance)

    def forward(self, x):
        if not self.training:
            return x
        if self.distribution == "bernoulli":
            if self.probability >= 1.0:
                return x
            return F.dropout(x, p=1.0 - self.probability, training=True)
        if self.variance == 0.0:
            return x
        noise = torch.randn_like(x).mul_(math.sqrt(self.variance)).add_(1.0)
        return x * noise

    def extra_repr(self) -> str:
        if self.distribution == "bernoulli":
            return f"keep={self.probability:g}"
        return f"gaussian, variance={self.variance:g}"


def validate_dropout(node) -> list[str]:
    problems = one_of(node, "distribution", ("bernoulli", "gaussian"))
    if problems:
        return problems
    if keyword_name(node["distribution"]) == "bernoulli":
        found = number_in(node, "probability", low=0.0, high=1.0, low_open=True)
        if found:
            return [found[0].replace("must be a number", "(the keep probability) must be a "
                                                        "number")]
        return []
    return number_in(node, "variance", low=0.0)


def build_dropout(ctx) -> nn.Module:
    node = ctx.node
    return CortexDropout(keyword_name(node["distribution"]), node.get("probability", 1.0),
                         node.get("variance", 0.0))


DROPOUT = register(
    LayerSpec(
        "dropout",
        flat_ok=True,
        infer_shape=lambda node, shapes: shapes[0],
        build=build_dropout,
        defaults={"distribution": Keyword("bernoulli")},
        validate=validate_dropout,
        training_only=True,
        summary="dropout while training (keep probability) or Gaussian noise",
    )
)
