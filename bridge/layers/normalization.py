"""``:batch-normalization`` and ``:local-response-normalization``
(cortex-spec §1.9-1.10, ``layers.clj:529-599``).

**Batch normalisation.** EDN: ``(batch-normalization)``,
``(batch-normalization :ave-factor 0.9 :epsilon 1e-4 :mode :spatial)``,
``{:type :batch-normalization …}``. Shape: unchanged. Parameters, Cortex's order and
initial values: ``:scale`` (1), ``:bias`` (0), ``:means`` (0) and ``:variances`` (0),
each ``[C·H·W]`` — one set per *feature*, even after a convolution (``:mode
:elementwise``, the default) — or ``[C]`` with ``:mode :spatial``. Training normalises
with the batch mean and population variance and updates the running statistics with
weight ``:average-factor`` on the *new* batch (PyTorch's ``momentum``; 0.9 by default)
and the unbiased batch variance. Evaluation uses the running statistics.
``:epsilon`` (default 1e-4) must exceed 1e-5, as Cortex's tensor layer requires.

Differs from Cortex: running statistics are never reset (Cortex overwrote them with the
first batch of every training call).

**Local response normalisation.** EDN: ``(local-response-normalization :n 5)``.
``y_c = x_c / (k + (alpha/n)·Σ_{j∈W(c)} x_j²)^beta`` with the window
``W(c) = [c − ⌊(n−1)/2⌋, c + ⌈(n−1)/2⌉]`` clipped to the channels; defaults k 2, n 5,
alpha 1e-4, beta 0.75. Shape: unchanged. Differs from PyTorch's ``LocalResponseNorm``
for even n (its window leans the other way), and from Cortex in running on every
device (Cortex had it on CUDA only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bridge.description.shapes import Shape
from bridge.edn.types import Keyword
from bridge.layers._checks import keyword_name, number_in, one_of, positive_int
from bridge.layers.registry import LayerSpec, ParamSpec, register


class CortexBatchNorm(nn.Module):
    """Batch normalisation per feature (elementwise) or per channel (spatial)."""

    def __init__(self, input_shape: Shape, spatial: bool, average_factor: float,
                 epsilon: float, *, device=None, dtype=None):
        super().__init__()
        self.spatial = spatial
        self.average_factor = float(average_factor)
        self.epsilon = float(epsilon)
        features = input_shape.channels if spatial else input_shape.size
        kwargs = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(features, **kwargs))
        self.bias = nn.Parameter(torch.empty(features, **kwargs))
        self.register_buffer("running_mean", torch.empty(features, **kwargs))
        self.register_buffer("running_var", torch.empty(features, **kwargs))

    def forward(self, x):
        data = x if self.spatial else x.reshape(x.shape[0], -1)
        return F.batch_norm(data, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training, momentum=self.average_factor,
                            eps=self.epsilon)

    def extra_repr(self) -> str:
        mode = "spatial" if self.spatial else "elementwise"
        return (f"features={self.weight.numel()}, mode={mode}, "
                f"average_factor={self.average_factor:g}, epsilon={self.epsilon:g}")


def _features(ctx) -> tuple[int]:
    spatial = keyword_name(ctx.node["mode"]) == "spatial"
    return (ctx.input_shape.channels if spatial else ctx.input_shape.size,)


def _complete_batch_norm(node) -> None:
    if "ave-factor" in node and "average-factor" not in node:
        node["average-factor"] = node["ave-factor"]
    node.setdefault("average-factor", 0.9)


def _validate_batch_norm(node) -> list[str]:
    problems = one_of(node, "mode", ("elementwise", "spatial"))
    problems += number_in(node, "average-factor", low=0.0, high=1.0, low_open=True)
    epsilon = node.get("epsilon")
    if not (isinstance(epsilon, int | float) and not isinstance(epsilon, bool)
            and epsilon > 1e-5):
        problems.append(f":epsilon must be a number > 1e-05 (Cortex's batch normalisation "
                        f"requires it). Received: :epsilon {epsilon}")
    return problems


def _build_batch_norm(ctx) -> nn.Module:
    node = ctx.node
    return CortexBatchNorm(ctx.input_shape, keyword_name(node["mode"]) == "spatial",
                           node["average-factor"], node["epsilon"], **ctx.factory_kwargs)


BATCH_NORMALIZATION = register(
    LayerSpec(
        "batch-normalization",
        infer_shape=lambda node, shapes: shapes[0],
        build=_build_batch_norm,
        params=(
            ParamSpec("scale", "weight", shape=_features, init={"type": "constant", "value": 1.0}),
            ParamSpec("bias", "bias", shape=_features, init={"type": "constant", "value": 0.0}),
            ParamSpec("means", "running_mean", shape=_features,
                      init={"type": "constant", "value": 0.0}, trainable=False),
            ParamSpec("variances", "running_var", shape=_features,
                      init={"type": "constant", "value": 0.0}, trainable=False),
        ),
        defaults={"epsilon": 1e-4, "mode": Keyword("elementwise")},
        complete=_complete_batch_norm,
        params_cover_state=True,
        validate=_validate_batch_norm,
        summary="batch normalisation, per feature unless :mode :spatial",
    )
)


class CortexLRN(nn.Module):
    """Cross-channel local response normalisation with Cortex's window."""

    def __init__(self, k: float, n: int, alpha: float, beta: float):
        super().__init__()
        self.k, self.n, self.alpha, self.beta = float(k), int(n), float(alpha), float(beta)
        self.before = (self.n - 1) // 2
        self.after = self.n - 1 - self.before

    def forward(self, x):
        squares = (x * x).unsqueeze(1)  # [N, 1, C, H, W]
        padded = F.pad(squares, (0, 0, 0, 0, self.before, self.after))
        sums = F.avg_pool3d(padded, (self.n, 1, 1), stride=1).squeeze(1) * self.n
        return x / (self.k + (self.alpha / self.n) * sums).pow(self.beta)

    def extra_repr(self) -> str:
        return f"k={self.k:g}, n={self.n}, alpha={self.alpha:g}, beta={self.beta:g}"


def _validate_lrn(node) -> list[str]:
    problems = positive_int(node, "n")
    for key in ("k", "alpha", "beta"):
        problems += number_in(node, key)
    return problems


LOCAL_RESPONSE_NORMALIZATION = register(
    LayerSpec(
        "local-response-normalization",
        infer_shape=lambda node, shapes: shapes[0],
        build=lambda ctx: CortexLRN(ctx.node["k"], ctx.node["n"], ctx.node["alpha"],
                                    ctx.node["beta"]),
        defaults={"k": 2, "n": 5, "alpha": 1e-4, "beta": 0.75},
        validate=_validate_lrn,
        summary="local response normalisation across channels",
    )
)
