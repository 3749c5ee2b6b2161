"""``:batch-normalization`` and ``:local-response-normalization``
(cortex-spec §1.9-1.10, ``layers.clj:529-599``).

**Batch normalisation** (``layers.clj:529-583``). EDN: ``(batch-normalization)``,
``(batch-normalization :ave-factor 0.9 :epsilon 1e-4 :mode :spatial)``,
``{:type :batch-normalization :average-factor 0.9 :epsilon 1e-4 :mode :elementwise}``.
Defaults ``:average-factor 0.9`` (the constructor's ``:ave-factor``; a node that has only
``:ave-factor`` uses it), ``:epsilon 1e-4``, ``:mode :elementwise``.

Shape: unchanged. Parameters, in Cortex's order, all of one shape — ``[C·H·W]`` with
``:mode :elementwise`` (one set per *feature*, even after a convolution: 800 for a
50×4×4 input) or ``[C]`` with ``:mode :spatial`` (one per channel):
``:scale`` (init 1, trained), ``:bias`` (init 0, trained), ``:means`` (init 0, running
statistic) and ``:variances`` (init 0, running statistic). All four count towards
Cortex's parameter count.

Training normalises with the batch mean and the *population* (÷n) variance:
``y = (x − mean)/√(var + eps)·scale + bias``, and updates the running statistics with
``running = (1 − f)·running + f·batch`` where f is ``:average-factor`` — so 0.9 weights
the *new* batch (PyTorch's ``momentum=0.9``) — using the *unbiased* (÷(n−1)) batch
variance. Evaluation normalises with the running statistics. ``:epsilon`` must exceed
1e-5: Cortex's constructor rejects eps < 1e-5 and its tensor layer eps ≤ 1e-5, so
PyTorch's default 1e-5 builds in Cortex and fails at run time; we reject it up front.

Cortex initialises ``:variances`` to 0 and we keep that, so a network evaluated before
any training step divides by √eps (x·100 with the default eps), exactly as Cortex does.

The first batch: a freshly bound Cortex layer uses f = 1 for its first training batch,
so the running statistics *become* that batch's mean and unbiased variance
(``compute/nn/layers.clj:248-251``; Cortex's own layer test relies on it: after seven
batches of mean 5 with ``:ave-factor 0.8`` the running means are 5 to 1e-6). We do the
same whenever the running statistics are still the initial zeros (never set) at the
first training batch after construction or after ``train()``; a layer that starts from
trained statistics (read from a file, or loaded with ``load_state_dict``) averages from
its first batch on.

Differs from Cortex: running statistics are never reset afterwards. Cortex re-bound the
layer at every ``train`` call and each call's first batch overwrote the running
statistics again (f = 1); we follow PyTorch and keep averaging (DESIGN.md). Gradients
come from autograd.

**Local response normalisation** (``layers.clj:586-599``). EDN:
``(local-response-normalization)``, ``(local-response-normalization :n 3 :k 1)``.
Defaults k 2, n 5, alpha 1e-4, beta 0.75 (AlexNet). Shape: unchanged. No parameters.
Across channels: ``y_c = x_c / (k + (alpha/n)·Σ_{j∈W(c)} x_j²)^beta`` with the window
``W(c) = [c − ⌊(n−1)/2⌋, c + ⌈(n−1)/2⌉]`` clipped to the channels that exist (cuDNN's
window, ``cuda/tensor_math.clj:1280-1331``).

Differs from Cortex: it runs on every device (Cortex had it on CUDA only). It is not
``torch.nn.LocalResponseNorm``, whose window for an *even* n leans the other way
(``[c − ⌊n/2⌋, c + ⌊(n−1)/2⌋]``); for odd n the two agree. Gradients are autograd's,
correct for even n too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bridge.description.constructors import CallForm, merge, no_positional
from bridge.description.shapes import Shape
from bridge.edn.types import Keyword
from bridge.layers._checks import keyword_name, number_in, one_of, positive_int, show
from bridge.layers.registry import LayerSpec, ParamSpec, register

__all__ = [
    "CortexBatchNorm",
    "CortexLRN",
    "BATCH_NORMALIZATION",
    "LOCAL_RESPONSE_NORMALIZATION",
    "MIN_EPSILON",
]

# Cortex's tensor layer requires epsilon > 1e-5 strictly (tensor.clj:1058-1060).
MIN_EPSILON = 1e-5
# Cortex's :ave-factor default; a node gets it through complete_batch_norm, not defaults,
# so that a node holding only the constructor's :ave-factor spelling keeps its value.
AVERAGE_FACTOR = 0.9
BN_MODES = ("elementwise", "spatial")


class CortexBatchNorm(nn.Module):
    """Batch normalisation per feature (elementwise) or per channel (spatial)."""

    running_mean: torch.Tensor  # buffers, registered in __init__
    running_var: torch.Tensor

    def __init__(self, input_shape: Shape, *, spatial: bool = False, average_factor: float = 0.9,
                 epsilon: float = 1e-4, device=None, dtype=None):
        """**Arguments:**

        - input_shape: the ``(C, H, W)`` this layer receives.
        - spatial: ``:mode :spatial`` (statistics per channel over N, H and W); else
          ``:elementwise`` (statistics per feature over N).
        - average_factor: weight of the new batch in the running statistics.
        - epsilon: added to the variance, > 1e-5.
        - device, dtype: where the parameters live.

        ``weight``/``bias`` (Cortex's ``:scale``/``:bias``) and the buffers
        ``running_mean``/``running_var`` (``:means``/``:variances``) are allocated, not
        initialised: the network writes Cortex's initial values into them.
        """
        super().__init__()
        self.spatial = spatial
        self.average_factor = float(average_factor)
        self.epsilon = float(epsilon)
        self.features = input_shape.channels if spatial else input_shape.size
        self.per_feature = input_shape.height * input_shape.width if spatial else 1
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(self.features, **factory))
        self.bias = nn.Parameter(torch.empty(self.features, **factory))
        self.register_buffer("running_mean", torch.empty(self.features, **factory))
        self.register_buffer("running_var", torch.empty(self.features, **factory))
        # Until the first training batch: if the running statistics are then still the
        # initial zeros, that batch sets them outright (Cortex's f = 1, spec §1.9).
        self.first_batch_pending = True

    def train(self, mode: bool = True):
        if mode:  # statistics zeroed meanwhile (a re-initialisation) are set anew
            self.first_batch_pending = True
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """**Arguments:** x: ``[N, C, H, W]`` (``[N, C·H·W]`` also works elementwise).
        **Returns:** the same shape."""
        data = x if self.spatial else x.reshape(x.shape[0], -1)
        if self.training and x.shape[0] * self.per_feature < 2:
            raise ValueError(
                "batch normalisation needs at least 2 values per feature while training "
                f"(got a batch of {x.shape[0]}); make the batch larger, or drop an "
                "incomplete last batch of 1 (drop_last=True)"
            )
        # momentum is the weight of the NEW batch, Cortex's :average-factor (spec §1.9);
        # F.batch_norm normalises with the population variance and updates the running
        # variance with the unbiased one, as Cortex does.
        momentum = self.average_factor
        if self.training and self.first_batch_pending:
            self.first_batch_pending = False
            if not (self.running_mean.any() or self.running_var.any()):
                momentum = 1.0  # untouched statistics: the first batch sets them
        return F.batch_norm(data, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training, momentum=momentum, eps=self.epsilon)

    def extra_repr(self) -> str:
        text = f"features={self.features}"
        if self.spatial:
            text += ", mode=spatial"
        if self.average_factor != 0.9:
            text += f", average-factor={self.average_factor:g}"
        if self.epsilon != 1e-4:
            text += f", epsilon={self.epsilon:g}"
        return text


def _bn_features(ctx) -> tuple[int]:
    spatial = keyword_name(ctx.node["mode"]) == "spatial"
    return (ctx.input_shape.channels if spatial else ctx.input_shape.size,)


def complete_batch_norm(node) -> None:
    """``:average-factor`` from a passed ``:ave-factor`` (the constructor's spelling)."""
    if "average-factor" not in node:
        node["average-factor"] = node.get("ave-factor", AVERAGE_FACTOR)


def validate_batch_norm(node) -> list[str]:
    problems = one_of(node, "mode", BN_MODES)
    problems += number_in(node, "average-factor", low=0.0, high=1.0)
    epsilon = node.get("epsilon")
    if not (isinstance(epsilon, int | float) and not isinstance(epsilon, bool)
            and epsilon > MIN_EPSILON):
        problems.append(
            f":epsilon must be a number > {MIN_EPSILON:g} (Cortex's batch normalisation "
            f"rejects smaller values; 1e-05 builds there but fails at run time). "
            f"Received: :epsilon {show(epsilon)}"
        )
    return problems


def build_batch_norm(ctx) -> nn.Module:
    node = ctx.node
    return CortexBatchNorm(ctx.input_shape, spatial=keyword_name(node["mode"]) == "spatial",
                           average_factor=node["average-factor"], epsilon=node["epsilon"],
                           **ctx.factory_kwargs)


def _constant(value: float) -> dict:
    return {"type": "constant", "value": value}


def construct_batch_norm(form, args: list, kvs: dict) -> list[dict]:
    """``(batch-normalization & {:keys [ave-factor epsilon mode]})``: Cortex writes
    ``:average-factor :epsilon :mode`` (with the defaults), keeping a given ``:ave-factor``."""
    no_positional(form.name, args)
    rest = {k: v for k, v in kvs.items() if k != "epsilon"}
    node = {"type": "batch-normalization",
            "average-factor": kvs.get("ave-factor", AVERAGE_FACTOR),
            "epsilon": kvs.get("epsilon", form.defaults["epsilon"]),
            "mode": kvs.get("mode", form.defaults["mode"])}
    return [merge(node, rest)]


BATCH_NORMALIZATION = register(
    LayerSpec(
        "batch-normalization",
        infer_shape=lambda node, shapes: shapes[0],
        build=build_batch_norm,
        params=(
            ParamSpec("scale", "weight", shape=_bn_features, init=_constant(1.0)),
            ParamSpec("bias", "bias", shape=_bn_features, init=_constant(0.0)),
            ParamSpec("means", "running_mean", shape=_bn_features, init=_constant(0.0),
                      trainable=False),
            # Cortex initialises the running variances to 0, not 1 (layers.clj:566-583).
            ParamSpec("variances", "running_var", shape=_bn_features, init=_constant(0.0),
                      trainable=False),
        ),
        # :average-factor is filled by complete_batch_norm, so that :ave-factor can win.
        defaults={"epsilon": 1e-4, "mode": Keyword("elementwise")},
        complete=complete_batch_norm,
        validate=validate_batch_norm,
        optional=("average-factor", "ave-factor"),
        call_forms=(CallForm("batch-normalization", construct_batch_norm,
                             examples=("(batch-normalization)",
                                       "(batch-normalization :ave-factor 0.8 :mode :spatial)",
                                       "(batch-normalization :epsilon 0.001 :id :bn)")),),
        params_cover_state=True,
    )
)


class CortexLRN(nn.Module):
    """Cross-channel local response normalisation with Cortex's (cuDNN's) window."""

    def __init__(self, *, k: float = 2.0, n: int = 5, alpha: float = 1e-4, beta: float = 0.75):
        """**Arguments:**

        - k, alpha, beta: ``y_c = x_c / (k + (alpha/n)·Σ x_j²)^beta``.
        - n: the window size in channels: ⌊(n−1)/2⌋ below c, ⌈(n−1)/2⌉ above.
        """
        super().__init__()
        self.k, self.n, self.alpha, self.beta = float(k), int(n), float(alpha), float(beta)
        self.below = (self.n - 1) // 2
        self.above = self.n - 1 - self.below  # ⌈(n−1)/2⌉: the extra channel goes above

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """**Arguments:** x: ``[N, C, H, W]``. **Returns:** the same shape."""
        squares = (x * x).unsqueeze(1)  # [N, 1, C, H, W]: channels become a pooling axis
        # Zero channels outside [0, C) clip the window; pad below/above asymmetrically.
        squares = F.pad(squares, (0, 0, 0, 0, self.below, self.above))
        sums = F.avg_pool3d(squares, (self.n, 1, 1), stride=1, divisor_override=1).squeeze(1)
        return x / (self.k + (self.alpha / self.n) * sums).pow(self.beta)

    def extra_repr(self) -> str:
        return f"k={self.k:g}, n={self.n}, alpha={self.alpha:g}, beta={self.beta:g}"


def validate_lrn(node) -> list[str]:
    problems = positive_int(node, "n")
    for key in ("k", "alpha", "beta"):
        problems += number_in(node, key)
    return problems


LOCAL_RESPONSE_NORMALIZATION = register(
    LayerSpec(
        "local-response-normalization",
        infer_shape=lambda node, shapes: shapes[0],
        build=lambda ctx: CortexLRN(k=ctx.node["k"], n=ctx.node["n"], alpha=ctx.node["alpha"],
                                    beta=ctx.node["beta"]),
        defaults={"k": 2, "n": 5, "alpha": 1e-4, "beta": 0.75},
        validate=validate_lrn,
        call_forms=(CallForm("local-response-normalization",
                             examples=("(local-response-normalization)",
                                       "(local-response-normalization :n 3 :k 1 :id :lrn)")),),
    )
)
