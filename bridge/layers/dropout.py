"""``:dropout``, Bernoulli or Gaussian (cortex-spec §1.6, ``layers.clj:285-323``).

EDN spellings: ``(dropout 0.8)`` — **0.8 is the probability of KEEPING a value**, not of
dropping it — ``(dropout {:probability 0.8})``, ``(multiplicative-dropout 0.1)``
(Gaussian noise of *variance* 0.1), ``(multiplicative-dropout {:variance 0.1})``, and
expanded maps ``{:type :dropout :distribution :bernoulli :probability 0.8}`` /
``{:type :dropout :distribution :gaussian :variance 0.1}``. Default
``:distribution :bernoulli``.

- ``:bernoulli`` with keep probability p ∈ (0, 1]: while training, each value is kept
  with probability p and multiplied by 1/p, else set to 0 (inverted dropout; PyTorch's
  ``nn.Dropout(1 − p)``). Cortex draws the mask as ``(U[p−1, p) ≥ 0) / p``
  (``compute/nn/layers.clj:171-194``); here it is ``(U[0, 1) < p) · (1/p)``, the same
  distribution and the same factor 1/p.
- ``:gaussian`` with variance v ≥ 0: while training, each value is multiplied by a draw
  from N(1, v) (standard deviation √v), with no rescaling; v = 0 leaves the input alone.

One mask per value per sample, drawn anew at every training forward from torch's default
random generator (the trainer seeds it); the backward multiplies by the same mask.
In evaluation the layer is the identity (Cortex runs it only in its training pass).

Shape: unchanged. No parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bridge.description.constructors import CallForm, as_map, merge, need
from bridge.edn.types import Keyword
from bridge.layers._checks import keyword_name, number_in, one_of
from bridge.layers.registry import LayerSpec, register

__all__ = ["CortexDropout", "DROPOUT", "DISTRIBUTIONS"]

DISTRIBUTIONS = ("bernoulli", "gaussian")


class CortexDropout(nn.Module):
    """Bernoulli dropout with a keep probability, or multiplicative Gaussian noise."""

    def __init__(self, distribution: str = "bernoulli", *, probability: float = 1.0,
                 variance: float = 0.0):
        """**Arguments:**

        - distribution: ``"bernoulli"`` or ``"gaussian"``.
        - probability: the *keep* probability p ∈ (0, 1] (Bernoulli only).
        - variance: the noise variance v ≥ 0 (Gaussian only).
        """
        super().__init__()
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be bernoulli or gaussian; got {distribution!r}")
        if distribution == "bernoulli" and not 0.0 < probability <= 1.0:
            raise ValueError(f"the keep probability must be in (0, 1]; got {probability}")
        if distribution == "gaussian" and not variance >= 0.0:
            raise ValueError(f"the variance must be >= 0; got {variance}")
        self.distribution = distribution
        self.probability = float(probability)
        self.variance = float(variance)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """**Arguments:** x: any shape. **Returns:** the same shape."""
        if not self.training:
            return x
        if self.distribution == "bernoulli":
            if self.probability == 1.0:
                return x
            # p is the KEEP probability (cortex-spec §1.6); kept values are scaled by 1/p.
            keep = torch.rand_like(x) < self.probability
            return x * keep.to(x.dtype).mul_(1.0 / self.probability)
        if self.variance == 0.0:
            return x
        # N(1, variance): the spec's argument is a variance, so the std is its root.
        noise = torch.randn_like(x).mul_(math.sqrt(self.variance)).add_(1.0)
        return x * noise

    def extra_repr(self) -> str:
        if self.distribution == "bernoulli":
            return f"probability={self.probability:g} (keep)"
        return f"distribution=gaussian, variance={self.variance:g}"


def validate_dropout(node) -> list[str]:
    problems = one_of(node, "distribution", DISTRIBUTIONS)
    if problems:
        return problems
    if keyword_name(node["distribution"]) == "bernoulli":
        found = number_in(node, "probability", low=0.0, high=1.0, low_open=True)
        # Say which probability: Cortex's is the keep probability, PyTorch's the drop one.
        return [text.replace(":probability must", ":probability (the keep probability) must")
                for text in found]
    return number_in(node, "variance", low=0.0)


def build_dropout(ctx) -> nn.Module:
    node = ctx.node
    distribution = keyword_name(node["distribution"])
    assert distribution is not None  # validate (one_of the distributions) ran while planning
    if distribution == "bernoulli":
        return CortexDropout(distribution, probability=node["probability"])
    return CortexDropout(distribution, variance=node["variance"])


def _dropout_form(distribution: str, key: str, usage: str):
    """``(dropout p & kvs)`` / ``(dropout {:probability p})`` and the Gaussian
    ``(multiplicative-dropout v)``; the map arity forces the distribution over the map's
    own keys, as Cortex's does."""

    def construct(form, args: list, kvs: dict) -> list[dict]:
        base = {"type": "dropout", "distribution": Keyword(distribution)}
        if len(args) == 1 and (given := as_map(args[0])) is not None:
            return [merge({**given, **base}, kvs)]
        need(form.name, args, 1, usage)
        return [merge({**base, key: args[0]}, kvs)]

    return construct


DROPOUT = register(
    LayerSpec(
        "dropout",
        flat_ok=True,
        infer_shape=lambda node, shapes: shapes[0],
        build=build_dropout,
        defaults={"distribution": Keyword("bernoulli")},
        validate=validate_dropout,
        optional=("probability", "variance"),
        call_forms=(
            CallForm("dropout", _dropout_form("bernoulli", "probability", "a keep probability"),
                     examples=("(dropout 0.8)", "(dropout 0.5 :id :d)",
                               "(dropout {:probability 0.5})")),
            CallForm("multiplicative-dropout",
                     _dropout_form("gaussian", "variance", "a variance"),
                     examples=("(multiplicative-dropout 0.1)",
                               "(multiplicative-dropout {:variance 0.2})")),
        ),
    )
)
